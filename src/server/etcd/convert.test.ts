// Conversions between proto-loader objects and kv types, through real encode/decode with our .proto files.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CompareResult, CompareTarget, SortOrder, SortTarget } from '../../kv/rpc.js';
import { revision, leaseId } from '../../util/branded.js';
import { MAX_TXN_DEPTH } from '../../kv/limits.js';
import {
  compareFromPb, headerToPb, INT64_CLAMP, type PbMessage, putRequestFromPb, rangeRequestFromPb, repeatedMessages,
  txnRequestFromPb, watchCreateFromPb,
} from './convert.js';
import { etcdMethod } from '../../wire/etcd_proto.js';
import { checkPeerUrls } from './member.js';
import { bytes, text } from './testing.js';

/** A request as the server receives it: encoded by the client's rules, decoded by the server's. */
function wire(service: 'kv' | 'watch', method: string, request: object): PbMessage {
  const def = etcdMethod(service, method);
  return def.requestDeserialize(def.requestSerialize(request)) as PbMessage;
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code ?? 'no code';
  }
  return 'no error';
}

test('a Range request reads every field; unset fields are zero; huge numbers clamp', () => {
  const r = rangeRequestFromPb(wire('kv', 'Range', {
    key: bytes('a'), range_end: bytes('b'), limit: '9223372036854775807', revision: '-5', sort_order: SortOrder.Descend,
    sort_target: SortTarget.Mod, keys_only: true, min_mod_revision: 3,
  }));
  assert.equal(text(r.key), 'a');
  assert.equal(text(r.rangeEnd), 'b');
  assert.equal(r.limit, INT64_CLAMP);
  assert.equal(r.revision, -5);
  assert.equal(r.sortOrder, SortOrder.Descend);
  assert.equal(r.sortTarget, SortTarget.Mod);
  assert.equal(r.keysOnly, true);
  assert.equal(r.countOnly, false);
  assert.equal(r.minModRevision, 3);
  assert.equal(r.maxCreateRevision, 0);
  assert.equal(codeOf(() => rangeRequestFromPb(wire('kv', 'Range', { key: bytes('a'), sort_order: 7 }))), 'ErrUnknownEnumValue');
});

test('lease ids outside what the store holds name no lease', () => {
  assert.equal(putRequestFromPb(wire('kv', 'Put', { key: bytes('k'), lease: '12345' })).lease, leaseId(12345));
  assert.equal(codeOf(() => putRequestFromPb(wire('kv', 'Put', { key: bytes('k'), lease: '-1' }))), 'ErrLeaseNotFound');
  assert.equal(codeOf(() => putRequestFromPb(wire('kv', 'Put', { key: bytes('k'), lease: '9007199254740992' }))), 'ErrLeaseNotFound');
});

test('a compare takes its operand from the union member of its target only', () => {
  const decoded = repeatedMessages(wire('kv', 'Txn', {
    compare: [{ key: bytes('k'), target: CompareTarget.Mod, result: CompareResult.Less, mod_revision: 7 }],
  }), 'compare');
  const mod = compareFromPb(decoded[0] ?? {});
  assert.equal(mod.targetNumber, 7);
  assert.equal(mod.result, CompareResult.Less);
  const txn = txnRequestFromPb(wire('kv', 'Txn', {
    compare: [
      { key: bytes('k'), target: CompareTarget.Value, value: bytes('v') },
      // The union set for another target: etcd compares against zero.
      { key: bytes('k'), target: CompareTarget.Version, mod_revision: 9 },
    ],
  }));
  assert.equal(text(txn.compare[0]?.targetValue), 'v');
  assert.equal(txn.compare[1]?.targetNumber, 0);
});

test('txn ops convert recursively; an empty op is etcd\'s key-not-found; nesting is bounded', () => {
  const txn = txnRequestFromPb(wire('kv', 'Txn', {
    success: [
      { request_put: { key: bytes('a'), value: bytes('1') } },
      { request_txn: { failure: [{ request_delete_range: { key: bytes('b'), range_end: bytes('c') } }] } },
    ],
    failure: [{ request_range: { key: bytes('a') } }],
  }));
  assert.equal(txn.success[0]?.type, 'put');
  const nested = txn.success[1];
  assert.ok(nested?.type === 'txn' && nested.txn.failure[0]?.type === 'deleteRange');
  assert.equal(txn.failure[0]?.type, 'range');
  assert.equal(codeOf(() => txnRequestFromPb(wire('kv', 'Txn', { success: [{}] }))), 'ErrKeyNotFound');
  let deep: object = { success: [{ request_put: { key: bytes('x') } }] };
  for (let i = 0; i < MAX_TXN_DEPTH + 2; i++) deep = { success: [{ request_txn: deep }] };
  assert.equal(codeOf(() => txnRequestFromPb(wire('kv', 'Txn', deep))), 'ErrTooManyOps');
});

test('watch create requests keep their ids exactly or are refused', () => {
  const w = watchCreateFromPb({ key: bytes('k'), watch_id: '42', start_revision: '99999999999999999999', filters: [1] });
  assert.equal(w.watchId, 42);
  assert.equal(w.startRevision, INT64_CLAMP);
  assert.deepEqual(w.filters, [1]);
  assert.equal(codeOf(() => watchCreateFromPb({ key: bytes('k'), watch_id: '9007199254740993' })), 'ErrWatchIdOutOfRange');
});

test('headers carry uint64 cluster and member ids exactly', () => {
  const h = headerToPb({ clusterId: 2n ** 64n - 1n, memberId: 2n ** 63n + 5n, revision: revision(7), raftTerm: 3 }, 9);
  const def = etcdMethod('kv', 'Range');
  const back = def.responseDeserialize(def.responseSerialize({ header: h })) as PbMessage;
  assert.deepEqual(back['header'], { cluster_id: '18446744073709551615', member_id: '9223372036854775813', revision: '9', raft_term: '3' });
});

test('peer URLs follow etcd\'s rules', () => {
  for (const ok of [['http://127.0.0.1:2380'], ['https://node-a.example:2380', 'http://[::1]:2380'], ['unix://sock:1']]) {
    assert.doesNotThrow(() => checkPeerUrls(ok), ok.join());
  }
  for (const bad of [[], ['127.0.0.1:2380'], ['http://127.0.0.1'], ['http://127.0.0.1:2380/path'], ['ftp://a:1'], ['http://a:1/'], ['http://:1']]) {
    assert.equal(codeOf(() => checkPeerUrls(bad)), 'ErrMemberBadURLs', bad.join());
  }
});
