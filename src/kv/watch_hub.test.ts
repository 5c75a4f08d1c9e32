// The watch guarantees of TESTING.md, one scenario each: ordered, unique, atomic per revision, reliable
// against the replayed history, resumable or told it was compacted, progress never ahead, prev_kv right.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AssertionError } from '../util/assert.js';
import { revision } from '../util/branded.js';
import { EventType } from './types.js';
import { WatchHub } from './watch_hub.js';
import { WATCH_STREAM_CONTROL_BACKLOG_MAX } from './watch_limits.js';
import { INVALID_WATCH_ID, WatchFilterType, isProgressNotification, watchResponseBytes } from './watch_response.js';
import { WatchHarness } from './watch_test_harness.js';
import { bytes, text, TestHistory } from './watch_test_history.js';

const k = bytes;

function keysOf(events: readonly { kv: { key: Uint8Array } }[]): string[] {
  return events.map((e) => text(e.kv.key));
}

test('a watcher from "now" gets later puts and deletes of its key only, in order', () => {
  const h = new WatchHarness();
  h.put('a', '0');
  const s = h.openStream();
  const id = s.create({ key: k('a') });
  assert.equal(id, 0);
  assert.deepEqual(s.responses[0], {
    headerRevision: revision(1),
    watchId: 0,
    created: true,
    canceled: false,
    compactRevision: revision(0),
    cancelReason: '',
    fragment: false,
    events: [],
  });
  h.put('a', '1');
  h.put('b', '1');
  h.del('a');
  const events = s.events(id);
  assert.deepEqual(
    events.map((e) => [e.type, text(e.kv.key), e.kv.modRevision]),
    [
      [EventType.Put, 'a', 2],
      [EventType.Delete, 'a', 4],
    ],
  );
  assert.ok(events.every((e) => e.prevKv === null), 'prev_kv only when asked');
  assert.deepEqual(h.check(true), []);
});

test('prefix, from-key and whole-keyspace ranges', () => {
  const h = new WatchHarness();
  const s = h.openStream();
  const prefix = s.create({ key: k('app/'), rangeEnd: k('app0') });
  const fromKey = s.create({ key: k('m'), rangeEnd: Uint8Array.of(0) });
  const everything = s.create({ key: new Uint8Array(0), rangeEnd: Uint8Array.of(0) });
  const emptyKey = s.create({ key: new Uint8Array(0) });
  for (const key of ['app', 'app/x', 'app/y/z', 'app0', 'l', 'm', 'zz', '\0']) h.put(key, 'v');
  assert.deepEqual(keysOf(s.events(prefix)), ['app/x', 'app/y/z']);
  assert.deepEqual(keysOf(s.events(fromKey)), ['m', 'zz']);
  assert.equal(s.events(everything).length, 8);
  assert.deepEqual(keysOf(s.events(emptyKey)), ['\0'], 'an empty key watches "\\0", as etcd');
  assert.deepEqual(h.check(true), []);
});

