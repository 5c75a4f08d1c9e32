// The multi-version store (etcd's mvcc package): the in-memory key index over revisions kept in the backend,
// write transactions that give all their changes one main revision, historical reads, compaction, and the
// history the watch hub replays from (WatchableHistory).

import { assert } from '../util/assert.js';
import { leaseId, type Revision, revision } from '../util/branded.js';
import { type Backend, bytesToLatin1, latin1ToBytes } from '../storage/backend/backend.js';
import { ResponseTooLargeError } from './errors.js';
import { KeyIndex } from './key_index.js';
import { COMPACTION_DELETES_PER_COMMIT, MAX_SUB_REVISION, RECENT_CHANGES_EVENTS, RECENT_CHANGES_REVISIONS } from './limits.js';
import { decodeRecord, EMPTY, REV_KEY_BYTES, revKey, revKeyMain, revKeySub, tombstoneKv, writeRecord, written } from './revision.js';
import { TreeIndex } from './tree_index.js';
import { type Event, EventType, type KeyValue, type RevisionChanges, type WatchableHistory } from './types.js';

/** Told when a key's lease changes, so the lessor knows which keys each lease holds. */
export interface LeaseHook {
  attach(lease: number, key: string): void;
  detach(lease: number, key: string): void;
}

/** A key range resolved from etcd's rules: end null means no upper bound; single means just `start`. */
export interface KeyRange {
  readonly start: string;
  readonly end: string | null;
  readonly single: boolean;
}

/** What one KeyValue adds to a response besides its key and value (protobuf framing and numbers). */
export const KV_RESPONSE_OVERHEAD_BYTES = 32;

export function keyRange(key: Uint8Array, rangeEnd: Uint8Array): KeyRange {
  const start = bytesToLatin1(key);
  if (rangeEnd.length === 0) return { start, end: null, single: true };
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return { start, end: null, single: false };
  return { start, end: bytesToLatin1(rangeEnd), single: false };
}

export function inRange(r: KeyRange, key: string): boolean {
  if (r.single) return key === r.start;
  return key >= r.start && (r.end === null || key < r.end);
}

/**
 * An event whose prevKv is read from the backend on first access: most watchers do not ask for it (etcd, too,
 * fetches prev_kv only for watchers that want it), and reading it on every put would cost a random backend read.
 */
class StoreEvent implements Event {
  private prev: KeyValue | null | undefined = undefined;

  constructor(
    readonly type: EventType,
    readonly kv: KeyValue,
    private readonly store: MvccStore,
    /** 0: the key did not exist before this event. */
    private readonly prevMain: number,
    private readonly prevSub: number,
  ) {}

  get prevKv(): KeyValue | null {
    if (this.prev === undefined) {
      this.prev = this.prevMain === 0 ? null : this.store.loadRevision(this.prevMain, this.prevSub, this.kv.modRevision);
    }
    return this.prev;
  }
}

export class MvccStore implements WatchableHistory {
  readonly index = new TreeIndex();
  private currentRev = 1;
  private compactRev = 0;
  /** Bytes of every stored version (revision key + record): the deterministic size the quota is checked against. */
  private storedBytes = 0;
  /** The write in progress: its changes so far (they get main revision currentRev + 1). */
  private txnEvents: Event[] | null = null;
  /**
   * Versions written since the last flush, in (main, sub) order: the store buffers its own records (numbers, no
   * string keys) and writes them straight into the backend's commit transaction.
   */
  private pendMain: number[] = [];
  private pendSub: number[] = [];
  /** Each record lives in a slab at an offset; length -1 marks one compaction removed before it was flushed. */
  private pendSlab: Uint8Array[] = [];
  private pendOff: number[] = [];
  private pendLen: number[] = [];
  private readonly scratchKey = Buffer.alloc(REV_KEY_BYTES);
  /** Compacted versions to delete from the backend: pairs [main, sub]; the first doomedDone pairs are done. */
  private doomed: number[] = [];
  private doomedDone = 0;
  /** The most recent revisions' changes, oldest first, contiguous up to currentRev. */
  private recent: RevisionChanges[] = [];
  private recentEvents = 0;

  constructor(
    private readonly backend: Backend,
    private readonly leases: LeaseHook,
    private readonly deletesPerCommit = COMPACTION_DELETES_PER_COMMIT,
  ) {}

  currentRevision(): Revision {
    return revision(this.currentRev);
  }

  compactRevision(): Revision {
    return revision(this.compactRev);
  }

