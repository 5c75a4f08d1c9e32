// The member's HTTP port: /health (etcd's), /metrics (Prometheus), /version (etcd's, plus Meridian's) and
// /v1/status (JSON for the CLI and the dashboard). GET and HEAD only; every bound is in limits.ts.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { assert } from '../../util/assert.js';
import { publishHttpEvent } from './diagnostics.js';
import { HttpErrorCode, HttpListenError, type HttpErrorJson } from './errors.js';
import { memberHealth, parseHealthQuery, type HealthJson } from './health.js';
import { assertHttpTuning, HTTP_CONNECTIONS_MAX, HTTP_HEADER_BYTES_MAX, HTTP_REQUESTS_PER_SOCKET_MAX, HTTP_TUNING_DEFAULT,
  HTTP_URL_BYTES_MAX, type HttpTuning } from './limits.js';
import { ETCD_COMPAT_VERSION, type MemberMetrics } from './metrics.js';
import type { MemberStatusJson } from './status.js';

export const PATH_HEALTH = '/health';
export const PATH_METRICS = '/metrics';
export const PATH_VERSION = '/version';
export const PATH_STATUS = '/v1/status';
export const HTTP_PATHS: readonly string[] = [PATH_HEALTH, PATH_METRICS, PATH_VERSION, PATH_STATUS];

const ALLOWED_METHODS = 'GET, HEAD';
const JSON_CONTENT_TYPE = 'application/json';

export interface HttpServerOptions {
  /** Address to bind; '127.0.0.1' in tests. */
  readonly host: string;
  /** 0 picks a free port; the handle says which. */
  readonly port: number;
  /** The member's state, read on every /health and /v1/status request; may be async. */
  readonly status: () => MemberStatusJson | Promise<MemberStatusJson>;
  readonly metrics: MemberMetrics;
  /** Meridian's version, reported by /version. */
  readonly version: string;
  /** The etcd server version /version claims (default ETCD_COMPAT_VERSION); keep it equal to the gRPC Status'. */
  readonly etcdVersion?: string;
  /** Tests shrink timings; production leaves the defaults. */
  readonly tuning?: Partial<HttpTuning>;
}

export interface HttpServerHandle {
  /** The bound port (the chosen one when options.port was 0). */
  readonly port: number;
  /** Stops listening, lets requests in flight finish for closeTimeoutMs, then cuts the rest. Idempotent. */
  close(): Promise<void>;
}

/** etcd's /version body, with Meridian's own version beside it (etcd clients ignore unknown fields). */
export interface VersionJson {
  readonly etcdserver: string;
  readonly etcdcluster: string;
  readonly meridian: string;
}

interface Reply {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
  readonly headers?: Readonly<Record<string, string>>;
}

type Route = (url: URL) => Promise<Reply>;

function jsonReply(status: number, value: unknown, headers?: Readonly<Record<string, string>>): Reply {
  return { status, contentType: JSON_CONTENT_TYPE, body: JSON.stringify(value), ...(headers === undefined ? {} : { headers }) };
}

function errorReply(status: number, error: HttpErrorCode, message: string, headers?: Readonly<Record<string, string>>): Reply {
  const body: HttpErrorJson = { error, message };
  return jsonReply(status, body, headers);
}

/** etcd's cluster version is the server's major.minor with patch 0. */
function clusterVersion(serverVersion: string): string {
  const [major = '0', minor = '0'] = serverVersion.split('.');
  return `${major}.${minor}.0`;
}

