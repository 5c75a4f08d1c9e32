// The member's read paths (ARCHITECTURE.md "Read paths"): serializable, bounded staleness proved with the local
// monotonic clock, minimum revision, linearizable by ReadIndex, and leader lease reads; each answer names its path.

import { assert } from '../../util/assert.js';
import { revision, type LogIndex, type Revision, type Term } from '../../util/branded.js';
import { EtcdServerError } from '../etcd/errors.js';
import { validateReadOptions, type ReadOptions, type ReadPath, type ReadServed } from '../etcd/read_options.js';
import { MemberStoppedError, RequestTimeoutError } from './errors.js';

export type { ReadMode, ReadOptions, ReadPath, ReadServed } from '../etcd/read_options.js';

/**
 * The rate by which a member's monotonic clock may run slow against real time (quartz drifts ~50 ppm; 1% leaves
 * room for virtualised hosts). A local elapsed time e is taken as e × (1 + rate) real time.
 */
export const CLOCK_DRIFT_RATE_MAX = 0.01;
/** Fixed margin added to every bounded-staleness proof, ms (configurable per member). */
export const STALENESS_MARGIN_MS_DEFAULT = 5;
/** Background refreshes of the freshness proof run at bound / this, while bounded reads keep coming. */
export const FRESHNESS_REFRESH_DIVISOR = 2;
/** Never refresh more often than this, ms. */
export const FRESHNESS_REFRESH_MS_MIN = 10;
/** Background refreshes stop when no bounded read came for this long, ms. */
export const FRESHNESS_IDLE_STOP_MS = 10_000;
/**
 * Lease reads: the safety margin subtracted from the lease, ms (configurable; `--lease-read-margin-ms`).
 *
 * The assumptions lease reads rest on (why they are off by default): (1) every member runs with the same
 * configured --election-timeout and --heartbeat-interval (adaptive timing only ever lengthens them); (2) over
 * one election timeout, no voter's clock gains on the leader's by more than this margin; (3) CheckQuorum is on;
 * (4) a TimeoutNow of an abandoned leadership transfer arrives within two election timeouts. Break one and a
 * deposed leader may answer from stale state; every other read path assumes nothing about clocks.
 */
export const LEASE_READ_MARGIN_MS_DEFAULT = 50;
/** After any leadership transfer on this leader, lease reads stay off for this many election timeouts. */
export const LEASE_BLOCK_AFTER_TRANSFER_ELECTIONS = 2;
/** Reads waiting for an applied index or revision at once, at most. */
export const APPLY_WAITERS_MAX = 100_000;

/**
 * The freshness proof behind bounded-staleness reads. The member notes its local monotonic time t0 just before
 * it asks the leader for a read index; the answer r is the leader's commit index at some moment after t0,
 * confirmed by a quorum, so every write acknowledged to any client before t0 has index <= r. Once this member
 * applied r, its state reflects every write acknowledged before t0: it is "fresh as of t0". Only this member's
 * clock is read, and only to measure the time since t0; the leader's clock is never compared with it.
 */
export class FreshnessProof {
  private t0 = Number.NEGATIVE_INFINITY;
  private index = 0;
  private term = 0;
  private asLeader = false;

  /** Records an answered read index asked at local time t0 (keeps the one asked latest). */
  record(t0: number, index: LogIndex, term: Term, asLeader: boolean): void {
    if (t0 <= this.t0) return;
    this.t0 = t0;
    this.index = index;
    this.term = term;
    this.asLeader = asLeader;
  }

  /** The local time the proof is as fresh as, or -Infinity if none. */
  get freshAsOf(): number {
    return this.t0;
  }

  get readIndex(): number {
    return this.index;
  }

  /**
   * Whether state at `applied` is provably no older than `maxStalenessMs` at local time `now`: applied reached
   * the proof's index and the time since t0, stretched by the clock's worst drift plus a margin, fits the bound.
   */
  servesBounded(now: number, applied: LogIndex, maxStalenessMs: number, marginMs: number): boolean {
    if (this.t0 === Number.NEGATIVE_INFINITY || applied < this.index) return false;
    const elapsed = Math.max(0, now - this.t0);
    return elapsed * (1 + CLOCK_DRIFT_RATE_MAX) + marginMs <= maxStalenessMs;
  }

