// TEST SCAFFOLDING ONLY: a small in-memory WatchableHistory for the watch hub's tests. It applies puts and
// deletes as revisions, records every change, and can compact. The MVCC store replaces it in production.

import { Buffer } from 'node:buffer';
import { assert } from '../util/assert.js';
import { leaseId, revision, type Revision } from '../util/branded.js';
import { EventType, type Event, type KeyValue, type RevisionChanges, type WatchableHistory } from './types.js';

/** One write of a transaction: a put of `value`, or a delete of `key` (`rangeEnd` as etcd's DeleteRange). */
export type TestWrite =
  | { readonly op: 'put'; readonly key: string; readonly value: string; readonly lease?: number }
  | { readonly op: 'delete'; readonly key: string; readonly rangeEnd?: string };

export function bytes(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'latin1'));
}

export function text(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
}

/** etcd's range rule on latin1 keys: '' = just `key`, '\0' = every key >= key, otherwise [key, rangeEnd). */
export function inTestRange(k: string, key: string, rangeEnd: string): boolean {
  if (rangeEnd === '') return k === key;
  if (rangeEnd === '\0') return k >= key;
  return k >= key && k < rangeEnd;
}

export class TestHistory implements WatchableHistory {
  private current = 0;
  private compacted = 0;
  /** Every revision ever applied, never compacted away: the truth the tests check against. */
  readonly log: RevisionChanges[] = [];
  private readonly state = new Map<string, KeyValue>();
  /** Counts `changes` calls, so tests can see the hub read history. */
  reads = 0;

  currentRevision(): Revision {
    return revision(this.current);
  }

  compactRevision(): Revision {
    return revision(this.compacted);
  }

  changes(fromRev: Revision, toRev: Revision, key: Uint8Array, rangeEnd: Uint8Array, maxEvents: number): RevisionChanges[] {
    assert(fromRev > this.compacted, `TestHistory.changes: revision ${fromRev} is compacted (at ${this.compacted})`);
    assert(toRev <= this.current, `TestHistory.changes: revision ${toRev} is in the future (at ${this.current})`);
    assert(maxEvents > 0, 'TestHistory.changes: maxEvents must be positive');
    this.reads++;
    const k = text(key);
    const end = text(rangeEnd);
    const out: RevisionChanges[] = [];
    let count = 0;
    for (let rev = fromRev; rev <= toRev; rev++) {
      const changes = this.log[rev - 1];
      assert(changes !== undefined && changes.revision === rev, `TestHistory: revision ${rev} missing from the log`);
      const events = changes.events.filter((e) => inTestRange(text(e.kv.key), k, end));
      if (events.length === 0) continue;
      // A revision is never split; the first one is returned even when it alone is over the bound.
      if (count > 0 && count + events.length > maxEvents) break;
      out.push({ revision: changes.revision, events });
      count += events.length;
    }
    return out;
  }

  /** Applies one transaction as one revision; null (no revision) when it changes nothing, as etcd. */
  apply(writes: readonly TestWrite[]): RevisionChanges | null {
    const rev = revision(this.current + 1);
    const events: Event[] = [];
    const touched = new Set<string>();
    for (const w of writes) {
      if (w.op === 'put') {
        assert(!touched.has(w.key), `TestHistory.apply: key ${w.key} written twice in one revision`);
        touched.add(w.key);
        events.push(this.put(rev, w.key, w.value, w.lease ?? 0));
      } else {
        for (const k of this.keysIn(w.key, w.rangeEnd ?? '')) {
          assert(!touched.has(k), `TestHistory.apply: key ${k} written twice in one revision`);
          touched.add(k);
          events.push(this.delete(rev, k));
        }
      }
    }
    if (events.length === 0) return null;
    const changes: RevisionChanges = { revision: rev, events };
    this.log.push(changes);
    this.current = rev;
    return changes;
  }

  put(rev: Revision, key: string, value: string, lease: number): Event {
    const prev = this.state.get(key) ?? null;
    const kv: KeyValue = {
      key: bytes(key),
      createRevision: prev === null ? rev : prev.createRevision,
      modRevision: rev,
      version: prev === null ? 1 : prev.version + 1,
      value: bytes(value),
      lease: leaseId(lease),
    };
    this.state.set(key, kv);
    return { type: EventType.Put, kv, prevKv: prev };
  }

  delete(rev: Revision, key: string): Event {
    const prev = this.state.get(key);
    assert(prev !== undefined, `TestHistory.delete: no key ${key}`);
    this.state.delete(key);
    const kv: KeyValue = {
      key: bytes(key),
      createRevision: revision(0),
      modRevision: rev,
      version: 0,
      value: new Uint8Array(0),
      lease: leaseId(0),
    };
    return { type: EventType.Delete, kv, prevKv: prev };
  }

  /** Revisions up to `rev` can no longer be replayed. */
  compact(rev: number): void {
    assert(rev <= this.current, `TestHistory.compact: revision ${rev} is in the future (at ${this.current})`);
    if (rev > this.compacted) this.compacted = rev;
  }

  /** Live keys, sorted. */
  keys(): string[] {
    return [...this.state.keys()].sort();
  }

  private keysIn(key: string, rangeEnd: string): string[] {
    return this.keys().filter((k) => inTestRange(k, key, rangeEnd));
  }
}
