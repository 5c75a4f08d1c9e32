// Every bound of the member's HTTP endpoints, named in one place. The HTTP port is for probes, scrapers,
// the CLI and the dashboard: small GET requests only, so the bounds are tight and a slow or hostile client
// costs a socket for a few seconds at most.

import { assert } from '../../util/assert.js';

const KiB = 1024;

/** Request line plus headers; more is refused by Node's parser with 431 (Node's own default, fixed here). */
export const HTTP_HEADER_BYTES_MAX = 16 * KiB;
/** Longest request target (path and query); a longer one is answered 414 before any routing. */
export const HTTP_URL_BYTES_MAX = 4 * KiB;
/** Request headers must be complete within this, or the connection gets 408 and closes (slow-loris). */
export const HTTP_HEADERS_TIMEOUT_MS = 10_000;
/** The whole request must arrive within this. Our requests have no body, so it is barely above the headers'. */
export const HTTP_REQUEST_TIMEOUT_MS = 15_000;
/** How often Node checks the two timeouts above; its default (30 s) would let them overrun by that much. */
export const HTTP_CONNECTIONS_CHECK_INTERVAL_MS = 1_000;
/** An idle keep-alive connection is closed after this (Prometheus reuses connections between scrapes). */
export const HTTP_KEEP_ALIVE_TIMEOUT_MS = 5_000;
/** Requests served on one connection before it is closed, so pipelining cannot pin a socket forever. */
export const HTTP_REQUESTS_PER_SOCKET_MAX = 1_000;
/** Open connections; beyond it new ones are dropped, so a flood cannot exhaust the member's descriptors. */
export const HTTP_CONNECTIONS_MAX = 256;
/** A status() or metrics collection that takes longer is answered 503 instead of holding the request. */
export const HTTP_HANDLER_TIMEOUT_MS = 5_000;
/** close() lets requests in flight finish for this long, then cuts every connection. */
export const HTTP_CLOSE_TIMEOUT_MS = 1_000;

/** Timings a test may shrink; the byte limits above are never tuned. */
export interface HttpTuning {
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly connectionsCheckIntervalMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly handlerTimeoutMs: number;
  readonly closeTimeoutMs: number;
}

export const HTTP_TUNING_DEFAULT: HttpTuning = {
  headersTimeoutMs: HTTP_HEADERS_TIMEOUT_MS,
  requestTimeoutMs: HTTP_REQUEST_TIMEOUT_MS,
  connectionsCheckIntervalMs: HTTP_CONNECTIONS_CHECK_INTERVAL_MS,
  keepAliveTimeoutMs: HTTP_KEEP_ALIVE_TIMEOUT_MS,
  handlerTimeoutMs: HTTP_HANDLER_TIMEOUT_MS,
  closeTimeoutMs: HTTP_CLOSE_TIMEOUT_MS,
};

/** The relationships Node relies on (it rejects requestTimeout < headersTimeout) and ours. */
export function assertHttpTuning(t: HttpTuning): void {
  for (const [name, value] of Object.entries(t)) {
    assert(Number.isInteger(value) && value > 0, `HTTP tuning ${name} must be a positive integer, got ${String(value)}`);
  }
  assert(t.requestTimeoutMs >= t.headersTimeoutMs, 'the request timeout must cover the headers timeout');
  assert(t.connectionsCheckIntervalMs <= t.headersTimeoutMs, 'timeouts are checked at least once per headers timeout');
}

assertHttpTuning(HTTP_TUNING_DEFAULT);
assert(HTTP_URL_BYTES_MAX < HTTP_HEADER_BYTES_MAX, 'a URL the parser accepts can still be over the URL limit');