  /**
   * Whether a leader still holds its lease at `now`. A quorum acknowledged a heartbeat sent after t0 in `term`;
   * each of those voters refuses to vote for anyone else until an election timeout after it heard that heartbeat
   * (CheckQuorum's lease), so no other leader can exist before t0 + leaseMs, as long as no voter's clock runs
   * faster than ours by more than the margin covers and no leadership transfer (which overrides that refusal)
   * is under way. The caller checks the transfer and conf change conditions.
   */
  holdsLease(now: number, term: Term, leaseMs: number): boolean {
    return this.asLeader && this.term === term && now - this.t0 < leaseMs;
  }
}

/** What ReadPaths needs from the member. */
export interface ReadHost {
  now(): number;
  setTimer(ms: number, fn: () => void): () => void;
  appliedIndex(): LogIndex;
  appliedRevision(): Revision;
  committedIndex(): LogIndex;
  term(): Term;
  isLeader(): boolean;
  /** A leadership transfer is in progress on this leader. */
  transferring(): boolean;
  /** ReadIndex: done once this member applied the read index (which was recorded in the proof first). */
  readIndex(done: (err: Error | null) => void): void;
  stopped(): boolean;
  requestTimeoutMs: number;
}

export interface ReadPathSettings {
  /** Leader lease reads allowed (off by default). */
  readonly leaseReads: boolean;
  readonly leaseReadMarginMs: number;
  /** The shortest election timeout any voter may use, ms: the lease the CheckQuorum rule gives. */
  readonly minElectionTimeoutMs: () => number;
  readonly checkQuorum: boolean;
  readonly stalenessMarginMs: number;
}

interface ApplyWaiter {
  readonly index: number;
  readonly revision: number;
  readonly done: (err: Error | null) => void;
  readonly cancelTimer: () => void;
}

