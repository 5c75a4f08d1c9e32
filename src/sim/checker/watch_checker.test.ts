// Tests of the watch checker: a faithful delivery passes; gaps, duplicates, reordering, split revisions,
// bad prev_kv, early progress notifications, dishonest compaction and missing tails are each caught.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { leaseId, revision, type Revision } from '../../util/branded.js';
import { EventType, type Event, type KeyValue, type RevisionChanges } from '../../kv/types.js';
import { checkWatch, checkWatches, WatchHistory, type WatchRecord, type WatchResponseRecord, type WatchViolationKind } from './watch_checker.js';

const enc = new TextEncoder();
const b = (s: string): Uint8Array => enc.encode(s);

type Change = { put: string; value: string } | { del: string };

/** A tiny store that turns transactions into the history the checker reads (one revision each). */
class TinyStore {
  readonly changes: RevisionChanges[] = [];
  private readonly live = new Map<string, KeyValue>();
  private rev = 1;

  txn(...ops: Change[]): Revision {
    const rev = revision(++this.rev);
    const events: Event[] = [];
    for (const op of ops) {
      if ('put' in op) {
        const prev = this.live.get(op.put) ?? null;
        const kv: KeyValue = {
          key: b(op.put), value: b(op.value), modRevision: rev, lease: leaseId(0),
          createRevision: prev?.createRevision ?? rev, version: (prev?.version ?? 0) + 1,
        };
        this.live.set(op.put, kv);
        events.push({ type: EventType.Put, kv, prevKv: prev });
      } else {
        const prev = this.live.get(op.del) ?? null;
        if (prev === null) continue;
        this.live.delete(op.del);
        const kv: KeyValue = { key: b(op.del), value: new Uint8Array(0), modRevision: rev, createRevision: revision(0), version: 0, lease: leaseId(0) };
        events.push({ type: EventType.Delete, kv, prevKv: prev });
      }
    }
    this.changes.push({ revision: rev, events });
    return rev;
  }
}

/** keys a, b, c over revisions 2..9; revision 6 is a transaction touching a and b. */
function sampleStore(): TinyStore {
  const s = new TinyStore();
  s.txn({ put: 'a', value: '1' }); // 2
  s.txn({ put: 'b', value: '1' }); // 3
  s.txn({ put: 'c', value: '1' }); // 4
  s.txn({ put: 'a', value: '2' }); // 5
  s.txn({ put: 'a', value: '3' }, { put: 'b', value: '2' }); // 6
  s.txn({ del: 'a' }); // 7
  s.txn({ put: 'a', value: '4' }); // 8
  s.txn({ put: 'x', value: '1' }); // 9
  return s;
}

/** Events for a watcher as a correct server would send them, batching `perResponse` revisions together. */
function faithful(store: TinyStore, w: Omit<WatchRecord, 'responses'>, perResponse = 1): WatchResponseRecord[] {
  const history = new WatchHistory(store.changes);
  const responses: WatchResponseRecord[] = [];
  let batch: Event[] = [];
  let revisionsInBatch = 0;
  for (const change of store.changes) {
    const events = change.events
      .map((event) => ({ event, record: history.find(change.revision, event.kv.key) }))
      .filter(({ record }) => record !== undefined && history.excludes({ ...w, responses: [] }, record) === null)
      .map(({ event }) => ({ ...event, prevKv: w.prevKv ? event.prevKv : null }));
    if (events.length === 0) continue;
    batch.push(...events);
    if (++revisionsInBatch === perResponse) {
      responses.push({ kind: 'events', events: batch });
      batch = [];
      revisionsInBatch = 0;
    }
  }
  if (batch.length > 0) responses.push({ kind: 'events', events: batch });
  return responses;
}

const prefixA: Omit<WatchRecord, 'responses'> = { name: 'w', startRevision: revision(1), key: b('a'), rangeEnd: b('c'), prevKv: true };

function kinds(store: TinyStore, w: WatchRecord): WatchViolationKind[] {
  return checkWatch(new WatchHistory(store.changes), w).violations.map((v) => v.kind);
}

