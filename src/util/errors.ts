// The base of every coded error at Meridian's edges: a stable `code` and an optional `cause`.

export class MeridianError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MeridianError';
    this.code = code;
  }
}
