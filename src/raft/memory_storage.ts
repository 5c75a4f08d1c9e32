// An in-memory Storage, as etcd raft's MemoryStorage: for tests, benchmarks and the simulator's durable layer.

import { assert } from '../util/assert.js';
import { logIndex, NONE, term, type LogIndex, type Term } from '../util/branded.js';
import {
  COMPACTED,
  UNAVAILABLE,
  entrySizeBytes,
  type ConfState,
  type Entry,
  type HardState,
  type Snapshot,
  type Storage,
  type StorageMiss,
} from './types.js';

export const EMPTY_CONF_STATE: ConfState = Object.freeze({
  voters: [],
  learners: [],
  votersOutgoing: [],
  learnersNext: [],
  autoLeave: false,
});

export const EMPTY_HARD_STATE: HardState = Object.freeze({ term: term(0), vote: NONE, commit: logIndex(0) });

export function emptySnapshot(): Snapshot {
  return { metadata: { confState: EMPTY_CONF_STATE, index: logIndex(0), term: term(0) }, data: new Uint8Array(0) };
}

export class MemoryStorage implements Storage {
  hardState: HardState = EMPTY_HARD_STATE;
  private snap: Snapshot = emptySnapshot();
  /** ents[0] is a dummy entry standing for the snapshot: its index and term are the snapshot's. */
  private ents: Entry[] = [{ term: term(0), index: logIndex(0), type: 0, data: new Uint8Array(0) }];

  /** Starts from a configuration as if a snapshot at index 0 carried it (a new cluster's bootstrap). */
  static withConfState(confState: ConfState): MemoryStorage {
    const s = new MemoryStorage();
    s.snap = { ...s.snap, metadata: { ...s.snap.metadata, confState } };
    return s;
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: this.hardState, confState: this.snap.metadata.confState };
  }

  setHardState(hs: HardState): void {
    this.hardState = hs;
  }

  private get offset(): number {
    return (this.ents[0] as Entry).index;
  }

  entries(lo: LogIndex, hi: LogIndex, maxBytes: number): readonly Entry[] | StorageMiss {
    if (lo <= this.offset) return COMPACTED;
    if (hi > this.lastIndex() + 1) return UNAVAILABLE;
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi; i++) {
      const e = this.ents[i - this.offset] as Entry;
      bytes += entrySizeBytes(e);
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  term(i: LogIndex): Term | StorageMiss {
    if (i < this.offset) return COMPACTED;
    if (i - this.offset >= this.ents.length) return UNAVAILABLE;
    return (this.ents[i - this.offset] as Entry).term;
  }

  firstIndex(): LogIndex {
    return logIndex(this.offset + 1);
  }

  lastIndex(): LogIndex {
    return logIndex(this.offset + this.ents.length - 1);
  }

  snapshot(): Snapshot | null {
    return this.snap;
  }

  /** Replaces the whole log with a snapshot; ignored if older than the current one. */
  applySnapshot(snap: Snapshot): boolean {
    if (snap.metadata.index <= this.snap.metadata.index) return false;
    this.snap = snap;
    this.ents = [{ term: snap.metadata.term, index: snap.metadata.index, type: 0, data: new Uint8Array(0) }];
    return true;
  }

  /** Records a snapshot of applied state at `i` (≤ lastIndex) without discarding entries. */
  createSnapshot(i: LogIndex, confState: ConfState, data: Uint8Array): Snapshot | null {
    if (i <= this.snap.metadata.index) return null;
    assert(i <= this.lastIndex(), `createSnapshot: index ${i} is past the last index ${this.lastIndex()}`);
    const t = this.term(i);
    assert(typeof t === 'number', `createSnapshot: no term for index ${i}`);
    this.snap = { metadata: { index: i, term: t, confState }, data };
    return this.snap;
  }

  /** Discards entries before `compactIndex`; the entry at compactIndex becomes the dummy. */
  compact(compactIndex: LogIndex): boolean {
    if (compactIndex <= this.offset) return false;
    assert(compactIndex <= this.lastIndex(), `compact: index ${compactIndex} is past the last index ${this.lastIndex()}`);
    const i = compactIndex - this.offset;
    const dummy = this.ents[i] as Entry;
    this.ents = [{ term: dummy.term, index: dummy.index, type: 0, data: new Uint8Array(0) }, ...this.ents.slice(i + 1)];
    return true;
  }

  /** Appends entries, truncating any conflicting suffix; entries must be contiguous. */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const head = entries[0] as Entry;
    const last = head.index + entries.length - 1;
    if (last < first) return; // all already compacted
    const skip = first > head.index ? first - head.index : 0;
    const rest = entries.slice(skip);
    const start = (rest[0] as Entry).index;
    assert(start <= this.lastIndex() + 1, `append: gap between last index ${this.lastIndex()} and ${start}`);
    this.ents.length = start - this.offset;
    for (const e of rest) this.ents.push(e);
  }
}