function eventsOf(responses: readonly WatchResponseRecord[]): Event[] {
  return responses.flatMap((r) => (r.kind === 'events' ? [...r.events] : []));
}

test('a faithful delivery passes, one revision or several per response, with progress notifications', () => {
  const s = sampleStore();
  for (const per of [1, 2, 5]) {
    const responses = faithful(s, prefixA, per);
    assert.deepEqual(kinds(s, { ...prefixA, responses }), [], `batch of ${per}`);
  }
  const withProgress: WatchResponseRecord[] = [...faithful(s, prefixA), { kind: 'progress', revision: revision(9) }];
  assert.deepEqual(kinds(s, { ...prefixA, responses: withProgress, expectedThrough: revision(9) }), []);
  assert.equal(eventsOf(faithful(s, prefixA)).length, 7);
});

test('start revision, single key, whole keyspace and filters choose what is due', () => {
  const s = sampleStore();
  const fromSix = { ...prefixA, startRevision: revision(6) };
  assert.equal(eventsOf(faithful(s, fromSix)).length, 4);
  assert.deepEqual(kinds(s, { ...fromSix, responses: faithful(s, fromSix) }), []);
  // An event before the start revision is unexpected.
  assert.deepEqual(kinds(s, { ...fromSix, responses: faithful(s, prefixA) }).slice(0, 1), ['unexpected']);
  const single = { ...prefixA, rangeEnd: new Uint8Array(0) };
  assert.equal(eventsOf(faithful(s, single)).length, 5);
  const everything = { ...prefixA, key: new Uint8Array(0), rangeEnd: new Uint8Array([0]) };
  assert.equal(eventsOf(faithful(s, everything)).length, 9);
  const noDelete = { ...prefixA, filters: { noDelete: true } };
  assert.equal(eventsOf(faithful(s, noDelete)).length, 6);
  assert.deepEqual(kinds(s, { ...noDelete, responses: faithful(s, prefixA) }), ['unexpected']);
});

test('a gap: one event never delivered while later ones are', () => {
  const s = sampleStore();
  const responses = faithful(s, prefixA).filter((_r, i) => i !== 2);
  const result = checkWatch(new WatchHistory(s.changes), { ...prefixA, responses });
  assert.deepEqual(result.violations.map((v) => v.kind), ['gap']);
  assert.equal(result.violations[0]?.revision, 5);
  assert.match(result.violations[0]?.message ?? '', /1 event\(s\) never delivered before the put of "a" at revision 6: "a"@5/);
});

test('a duplicate: the same event delivered twice', () => {
  const s = sampleStore();
  const responses = faithful(s, prefixA);
  const again = responses[1];
  assert.ok(again !== undefined);
  assert.deepEqual(kinds(s, { ...prefixA, responses: [...responses, again] }), ['duplicate']);
});

test('reordering: two revisions delivered the wrong way round is one violation, not a gap', () => {
  const s = sampleStore();
  const responses = faithful(s, prefixA);
  const [r0, r1, ...rest] = responses;
  assert.ok(r0 !== undefined && r1 !== undefined);
  assert.deepEqual(kinds(s, { ...prefixA, responses: [r1, r0, ...rest] }), ['out-of-order']);
});

test('a revision split across responses breaks atomicity', () => {
  const s = sampleStore();
  const responses = faithful(s, prefixA);
  const txn = responses.findIndex((r) => r.kind === 'events' && r.events.length === 2);
  const both = responses[txn];
  assert.ok(both !== undefined && both.kind === 'events');
  const split: WatchResponseRecord[] = [
    ...responses.slice(0, txn),
    { kind: 'events', events: both.events.slice(0, 1) },
    { kind: 'events', events: both.events.slice(1) },
    ...responses.slice(txn + 1),
  ];
  assert.deepEqual(kinds(s, { ...prefixA, responses: split }), ['split-revision']);
});

