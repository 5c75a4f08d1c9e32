// Leases (etcd's lessor). Two kinds of state live here, kept apart on purpose:
// - replicated: each lease's id, granted TTL, last checkpointed remaining TTL and attached keys, changed only
//   by applied commands (grant, revoke, checkpoint, puts that attach), identical on every member;
// - local: each lease's expiry on this member's monotonic clock. Every member keeps it (set when a grant or
//   checkpoint applies here), so a new leader knows how long each lease has left without trusting a clock of
//   another machine. Only the primary (leader) acts on it: it proposes revokes for expired leases.
//
// Why a lease survives a leader change with its TTL (etcd issues 13294, 17132): a keep-alive renews on the leader
// and is made durable by a LeaseCheckpoint command carrying the remaining TTL; the leader acknowledges the
// keep-alive once that checkpoint is applied. Every member that applies the checkpoint sets its local expiry to
// (its apply time + remaining), which is no earlier than the leader's, up to the apply skew between members; the
// new leader adds `extendMs` (a bound on that skew, e.g. the election timeout) once, not per promotion, so a
// lease is never expired early nor kept alive forever by repeated leader changes.

import { assert } from '../util/assert.js';
import { type LeaseId, leaseId } from '../util/branded.js';
import { LeaseNotFoundError } from './errors.js';
import { LEASE_CHECKPOINT_INTERVAL_MS, LEASE_REVOKE_RETRY_MS, MAX_LEASE_CHECKPOINTS_PER_COMMAND, MAX_LEASE_REVOKES_PER_CALL } from './limits.js';
import type { LeaseCheckpoint } from './rpc.js';

/** The largest lease id the server picks (2^52 - 1, what the command codec carries). */
export const LEASE_ID_MAX = 2 ** 52 - 1;

export interface LeaseState {
  readonly id: LeaseId;
  /** Granted TTL in seconds (after raising to the minimum). */
  readonly ttlSeconds: number;
  /** Remaining TTL of the last applied checkpoint, in ms; 0 when never checkpointed. */
  remainingTtlMs: number;
  /** Attached keys, as one-byte strings. */
  readonly keys: Set<string>;
  // -- local to this member, never replicated --
  /** When the lease expires on this member's monotonic clock, before the primary's extension. */
  expiryMs: number;
  /** When the primary last proposed a checkpoint for it (ms), and whether a keep-alive since needs one. */
  lastCheckpointMs: number;
  needsCheckpoint: boolean;
  /** When the primary last proposed its revoke, or -1. */
  revokeProposedMs: number;
}

export interface LeaseTimeToLive {
  readonly id: LeaseId;
  /** Seconds left (truncated, as etcd reports), never negative. */
  readonly ttlSeconds: number;
  readonly grantedTtlSeconds: number;
  /** Attached keys in byte order. */
  readonly keys: Uint8Array[];
}

export class Lessor {
  private readonly leases = new Map<number, LeaseState>();
  private primary = false;
  private extendMs = 0;

  /** `clock` reads this member's monotonic clock (ms); it only feeds local expiry, never replicated state. */
  constructor(
    private readonly clock: () => number,
    readonly minTtlSeconds: number,
  ) {
    assert(minTtlSeconds >= 1, `minimum lease TTL must be >= 1 s, got ${minTtlSeconds}`);
  }

  // ------------------------------------------------------------ replicated (called while applying)

  exists(id: number): boolean {
    return this.leases.has(id);
  }

  get(id: number): LeaseState | undefined {
    return this.leases.get(id);
  }

  /** The TTL a grant of `ttlSeconds` gets: raised to the minimum, as etcd does. */
  effectiveTtl(ttlSeconds: number): number {
    return Math.max(ttlSeconds, this.minTtlSeconds);
  }

  grant(id: LeaseId, ttlSeconds: number, remainingTtlMs = 0): LeaseState {
    assert(id > 0 && !this.leases.has(id), `grant of lease ${id} that exists or is 0`);
    const now = this.clock();
    const lease: LeaseState = {
      id, ttlSeconds, remainingTtlMs, keys: new Set(),
      expiryMs: now + (remainingTtlMs > 0 ? remainingTtlMs : ttlSeconds * 1000),
      lastCheckpointMs: now, needsCheckpoint: false, revokeProposedMs: -1,
    };
    this.leases.set(id, lease);
    return lease;
  }

  /** Removes the lease; returns its keys in byte order (deleted by the caller at one revision). */
  revoke(id: number): string[] {
    const lease = this.leases.get(id);
    if (lease === undefined) throw new LeaseNotFoundError();
    this.leases.delete(id);
    return [...lease.keys].sort();
  }

  checkpoint(id: number, remainingTtlMs: number): boolean {
    const lease = this.leases.get(id);
    if (lease === undefined) return false; // revoked meanwhile: etcd ignores such checkpoints too
    lease.remainingTtlMs = remainingTtlMs;
    // Never shorten: a keep-alive on this (leader) member may be newer than the proposed checkpoint.
    lease.expiryMs = Math.max(lease.expiryMs, this.clock() + remainingTtlMs);
    return true;
  }

