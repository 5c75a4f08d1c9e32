// The transport's adjustable bounds and timings: production uses the named defaults of limits.ts,
// tests shrink timings and queue sizes to exercise them quickly.

import { assert } from '../../util/assert.js';
import {
  PEER_BACKOFF_BASE_MS,
  PEER_BACKOFF_MAX_MS,
  PEER_BACKOFF_RESET_AFTER_MS,
  PEER_CLOSE_TIMEOUT_MS,
  PEER_FRAME_HEADER_BYTES,
  PEER_FRAME_PAYLOAD_BYTES_MAX,
  PEER_FRAME_PREFIX_BYTES_MAX,
  PEER_HANDSHAKE_TIMEOUT_MS,
  PEER_PING_INTERVAL_MS,
  PEER_QUEUE_BYTES_MAX,
  PEER_QUEUE_MESSAGES_MAX,
  PEER_SILENT_LIMIT_MS,
  PEER_SNAPSHOT_BYTES_MAX,
  PEER_SNAPSHOT_CHUNK_BYTES,
} from './limits.js';

export interface PeerTransportTuning {
  readonly queueBytesMax: number;
  readonly queueMessagesMax: number;
  readonly snapshotChunkBytes: number;
  readonly snapshotBytesMax: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  readonly backoffResetAfterMs: number;
  readonly handshakeTimeoutMs: number;
  readonly pingIntervalMs: number;
  readonly silentLimitMs: number;
  readonly closeTimeoutMs: number;
}

export const DEFAULT_TUNING: PeerTransportTuning = Object.freeze({
  queueBytesMax: PEER_QUEUE_BYTES_MAX,
  queueMessagesMax: PEER_QUEUE_MESSAGES_MAX,
  snapshotChunkBytes: PEER_SNAPSHOT_CHUNK_BYTES,
  snapshotBytesMax: PEER_SNAPSHOT_BYTES_MAX,
  backoffBaseMs: PEER_BACKOFF_BASE_MS,
  backoffMaxMs: PEER_BACKOFF_MAX_MS,
  backoffResetAfterMs: PEER_BACKOFF_RESET_AFTER_MS,
  handshakeTimeoutMs: PEER_HANDSHAKE_TIMEOUT_MS,
  pingIntervalMs: PEER_PING_INTERVAL_MS,
  silentLimitMs: PEER_SILENT_LIMIT_MS,
  closeTimeoutMs: PEER_CLOSE_TIMEOUT_MS,
});

/** Fills in defaults and checks the relationships a caller could break. */
export function resolveTuning(partial: Partial<PeerTransportTuning> = {}): PeerTransportTuning {
  const t: PeerTransportTuning = { ...DEFAULT_TUNING, ...partial };
  for (const [name, value] of Object.entries(t)) {
    assert(Number.isFinite(value) && value > 0, `tuning.${name} must be a positive number, got ${String(value)}`);
  }
  assert(t.queueBytesMax <= PEER_QUEUE_BYTES_MAX, `tuning.queueBytesMax ${t.queueBytesMax} exceeds PEER_QUEUE_BYTES_MAX`);
  assert(t.snapshotChunkBytes + PEER_FRAME_PREFIX_BYTES_MAX <= PEER_FRAME_PAYLOAD_BYTES_MAX, 'tuning.snapshotChunkBytes must fit a frame');
  assert(t.snapshotChunkBytes + PEER_FRAME_HEADER_BYTES + PEER_FRAME_PREFIX_BYTES_MAX <= t.queueBytesMax, 'a queue must hold a snapshot chunk');
  assert(t.snapshotBytesMax <= PEER_SNAPSHOT_BYTES_MAX, `tuning.snapshotBytesMax ${t.snapshotBytesMax} exceeds PEER_SNAPSHOT_BYTES_MAX`);
  assert(t.backoffBaseMs <= t.backoffMaxMs, 'tuning: backoffBaseMs must not exceed backoffMaxMs');
  assert(t.silentLimitMs >= 2 * t.pingIntervalMs, 'tuning: silentLimitMs must cover at least two ping intervals');
  return t;
}