test('prev_kv must match the replayed history, and be absent when not asked for', () => {
  const s = sampleStore();
  const responses = faithful(s, prefixA);
  const events = eventsOf(responses);
  const wrongPrev = events.map((e, i) => (i === 3 ? { ...e, prevKv: events[0]?.kv ?? null } : e));
  assert.deepEqual(kinds(s, { ...prefixA, responses: [{ kind: 'events', events: wrongPrev }] }), ['bad-prev-kv']);
  const noPrev = { ...prefixA, prevKv: false };
  assert.deepEqual(kinds(s, { ...noPrev, responses: faithful(s, noPrev) }), []);
  assert.equal(kinds(s, { ...noPrev, responses }).every((k) => k === 'bad-prev-kv'), true);
});

test('events that never happened or differ from the history', () => {
  const s = sampleStore();
  const events = eventsOf(faithful(s, prefixA));
  const first = events[0];
  assert.ok(first !== undefined);
  const ghost: Event = { ...first, kv: { ...first.kv, modRevision: revision(42) } };
  assert.deepEqual(kinds(s, { ...prefixA, responses: [{ kind: 'events', events: [...events, ghost] }] }), ['never-happened']);
  const changed = events.map((e, i) => (i === 0 ? { ...e, kv: { ...e.kv, value: b('tampered') } } : e));
  assert.deepEqual(kinds(s, { ...prefixA, responses: [{ kind: 'events', events: changed }] }), ['wrong-event']);
});

test('a progress notification must not run ahead of delivered events', () => {
  const s = sampleStore();
  const responses = faithful(s, prefixA);
  const early: WatchResponseRecord[] = [...responses.slice(0, 2), { kind: 'progress', revision: revision(5) }, ...responses.slice(2)];
  assert.deepEqual(kinds(s, { ...prefixA, responses: early }), ['progress-ahead']);
  const onTime: WatchResponseRecord[] = [...responses.slice(0, 2), { kind: 'progress', revision: revision(4) }, ...responses.slice(2)];
  assert.deepEqual(kinds(s, { ...prefixA, responses: onTime }), []);
  assert.deepEqual(kinds(s, { ...prefixA, responses: [...responses, { kind: 'progress', revision: revision(99) }] }), ['progress-ahead']);
  const backwards: WatchResponseRecord[] = [...responses, { kind: 'progress', revision: revision(9) }, { kind: 'progress', revision: revision(8) }];
  assert.deepEqual(kinds(s, { ...prefixA, responses: backwards }), ['progress-backwards']);
});

test('cancellation for compaction is honest only when the next needed revision was compacted', () => {
  const s = sampleStore();
  const firstTwo = faithful(s, prefixA).slice(0, 2); // revisions 2 and 3 delivered: needs 4 next
  assert.deepEqual(kinds(s, { ...prefixA, responses: firstTwo, compactRevision: revision(5) }), []);
  assert.deepEqual(kinds(s, { ...prefixA, responses: firstTwo, compactRevision: revision(4) }), ['bad-compaction']);
  assert.deepEqual(kinds(s, { ...prefixA, responses: [], startRevision: revision(3), compactRevision: revision(3) }), ['bad-compaction']);
  assert.deepEqual(kinds(s, { ...prefixA, responses: [], compactRevision: revision(50) }), ['bad-compaction']);
});

test('a watcher may lag, unless the run ended quiescent', () => {
  const s = sampleStore();
  const head = faithful(s, prefixA).slice(0, 3);
  assert.deepEqual(kinds(s, { ...prefixA, responses: head }), []);
  assert.deepEqual(kinds(s, { ...prefixA, responses: head, expectedThrough: revision(9) }), ['incomplete']);
  assert.deepEqual(kinds(s, { ...prefixA, responses: head, expectedThrough: revision(4) }), []);
});

test('checkWatches checks every watcher against one history', () => {
  const s = sampleStore();
  const good: WatchRecord = { ...prefixA, name: 'good', responses: faithful(s, prefixA) };
  const bad: WatchRecord = { ...prefixA, name: 'bad', responses: faithful(s, prefixA).slice(1) };
  const result = checkWatches(s.changes, [good, bad]);
  assert.equal(result.ok, false);
  assert.deepEqual(result.violations.map((v) => [v.watcher, v.kind]), [['bad', 'gap']]);
  assert.match(result.violations[0]?.message ?? '', /^watcher "bad" \(range \["a", "c"\) from 1\): gap:/);
});
