// The log as raft sees it: the persisted part (Storage) followed by the unstable part, plus commit and apply marks.

import { assert } from '../util/assert.js';
import { logIndex, term, type LogIndex, type Term } from '../util/branded.js';
import { Unstable } from './log_unstable.js';
import { COMPACTED, entrySizeBytes, type Entry, type Snapshot, type Storage } from './types.js';

export class RaftLog {
  readonly storage: Storage;
  readonly unstable: Unstable;
  /** Highest index known to be committed by a quorum. */
  committed: LogIndex;
  /** Highest index handed to the application to apply (in a Ready). */
  applied: LogIndex;
  /** Bytes of committed entries handed out per Ready, at most. */
  readonly maxApplyBytes: number;

  constructor(storage: Storage, maxApplyBytes: number) {
    this.storage = storage;
    this.maxApplyBytes = maxApplyBytes;
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new Unstable(logIndex(last + 1));
    // Everything up to the snapshot is committed and applied (the state machine was restored from it).
    this.committed = logIndex(first - 1);
    this.applied = logIndex(first - 1);
  }

  firstIndex(): LogIndex {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): LogIndex {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  lastTerm(): Term {
    const t = this.term(this.lastIndex());
    assert(t !== undefined, `no term for the last index ${this.lastIndex()}`);
    return t;
  }

  /** The term of entry i, or undefined if it is compacted or past the end. */
  term(i: LogIndex): Term | undefined {
    // The valid range is [firstIndex-1, lastIndex]: the entry before the first is the snapshot's.
    const dummy = this.firstIndex() - 1;
    if (i < dummy || i > this.lastIndex()) return undefined;
    const u = this.unstable.maybeTerm(i);
    if (u !== undefined) return u;
    const t = this.storage.term(i);
    if (typeof t === 'number') return t;
    return undefined;
  }

  matchTerm(i: LogIndex, t: Term): boolean {
    return this.term(i) === t;
  }

  /** Whether a log ending at (lastIndex, lastTerm) is at least as up to date as ours (Raft §5.4.1). */
  isUpToDate(lasti: LogIndex, lastTerm: Term): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lasti >= this.lastIndex());
  }

  /**
   * Appends a leader's entries that follow (index, logTerm) if our log matches there; returns the new last
   * index, or undefined on mismatch. Conflicting entries are replaced; entries already present are kept.
   */
  maybeAppend(index: LogIndex, logTerm: Term, committed: LogIndex, ents: readonly Entry[]): LogIndex | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = logIndex(index + ents.length);
    const ci = this.findConflict(ents);
    if (ci !== 0) {
      assert(ci > this.committed, `entry ${ci} conflicts with committed entry (committed ${this.committed})`);
      const offset = index + 1;
      this.append(ents.slice(ci - offset));
    }
    this.commitTo(logIndex(Math.min(committed, lastNew)));
    return lastNew;
  }

  /** Appends entries at the end (truncating anything after their first index); returns the new last index. */
  append(ents: readonly Entry[]): LogIndex {
    if (ents.length === 0) return this.lastIndex();
    const after = (ents[0] as Entry).index - 1;
    assert(after >= this.committed, `cannot truncate committed entries: after ${after} < committed ${this.committed}`);
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /** The index of the first entry that is new or conflicts with ours (0 when all are present). */
  findConflict(ents: readonly Entry[]): LogIndex {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return logIndex(0);
  }

  /**
   * A fast back-off hint for a rejected append at (index, t): the largest index ≤ index whose term is ≤ t.
   * The leader can then skip every entry of a term the follower does not have.
   */
  findConflictByTerm(index: LogIndex, t: Term): { index: LogIndex; term: Term } {
    let i = index;
    for (; i > 0; i--) {
      const ourTerm = this.term(i);
      if (ourTerm === undefined) return { index: i, term: term(0) };
      if (ourTerm <= t) return { index: i, term: ourTerm };
    }
    return { index: logIndex(0), term: term(0) };
  }

  commitTo(c: LogIndex): void {
    if (c <= this.committed) return;
    assert(c <= this.lastIndex(), `commit ${c} is out of range [lastIndex ${this.lastIndex()}]; was the log lost?`);
    this.committed = c;
  }

  /** Commits `maxIndex` if it is in term `t` (a leader commits only current-term entries by counting). */
  maybeCommit(maxIndex: LogIndex, t: Term): boolean {
    if (maxIndex > this.committed && this.term(maxIndex) === t) {
      this.commitTo(maxIndex);
      return true;
    }
    return false;
  }

  appliedTo(i: LogIndex): void {
    if (i === 0) return;
    assert(i <= this.committed && i >= this.applied, `applied ${i} out of range [${this.applied}, ${this.committed}]`);
    this.applied = i;
  }

  hasNextCommittedEnts(): boolean {
    return this.committed > this.applied && this.unstable.snapshot === null;
  }

  /** Committed entries not yet handed out for applying, up to the byte budget. */
  nextCommittedEnts(): Entry[] {
    if (!this.hasNextCommittedEnts()) return [];
    const lo = logIndex(Math.max(this.applied + 1, this.firstIndex()));
    const hi = logIndex(this.committed + 1);
    return this.slice(lo, hi, this.maxApplyBytes);
  }

  unstableEntries(): Entry[] {
    return this.unstable.entries;
  }

  snapshot(): Snapshot | null {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  stableTo(i: LogIndex, t: Term): void {
    this.unstable.stableTo(i, t);
  }

  stableSnapTo(i: LogIndex): void {
    this.unstable.stableSnapTo(i);
  }

  restore(s: Snapshot): void {
    this.committed = s.metadata.index;
    this.unstable.restore(s);
  }

  /** Entries from i to the end, at most maxBytes (at least one), or null if i is compacted. */
  entriesFrom(i: LogIndex, maxBytes: number): Entry[] | null {
    if (i > this.lastIndex()) return [];
    if (i < this.firstIndex()) return null;
    return this.slice(i, logIndex(this.lastIndex() + 1), maxBytes);
  }

  /** Entries in [lo, hi) from storage then unstable, stopping at maxBytes (at least one entry). */
  slice(lo: LogIndex, hi: LogIndex, maxBytes: number): Entry[] {
    assert(lo >= this.firstIndex() && hi <= this.lastIndex() + 1 && lo <= hi,
      `slice[${lo},${hi}) out of bounds [${this.firstIndex()},${this.lastIndex()}]`);
    if (lo === hi) return [];
    const out: Entry[] = [];
    const uOffset = this.unstable.offset;
    if (lo < uOffset) {
      const stored = this.storage.entries(lo, logIndex(Math.min(hi, uOffset)), maxBytes);
      assert(stored !== COMPACTED && typeof stored !== 'string', `storage lost entries [${lo}, ${Math.min(hi, uOffset)}): ${String(stored)}`);
      for (const e of stored) out.push(e);
      // Storage stopped early because of the byte limit.
      if (out.length < Math.min(hi, uOffset) - lo) return out;
    }
    if (hi > uOffset) {
      let bytes = 0;
      for (const e of out) bytes += entrySizeBytes(e);
      for (const e of this.unstable.slice(logIndex(Math.max(lo, uOffset)), hi)) {
        bytes += entrySizeBytes(e);
        if (out.length > 0 && bytes > maxBytes) break;
        out.push(e);
      }
    }
    return out;
  }
}