/** The read paths of one member: decides the path, waits as it requires, then lets the caller read its store. */
export class ReadPaths {
  readonly proof = new FreshnessProof();
  private readonly waiters = new Set<ApplyWaiter>();
  private lastBoundedAskMs = Number.NEGATIVE_INFINITY;
  private refreshEveryMs = Number.POSITIVE_INFINITY;
  private refreshTimer: (() => void) | null = null;
  private leaseBlockedUntilMs = Number.NEGATIVE_INFINITY;
  private lastConfChangeMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly host: ReadHost,
    private readonly settings: ReadPathSettings,
  ) {}

  /**
   * Waits as the mode requires, then calls `serve` with the path (inside the event that settled it) or `done`
   * with an error. `serve` reads the member's store; its applied revision goes out with the answer.
   */
  read(o: ReadOptions, done: (err: Error | null, path?: ReadPath) => void): void {
    const bad = validateReadOptions(o);
    if (bad !== null) return done(bad);
    if (this.host.stopped()) return done(new MemberStoppedError());
    const timeoutMs = o.timeoutMs ?? this.host.requestTimeoutMs;
    switch (o.mode) {
      case 'serializable':
        return done(null, 'serializable');
      case 'linearizable':
        return this.viaReadIndex(done);
      case 'bounded':
        return this.bounded(o.maxStalenessMs ?? 0, done);
      case 'minRevision':
        return this.waitApplied(0, o.minRevision ?? 0, timeoutMs, (err) => done(err, 'min-revision'));
      case 'leaseRead':
        if (this.host.isLeader()) {
          // Keep the lease renewed in the background while lease reads come, so most need no round trip.
          this.lastBoundedAskMs = this.host.now();
          this.keepFresh(this.leaseMs());
        }
        if (!this.leaseValid()) return this.viaReadIndex(done);
        // The leader's commit index covers every acknowledged write; serve once applied catches up to it.
        return this.waitApplied(this.host.committedIndex(), 0, timeoutMs, (err) => done(err, 'lease'));
    }
  }

  private viaReadIndex(done: (err: Error | null, path?: ReadPath) => void): void {
    this.host.readIndex((err) => done(err, 'read-index'));
  }

  private bounded(maxStalenessMs: number, done: (err: Error | null, path?: ReadPath) => void): void {
    const now = this.host.now();
    this.lastBoundedAskMs = now;
    this.keepFresh(maxStalenessMs);
    if (this.proof.servesBounded(now, this.host.appliedIndex(), maxStalenessMs, this.settings.stalenessMarginMs)) return done(null, 'bounded-local');
    this.viaReadIndex(done);
  }

  /** Refreshes the proof in the background at about bound/2 while bounded (or lease) reads are being asked for. */
  private keepFresh(maxStalenessMs: number): void {
    const every = Math.max(FRESHNESS_REFRESH_MS_MIN, Math.floor(maxStalenessMs / FRESHNESS_REFRESH_DIVISOR));
    if (every >= this.refreshEveryMs && this.refreshTimer !== null) return;
    this.refreshEveryMs = every;
    this.refreshTimer?.();
    this.armRefresh();
  }

  private armRefresh(): void {
    this.refreshTimer = this.host.setTimer(this.refreshEveryMs, () => {
      this.refreshTimer = null;
      if (this.host.stopped() || this.host.now() - this.lastBoundedAskMs > FRESHNESS_IDLE_STOP_MS) {
        this.refreshEveryMs = Number.POSITIVE_INFINITY;
        return;
      }
      // The answer updates the proof; a failed refresh (no leader) is simply retried at the next round.
      this.host.readIndex(() => undefined);
      this.armRefresh();
    });
  }

  /** Whether this leader may answer a read from its own state now (see FreshnessProof.holdsLease). */
  leaseValid(): boolean {
    const s = this.settings;
    if (!s.leaseReads || !s.checkQuorum || !this.host.isLeader()) return false;
    const now = this.host.now();
    if (this.host.transferring()) this.noteTransfer();
    if (now < this.leaseBlockedUntilMs) return false;
    // A configuration change after t0 may have made a quorum that did not acknowledge the heartbeat.
    if (this.lastConfChangeMs >= this.proof.freshAsOf) return false;
    const leaseMs = this.leaseMs();
    return leaseMs > 0 && this.proof.holdsLease(now, this.host.term(), leaseMs);
  }

  private leaseMs(): number {
    return this.settings.minElectionTimeoutMs() - this.settings.leaseReadMarginMs;
  }

  /** A leadership transfer was seen: its TimeoutNow lets the target win despite the voters' lease. */
  noteTransfer(): void {
    this.leaseBlockedUntilMs = this.host.now() + LEASE_BLOCK_AFTER_TRANSFER_ELECTIONS * this.settings.minElectionTimeoutMs();
  }

  /** A conf change was applied here. */
  noteConfChange(): void {
    this.lastConfChangeMs = this.host.now();
  }

  /** Waits until this member applied `index` and `rev`; times out with etcd's "waiting for the applied index" error. */
  private waitApplied(index: number, rev: number, timeoutMs: number, done: (err: Error | null) => void): void {
    if (this.reached(index, rev)) return done(null);
    if (this.waiters.size >= APPLY_WAITERS_MAX) return done(new EtcdServerError('ErrTooManyRequests'));
    let settled = false;
    const once = (err: Error | null): void => {
      if (settled) return;
      settled = true;
      done(err);
    };
    const w: ApplyWaiter = {
      index,
      revision: rev,
      done: once,
      cancelTimer: this.host.setTimer(timeoutMs, () => {
        if (this.waiters.delete(w)) once(new EtcdServerError('ErrTimeoutWaitAppliedIndex'));
      }),
    };
    this.waiters.add(w);
  }

  private reached(index: number, rev: number): boolean {
    return this.host.appliedIndex() >= index && this.host.appliedRevision() >= rev;
  }

  /** The member applied entries: answers the reads that waited for them. */
  onApplied(): void {
    if (this.waiters.size === 0) return;
    for (const w of this.waiters) {
      if (!this.reached(w.index, w.revision)) continue;
      this.waiters.delete(w);
      w.cancelTimer();
      w.done(null);
    }
  }

  /** The member stopped: every waiting read fails. */
  stop(): void {
    this.refreshTimer?.();
    this.refreshTimer = null;
    const err = new MemberStoppedError();
    for (const w of this.waiters) {
      w.cancelTimer();
      w.done(err);
    }
    this.waiters.clear();
  }

  served(path: ReadPath): ReadServed {
    return { path, appliedRevision: revision(this.host.appliedRevision()) };
  }
}

/** For tests of callers: a timeout error is what a read that waited too long gets. */
export function isReadTimeout(err: unknown): boolean {
  return err instanceof RequestTimeoutError || (err instanceof EtcdServerError && err.code === 'ErrTimeoutWaitAppliedIndex');
}

assert(FRESHNESS_REFRESH_MS_MIN < FRESHNESS_IDLE_STOP_MS, 'refreshes must be able to run before they stop for idleness');
