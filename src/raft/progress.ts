// The leader's view of one follower's log: how far it matches and how to send it more (probe/replicate/snapshot).

import { assert } from '../util/assert.js';
import { logIndex, type LogIndex } from '../util/branded.js';
import { Inflights } from './inflights.js';

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  /** Highest index known to be replicated on the follower. */
  match: LogIndex;
  /** Index of the next entry to send. */
  next: LogIndex;
  state: ProgressState = 'probe';
  /** In snapshot state: the index of the snapshot being sent. */
  pendingSnapshot: LogIndex = logIndex(0);
  /** Heard from since the last CheckQuorum; the leader itself is always active. */
  recentActive = false;
  /** In probe state: one MsgApp is out; wait for its answer (or a heartbeat answer) before sending another. */
  probeSent = false;
  readonly inflights: Inflights;
  isLearner: boolean;

  constructor(next: LogIndex, inflightsMax: number, inflightsMaxBytes: number, isLearner: boolean) {
    this.match = logIndex(0);
    this.next = next;
    this.inflights = new Inflights(inflightsMax, inflightsMaxBytes);
    this.isLearner = isLearner;
  }

  private resetState(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = logIndex(0);
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    // Coming back from a snapshot: the follower has at least the snapshot, so probe after it.
    if (this.state === 'snapshot') {
      const pending = this.pendingSnapshot;
      this.resetState('probe');
      this.next = logIndex(Math.max(this.match + 1, pending + 1));
    } else {
      this.resetState('probe');
      this.next = logIndex(this.match + 1);
    }
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = logIndex(this.match + 1);
  }

  becomeSnapshot(snapshotIndex: LogIndex): void {
    this.resetState('snapshot');
    this.pendingSnapshot = snapshotIndex;
  }

  /** The follower acknowledged up to `n`; returns whether that was news. */
  maybeUpdate(n: LogIndex): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    this.next = logIndex(Math.max(this.next, n + 1));
    return updated;
  }

  /** Pipelining: entries up to `n` were sent, assume they will arrive. */
  optimisticUpdate(n: LogIndex): void {
    this.next = logIndex(n + 1);
  }

  /**
   * A MsgApp at `rejected` was refused; `matchHint` is where the follower's log may match.
   * Returns false for a stale rejection that must be ignored.
   */
  maybeDecrTo(rejected: LogIndex, matchHint: LogIndex): boolean {
    if (this.state === 'replicate') {
      // Stale: the rejection is for an index already matched.
      if (rejected <= this.match) return false;
      this.next = logIndex(this.match + 1);
      return true;
    }
    // In probe state the rejection must be for the single outstanding probe at next-1.
    if (this.next - 1 !== rejected) return false;
    this.next = logIndex(Math.max(Math.min(rejected, matchHint + 1), 1));
    this.probeSent = false;
    return true;
  }

  /** Whether sending to this follower should wait (flow control). */
  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }

  /** Records that a MsgApp carrying entries up to `lastIndex` (`bytes` of data) was sent. */
  sentEntries(lastIndex: LogIndex, entryCount: number, bytes: number): void {
    if (this.state === 'replicate') {
      if (entryCount > 0) {
        this.optimisticUpdate(lastIndex);
        this.inflights.add(lastIndex, bytes);
      }
    } else if (this.state === 'probe') {
      this.probeSent = true;
    } else {
      assert(false, `sentEntries in state ${this.state}`);
    }
  }

  toString(): string {
    return `${this.state} match=${this.match} next=${this.next}${this.isLearner ? ' learner' : ''}` +
      (this.state === 'snapshot' ? ` pendingSnap=${this.pendingSnapshot}` : '') +
      (this.probeSent ? ' paused' : '') + (this.inflights.full() ? ' inflight-full' : '');
  }
}
