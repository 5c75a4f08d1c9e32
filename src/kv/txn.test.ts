// etcd's Range, Put, DeleteRange and Txn semantics, case by case (the model-based test covers random mixes).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LeaseId } from '../util/branded.js';
import {
  type Command, CompareResult, CompareTarget, compare, deleteRangeRequest, putRequest, type RangeResponse, rangeRequest,
  type RequestOp, SortOrder, SortTarget, type TxnResponse,
} from './rpc.js';
import { validateCommand } from './state_machine.js';
import { bytes, FROM_KEY, Harness, str } from './testing.js';

const put = (key: string, value = 'v'): RequestOp => ({ type: 'put', put: putRequest({ key: bytes(key), value: bytes(value) }) });
const del = (key: string, end = ''): RequestOp => ({ type: 'deleteRange', deleteRange: deleteRangeRequest({ key: bytes(key), rangeEnd: bytes(end) }) });
const txn = (success: RequestOp[], failure: RequestOp[] = []): Command => ({ type: 'txn', txn: { compare: [], success, failure } });
const nested = (success: RequestOp[], failure: RequestOp[] = []): RequestOp => ({ type: 'txn', txn: { compare: [], success, failure } });

function keys(r: RangeResponse): string[] {
  return r.kvs.map((kv) => str(kv.key));
}

function seed(h: Harness): void {
  // revisions 2..6: a=1 (v1), b=2, c=3, a=4 (v2), d=5 with lease-free values
  for (const [k, v] of [['a', 'z1'], ['b', 'y'], ['c', 'x'], ['a', 'z2'], ['d', 'w']] as const) h.ok({ type: 'put', put: putRequest({ key: bytes(k), value: bytes(v) }) });
}

test('the store starts at revision 1 and each write gets the next one', () => {
  const h = Harness.memory();
  assert.equal(h.sm.currentRevision(), 1);
  seed(h);
  assert.equal(h.sm.currentRevision(), 6);
  const a = h.sm.range(rangeRequest({ key: bytes('a') })).kvs[0];
  assert.deepEqual([a?.createRevision, a?.modRevision, a?.version, str(a?.value ?? new Uint8Array())], [2, 5, 2, 'z2']);
});

test('range: prefix, from-key, limit with more, count, keys_only, count_only, historical', () => {
  const h = Harness.memory();
  seed(h);
  const all = rangeRequest({ key: FROM_KEY, rangeEnd: FROM_KEY });
  assert.deepEqual(keys(h.sm.range(all)), ['a', 'b', 'c', 'd']);
  assert.deepEqual(keys(h.sm.range(rangeRequest({ key: bytes('b'), rangeEnd: FROM_KEY }))), ['b', 'c', 'd']);
  assert.deepEqual(keys(h.sm.range(rangeRequest({ key: bytes('b'), rangeEnd: bytes('d') }))), ['b', 'c']);
  assert.deepEqual(keys(h.sm.range(rangeRequest({ key: bytes('d'), rangeEnd: bytes('b') }))), [], 'range_end below key');
  const limited = h.sm.range({ ...all, limit: 2 });
  assert.deepEqual([keys(limited), limited.more, limited.count], [['a', 'b'], true, 4]);
  const exact = h.sm.range({ ...all, limit: 4 });
  assert.deepEqual([exact.more, exact.count], [false, 4]);
  const ko = h.sm.range({ ...all, keysOnly: true });
  assert.ok(ko.kvs.every((kv) => kv.value.length === 0));
  const co = h.sm.range({ ...all, countOnly: true });
  assert.deepEqual([co.kvs.length, co.count], [0, 4]);
  const old = h.sm.range({ ...all, revision: 3 });
  assert.deepEqual([keys(old), str(old.kvs[0]?.value ?? new Uint8Array()), old.revision], [['a', 'b'], 'z1', 6]);
  assert.throws(() => h.sm.range({ ...all, revision: 7 }), /required revision is a future revision/);
});

test('range: sorting by every target, and min/max revision filters (count ignores filters, as in etcd)', () => {
  const h = Harness.memory();
  seed(h);
  const all = rangeRequest({ key: FROM_KEY, rangeEnd: FROM_KEY });
  assert.deepEqual(keys(h.sm.range({ ...all, sortOrder: SortOrder.Descend })), ['d', 'c', 'b', 'a']);
  assert.deepEqual(keys(h.sm.range({ ...all, sortTarget: SortTarget.Mod })), ['b', 'c', 'a', 'd']);
  assert.deepEqual(keys(h.sm.range({ ...all, sortTarget: SortTarget.Create, sortOrder: SortOrder.Descend })), ['d', 'c', 'b', 'a']);
  assert.deepEqual(keys(h.sm.range({ ...all, sortTarget: SortTarget.Value })), ['d', 'c', 'b', 'a']);
  assert.deepEqual(keys(h.sm.range({ ...all, sortTarget: SortTarget.Version, sortOrder: SortOrder.Descend })), ['a', 'b', 'c', 'd']);
  const f = h.sm.range({ ...all, minModRevision: 3, maxModRevision: 5 });
  assert.deepEqual([keys(f), f.count], [['a', 'b', 'c'], 4]);
  assert.deepEqual(keys(h.sm.range({ ...all, minCreateRevision: 3, maxCreateRevision: 4 })), ['b', 'c']);
  const sortedLimited = h.sm.range({ ...all, sortTarget: SortTarget.Mod, sortOrder: SortOrder.Descend, limit: 1 });
  assert.deepEqual([keys(sortedLimited), sortedLimited.more], [['d'], true]);
});

