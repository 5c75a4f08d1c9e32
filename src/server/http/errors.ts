// Coded errors of the HTTP endpoints: the codes of the JSON error bodies, and the error startHttpServer
// rejects with when it cannot listen.

import { MeridianError } from '../../util/errors.js';

/** The `error` field of every JSON error body, one per HTTP status the server answers with. */
export const HttpErrorCode = {
  BadRequest: 'ERR_HTTP_BAD_REQUEST',
  NotFound: 'ERR_HTTP_NOT_FOUND',
  MethodNotAllowed: 'ERR_HTTP_METHOD_NOT_ALLOWED',
  UriTooLong: 'ERR_HTTP_URI_TOO_LONG',
  Internal: 'ERR_HTTP_INTERNAL',
  Unavailable: 'ERR_HTTP_UNAVAILABLE',
} as const;
export type HttpErrorCode = (typeof HttpErrorCode)[keyof typeof HttpErrorCode];

/** Body of every 4xx/5xx except /health's own 503 (which keeps etcd's shape). */
export interface HttpErrorJson {
  readonly error: HttpErrorCode;
  readonly message: string;
}

/** The server could not bind its address (in use, not permitted, not a local address). */
export class HttpListenError extends MeridianError {
  override readonly name = 'HttpListenError';
  constructor(host: string, port: number, cause: unknown) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    super('ERR_HTTP_LISTEN', `Cannot listen for HTTP on ${host}:${port}: ${detail}`, { cause });
  }
}
