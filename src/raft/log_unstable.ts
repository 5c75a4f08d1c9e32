// The tail of the log not yet persisted: entries (and possibly an incoming snapshot) waiting for the next Ready.

import { assert } from '../util/assert.js';
import { logIndex, type LogIndex, type Term } from '../util/branded.js';
import type { Entry, Snapshot } from './types.js';

export class Unstable {
  /** A snapshot received from the leader, not yet persisted. */
  snapshot: Snapshot | null = null;
  /** Entries not yet persisted; entries[i] has index offset + i. */
  entries: Entry[] = [];
  offset: LogIndex;

  constructor(offset: LogIndex) {
    this.offset = offset;
  }

  /** The first index if only a snapshot is unstable (its index + 1). */
  maybeFirstIndex(): LogIndex | undefined {
    return this.snapshot === null ? undefined : logIndex(this.snapshot.metadata.index + 1);
  }

  maybeLastIndex(): LogIndex | undefined {
    if (this.entries.length > 0) return logIndex(this.offset + this.entries.length - 1);
    if (this.snapshot !== null) return this.snapshot.metadata.index;
    return undefined;
  }

  maybeTerm(i: LogIndex): Term | undefined {
    if (i < this.offset) {
      if (this.snapshot !== null && this.snapshot.metadata.index === i) return this.snapshot.metadata.term;
      return undefined;
    }
    const last = this.maybeLastIndex();
    if (last === undefined || i > last) return undefined;
    return (this.entries[i - this.offset] as Entry).term;
  }

  /** Entries up to (i, t) were persisted: drop them, unless they were replaced meanwhile (term differs). */
  stableTo(i: LogIndex, t: Term): void {
    const gt = this.maybeTerm(i);
    if (gt === undefined || gt !== t || i < this.offset) return;
    this.entries = this.entries.slice(i + 1 - this.offset);
    this.offset = logIndex(i + 1);
  }

  stableSnapTo(i: LogIndex): void {
    if (this.snapshot !== null && this.snapshot.metadata.index === i) this.snapshot = null;
  }

  restore(s: Snapshot): void {
    this.offset = logIndex(s.metadata.index + 1);
    this.entries = [];
    this.snapshot = s;
  }

  /** Appends entries, first truncating anything at or after the first new index. */
  truncateAndAppend(ents: readonly Entry[]): void {
    const first = (ents[0] as Entry).index;
    if (first === this.offset + this.entries.length) {
      for (const e of ents) this.entries.push(e);
    } else if (first <= this.offset) {
      // Replaces every unstable entry.
      this.offset = first;
      this.entries = [...ents];
    } else {
      this.entries = this.slice(this.offset, first);
      for (const e of ents) this.entries.push(e);
    }
  }

  slice(lo: LogIndex, hi: LogIndex): Entry[] {
    assert(lo <= hi && lo >= this.offset && hi <= this.offset + this.entries.length,
      `unstable.slice[${lo},${hi}) out of bounds [${this.offset},${this.offset + this.entries.length})`);
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}