/** Runs work, failing with a timeout error after ms; a hung status() must not hold a request forever. */
async function withTimeout<T>(work: () => T | Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
    // An abandoned request must not keep a closed server's process alive.
    timer.unref();
  });
  try {
    return await Promise.race([Promise.resolve().then(work), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function reasonOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function makeRoutes(opts: HttpServerOptions, tuning: HttpTuning): ReadonlyMap<string, Route> {
  const { metrics } = opts;
  const etcdVersion = opts.etcdVersion ?? ETCD_COMPAT_VERSION;
  const version: VersionJson = { etcdserver: etcdVersion, etcdcluster: clusterVersion(etcdVersion), meridian: opts.version };
  const readStatus = (): Promise<MemberStatusJson> => withTimeout(opts.status, tuning.handlerTimeoutMs, 'status()');

  const health: Route = async (url) => {
    let reply: HealthJson;
    try {
      reply = memberHealth(await readStatus(), parseHealthQuery(url.searchParams));
    } catch (err) {
      publishHttpEvent({ kind: 'handler-error', path: PATH_HEALTH, reason: reasonOf(err) });
      reply = { health: 'false', reason: `STATUS ERROR: ${reasonOf(err)}` };
    }
    metrics.healthChecked(reply.health === 'true');
    return jsonReply(reply.health === 'true' ? 200 : 503, reply);
  };
  const metricsRoute: Route = async () => {
    const text = await withTimeout(() => metrics.registry.metrics(), tuning.handlerTimeoutMs, 'metrics collection');
    return { status: 200, contentType: metrics.registry.contentType, body: text };
  };
  return new Map<string, Route>([
    [PATH_HEALTH, health],
    [PATH_METRICS, metricsRoute],
    [PATH_VERSION, () => Promise.resolve(jsonReply(200, version))],
    [PATH_STATUS, async () => jsonReply(200, await readStatus())],
  ]);
}

/** Decides the reply; never throws (a failing route becomes a 503 naming what failed). */
async function route(req: http.IncomingMessage, routes: ReadonlyMap<string, Route>): Promise<Reply> {
  const target = req.url ?? '';
  if (Buffer.byteLength(target) > HTTP_URL_BYTES_MAX) {
    return errorReply(414, HttpErrorCode.UriTooLong, `Cannot serve a URL of more than ${HTTP_URL_BYTES_MAX} bytes`);
  }
  let url: URL;
  try {
    // The base only completes origin-form targets ("/health"); absolute-form ones keep their own.
    url = new URL(target, 'http://member.invalid');
  } catch {
    return errorReply(400, HttpErrorCode.BadRequest, 'Cannot parse the request URL');
  }
  const handler = routes.get(url.pathname);
  if (handler === undefined) {
    return errorReply(404, HttpErrorCode.NotFound, `Cannot find ${url.pathname}: the endpoints are ${HTTP_PATHS.join(', ')}`);
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return errorReply(405, HttpErrorCode.MethodNotAllowed, `Cannot ${req.method ?? '?'} ${url.pathname}: use GET`, { Allow: ALLOWED_METHODS });
  }
  try {
    return await handler(url);
  } catch (err) {
    publishHttpEvent({ kind: 'handler-error', path: url.pathname, reason: reasonOf(err) });
    return errorReply(503, HttpErrorCode.Unavailable, `Cannot serve ${url.pathname}: ${reasonOf(err)}`);
  }
}

function send(req: http.IncomingMessage, res: http.ServerResponse, reply: Reply): void {
  if (res.headersSent || res.destroyed) return;
  const body = Buffer.from(reply.body, 'utf8');
  res.statusCode = reply.status;
  res.setHeader('Content-Type', reply.contentType);
  res.setHeader('Content-Length', body.byteLength);
  // Status and metrics change all the time; no proxy or browser may serve a stale copy.
  res.setHeader('Cache-Control', 'no-store');
  for (const [name, value] of Object.entries(reply.headers ?? {})) res.setHeader(name, value);
  // No endpoint reads a body; rather than drain an unbounded one, close the connection after answering.
  if (req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0') {
    res.setHeader('Connection', 'close');
  }
  res.end(body);
}

function createServer(tuning: HttpTuning, routes: ReadonlyMap<string, Route>): http.Server {
  const server = http.createServer({
    maxHeaderSize: HTTP_HEADER_BYTES_MAX,
    headersTimeout: tuning.headersTimeoutMs,
    requestTimeout: tuning.requestTimeoutMs,
    keepAliveTimeout: tuning.keepAliveTimeoutMs,
    connectionsCheckingInterval: tuning.connectionsCheckIntervalMs,
  });
  server.maxConnections = HTTP_CONNECTIONS_MAX;
  server.maxRequestsPerSocket = HTTP_REQUESTS_PER_SOCKET_MAX;
  server.on('request', (req, res) => {
    void route(req, routes).then((reply) => send(req, res, reply));
  });
  return server;
}

function listen(server: http.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(new HttpListenError(host, port, err));
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

export async function startHttpServer(opts: HttpServerOptions): Promise<HttpServerHandle> {
  assert(Number.isInteger(opts.port) && opts.port >= 0 && opts.port <= 65535, `HTTP port must be 0..65535, got ${opts.port}`);
  const tuning: HttpTuning = { ...HTTP_TUNING_DEFAULT, ...opts.tuning };
  assertHttpTuning(tuning);
  const server = createServer(tuning, makeRoutes(opts, tuning));
  const port = await listen(server, opts.host, opts.port);
  // After listen, an error event must not crash the member: the port is an observer, not the service.
  server.on('error', (err) => publishHttpEvent({ kind: 'server-error', reason: err.message }));
  publishHttpEvent({ kind: 'listening', host: opts.host, port });

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      const cut = setTimeout(() => server.closeAllConnections(), tuning.closeTimeoutMs);
      server.close(() => {
        clearTimeout(cut);
        publishHttpEvent({ kind: 'closed', port });
        resolve();
      });
      server.closeIdleConnections();
    });
    return closing;
  };
  return { port, close };
}
