// Every kv limit is enforced, with etcd's error code and exact message.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LeaseId } from '../util/branded.js';
import { KvError } from './errors.js';
import {
  MAX_LEASE_TTL_SECONDS, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, MAX_TXN_DEPTH, MAX_TXN_OPS, QUOTA_BYTES_DEFAULT,
  QUOTA_BYTES_MAX,
} from './limits.js';
import { type RequestOp, putRequest, rangeRequest, type TxnRequest } from './rpc.js';
import { validateCommand } from './state_machine.js';
import { bytes, FROM_KEY, Harness } from './testing.js';

function failure(h: Harness, command: Parameters<Harness['apply']>[0]): KvError {
  const r = h.apply(command);
  assert.ok(!r.ok, `${command.type} should fail`);
  return r.error;
}

test('limits relate sensibly to each other', () => {
  assert.ok(MAX_REQUEST_BYTES < QUOTA_BYTES_DEFAULT && QUOTA_BYTES_DEFAULT <= QUOTA_BYTES_MAX);
  assert.ok(MAX_REQUEST_BYTES < MAX_RESPONSE_BYTES);
  assert.ok(MAX_TXN_DEPTH >= 2 && MAX_TXN_OPS >= 1);
});

test('a request over MAX_REQUEST_BYTES fails with etcd\'s "request is too large"', () => {
  const h = Harness.memory();
  const err = failure(h, { type: 'put', put: putRequest({ key: bytes('k'), value: new Uint8Array(MAX_REQUEST_BYTES) }) });
  assert.equal(err.code, 'ErrRequestTooLarge');
  assert.equal(err.message, 'etcdserver: request is too large');
  // A value that keeps the whole request at the limit is accepted.
  h.ok({ type: 'put', put: putRequest({ key: bytes('k'), value: new Uint8Array(MAX_REQUEST_BYTES - 64) }) });
  assert.ok(h.sm.exists(bytes('k')));
});

test('a txn over MAX_TXN_OPS fails with etcd\'s "too many operations in txn request"', () => {
  const h = Harness.memory();
  const puts = (n: number): RequestOp[] => Array.from({ length: n }, (_, i) => ({ type: 'put', put: putRequest({ key: bytes(`k${i}`) }) }));
  const err = failure(h, { type: 'txn', txn: { compare: [], success: puts(MAX_TXN_OPS + 1), failure: [] } });
  assert.equal(err.code, 'ErrTooManyOps');
  assert.equal(err.message, 'etcdserver: too many operations in txn request');
  h.ok({ type: 'txn', txn: { compare: [], success: puts(MAX_TXN_OPS), failure: [] } });
  assert.equal(h.sm.range(rangeRequest({ key: FROM_KEY, rangeEnd: FROM_KEY, countOnly: true })).count, MAX_TXN_OPS);
  // Nested txns share the budget left by their parent.
  const nested: TxnRequest = { compare: [], success: [{ type: 'txn', txn: { compare: [], success: puts(MAX_TXN_OPS), failure: [] } }], failure: [] };
  assert.equal(validateCommand({ type: 'txn', txn: nested })?.code, 'ErrTooManyOps');
});

test('txns nested deeper than MAX_TXN_DEPTH are refused', () => {
  let t: TxnRequest = { compare: [], success: [], failure: [] };
  for (let i = 0; i < MAX_TXN_DEPTH; i++) t = { compare: [], success: [{ type: 'txn', txn: t }], failure: [] };
  assert.equal(validateCommand({ type: 'txn', txn: t })?.code, 'ErrTooManyOps');
});

test('a lease TTL over MAX_LEASE_TTL_SECONDS fails with etcd\'s "too large lease TTL"', () => {
  const h = Harness.memory();
  const err = failure(h, { type: 'leaseGrant', id: 1 as LeaseId, ttlSeconds: MAX_LEASE_TTL_SECONDS + 1 });
  assert.equal(err.code, 'ErrLeaseTTLTooLarge');
  assert.equal(err.message, 'etcdserver: too large lease TTL');
  h.ok({ type: 'leaseGrant', id: 1 as LeaseId, ttlSeconds: MAX_LEASE_TTL_SECONDS });
});

test('a range response over the byte limit fails with gRPC\'s ResourceExhausted text', () => {
  const h = Harness.memory({ maxResponseBytes: 10_000 });
  for (let i = 0; i < 20; i++) h.ok({ type: 'put', put: putRequest({ key: bytes(`k${i}`), value: new Uint8Array(1000) }) });
  assert.throws(() => h.sm.range(rangeRequest({ key: FROM_KEY, rangeEnd: FROM_KEY })), (err: unknown) =>
    err instanceof KvError && err.code === 'ErrResponseTooLarge' && /larger than max \(\d+ vs\. 10000\)/.test(err.message));
  // A limit keeps the same range under the bound.
  assert.equal(h.sm.range(rangeRequest({ key: FROM_KEY, rangeEnd: FROM_KEY, limit: 5 })).kvs.length, 5);
  assert.equal(Harness.memory().sm.range(rangeRequest({ key: FROM_KEY, rangeEnd: FROM_KEY })).count, 0);
  assert.equal(MAX_RESPONSE_BYTES, 64 * 1024 * 1024);
});

test('empty keys and contradictory put flags fail with etcd\'s errors', () => {
  const h = Harness.memory();
  const cases: [Parameters<Harness['apply']>[0], string, string][] = [
    [{ type: 'put', put: putRequest({ key: new Uint8Array(0) }) }, 'ErrEmptyKey', 'etcdserver: key is not provided'],
    [{ type: 'range', range: rangeRequest({ key: new Uint8Array(0) }) }, 'ErrEmptyKey', 'etcdserver: key is not provided'],
    [{ type: 'put', put: putRequest({ key: bytes('k'), value: bytes('v'), ignoreValue: true }) }, 'ErrValueProvided', 'etcdserver: value is provided'],
    [{ type: 'put', put: putRequest({ key: bytes('k'), lease: 5 as LeaseId, ignoreLease: true }) }, 'ErrLeaseProvided', 'etcdserver: lease is provided'],
    [{ type: 'put', put: putRequest({ key: bytes('k'), ignoreValue: true }) }, 'ErrKeyNotFound', 'etcdserver: key not found'],
    [{ type: 'put', put: putRequest({ key: bytes('k'), lease: 5 as LeaseId }) }, 'ErrLeaseNotFound', 'etcdserver: requested lease not found'],
  ];
  for (const [command, code, message] of cases) {
    const err = failure(h, command);
    assert.equal(err.code, code);
    assert.equal(err.message, message);
  }
  assert.equal(h.sm.currentRevision(), 1, 'failed requests change nothing');
});
