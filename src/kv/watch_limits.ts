// Every bound of the watch hub, named in one place, with the relations between them asserted.
// A hub takes these as defaults; tests shrink them to reach the slow paths with little data.

import { assert } from '../util/assert.js';

/**
 * Responses a stream holds for a consumer that has not drained before its watchers fall back to the
 * catch-up path. etcd's per-stream channel holds 128 (chanBufLen).
 */
export const WATCH_STREAM_QUEUE_RESPONSES_MAX = 128;

/**
 * Control responses (created, canceled) are queued past the bound above, since they answer requests.
 * Beyond this many more, a stream asks the server to stop reading its requests until the consumer
 * drains, as etcd's recvLoop blocks on its 128-slot control channel (ctrlStreamBufLen).
 */
export const WATCH_STREAM_CONTROL_BACKLOG_MAX = 128;

/** Encoded bytes a stream holds for a consumer that has not drained; keeps 128 large responses from pinning memory. */
export const WATCH_STREAM_QUEUE_BYTES_MAX = 16 * 1024 * 1024;

/**
 * A response at or above this many encoded bytes is split into fragments when its watcher asked for
 * `fragment`. etcd uses its max request bytes (1.5 MiB) plus the gRPC overhead allowance (512 KiB).
 * Catch-up responses that pack several revisions also stay under it.
 */
export const WATCH_RESPONSE_BYTES_MAX = 1.5 * 1024 * 1024 + 512 * 1024;

/** Watchers one stream may hold at once; a create beyond it is refused (created + canceled, watch id -1). etcd has no bound. */
export const WATCHERS_PER_STREAM_MAX = 10_000;

/** Events asked of the history in one catch-up read (etcd replays up to 1000 revisions per sync batch). */
export const WATCH_CATCH_UP_BATCH_EVENTS_MAX = 1000;

/**
 * History reads in one catch-up round (one `syncWatchers()` or `ready()` call), across all watchers:
 * bounds the time a round holds the event loop, at most this many batches of the size above. etcd
 * syncs up to 512 watchers per pass, but in a goroutine of its own; ours shares the one event loop.
 */
export const WATCH_SYNC_ROUND_READS_MAX = 64;

/** Encoded bytes counted for a response header (cluster id, member id, revision, raft term: four varints, worst case). */
export const WATCH_RESPONSE_HEADER_BYTES = 2 + 4 * 11;

/** etcd's default period of the progress notifications asked for with `progress_notify` (10 minutes). */
export const WATCH_PROGRESS_INTERVAL_MS_DEFAULT = 10 * 60 * 1000;

/** etcd refuses to notify progress more often than this. */
export const WATCH_PROGRESS_INTERVAL_MS_MIN = 100;

/** The bounds one hub runs with; every field defaults to the constant of the same name above. */
export interface WatchLimits {
  readonly streamQueueResponsesMax: number;
  readonly streamQueueBytesMax: number;
  readonly responseBytesMax: number;
  readonly watchersPerStreamMax: number;
  readonly catchUpBatchEventsMax: number;
  readonly syncRoundReadsMax: number;
}

export const DEFAULT_WATCH_LIMITS: WatchLimits = Object.freeze({
  streamQueueResponsesMax: WATCH_STREAM_QUEUE_RESPONSES_MAX,
  streamQueueBytesMax: WATCH_STREAM_QUEUE_BYTES_MAX,
  responseBytesMax: WATCH_RESPONSE_BYTES_MAX,
  watchersPerStreamMax: WATCHERS_PER_STREAM_MAX,
  catchUpBatchEventsMax: WATCH_CATCH_UP_BATCH_EVENTS_MAX,
  syncRoundReadsMax: WATCH_SYNC_ROUND_READS_MAX,
});

/** Fills unset fields from the defaults and checks the relations the hub relies on. */
export function resolveWatchLimits(overrides: Partial<WatchLimits> = {}): WatchLimits {
  const limits: WatchLimits = { ...DEFAULT_WATCH_LIMITS, ...overrides };
  for (const [name, value] of Object.entries(limits)) {
    assert(Number.isSafeInteger(value) && value > 0, `watch limit ${name} must be a positive integer, got ${String(value)}`);
  }
  // A response must fit in an empty queue's byte budget, or one response could pin a stream forever.
  assert(
    limits.streamQueueBytesMax >= limits.responseBytesMax,
    `streamQueueBytesMax ${limits.streamQueueBytesMax} is below responseBytesMax ${limits.responseBytesMax}`,
  );
  // The header alone must leave room for events, or fragmenting could not make progress.
  assert(
    limits.responseBytesMax > WATCH_RESPONSE_HEADER_BYTES * 2,
    `responseBytesMax ${limits.responseBytesMax} leaves no room for events`,
  );
  return limits;
}

// The defaults themselves must satisfy the relations.
resolveWatchLimits();
