// A lease client in the simulator: grants leases, attaches a key to each, keeps some alive through the
// leader and lets others lapse; expiries are observed from the applied history and checked: never before the
// TTL has run from the last acknowledged keep-alive, and never kept forever once keep-alives stop.

import { leaseId, type LeaseId } from '../util/branded.js';
import type { Prng } from '../util/prng.js';
import { putRequest } from '../kv/rpc.js';
import { EventType, type RevisionChanges } from '../kv/types.js';
import { checkLeases, type LeaseRecord } from './checker/lease_checker.js';
import type { EventQueue } from './event_queue.js';
import type { SimMember } from './sim_member.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const KEY_PREFIX = 'lease-';

interface Lease {
  readonly id: LeaseId;
  readonly ttlMs: number;
  /** Keep-alives stop at this time (the client dies). */
  stopAtMs: number;
  /** When the last keep-alive was sent that was then acknowledged. */
  lastAckSentMs: number;
  keyWritten: boolean;
  expiredAtMs: number | null;
}

export interface LeaseClientTarget {
  readonly queue: EventQueue;
  readonly prng: Prng;
  live(): SimMember[];
  leader(): SimMember | undefined;
}

export class SimLeases {
  private readonly leases = new Map<LeaseId, Lease>();
  private readonly records: LeaseRecord[] = [];
  private running = true;

  constructor(
    private readonly t: LeaseClientTarget,
    /** Granted TTL in seconds: longer than an election, as etcd requires. */
    private readonly ttlSeconds: number,
  ) {}

  /** Grants a lease through a random member, then attaches a key and keeps it alive until `stopAtMs`. */
  grant(stopAtMs: number): void {
    if (!this.running) return;
    const live = this.t.live();
    if (live.length === 0) return;
    const sentMs = this.t.queue.now;
    const ok = this.t.prng.pick(live).submitCommand({ type: 'leaseGrant', id: leaseId(0), ttlSeconds: this.ttlSeconds }, (err, res) => {
      if (err !== null || res?.type !== 'leaseGrant') return;
      const lease: Lease = { id: res.id, ttlMs: res.ttlSeconds * 1000, stopAtMs, lastAckSentMs: sentMs, keyWritten: false, expiredAtMs: null };
      this.leases.set(lease.id, lease);
      this.records.push({ kind: 'grant', leaseId: lease.id, ttlMs: lease.ttlMs, atMs: sentMs });
      this.attachKey(lease);
      this.scheduleKeepAlive(lease);
    });
    if (!ok) return;
  }

  private attachKey(lease: Lease): void {
    const live = this.t.live();
    if (live.length === 0) return;
    const put = putRequest({ key: enc.encode(`${KEY_PREFIX}${lease.id}`), value: enc.encode('held'), lease: lease.id });
    this.t.prng.pick(live).submitCommand({ type: 'put', put }, (err) => {
      if (err === null) lease.keyWritten = true;
    });
  }

  private scheduleKeepAlive(lease: Lease): void {
    this.t.queue.schedule(lease.ttlMs / 3, () => this.keepAlive(lease));
  }

  private keepAlive(lease: Lease): void {
    if (!this.running || lease.expiredAtMs !== null || this.t.queue.now >= lease.stopAtMs) return;
    const sentMs = this.t.queue.now;
    const leader = this.t.leader();
    const asked = leader?.keepAlive(lease.id, (err, ttlSeconds) => {
      if (err === null && ttlSeconds !== undefined && ttlSeconds > 0) {
        lease.lastAckSentMs = sentMs;
        this.records.push({ kind: 'keepalive', leaseId: lease.id, ttlMs: ttlSeconds * 1000, atMs: sentMs });
      }
    }) ?? false;
    // No leader right now: try again soon; the lease must survive a short election.
    this.t.queue.schedule(asked ? lease.ttlMs / 3 : lease.ttlMs / 10, () => this.keepAlive(lease));
  }

  /** Sees a lease's key deleted in the applied history: the lease ended then (no client revokes it). */
  observe(c: RevisionChanges): void {
    for (const e of c.events) {
      if (e.type !== EventType.Delete) continue;
      const key = dec.decode(e.kv.key);
      if (!key.startsWith(KEY_PREFIX)) continue;
      const lease = this.leases.get(leaseId(Number(key.slice(KEY_PREFIX.length))));
      if (lease === undefined || lease.expiredAtMs !== null) continue;
      lease.expiredAtMs = this.t.queue.now;
      this.records.push({ kind: 'expired', leaseId: lease.id, atMs: this.t.queue.now });
    }
  }

  /** Every client stops keeping its lease alive (the liveness phase: all leases must then end). */
  stopAll(): void {
    this.running = false;
    for (const lease of this.leases.values()) lease.stopAtMs = Math.min(lease.stopAtMs, this.t.queue.now);
  }

  /**
   * Leases with a key that should have ended by `nowMs` but have not. A member that restarts or installs a
   * snapshot re-arms each lease with its last checkpointed remaining TTL, so a lease may outlive its TTL
   * after the last keep-alive by as long as the cluster went without a leader to checkpoint it; once the
   * cluster is stable (`stableSinceMs`), it must end within its TTL plus `slackMs`.
   */
  overdue(nowMs: number, stableSinceMs: number, slackMs: number): Lease[] {
    return [...this.leases.values()].filter((l) =>
      l.keyWritten && l.expiredAtMs === null && nowMs > Math.max(l.stopAtMs, l.lastAckSentMs, stableSinceMs) + l.ttlMs + slackMs);
  }

  allEnded(): boolean {
    return [...this.leases.values()].every((l) => !l.keyWritten || l.expiredAtMs !== null);
  }

  check(toleranceMs: number): string[] {
    const result = checkLeases(this.records, { toleranceMs });
    return result.violations.slice(0, 5).map((v) => `lease ${v.leaseId}: ${v.kind}: ${v.message}`);
  }

  get count(): number {
    return this.leases.size;
  }
}