  sizeBytes(): number {
    return this.storedBytes;
  }

  keyCount(): number {
    return this.index.size();
  }

  /** Before restoring records: the compacted revision the backend's meta table records. */
  beginRestore(compactRev: number): void {
    assert(this.index.size() === 0 && compactRev >= 0, 'beginRestore on a non-empty store');
    this.compactRev = compactRev;
  }

  /** Restores the revision counters (from the backend's meta table on open). */
  restoreCounters(currentRev: number, compactRev: number): void {
    assert(currentRev >= 1 && compactRev >= 0 && compactRev <= currentRev, `bad counters ${currentRev}/${compactRev}`);
    this.currentRev = currentRev;
    this.compactRev = compactRev;
  }

  /** Rebuilds the index from one stored version (called in revision order while opening). */
  restoreRecord(key: Uint8Array, value: Uint8Array): void {
    const main = revKeyMain(key);
    const sub = revKeySub(key);
    const rec = decodeRecord(main, value);
    const ki = this.index.getOrCreate(bytesToLatin1(rec.kv.key));
    if (rec.tombstone && !ki.isLive()) {
      // A compaction's deletes were cut short by a crash after the put below this tombstone was deleted.
      if (!(main <= this.compactRev)) assert(false, `kv record ${main}.${sub} deletes a key that does not exist`);
      if (ki.entries === 0) this.index.remove(ki.key);
      this.doomed.push(main, sub);
      if (main > this.currentRev) this.currentRev = main;
      return;
    }
    if (rec.tombstone) {
      if (ki.lease !== 0) this.leases.detach(ki.lease, ki.key);
      ki.tombstone(main, sub, value.length);
    } else {
      if (ki.lease !== rec.kv.lease && ki.lease !== 0) this.leases.detach(ki.lease, ki.key);
      if (rec.kv.lease !== 0 && ki.lease !== rec.kv.lease) this.leases.attach(rec.kv.lease, ki.key);
      ki.put(main, sub, value.length, rec.kv.createRevision, rec.kv.version, rec.kv.lease);
    }
    this.storedBytes += REV_KEY_BYTES + value.length;
    if (main > this.currentRev) this.currentRev = main;
  }

  // ------------------------------------------------------------------ buffered records

  /** Versions buffered, not yet flushed to the backend. */
  pendingWrites(): number {
    return this.pendMain.length;
  }

  /** Buffers the record writeRecord just wrote; returns its size. */
  private buffer(main: number, sub: number): number {
    this.pendMain.push(main);
    this.pendSub.push(sub);
    this.pendSlab.push(written.slab);
    this.pendOff.push(written.offset);
    this.pendLen.push(written.length);
    return written.length;
  }

  private pendingRecord(p: number): Uint8Array | undefined {
    const len = this.pendLen[p] as number;
    if (len < 0) return undefined;
    const off = this.pendOff[p] as number;
    return (this.pendSlab[p] as Uint8Array).subarray(off, off + len);
  }