test('put: prev_kv, ignore_value, ignore_lease; delete: prev_kv and no revision when nothing is deleted', () => {
  const h = Harness.memory();
  h.ok({ type: 'leaseGrant', id: 9 as LeaseId, ttlSeconds: 100 });
  const r1 = h.ok({ type: 'put', put: putRequest({ key: bytes('k'), value: bytes('one'), lease: 9 as LeaseId, prevKv: true }) });
  assert.deepEqual(r1.type === 'put' && [r1.put.revision, r1.put.prevKv], [2, null]);
  const r2 = h.ok({ type: 'put', put: putRequest({ key: bytes('k'), ignoreValue: true, prevKv: true }) });
  assert.ok(r2.type === 'put' && str(r2.put.prevKv?.value ?? new Uint8Array()) === 'one');
  const kv = h.sm.range(rangeRequest({ key: bytes('k') })).kvs[0];
  assert.deepEqual([str(kv?.value ?? new Uint8Array()), kv?.lease, kv?.version], ['one', 0, 2], 'ignore_value keeps the value, lease 0 detaches');
  h.ok({ type: 'put', put: putRequest({ key: bytes('k'), value: bytes('two'), lease: 9 as LeaseId }) });
  h.ok({ type: 'put', put: putRequest({ key: bytes('k'), value: bytes('three'), ignoreLease: true }) });
  assert.equal(h.sm.range(rangeRequest({ key: bytes('k') })).kvs[0]?.lease, 9, 'ignore_lease keeps the lease');
  const d = h.ok({ type: 'deleteRange', deleteRange: deleteRangeRequest({ key: bytes('k'), prevKv: true }) });
  assert.ok(d.type === 'deleteRange' && d.deleteRange.deleted === 1 && str(d.deleteRange.prevKvs[0]?.value ?? new Uint8Array()) === 'three');
  const rev = h.sm.currentRevision();
  const none = h.ok({ type: 'deleteRange', deleteRange: deleteRangeRequest({ key: bytes('k') }) });
  assert.ok(none.type === 'deleteRange' && none.deleteRange.deleted === 0 && none.deleteRange.revision === rev);
  assert.equal(h.sm.currentRevision(), rev);
  // Re-creating a deleted key starts a new generation.
  h.ok({ type: 'put', put: putRequest({ key: bytes('k') }) });
  const again = h.sm.range(rangeRequest({ key: bytes('k') })).kvs[0];
  assert.deepEqual([again?.version, again?.createRevision], [1, rev + 1]);
});

test('txn: all changes share one revision; reads see earlier ops; read-only txns keep the revision', () => {
  const h = Harness.memory();
  seed(h);
  const r = h.ok(txn([put('x', '1'), { type: 'range', range: rangeRequest({ key: bytes('x') }) }, del('a'), put('y', '2')]));
  assert.ok(r.type === 'txn');
  const t: TxnResponse = r.txn;
  assert.equal(t.revision, 7);
  assert.equal(h.sm.currentRevision(), 7);
  const inner = t.responses[1];
  assert.ok(inner?.type === 'range' && str(inner.range.kvs[0]?.value ?? new Uint8Array()) === '1' && inner.range.revision === 7);
  const changes = h.sm.changes(7 as never, 7 as never, FROM_KEY, FROM_KEY, 100);
  assert.deepEqual(changes[0]?.events.map((e) => [e.type, str(e.kv.key)]), [[0, 'x'], [1, 'a'], [0, 'y']]);
  const ro = h.ok(txn([{ type: 'range', range: rangeRequest({ key: bytes('x') }) }]));
  assert.ok(ro.type === 'txn' && ro.txn.revision === 7);
  assert.equal(h.sm.currentRevision(), 7);
});

