// Checks lease safety from a record of grants, acknowledged keep-alives and observed ends: a lease never
// expires before its TTL has run from the last acknowledged keep-alive, and never lives on after it ended.

import type { LeaseId } from '../../util/branded.js';

/**
 * Times are on one monotonic timeline (the simulator's clock, or the harness's in process chaos).
 * `atMs` of a grant or keep-alive must be no later than the leader's refresh (the leader's own time, or
 * the time the client sent the request); `atMs` of an end no earlier than the lease really ended (the
 * time it was observed). Both rules keep the checks free of false alarms.
 */
export type LeaseRecord =
  /** A grant acknowledged with this TTL. */
  | { readonly kind: 'grant'; readonly leaseId: LeaseId; readonly ttlMs: number; readonly atMs: number }
  /** A keep-alive acknowledged with this TTL; a TTL <= 0 means the leader no longer had the lease. */
  | { readonly kind: 'keepalive'; readonly leaseId: LeaseId; readonly ttlMs: number; readonly atMs: number }
  /** The client revoked the lease; it may end at any time after the call. */
  | { readonly kind: 'revoke'; readonly leaseId: LeaseId; readonly atMs: number }
  /** The lease was seen gone (keys deleted, keep-alive answered TTL 0) without a revoke. */
  | { readonly kind: 'expired'; readonly leaseId: LeaseId; readonly atMs: number };

export interface LeaseCheckOptions {
  /** How early an expiry may come before it counts as a violation (clock-rate allowance); default 0. */
  readonly toleranceMs?: number;
}

export type LeaseViolationKind = 'early-expiry' | 'alive-after-end';

export interface LeaseViolation {
  readonly kind: LeaseViolationKind;
  readonly leaseId: LeaseId;
  readonly atMs: number;
  readonly message: string;
}

export interface LeaseCheckResult {
  readonly ok: boolean;
  readonly violations: readonly LeaseViolation[];
}

interface Ack {
  readonly atMs: number;
  readonly ttlMs: number;
}

export function checkLeases(records: readonly LeaseRecord[], options: LeaseCheckOptions = {}): LeaseCheckResult {
  const toleranceMs = options.toleranceMs ?? 0;
  const acks = new Map<LeaseId, Ack[]>();
  for (const r of records) {
    if ((r.kind === 'grant' || r.kind === 'keepalive') && r.ttlMs > 0) {
      const list = acks.get(r.leaseId) ?? [];
      list.push({ atMs: r.atMs, ttlMs: r.ttlMs });
      acks.set(r.leaseId, list);
    }
  }
  const violations: LeaseViolation[] = [];
  for (const end of records) {
    if (end.kind !== 'expired' && end.kind !== 'revoke') continue;
    const lease = `lease ${end.leaseId}`;
    let deadline: Ack | null = null;
    for (const ack of acks.get(end.leaseId) ?? []) {
      if (ack.atMs > end.atMs) {
        violations.push({
          kind: 'alive-after-end', leaseId: end.leaseId, atMs: ack.atMs,
          message: `${lease} was acknowledged alive (TTL ${ack.ttlMs} ms) at ${ack.atMs}, after it was seen ${end.kind === 'revoke' ? 'revoked' : 'expired'} at ${end.atMs}`,
        });
      } else if (deadline === null || ack.atMs + ack.ttlMs > deadline.atMs + deadline.ttlMs) {
        deadline = ack;
      }
    }
    if (end.kind === 'expired' && deadline !== null && end.atMs < deadline.atMs + deadline.ttlMs - toleranceMs) {
      violations.push({
        kind: 'early-expiry', leaseId: end.leaseId, atMs: end.atMs,
        message: `${lease} expired by ${end.atMs}, before ${deadline.atMs + deadline.ttlMs}: TTL ${deadline.ttlMs} ms from the keep-alive acknowledged at ${deadline.atMs}`,
      });
    }
  }
  return { ok: violations.length === 0, violations };
}
