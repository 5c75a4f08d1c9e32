// Adaptive Raft timing: heartbeat and election timeout follow the measured round trips to the voters, within safe
// bounds, so a cluster over 200 ms links needs no hand tuning and a LAN cluster stays fast (etcd's guidance:
// heartbeat about one round trip, election timeout at least ten heartbeats).

import { assert } from '../../util/assert.js';
import type { NodeId } from '../../util/branded.js';

/**
 * How timing changes: the member scales its tick interval and leaves the tick thresholds alone. Raft counts only
 * ticks, so a new interval can take effect at any tick with no state to fix up, and the configured
 * election/heartbeat ratio is kept by construction. Changing thresholds would need the Raft core to re-derive
 * its randomized timeout mid-term; scaling the interval needs nothing.
 *
 * The scale never goes below 1 (the configured timing is the floor, so no member's election timeout is ever
 * shorter than configured: lease reads rely on that) and a heartbeat never exceeds this share of the configured
 * election timeout, so whatever another member chose, a leader always sends at least two heartbeats within
 * any follower's election timeout.
 */
export const HEARTBEAT_MAX_SHARE_OF_BASE_ELECTION = 0.5;
/** The scale retunes only when the wanted one differs from the current by more than this share (hysteresis). */
export const RETUNE_THRESHOLD = 0.25;
/** And at most this often, ms. */
export const RETUNE_INTERVAL_MS = 5000;

export interface BaseTiming {
  readonly tickMs: number;
  readonly heartbeatTicks: number;
  readonly electionTicks: number;
}

export interface TimingNow {
  /** Multiplies the configured tick interval. */
  readonly scale: number;
  readonly tickMs: number;
  readonly heartbeatMs: number;
  readonly electionMs: number;
  /** The round trip to the voter that completes this member's quorum, ms; null until enough are measured. */
  readonly quorumRttMs: number | null;
}

/** The round trip this member needs to reach a quorum: the (quorum − 1)-th smallest RTT to the other voters. */
export function quorumRttMs(self: NodeId, voters: readonly NodeId[], rttMs: (peer: NodeId) => number | null): number | null {
  const quorum = Math.floor(voters.length / 2) + 1;
  const needed = voters.includes(self) ? quorum - 1 : quorum;
  if (needed <= 0) return 0;
  const rtts: number[] = [];
  for (const v of voters) {
    if (v === self) continue;
    const r = rttMs(v);
    if (r !== null && Number.isFinite(r) && r >= 0) rtts.push(r);
  }
  if (rtts.length < needed) return null;
  rtts.sort((a, b) => a - b);
  return rtts[needed - 1] ?? null;
}

/** The highest scale allowed by HEARTBEAT_MAX_SHARE_OF_BASE_ELECTION. */
export function maxScale(base: BaseTiming): number {
  const baseHeartbeatMs = base.tickMs * base.heartbeatTicks;
  const baseElectionMs = base.tickMs * base.electionTicks;
  return Math.max(1, (baseElectionMs * HEARTBEAT_MAX_SHARE_OF_BASE_ELECTION) / baseHeartbeatMs);
}

/** The timing wanted for a quorum round trip: heartbeat ≈ that round trip, clamped to [configured, max]. */
export function deriveTiming(base: BaseTiming, rtt: number | null): TimingNow {
  assert(base.tickMs > 0 && base.heartbeatTicks > 0 && base.electionTicks > base.heartbeatTicks, 'adaptive timing: bad base timing');
  const baseHeartbeatMs = base.tickMs * base.heartbeatTicks;
  const wanted = rtt === null ? 1 : rtt / baseHeartbeatMs;
  const scale = Math.min(maxScale(base), Math.max(1, wanted));
  return timingAt(base, scale, rtt);
}

export function timingAt(base: BaseTiming, scale: number, rtt: number | null): TimingNow {
  const tickMs = base.tickMs * scale;
  return { scale, tickMs, heartbeatMs: tickMs * base.heartbeatTicks, electionMs: tickMs * base.electionTicks, quorumRttMs: rtt };
}

/** Whether to move from the current scale to the wanted one (enough of a change, and not too soon). */
export function shouldRetune(current: number, wanted: number, sinceLastMs: number): boolean {
  if (sinceLastMs < RETUNE_INTERVAL_MS) return false;
  return Math.abs(wanted - current) > RETUNE_THRESHOLD * current;
}
