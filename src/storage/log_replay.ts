// Rebuilds the raft log from WAL records in the order they were written: later entries replace a
// conflicting suffix, a 'restore' mark replaces the whole log, the newest hard state wins.

import type { LogIndex, Term } from '../util/branded.js';
import type { Entry, HardState } from '../raft/types.js';
import { EMPTY_HARD_STATE } from '../raft/memory_storage.js';
import { RecordType, type SnapshotMark, type WalRecord } from './wal_record.js';

export class LogReplay {
  hardState: HardState = EMPTY_HARD_STATE;
  /** The snapshot with the highest index the log vouches for. */
  newestMark: SnapshotMark | null = null;
  private ents: Entry[] = [];
  /** The index just before ents[0] when it is known (after a restore); entries must continue from it. */
  private base: number | null = null;

  /** Applies one complete batch; returns what is wrong with it, or null. */
  applyBatch(records: readonly WalRecord[]): string | null {
    for (const r of records) {
      const problem = this.apply(r);
      if (problem !== null) return problem;
    }
    return null;
  }

  private apply(r: WalRecord): string | null {
    switch (r.type) {
      case RecordType.Metadata:
        return null;
      case RecordType.HardState:
        this.hardState = r.hardState;
        return null;
      case RecordType.Snapshot:
        if (this.newestMark === null || r.mark.index >= this.newestMark.index) this.newestMark = r.mark;
        if (r.mark.kind === 'restore') {
          this.ents = [];
          this.base = r.mark.index;
        }
        return null;
      case RecordType.Entry:
        return this.applyEntry(r.entry);
    }
  }

  private applyEntry(e: Entry): string | null {
    const first = this.ents[0]?.index;
    if (this.base !== null && e.index <= this.base) return `entry ${e.index} at or below the restored snapshot at ${this.base}`;
    if (first === undefined) {
      if (this.base !== null && e.index !== this.base + 1) return `entry ${e.index} does not follow the restored snapshot at ${this.base}`;
      this.ents.push(e);
      return null;
    }
    const last = first + this.ents.length - 1;
    if (e.index > last + 1) return `entry ${e.index} leaves a gap after entry ${last}`;
    if (e.index >= first) {
      // A conflicting suffix was overwritten (a follower truncating its log).
      this.ents.length = e.index - first;
      this.ents.push(e);
    } else {
      // Overwritten from below what this part of the log holds: the rest came from older segments.
      this.ents = [e];
    }
    return null;
  }

  /** The entries after the snapshot at (index, term); a string says why the log does not fit it. */
  finish(snapIndex: LogIndex, snapTerm: Term): Entry[] | string {
    if (this.base !== null && this.base > snapIndex) return `the log was restored from a snapshot at ${this.base}, newer than ${snapIndex}`;
    const first = this.ents[0]?.index;
    if (first === undefined) return [];
    const last = first + this.ents.length - 1;
    if (last <= snapIndex) return [];
    if (first > snapIndex + 1) {
      return `the log starts at entry ${first} but the snapshot ends at ${snapIndex}: entries ${snapIndex + 1}..${first - 1} are missing`;
    }
    const at = this.ents[snapIndex - first];
    if (at !== undefined && at.term !== snapTerm) {
      return `entry ${snapIndex} has term ${at.term} but the snapshot at that index has term ${snapTerm}`;
    }
    // Without a copy when nothing is cut off: a large log would briefly be held twice.
    return first === snapIndex + 1 ? this.ents : this.ents.slice(snapIndex + 1 - first);
  }
}
