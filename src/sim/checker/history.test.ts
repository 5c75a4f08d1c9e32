// Tests of the history recorder and the partition by key.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AssertionError } from '../../util/assert.js';
import { HistoryRecorder, UNKNOWN, isUnknown, partitionByKey } from './history.js';

test('the recorder keeps calls, returns and unknown outcomes in call order', () => {
  const rec = new HistoryRecorder<string, number>();
  const a = rec.call(1, 'k', 'first', 10);
  const b = rec.call(2, 'j', 'second', 11);
  const c = rec.call(3, 'k', 'third', 12);
  rec.ret(b, 42, 15);
  rec.unknown(a);
  const h = rec.history();
  assert.equal(rec.size, 3);
  assert.deepEqual(h.map((op) => op.id), [0, 1, 2]);
  assert.equal(h[1]?.output, 42);
  assert.equal(h[1]?.returnTime, 15);
  assert.equal(isUnknown(h[0]?.output), true);
  assert.equal(h[0]?.returnTime, Infinity);
  // Still in flight when the history is read: unknown.
  assert.equal(h[2]?.output, UNKNOWN);
  assert.equal(h[2]?.returnTime, Infinity);
  rec.ret(c, 7, 20);
  assert.equal(rec.history()[2]?.output, 7);
  assert.equal(h[2]?.output, UNKNOWN, 'a history read earlier is a snapshot');
});

test('the recorder refuses a second outcome, an unknown handle and time running backwards', () => {
  const rec = new HistoryRecorder<string, number>();
  const a = rec.call(1, 'k', 'x', 10);
  assert.throws(() => rec.ret(a, 1, 9), AssertionError);
  rec.ret(a, 1, 10);
  assert.throws(() => rec.ret(a, 1, 11), AssertionError);
  assert.throws(() => rec.unknown(a), AssertionError);
  assert.throws(() => rec.unknown({ id: 99 }), AssertionError);
  assert.throws(() => rec.call(1, 'k', 'x', NaN), AssertionError);
});

test('partitionByKey groups by key in sorted key order, keeping each key in history order', () => {
  const rec = new HistoryRecorder<string, number>();
  for (const key of ['b', 'a', 'b', 'c', 'a']) rec.call(0, key, key, 0);
  const parts = partitionByKey(rec.history());
  assert.deepEqual([...parts.keys()], ['a', 'b', 'c']);
  assert.deepEqual(parts.get('a')?.map((op) => op.id), [1, 4]);
  assert.deepEqual(parts.get('b')?.map((op) => op.id), [0, 2]);
});