  /** Position of {main, sub} among the buffered records, or -1. */
  private pendingAt(main: number, sub: number): number {
    const mains = this.pendMain;
    if (mains.length === 0 || main < (mains[0] as number)) return -1;
    let lo = 0;
    let hi = mains.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const m = mains[mid] as number;
      const s = this.pendSub[mid] as number;
      if (m === main && s === sub) return mid;
      if (m < main || (m === main && s < sub)) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** The stored record at {main, sub}: buffered or in the backend. */
  private record(main: number, sub: number): Uint8Array | undefined {
    const p = this.pendingAt(main, sub);
    if (p >= 0) return this.pendingRecord(p);
    // A reused Buffer key: a fresh small Uint8Array would have to be moved off-heap to reach LMDB.
    return this.backend.get('kv', revKey(main, sub, this.scratchKey));
  }

  /**
   * Commits the backend with every buffered record in the same transaction, and deletes up to `maxDeletes`
   * compacted versions (all of them when Infinity: before hashing or snapshotting the backend).
   */
  flush(maxDeletes = this.deletesPerCommit): void {
    const mains = this.pendMain;
    const subs = this.pendSub;
    const doomed = this.doomed;
    const first = this.doomedDone;
    const end = Math.min(doomed.length >> 1, first + maxDeletes);
    // The backend copies each key as it writes it, so one key buffer serves the whole batch.
    const key = Buffer.alloc(REV_KEY_BYTES);
    this.backend.commit((put, remove) => {
      for (let i = first; i < end; i++) remove('kv', revKey(doomed[2 * i] as number, doomed[2 * i + 1] as number, key));
      for (let i = 0; i < mains.length; i++) {
        const v = this.pendingRecord(i);
        if (v !== undefined) put('kv', revKey(mains[i] as number, subs[i] as number, key), v);
      }
    });
    this.doomedDone = end;
    if (this.doomedDone === doomed.length >> 1) {
      this.doomed = [];
      this.doomedDone = 0;
    }
    this.pendMain = [];
    this.pendSub = [];
    this.pendSlab = [];
    this.pendOff = [];
    this.pendLen = [];
  }

  // ------------------------------------------------------------------ reads

  /** The version of `ki` at entry `i`. */
  private load(ki: KeyIndex, i: number): KeyValue {
    const main = ki.main(i);
    const bytes = this.record(main, ki.sub(i));
    if (!(bytes !== undefined)) assert(false, `kv record ${main}.${ki.sub(i)} of an indexed key is missing from the backend`);
    return decodeRecord(main, bytes).kv;
  }

  /** Visits each key index in the range, in key order, until `visit` returns false. */
  visit(r: KeyRange, visit: (ki: KeyIndex) => boolean): void {
    if (r.single) {
      const ki = this.index.get(r.start);
      if (ki !== undefined) visit(ki);
      return;
    }
    if (r.end !== null && r.end <= r.start) return;
    this.index.forRange(r.start, r.end, visit);
  }

  /**
   * Keys live at `atRev` in the range, in key order: at most `limit` loaded (0: all), and how many there are.
   * The caller has checked atRev against the compacted and current revisions.
   */
  rangeAt(r: KeyRange, atRev: number, limit: number, countOnly: boolean, maxBytes = Infinity): { kvs: KeyValue[]; count: number } {
    const kvs: KeyValue[] = [];
    let count = 0;
    let bytes = 0;
    this.visit(r, (ki) => {
      const i = ki.liveAt(atRev);
      if (i < 0) return true;
      count++;
      if (!countOnly && (limit <= 0 || kvs.length < limit)) {
        const kv = this.load(ki, i);
        bytes += kv.key.length + kv.value.length + KV_RESPONSE_OVERHEAD_BYTES;
        if (bytes > maxBytes) throw new ResponseTooLargeError(bytes, maxBytes);
        kvs.push(kv);
      }
      return true;
    });
    return { kvs, count };
  }

  /** The live version of one key now (inside a write: including the write's own changes), or null. */
  getLive(key: string): KeyValue | null {
    const ki = this.index.get(key);
    if (ki === undefined || !ki.isLive()) return null;
    return this.load(ki, ki.entries - 1);
  }

  /** The current version of a live key. */
  liveValue(ki: KeyIndex): KeyValue {
    assert(ki.isLive(), 'liveValue of a deleted key');
    return this.load(ki, ki.entries - 1);
  }

  /** The revision reads inside the current write see: its own changes count as the next revision. */
  txnReadRevision(): number {
    return this.currentRev + (this.txnEvents !== null && this.txnEvents.length > 0 ? 1 : 0);
  }

  // ------------------------------------------------------------------ writes

  beginWrite(): void {
    assert(this.txnEvents === null, 'beginWrite: a write is already open');
    this.txnEvents = [];
  }

  private events(): Event[] {
    assert(this.txnEvents !== null, 'no write is open');
    return this.txnEvents;
  }

  /** The main revision the open write's changes get. */
  writeRevision(): number {
    return this.currentRev + 1;
  }

  /** Puts a new version of `key`; the event's prevKv is read from the backend only if someone asks. */
  put(key: Uint8Array, value: Uint8Array, lease: number): Event {
    const events = this.events();
    const main = this.currentRev + 1;
    const sub = events.length;
    assert(sub <= MAX_SUB_REVISION, 'too many changes in one revision');
    const keyStr = bytesToLatin1(key);
    const ki = this.index.getOrCreate(keyStr);
    const live = ki.isLive();
    const last = ki.entries - 1;
    const prevMain = live ? ki.main(last) : 0;
    const prevSub = live ? ki.sub(last) : 0;
    const createRev = live ? ki.createRev : main;
    const version = live ? ki.version + 1 : 1;
    writeRecord(false, key, value, createRev, version, lease);
    const size = this.buffer(main, sub);
    this.storedBytes += REV_KEY_BYTES + size;
    const oldLease = ki.lease;
    ki.put(main, sub, size, createRev, version, lease);
    if (oldLease !== lease) {
      if (oldLease !== 0) this.leases.detach(oldLease, keyStr);
      if (lease !== 0) this.leases.attach(lease, keyStr);
    }
    const kv: KeyValue = {
      key, value, createRevision: revision(createRev), modRevision: revision(main), version, lease: leaseId(lease),
    };
    const event = new StoreEvent(EventType.Put, kv, this, prevMain, prevSub);
    events.push(event);
    return event;
  }

  /** Deletes a live key (a tombstone at the write's revision). */
  delete(ki: KeyIndex): Event {
    const events = this.events();
    assert(ki.isLive(), 'delete of a key that is not live');
    const main = this.currentRev + 1;
    const sub = events.length;
    assert(sub <= MAX_SUB_REVISION, 'too many changes in one revision');
    const last = ki.entries - 1;
    const key = latin1ToBytes(ki.key);
    writeRecord(true, key, EMPTY, 0, 0, 0);
    const size = this.buffer(main, sub);
    this.storedBytes += REV_KEY_BYTES + size;
    const event = new StoreEvent(EventType.Delete, tombstoneKv(key, main), this, ki.main(last), ki.sub(last));
    if (ki.lease !== 0) this.leases.detach(ki.lease, ki.key);
    ki.tombstone(main, sub, size);
    events.push(event);
    return event;
  }

  /**
   * The stored version at {main, sub}, or null once compaction removed it; used by events' lazy prevKv, which
   * is only ever removed when the event itself is at or below the compacted revision.
   */
  loadRevision(main: number, sub: number, eventRev: number): KeyValue | null {
    const bytes = this.record(main, sub);
    if (bytes === undefined) {
      if (!(eventRev <= this.compactRev)) assert(false, `prevKv ${main}.${sub} of an event at ${eventRev} is missing`);
      return null;
    }
    return decodeRecord(main, bytes).kv;
  }

  /** Ends the open write: if it changed anything, that is the new current revision. */
  endWrite(): RevisionChanges | null {
    const events = this.events();
    this.txnEvents = null;
    if (events.length === 0) return null;
    this.currentRev++;
    const changes: RevisionChanges = { revision: revision(this.currentRev), events };
    this.remember(changes);
    return changes;
  }

  private remember(changes: RevisionChanges): void {
    this.recent.push(changes);
    this.recentEvents += changes.events.length;
    while (this.recent.length > RECENT_CHANGES_REVISIONS || (this.recentEvents > RECENT_CHANGES_EVENTS && this.recent.length > 1)) {
      const dropped = this.recent.shift();
      if (dropped !== undefined) this.recentEvents -= dropped.events.length;
    }
  }

  // ------------------------------------------------------------------ compaction

  /**
   * Removes every version not visible at `atRev` or later from the index at once; the backend records follow
   * over the next commits (COMPACTION_DELETES_PER_COMMIT at a time), and `reapplyCompaction` redoes what a crash
   * interrupted. The caller checked compactRev < atRev <= currentRev.
   */
  compact(atRev: number): void {
    if (!(atRev > this.compactRev && atRev <= this.currentRev)) assert(false, `compact(${atRev}) outside (${this.compactRev}, ${this.currentRev}]`);
    this.compactRev = atRev;
    this.compactIndex(atRev);
    // Replays from the in-memory tail must never start at or below the compacted revision.
    while (this.recent.length > 0 && (this.recent[0] as RevisionChanges).revision <= atRev) {
      const dropped = this.recent.shift();
      if (dropped !== undefined) this.recentEvents -= dropped.events.length;
    }
  }

  /** After opening: versions the last compaction removed but whose deletion was not committed yet. */
  reapplyCompaction(): void {
    if (this.compactRev > 0) this.compactIndex(this.compactRev);
  }

  private compactIndex(atRev: number): void {
    const emptied: string[] = [];
    const removed = (main: number, sub: number, size: number): void => {
      this.storedBytes -= REV_KEY_BYTES + size;
      const p = this.pendingAt(main, sub);
      if (p >= 0) {
        if ((this.pendLen[p] as number) < 0) assert(false, `compact: buffered record ${main}.${sub} removed twice`);
        this.pendLen[p] = -1;
      } else {
        this.doomed.push(main, sub);
      }
    };
    const from = this.doomed.length;
    this.index.forEach((ki) => {
      if (ki.main(0) > atRev) return;
      if (ki.compact(atRev, removed)) emptied.push(ki.key);
    });
    for (const key of emptied) this.index.remove(key);
    this.sortDoomed(from);
  }

  /** Sorts the doomed versions added since `from` into revision order: LMDB deletes them far faster in order. */
  private sortDoomed(from: number): void {
    const d = this.doomed;
    const n = (d.length - from) >> 1;
    if (n < 2) return;
    const order = Array.from({ length: n }, (_, i) => i);
    order.sort((a, b) => (d[from + 2 * a] as number) - (d[from + 2 * b] as number) || (d[from + 2 * a + 1] as number) - (d[from + 2 * b + 1] as number));
    const sorted = order.flatMap((i) => [d[from + 2 * i] as number, d[from + 2 * i + 1] as number]);
    for (let i = 0; i < sorted.length; i++) d[from + i] = sorted[i] as number;
  }

  /** Compacted versions still in the backend, awaiting deletion. */
  compactionBacklog(): number {
    return (this.doomed.length >> 1) - this.doomedDone;
  }

  // ------------------------------------------------------------------ history for watchers

  /**
   * WatchableHistory.changes. Served from the in-memory tail when it reaches back to fromRev, else from the
   * index (cost: one visit per key in the range). A revision is never split: when the first revision alone has
   * more than maxEvents events it is returned whole, so a caller always makes progress.
   */
  changes(fromRev: Revision, toRev: Revision, key: Uint8Array, rangeEnd: Uint8Array, maxEvents: number): RevisionChanges[] {
    assert(fromRev > this.compactRev, `changes from ${fromRev}: revisions up to ${this.compactRev} are compacted`);
    assert(maxEvents > 0, 'changes: maxEvents must be positive');
    const to = Math.min(toRev, this.currentRev);
    if (fromRev > to) return [];
    const r = keyRange(key, rangeEnd);
    const first = this.recent[0];
    if (first !== undefined && first.revision <= fromRev) return this.changesFromRecent(fromRev, to, r, maxEvents);
    return this.changesFromIndex(fromRev, to, r, maxEvents);
  }

  private changesFromRecent(fromRev: number, to: number, r: KeyRange, maxEvents: number): RevisionChanges[] {
    const out: RevisionChanges[] = [];
    let total = 0;
    const base = (this.recent[0] as RevisionChanges).revision;
    for (let i = fromRev - base; i < this.recent.length; i++) {
      const rc = this.recent[i] as RevisionChanges;
      if (rc.revision > to) break;
      const events = rc.events.filter((e) => inRange(r, bytesToLatin1(e.kv.key)));
      if (events.length === 0) continue;
      if (total > 0 && total + events.length > maxEvents) break;
      out.push({ revision: rc.revision, events });
      total += events.length;
    }
    return out;
  }

  private changesFromIndex(fromRev: number, to: number, r: KeyRange, maxEvents: number): RevisionChanges[] {
    const found: { main: number; sub: number; ki: KeyIndex; i: number }[] = [];
    this.visit(r, (ki) => {
      for (let i = Math.max(0, ki.findAt(fromRev - 1)); i < ki.entries; i++) {
        const main = ki.main(i);
        if (main > to) break;
        if (main >= fromRev) found.push({ main, sub: ki.sub(i), ki, i });
      }
      return true;
    });
    found.sort((a, b) => a.main - b.main || a.sub - b.sub);
    const out: RevisionChanges[] = [];
    let total = 0;
    for (let j = 0; j < found.length; ) {
      const main = (found[j] as { main: number }).main;
      let k = j;
      while (k < found.length && (found[k] as { main: number }).main === main) k++;
      if (total > 0 && total + (k - j) > maxEvents) break;
      const events: Event[] = [];
      for (let m = j; m < k; m++) {
        const f = found[m] as { ki: KeyIndex; i: number };
        events.push(this.eventAt(f.ki, f.i));
      }
      out.push({ revision: revision(main), events });
      total += k - j;
      j = k;
    }
    return out;
  }

  private eventAt(ki: KeyIndex, i: number): Event {
    const hasPrev = i > 0 && !ki.isTombstone(i - 1);
    const prevMain = hasPrev ? ki.main(i - 1) : 0;
    const prevSub = hasPrev ? ki.sub(i - 1) : 0;
    const kv = ki.isTombstone(i) ? tombstoneKv(latin1ToBytes(ki.key), ki.main(i)) : this.load(ki, i);
    return new StoreEvent(ki.isTombstone(i) ? EventType.Delete : EventType.Put, kv, this, prevMain, prevSub);
  }
}
