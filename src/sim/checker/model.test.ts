// Tests of the KV register model and of prepareKv, the rewrite that keeps linearizability exactly.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UNKNOWN, type Operation } from './history.js';
import { kvModel, prepareKv, type KvInput, type KvOutput, type KvState } from './model.js';

const step = (state: KvState, input: KvInput, output: KvOutput | typeof UNKNOWN) => kvModel.step(state, input, output);

test('get, put, cas and delete follow a register', () => {
  assert.deepEqual(step(null, { kind: 'get' }, { kind: 'get', value: null }), { ok: true, state: null });
  assert.deepEqual(step('a', { kind: 'get' }, { kind: 'get', value: 'b' }), { ok: false });
  assert.deepEqual(step('a', { kind: 'put', value: 'b' }, { kind: 'put', revision: 7 }), { ok: true, state: 'b' });
  assert.deepEqual(step('a', { kind: 'cas', expected: 'a', value: 'c' }, { kind: 'cas', ok: true }), { ok: true, state: 'c' });
  assert.deepEqual(step('a', { kind: 'cas', expected: 'b', value: 'c' }, { kind: 'cas', ok: false }), { ok: true, state: 'a' });
  assert.deepEqual(step('a', { kind: 'cas', expected: 'b', value: 'c' }, { kind: 'cas', ok: true }), { ok: false });
  assert.deepEqual(step(null, { kind: 'cas', expected: null, value: 'c' }, { kind: 'cas', ok: true }), { ok: true, state: 'c' });
  assert.deepEqual(step('a', { kind: 'delete' }, { kind: 'delete' }), { ok: true, state: null });
  assert.deepEqual(step(null, { kind: 'delete' }, { kind: 'delete', deleted: true }), { ok: false });
  assert.deepEqual(step('a', { kind: 'delete' }, { kind: 'delete', deleted: false }), { ok: false });
  // An answer of another kind is never accepted.
  assert.deepEqual(step('a', { kind: 'get' }, { kind: 'put' }), { ok: false });
});

test('an unknown outcome takes effect as the register decides', () => {
  assert.deepEqual(step('a', { kind: 'put', value: 'b' }, UNKNOWN), { ok: true, state: 'b' });
  assert.deepEqual(step('a', { kind: 'cas', expected: 'a', value: 'c' }, UNKNOWN), { ok: true, state: 'c' });
  assert.deepEqual(step('a', { kind: 'cas', expected: 'x', value: 'c' }, UNKNOWN), { ok: true, state: 'a' });
  assert.deepEqual(step('a', { kind: 'get' }, UNKNOWN), { ok: true, state: 'a' });
  assert.equal(kvModel.readOnly?.({ kind: 'get' }), true);
  assert.equal(kvModel.readOnly?.({ kind: 'delete' }), false);
});

test('states hash consistently and are described readably', () => {
  assert.equal(kvModel.hash('abc'), kvModel.hash('abc'));
  assert.notEqual(kvModel.hash('abc'), kvModel.hash('abd'));
  assert.notEqual(kvModel.hash(null), kvModel.hash(''));
  assert.equal(kvModel.describeState(null), 'nil');
  assert.equal(kvModel.describeOperation({ kind: 'cas', expected: null, value: 'v' }, { kind: 'cas', ok: false, revision: 3 }), 'cas(nil -> "v") -> failed @3');
  assert.equal(kvModel.describeOperation({ kind: 'put', value: 'v' }, UNKNOWN), 'put("v") -> ?');
});

type KvOp = Operation<KvInput, KvOutput>;
const op = (id: number, input: KvInput, output: KvOutput | typeof UNKNOWN, callTime: number, returnTime: number): KvOp =>
  ({ id, clientId: id, key: 'k', input, output, callTime, returnTime });

test('prepareKv folds values nobody reads into one stand-in', () => {
  const ops = [
    op(0, { kind: 'put', value: 'unread1' }, { kind: 'put' }, 0, 1),
    op(1, { kind: 'put', value: 'unread2' }, UNKNOWN, 0, Infinity),
    op(2, { kind: 'put', value: 'seen' }, { kind: 'put' }, 2, 3),
    op(3, { kind: 'cas', expected: 'expected', value: 'unread3' }, { kind: 'cas', ok: false }, 4, 5),
    op(4, { kind: 'put', value: 'expected' }, { kind: 'put' }, 4, 5),
    op(5, { kind: 'get' }, { kind: 'get', value: 'seen' }, 6, 7),
  ];
  const prepared = prepareKv(ops);
  const values = prepared.map((p) => (p.input.kind === 'put' || p.input.kind === 'cas' ? p.input.value : null));
  assert.equal(values[0], values[1]);
  assert.equal(values[0], values[3]);
  assert.notEqual(values[0], 'unread1');
  assert.deepEqual([values[2], values[4], values[5]], ['seen', 'expected', null]);
  assert.deepEqual(prepared.map((p) => p.id), [0, 1, 2, 3, 4, 5]);
  assert.equal(ops[0]?.input.kind === 'put' && ops[0].input.value, 'unread1', 'the input is not modified');
});

test('prepareKv gives an unknown write that was seen a deadline: the first observer\'s return', () => {
  const ops = [
    op(0, { kind: 'put', value: 'v' }, UNKNOWN, 0, Infinity),
    op(1, { kind: 'get' }, { kind: 'get', value: 'v' }, 5, 9),
    op(2, { kind: 'get' }, { kind: 'get', value: 'v' }, 3, 7),
    op(3, { kind: 'cas', expected: 'w', value: 'z' }, UNKNOWN, 0, Infinity),
    op(4, { kind: 'put', value: 'w' }, UNKNOWN, 1, Infinity),
    op(5, { kind: 'cas', expected: 'w', value: 'q' }, { kind: 'cas', ok: true }, 2, 4),
    op(6, { kind: 'get' }, { kind: 'get', value: 'z' }, 2, 3),
  ];
  const prepared = prepareKv(ops);
  assert.equal(prepared[0]?.returnTime, 7);
  assert.equal(prepared[0]?.output, UNKNOWN);
  assert.equal(prepared[4]?.returnTime, 4, 'a successful cas observes its expected value');
  // An unknown cas whose value was seen must have succeeded.
  assert.equal(prepared[3]?.returnTime, 3);
  assert.deepEqual(prepared[3]?.output, { kind: 'cas', ok: true });
});

test('prepareKv leaves an unknown write optional when its value has several writers or was seen before its call', () => {
  const twice = [
    op(0, { kind: 'put', value: 'v' }, UNKNOWN, 0, Infinity),
    op(1, { kind: 'put', value: 'v' }, { kind: 'put' }, 0, 1),
    op(2, { kind: 'get' }, { kind: 'get', value: 'v' }, 2, 3),
  ];
  assert.equal(prepareKv(twice)[0]?.returnTime, Infinity);
  const early = [op(0, { kind: 'get' }, { kind: 'get', value: 'v' }, 0, 1), op(1, { kind: 'put', value: 'v' }, UNKNOWN, 2, Infinity)];
  assert.equal(prepareKv(early)[1]?.returnTime, Infinity);
});