  attach(id: number, key: string): void {
    this.leases.get(id)?.keys.add(key);
  }

  detach(id: number, key: string): void {
    this.leases.get(id)?.keys.delete(key);
  }

  /** Every lease id, ascending. */
  ids(): LeaseId[] {
    return [...this.leases.keys()].sort((a, b) => a - b).map(leaseId);
  }

  /** A fresh id for a grant without one: derived from the log index, so every member picks the same. */
  pickId(index: number): LeaseId {
    // 52 bits: the command codec carries signed numbers up to 2^52-1, and a txn may compare against the id.
    let h = mix32(index % 0x1_0000_0000) * 0x10_0000 + (mix32(Math.floor(index / 0x1_0000_0000) ^ 0x5bd1e995) & 0xf_ffff);
    if (h === 0) h = 1;
    while (this.leases.has(h)) h = h >= LEASE_ID_MAX ? 1 : h + 1;
    return leaseId(h);
  }

  // ------------------------------------------------------------ local leader bookkeeping (not replicated)

  isPrimary(): boolean {
    return this.primary;
  }

  /** This member became leader: it now expires leases, each `extendMs` after its local expiry. */
  promote(extendMs: number): void {
    assert(extendMs >= 0, 'promote: negative extension');
    this.primary = true;
    this.extendMs = extendMs;
    for (const lease of this.leases.values()) {
      lease.revokeProposedMs = -1;
      lease.needsCheckpoint = false;
    }
  }

  demote(): void {
    this.primary = false;
    this.extendMs = 0;
  }

  /** When the lease expires for the primary, on this member's monotonic clock. */
  private deadline(lease: LeaseState): number {
    return lease.expiryMs + this.extendMs;
  }

  /**
   * A keep-alive, on the leader: renews the lease locally and returns its TTL. To survive a leader change the
   * caller proposes the checkpoint `checkpointsDue` then returns, and acknowledges once it has applied.
   */
  renew(id: LeaseId, nowMs: number): number {
    const lease = this.leases.get(id);
    if (lease === undefined) throw new LeaseNotFoundError();
    // An expired lease is being revoked (its revoke may already be in the log): it cannot come back to life,
    // or a keep-alive would be acknowledged for a lease about to vanish (etcd refuses the same way).
    if (this.deadline(lease) <= nowMs || lease.revokeProposedMs >= 0) throw new LeaseNotFoundError();
    lease.expiryMs = Math.max(lease.expiryMs, nowMs + lease.ttlSeconds * 1000 - this.extendMs);
    lease.needsCheckpoint = true;
    return lease.ttlSeconds;
  }

  /** Leases the primary should revoke now (oldest deadline first); each is offered again only after a retry delay. */
  expiredLeases(nowMs: number, max = MAX_LEASE_REVOKES_PER_CALL): LeaseId[] {
    if (!this.primary) return [];
    const due = [...this.leases.values()].filter((l) =>
      this.deadline(l) <= nowMs && (l.revokeProposedMs < 0 || nowMs - l.revokeProposedMs >= LEASE_REVOKE_RETRY_MS));
    due.sort((a, b) => this.deadline(a) - this.deadline(b) || a.id - b.id);
    const picked = due.slice(0, max);
    for (const l of picked) l.revokeProposedMs = nowMs;
    return picked.map((l) => l.id);
  }

  /**
   * Checkpoints the primary should propose: leases renewed since their last checkpoint, and every lease whose
   * last checkpoint is older than LEASE_CHECKPOINT_INTERVAL_MS (so remaining TTLs shrink across restarts).
   */
  checkpointsDue(nowMs: number, max = MAX_LEASE_CHECKPOINTS_PER_COMMAND): LeaseCheckpoint[] {
    if (!this.primary) return [];
    const out: LeaseCheckpoint[] = [];
    for (const l of this.leases.values()) {
      if (out.length >= max) break;
      if (!l.needsCheckpoint && nowMs - l.lastCheckpointMs < LEASE_CHECKPOINT_INTERVAL_MS) continue;
      const remaining = Math.max(0, Math.ceil(this.deadline(l) - nowMs));
      if (remaining === 0) continue; // expired: it gets revoked instead
      l.needsCheckpoint = false;
      l.lastCheckpointMs = nowMs;
      out.push({ id: l.id, remainingTtlMs: remaining });
    }
    return out;
  }

  /** What LeaseTimeToLive answers, from this member's clock (every member tracks expiry). */
  timeToLive(id: LeaseId, nowMs: number): LeaseTimeToLive | null {
    const lease = this.leases.get(id);
    if (lease === undefined) return null;
    const leftMs = this.deadline(lease) - nowMs;
    return {
      id, ttlSeconds: Math.max(0, Math.trunc(leftMs / 1000)), grantedTtlSeconds: lease.ttlSeconds,
      keys: [...lease.keys].sort().map((k) => Buffer.from(k, 'latin1')),
    };
  }
}

function mix32(x: number): number {
  let z = x >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}