test('txn compares: every target, missing keys, ranges, and nested compares evaluated before any op', () => {
  const h = Harness.memory();
  seed(h);
  const check = (c: ReturnType<typeof compare>, expected: boolean): void => {
    const r = h.ok({ type: 'txn', txn: { compare: [c], success: [], failure: [] } });
    assert.equal(r.type === 'txn' && r.txn.succeeded, expected, JSON.stringify({ ...c, key: str(c.key) }));
  };
  check(compare({ key: bytes('a'), target: CompareTarget.Version, result: CompareResult.Equal, targetNumber: 2 }), true);
  check(compare({ key: bytes('a'), target: CompareTarget.Create, result: CompareResult.Equal, targetNumber: 2 }), true);
  check(compare({ key: bytes('a'), target: CompareTarget.Mod, result: CompareResult.Greater, targetNumber: 4 }), true);
  check(compare({ key: bytes('a'), target: CompareTarget.Value, result: CompareResult.Equal, targetValue: bytes('z2') }), true);
  check(compare({ key: bytes('a'), target: CompareTarget.Value, result: CompareResult.Less, targetValue: bytes('z3') }), true);
  check(compare({ key: bytes('a'), target: CompareTarget.Lease, result: CompareResult.Equal, targetNumber: 0 }), true);
  check(compare({ key: bytes('nope'), target: CompareTarget.Version, result: CompareResult.Equal, targetNumber: 0 }), true);
  check(compare({ key: bytes('nope'), target: CompareTarget.Create, result: CompareResult.Equal, targetNumber: 0 }), true);
  check(compare({ key: bytes('nope'), target: CompareTarget.Value, result: CompareResult.NotEqual, targetValue: bytes('') }), false);
  check(compare({ key: bytes('a'), rangeEnd: bytes('c'), target: CompareTarget.Version, result: CompareResult.Equal, targetNumber: 1 }), false);
  check(compare({ key: bytes('b'), rangeEnd: FROM_KEY, target: CompareTarget.Version, result: CompareResult.Equal, targetNumber: 1 }), true);
  check(compare({ key: bytes('x'), rangeEnd: bytes('z'), target: CompareTarget.Mod, result: CompareResult.Less, targetNumber: 1 }), true);
  // The nested compare sees the state before the outer put of "n", so it takes its failure branch.
  const r = h.ok({
    type: 'txn',
    txn: {
      compare: [], failure: [],
      success: [put('n'), {
        type: 'txn',
        txn: { compare: [compare({ key: bytes('n'), target: CompareTarget.Version, result: CompareResult.Greater, targetNumber: 0 })], success: [put('yes')], failure: [put('no')] },
      }],
    },
  });
  assert.ok(r.type === 'txn' && r.txn.responses[1]?.type === 'txn' && !r.txn.responses[1].txn.succeeded);
  assert.ok(h.sm.exists(bytes('no')) && !h.sm.exists(bytes('yes')));
});

test('txn: a failing check writes nothing (lease not found, future revision)', () => {
  const h = Harness.memory();
  seed(h);
  const bad: RequestOp = { type: 'put', put: putRequest({ key: bytes('q'), lease: 77 as LeaseId }) };
  assert.equal(h.fail(txn([put('p'), bad])), 'ErrLeaseNotFound');
  assert.equal(h.fail(txn([put('p'), { type: 'range', range: rangeRequest({ key: bytes('a'), revision: 99 }) }])), 'ErrFutureRev');
  assert.ok(!h.sm.exists(bytes('p')));
  assert.equal(h.sm.currentRevision(), 6);
});

test('txn: duplicate keys are refused as in etcd (and in the two cases etcd misses)', () => {
  const dup = (c: Command): string | undefined => validateCommand(c)?.message;
  const msg = 'etcdserver: duplicate key given in txn request';
  assert.equal(dup(txn([put('a'), put('a')])), msg);
  assert.equal(dup(txn([del('a', 'c'), put('b')])), msg);
  assert.equal(dup(txn([put('b'), del('a', 'c')])), msg);
  assert.equal(dup(txn([put('a'), nested([put('a')])])), msg);
  assert.equal(dup(txn([del('a', 'z'), nested([put('b')])])), msg);
  assert.equal(dup(txn([nested([put('b')]), nested([del('a', 'z')])])), msg, 'put then a sibling delete');
  assert.equal(dup(txn([del('a', '\0'), put('b')])), msg, 'from-key delete covers every later key');
  assert.equal(dup(txn([nested([put('a')], [put('a')])])), undefined, 'then and else branches exclude each other');
  assert.equal(dup(txn([put('a')], [put('a')])), undefined);
  assert.equal(dup(txn([del('a', 'c'), del('b', 'd')])), undefined, 'overlapping deletes are fine');
});

test('compaction: reads below it fail, at and above it succeed, and repeated compaction fails', () => {
  const h = Harness.memory();
  seed(h);
  h.ok({ type: 'compact', revision: 4, physical: true });
  const all = rangeRequest({ key: FROM_KEY, rangeEnd: FROM_KEY });
  assert.throws(() => h.sm.range({ ...all, revision: 3 }), /required revision has been compacted/);
  assert.deepEqual(keys(h.sm.range({ ...all, revision: 4 })), ['a', 'b', 'c']);
  assert.equal(str(h.sm.range({ ...all, revision: 4 }).kvs[0]?.value ?? new Uint8Array()), 'z1');
  assert.equal(h.fail({ type: 'compact', revision: 4, physical: false }), 'ErrCompacted');
  assert.equal(h.fail({ type: 'compact', revision: 7, physical: false }), 'ErrFutureRev');
  assert.equal(h.fail({ type: 'compact', revision: 3, physical: false }), 'ErrCompacted');
  assert.equal(h.fail({ type: 'txn', txn: { compare: [], success: [{ type: 'range', range: { ...all, revision: 2 } }], failure: [] } }), 'ErrCompacted');
});
