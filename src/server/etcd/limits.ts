// Every bound of the etcd gRPC layer, named in one place, each with etcd's value where etcd has one
// (server/etcdserver/api/v3rpc/grpc.go, server/embed/config.go). The kv limits (request bytes, txn ops)
// live in src/kv/limits.ts and are enforced by the state machine's validation before proposing.

import { assert } from '../../util/assert.js';
import { MAX_REQUEST_BYTES } from '../../kv/limits.js';
import { WATCH_PROGRESS_INTERVAL_MS_DEFAULT, WATCH_PROGRESS_INTERVAL_MS_MIN } from '../../kv/watch_limits.js';

/** What gRPC framing may add to a request of MAX_REQUEST_BYTES (etcd's grpcOverheadBytes). */
export const GRPC_OVERHEAD_BYTES = 512 * 1024;

/**
 * Largest message the server accepts. A message between MAX_REQUEST_BYTES and this is answered with
 * "etcdserver: request is too large"; above it gRPC refuses it with RESOURCE_EXHAUSTED, as in etcd.
 */
export const GRPC_MAX_RECEIVE_MESSAGE_BYTES = MAX_REQUEST_BYTES + GRPC_OVERHEAD_BYTES;

/** Largest message the server sends (etcd's maxSendBytes, math.MaxInt32); Range responses are bounded in kv. */
export const GRPC_MAX_SEND_MESSAGE_BYTES = 2 ** 31 - 1;

/** Concurrent HTTP/2 streams (calls) per client connection; etcd leaves it unbounded (MaxUint32). */
export const GRPC_MAX_CONCURRENT_STREAMS = 1024;

/** Server pings an idle connection this often (etcd --grpc-keepalive-interval default, 2 h). */
export const GRPC_KEEPALIVE_TIME_MS = 2 * 60 * 60 * 1000;

/** A ping not answered within this closes the connection (etcd --grpc-keepalive-timeout default, 20 s). */
export const GRPC_KEEPALIVE_TIMEOUT_MS = 20 * 1000;

/** Behind watchers get a catch-up round this often (etcd's syncWatchersLoop period, 100 ms). */
export const WATCH_SYNC_INTERVAL_MS = 100;

/** Keep-alives of one LeaseKeepAlive stream being renewed at once; beyond it the stream's requests wait. */
export const LEASE_KEEPALIVE_INFLIGHT_MAX = 16;

/** Largest blob in one SnapshotResponse; bigger snapshot chunks are split. */
export const SNAPSHOT_SEND_BYTES_MAX = 1024 * 1024;

/** close() lets calls finish for this long, then cuts every connection. */
export const SHUTDOWN_GRACE_MS = 2000;

/** The bounds one server runs with; every field defaults to the constant above of the same meaning. */
export interface EtcdGrpcLimits {
  /** Requests whose encoded size exceeds this fail with "etcdserver: request is too large" (at most MAX_REQUEST_BYTES). */
  readonly maxRequestBytes: number;
  readonly maxReceiveMessageBytes: number;
  readonly maxConcurrentStreams: number;
  readonly keepaliveTimeMs: number;
  readonly keepaliveTimeoutMs: number;
  readonly watchSyncIntervalMs: number;
  /** Period of the `progress_notify` notifications (etcd: 10 min). */
  readonly watchProgressIntervalMs: number;
  readonly leaseKeepAliveInflightMax: number;
  readonly snapshotSendBytesMax: number;
  readonly shutdownGraceMs: number;
}

export const DEFAULT_ETCD_GRPC_LIMITS: EtcdGrpcLimits = Object.freeze({
  maxRequestBytes: MAX_REQUEST_BYTES,
  maxReceiveMessageBytes: GRPC_MAX_RECEIVE_MESSAGE_BYTES,
  maxConcurrentStreams: GRPC_MAX_CONCURRENT_STREAMS,
  keepaliveTimeMs: GRPC_KEEPALIVE_TIME_MS,
  keepaliveTimeoutMs: GRPC_KEEPALIVE_TIMEOUT_MS,
  watchSyncIntervalMs: WATCH_SYNC_INTERVAL_MS,
  watchProgressIntervalMs: WATCH_PROGRESS_INTERVAL_MS_DEFAULT,
  leaseKeepAliveInflightMax: LEASE_KEEPALIVE_INFLIGHT_MAX,
  snapshotSendBytesMax: SNAPSHOT_SEND_BYTES_MAX,
  shutdownGraceMs: SHUTDOWN_GRACE_MS,
});

/** Fills unset fields from the defaults and checks the relations the server relies on. */
export function resolveEtcdGrpcLimits(overrides: Partial<EtcdGrpcLimits> = {}): EtcdGrpcLimits {
  const limits: EtcdGrpcLimits = { ...DEFAULT_ETCD_GRPC_LIMITS, ...overrides };
  for (const [name, value] of Object.entries(limits)) {
    assert(Number.isSafeInteger(value) && value > 0, `etcd gRPC limit ${name} must be a positive integer, got ${String(value)}`);
  }
  // The state machine refuses larger entries anyway; a larger limit here would fail later and less clearly.
  assert(limits.maxRequestBytes <= MAX_REQUEST_BYTES, `maxRequestBytes ${limits.maxRequestBytes} exceeds kv's MAX_REQUEST_BYTES ${MAX_REQUEST_BYTES}`);
  // A request at the limit must reach the size check, to be answered with etcd's error instead of gRPC's.
  assert(limits.maxReceiveMessageBytes > limits.maxRequestBytes, 'maxReceiveMessageBytes must exceed maxRequestBytes');
  assert(limits.watchProgressIntervalMs >= WATCH_PROGRESS_INTERVAL_MS_MIN, `watchProgressIntervalMs below etcd's minimum ${WATCH_PROGRESS_INTERVAL_MS_MIN}`);
  return limits;
}

// The defaults themselves must satisfy the relations.
resolveEtcdGrpcLimits();