test('a watcher from a past revision replays history, then switches to live with no gap and no duplicate', () => {
  const h = new WatchHarness({ catchUpBatchEventsMax: 2 });
  for (let i = 0; i < 10; i++) h.put(`k${i % 3}`, `v${i}`);
  const s = h.openStream();
  const id = s.create({ key: k('k'), rangeEnd: k('l'), startRevision: 4, prevKv: true });
  // Writes land while the watcher is still replaying: it must get them once, after the replay.
  h.put('k1', 'live-1');
  h.hub.syncWatchers();
  h.put('k2', 'live-2');
  h.drain();
  h.put('k0', 'live-3');
  const revs = s.events(id).map((e) => e.kv.modRevision);
  assert.deepEqual(revs, [4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
  assert.ok(h.history.reads > 0, 'the replay came from history');
  assert.deepEqual(h.check(true), []);
});

test('a future start revision delivers from that revision on', () => {
  const h = new WatchHarness();
  h.put('a', '1');
  const s = h.openStream();
  const id = s.create({ key: k('a'), startRevision: 4 });
  for (let i = 0; i < 4; i++) h.put('a', `${i}`);
  assert.deepEqual(s.events(id).map((e) => e.kv.modRevision), [4, 5]);
  assert.deepEqual(h.check(true), []);
});

test('prev_kv holds the value before each event: null for a create, the old value for an update and a delete', () => {
  const h = new WatchHarness();
  const s = h.openStream();
  const id = s.create({ key: k('a'), prevKv: true });
  h.put('a', '1');
  h.put('a', '2');
  h.del('a');
  h.put('a', '3');
  const events = s.events(id);
  assert.deepEqual(
    events.map((e) => (e.prevKv === null ? null : [text(e.prevKv.value), e.prevKv.modRevision, e.prevKv.version])),
    [null, ['1', 1, 1], ['2', 2, 2], null],
  );
  assert.equal(events[3]?.kv.version, 1, 'a put after a delete starts a new generation');
  assert.deepEqual(h.check(true), []);
});

test('NOPUT and NODELETE filters; a revision filtered to nothing sends nothing', () => {
  const h = new WatchHarness();
  const s = h.openStream();
  const noPut = s.create({ key: k('a'), filters: [WatchFilterType.NoPut] });
  const noDelete = s.create({ key: k('a'), filters: [WatchFilterType.NoDelete] });
  const both = s.create({ key: k('a'), filters: [WatchFilterType.NoPut, WatchFilterType.NoDelete, 7] });
  h.put('a', '1');
  h.del('a');
  assert.deepEqual(s.events(noPut).map((e) => e.type), [EventType.Delete]);
  assert.deepEqual(s.events(noDelete).map((e) => e.type), [EventType.Put]);
  assert.equal(s.responses.filter((r) => r.watchId === both).length, 1, 'only its created reply');
  assert.deepEqual(h.check(true), []);
});

test('one revision touching many keys arrives in one response (atomic)', () => {
  const h = new WatchHarness();
  h.put('p/1', 'x');
  const s = h.openStream();
  const id = s.create({ key: k('p/'), rangeEnd: k('p0') });
  h.write({ op: 'put', key: 'p/2', value: 'y' }, { op: 'delete', key: 'p/1' }, { op: 'put', key: 'p/3', value: 'z' });
  const responses = s.responses.filter((r) => r.watchId === id && r.events.length > 0);
  assert.equal(responses.length, 1);
  assert.deepEqual(keysOf(responses[0]?.events ?? []), ['p/2', 'p/1', 'p/3'], 'in applied order');
  assert.deepEqual(h.check(true), []);
});

test('a start revision that is compacted: created, then canceled with the first revision still available', () => {
  const h = new WatchHarness();
  for (let i = 0; i < 6; i++) h.put('a', `${i}`);
  h.compact(4);
  const s = h.openStream();
  const id = s.create({ key: k('a'), startRevision: 2 });
  assert.equal(s.responses.length, 2);
  assert.equal(s.responses[0]?.created, true);
  assert.deepEqual(
    { ...s.responses[1] },
    {
      headerRevision: revision(6),
      watchId: id,
      created: false,
      canceled: true,
      compactRevision: revision(5),
      cancelReason: '',
      fragment: false,
      events: [],
    },
  );
  // The client resumes from the revision it was given and loses nothing from there on.
  const resumed = s.create({ key: k('a'), startRevision: 5 });
  assert.deepEqual(s.events(resumed).map((e) => e.kv.modRevision), [5, 6]);
  assert.deepEqual(h.check(true), []);
});

test('a negative start revision and an empty range are refused as etcd refuses them', () => {
  const h = new WatchHarness();
  const s = h.openStream();
  assert.equal(s.create({ key: k('a'), startRevision: -1 }), INVALID_WATCH_ID);
  assert.equal(s.create({ key: k('b'), rangeEnd: k('a') }), INVALID_WATCH_ID);
  assert.equal(s.create({ key: k('a'), rangeEnd: k('a') }), INVALID_WATCH_ID);
  assert.deepEqual(
    s.responses.map((r) => [r.watchId, r.created, r.canceled, r.cancelReason]),
    [
      [-1, true, true, 'etcdserver: mvcc: required revision has been compacted'],
      [-1, true, true, 'mvcc: watcher range is empty'],
      [-1, true, true, 'mvcc: watcher range is empty'],
    ],
  );
  assert.equal(s.create({ key: k('a') }), 0, 'refusals use no id');
  assert.deepEqual(h.check(true), []);
});

test('a consumer that does not drain: buffered to the bound, then caught up from history in order', () => {
  const h = new WatchHarness({ streamQueueResponsesMax: 4 });
  const s = h.openStream();
  const fast = h.openStream();
  const id = s.create({ key: k('a'), prevKv: true });
  const other = fast.create({ key: k('a') });
  s.sink.blocked = true;
  for (let i = 0; i < 50; i++) h.put('a', `${i}`);
  assert.equal(h.hub.stats().unsyncedWatchers, 1, 'the slow watcher fell back to catch-up');
  assert.ok(s.stream.queuedResponses <= 4, 'the queue stays within its bound');
  assert.equal(fast.events(other).length, 50, 'a slow stream does not hold back another');
  const readsBefore = h.history.reads;
  h.drain();
  assert.ok(h.history.reads > readsBefore, 'the missed revisions came from history');
  assert.deepEqual(s.events(id).map((e) => e.kv.modRevision), Array.from({ length: 50 }, (_, i) => i + 1));
  h.put('a', 'after');
  assert.equal(s.events(id).length, 51, 'live again after catching up');
  assert.deepEqual(h.check(true), []);
});

test('a consumer that never reads makes the stream ask the server to stop reading its requests', () => {
  const h = new WatchHarness({ streamQueueResponsesMax: 4 });
  const s = h.openStream();
  s.sink.blocked = true;
  let creates = 0;
  while (s.stream.acceptingRequests && creates < 1000) {
    s.create({ key: k(`k${creates}`) });
    creates++;
  }
  assert.equal(creates, 4 + WATCH_STREAM_CONTROL_BACKLOG_MAX + 1, 'the first reply is taken, then the backlog fills');
  s.sink.blocked = false;
  s.stream.ready();
  assert.equal(s.stream.acceptingRequests, true);
  assert.equal(s.responses.length, creates);
  assert.deepEqual(h.check(true), []);
});

test('a slow watcher whose missed revisions get compacted is told so, not given a gap', () => {
  const h = new WatchHarness({ streamQueueResponsesMax: 2 });
  const s = h.openStream();
  const id = s.create({ key: k('a') });
  s.sink.blocked = true;
  for (let i = 0; i < 10; i++) h.put('a', `${i}`);
  h.compact(8);
  h.drain();
  const last = s.responses[s.responses.length - 1];
  assert.equal(last?.watchId, id);
  assert.equal(last?.canceled, true);
  assert.equal(last?.compactRevision, 9);
  assert.deepEqual(h.check(true), []);
});

test('a progress request is answered at the current revision once every watcher is synced, never ahead', () => {
  const h = new WatchHarness({ streamQueueResponsesMax: 2, catchUpBatchEventsMax: 1 });
  for (let i = 0; i < 6; i++) h.put('a', `${i}`);
  const s = h.openStream();
  s.create({ key: k('b') });
  s.requestProgress();
  let progress = s.responses.filter(isProgressNotification);
  assert.deepEqual(progress.map((r) => [r.watchId, r.headerRevision]), [[INVALID_WATCH_ID, 6]]);
  // A replaying watcher defers the answer until it has every event up to the revision it names.
  s.create({ key: k('a'), startRevision: 1 });
  s.requestProgress();
  assert.equal(s.responses.filter(isProgressNotification).length, 1, 'deferred while a watcher is behind');
  h.drain();
  progress = s.responses.filter(isProgressNotification);
  assert.deepEqual(progress.map((r) => [r.watchId, r.headerRevision]), [
    [INVALID_WATCH_ID, 6],
    [INVALID_WATCH_ID, 6],
  ]);
  const empty = h.openStream();
  empty.requestProgress();
  assert.equal(empty.responses.length, 0, 'a stream without watchers gets nothing, as etcd');
  assert.deepEqual(h.check(true), []);
});

test('periodic progress goes to idle progress_notify watchers only', () => {
  const h = new WatchHarness();
  const s = h.openStream();
  const idle = s.create({ key: k('a'), progressNotify: true });
  const busy = s.create({ key: k('b'), progressNotify: true });
  const silent = s.create({ key: k('c') });
  h.put('b', '1');
  h.hub.tickProgress();
  h.put('b', '2');
  h.hub.tickProgress();
  h.hub.tickProgress();
  const progress = s.responses.filter(isProgressNotification).map((r) => [r.watchId, r.headerRevision]);
  // etcd elides a tick's notification for a watcher that got events since the previous tick.
  assert.deepEqual(progress, [
    [idle, 1],
    [idle, 2],
    [idle, 2],
    [busy, 2],
  ]);
  assert.ok(!progress.some(([id]) => id === silent));
  assert.deepEqual(h.check(true), []);
});

test('a large revision is split into fragments for a watcher that asks, and sent whole otherwise', () => {
  const h = new WatchHarness({ responseBytesMax: 300, streamQueueBytesMax: 300 });
  const s = h.openStream();
  const fragmented = s.create({ key: k('f/'), rangeEnd: k('f0'), fragment: true });
  const whole = s.create({ key: k('f/'), rangeEnd: k('f0') });
  const writes = Array.from({ length: 12 }, (_, i) => ({ op: 'put' as const, key: `f/${i}`, value: 'x'.repeat(20) }));
  h.write(...writes);
  const pieces = s.responses.filter((r) => r.watchId === fragmented && r.events.length > 0);
  assert.ok(pieces.length > 1);
  assert.deepEqual(pieces.map((r) => r.fragment), [...pieces.slice(1).map(() => true), false]);
  assert.ok(pieces.every((r) => watchResponseBytes(r) < 300));
  assert.equal(pieces.flatMap((r) => r.events).length, 12);
  const single = s.responses.filter((r) => r.watchId === whole && r.events.length > 0);
  assert.equal(single.length, 1);
  assert.equal(single[0]?.fragment, false);
  assert.deepEqual(h.check(true), []);
});

test('a catch-up packs whole revisions into responses under the byte bound', () => {
  const h = new WatchHarness({ responseBytesMax: 400, streamQueueBytesMax: 400 });
  for (let i = 0; i < 30; i++) h.put('a', `value-${i}`);
  const s = h.openStream();
  const id = s.create({ key: k('a'), startRevision: 1 });
  h.drain();
  const responses = s.responses.filter((r) => r.watchId === id && r.events.length > 0);
  assert.ok(responses.length > 1 && responses.length < 30, `packed into ${responses.length} responses`);
  assert.ok(responses.every((r) => watchResponseBytes(r) < 400));
  assert.deepEqual(h.check(true), []);
});

test('ids: per stream from 0 in creation order, client-chosen ids, duplicates refused, auto ids skip chosen ones', () => {
  const h = new WatchHarness();
  const s = h.openStream();
  const other = h.openStream();
  assert.equal(s.create({ key: k('a') }), 0);
  assert.equal(s.create({ key: k('a'), watchId: 2 }), 2);
  assert.equal(s.create({ key: k('a') }), 1);
  assert.equal(s.create({ key: k('a') }), 3, 'skips the chosen 2');
  assert.equal(s.create({ key: k('a'), watchId: 2 }), INVALID_WATCH_ID);
  assert.equal(other.create({ key: k('a') }), 0, 'ids are per stream');
  assert.deepEqual(
    s.responses.map((r) => [r.watchId, r.canceled, r.cancelReason]),
    [
      [0, false, ''],
      [2, false, ''],
      [1, false, ''],
      [3, false, ''],
      [-1, true, 'mvcc: duplicate watch ID provided on the WatchStream'],
    ],
    'created replies in request order',
  );
  s.cancel(2);
  assert.equal(s.create({ key: k('a'), watchId: 2 }), 2, 'a canceled id can be chosen again');
  assert.deepEqual(h.check(true), []);
});

test('cancel: answered once, no events after it; an unknown id is answered with nothing', () => {
  const h = new WatchHarness();
  const s = h.openStream();
  const id = s.create({ key: k('a') });
  h.put('a', '1');
  s.cancel(id);
  h.put('a', '2');
  s.cancel(id);
  s.cancel(12345);
  assert.deepEqual(
    s.responses.map((r) => [r.watchId, r.created, r.canceled, r.events.length]),
    [
      [id, true, false, 0],
      [id, false, false, 1],
      [id, false, true, 0],
    ],
  );
  assert.deepEqual(h.check(true), []);
});

test('a canceled watcher stops its replay; other watchers of the stream go on', () => {
  const h = new WatchHarness({ catchUpBatchEventsMax: 1, syncRoundReadsMax: 1 });
  for (let i = 0; i < 5; i++) h.put('a', `${i}`);
  const s = h.openStream();
  const replaying = s.create({ key: k('a'), startRevision: 1 });
  const live = s.create({ key: k('a') });
  s.cancel(replaying);
  h.put('a', 'x');
  h.drain();
  assert.equal(s.events(live).length, 1);
  assert.ok(s.events(replaying).length < 5);
  assert.deepEqual(h.check(true), []);
});

test('the watchers-per-stream bound (WATCHERS_PER_STREAM_MAX) is enforced with etcd-style refusal', () => {
  const h = new WatchHarness();
  const s = h.openStream();
  const max = h.limits.watchersPerStreamMax;
  for (let i = 0; i < max; i++) s.create({ key: k(`key${i}`) });
  assert.equal(s.create({ key: k('one-too-many') }), INVALID_WATCH_ID);
  const last = s.responses[s.responses.length - 1];
  assert.deepEqual([last?.watchId, last?.created, last?.canceled, last?.cancelReason], [
    -1,
    true,
    true,
    'etcdserver: too many watchers on the watch stream',
  ]);
  s.cancel(0);
  assert.equal(s.create({ key: k('again') }), max, 'room again after a cancel');
  assert.equal(h.hub.stats().watchers, max);
});

test('a closed stream drops its watchers and sends nothing more', () => {
  const h = new WatchHarness();
  const s = h.openStream();
  s.create({ key: k('a') });
  s.create({ key: k('b'), startRevision: 1 });
  s.stream.close();
  h.put('a', '1');
  assert.equal(s.stream.create({ key: k('a') }), INVALID_WATCH_ID);
  s.stream.cancel(0);
  s.stream.ready();
  assert.deepEqual(h.hub.stats(), {
    streams: 0,
    watchers: 0,
    syncedWatchers: 0,
    unsyncedWatchers: 0,
    queuedResponses: 0,
    queuedResponseBytes: 0,
  });
  assert.equal(s.responses.filter((r) => r.events.length > 0).length, 0);
});

test('after the store is restored from a snapshot, watchers catch up or are told they were compacted', () => {
  const h = new WatchHarness();
  const s = h.openStream();
  const a = s.create({ key: k('a') });
  h.put('a', '1');
  // The store jumps ahead (the hub misses revisions 2-4), then compacts below them.
  h.history.apply([{ op: 'put', key: 'a', value: '2' }]);
  h.history.apply([{ op: 'put', key: 'b', value: '3' }]);
  h.history.apply([{ op: 'put', key: 'a', value: '4' }]);
  h.hub.restored();
  h.drain();
  assert.deepEqual(s.events(a).map((e) => e.kv.modRevision), [1, 2, 4]);
  h.put('a', '5');
  const b = s.create({ key: k('b') });
  h.history.apply([{ op: 'put', key: 'b', value: '6' }]);
  h.compact(6);
  h.hub.restored();
  h.drain();
  assert.equal(s.responses.filter((r) => r.watchId === b && r.compactRevision === 7).length, 1);
  assert.deepEqual(h.check(true), []);
});

test('the hub refuses revisions out of order and a sink calling back into its stream', () => {
  const history = new TestHistory();
  const hub = new WatchHub(history);
  const changes = history.apply([{ op: 'put', key: 'a', value: '1' }]);
  assert.ok(changes !== null);
  assert.throws(() => hub.notify({ ...changes, revision: revision(2) }), AssertionError);
  hub.notify(changes);
  assert.throws(() => hub.notify(changes), AssertionError);
  const calls: (() => void)[] = [];
  const reentrant = hub.newStream({
    send: () => {
      for (const call of calls) call();
      return true;
    },
  });
  calls.push(() => reentrant.cancel(0));
  assert.throws(() => reentrant.create({ key: k('a') }), AssertionError);
});
