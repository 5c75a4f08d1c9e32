// Tests of the random history generator the checker's own tests rely on.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Prng } from '../../util/prng.js';
import { isUnknown } from './history.js';
import { generateKvHistory, mutateKvHistory } from './random_history.js';

test('the same seed gives the same history', () => {
  const a = generateKvHistory(new Prng(9), { ops: 200 });
  const b = generateKvHistory(new Prng(9), { ops: 200 });
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, generateKvHistory(new Prng(10), { ops: 200 }));
});

test('each client waits for an answer (or a timeout) before its next call', () => {
  const history = generateKvHistory(new Prng(11), { ops: 500, clients: 4, unknownRate: 0.1 });
  assert.equal(history.length, 500);
  const byClient = new Map<number, typeof history>();
  for (const op of history) byClient.set(op.clientId, [...(byClient.get(op.clientId) ?? []), op]);
  for (const ops of byClient.values()) {
    for (let i = 1; i < ops.length; i++) {
      const before = ops[i - 1];
      const op = ops[i];
      assert.ok(before !== undefined && op !== undefined);
      if (!isUnknown(before.output)) assert.ok(op.callTime >= before.returnTime, `#${op.id} overlaps #${before.id}`);
      else assert.ok(op.callTime > before.callTime);
    }
  }
  assert.ok(history.some((op) => isUnknown(op.output)));
  assert.ok(history.every((op) => isUnknown(op.output) === (op.returnTime === Infinity)));
});

test('a mutation changes exactly one answer', () => {
  const prng = new Prng(12);
  const history = generateKvHistory(prng, { ops: 100 });
  const mutation = mutateKvHistory(prng, history);
  assert.ok(mutation !== null);
  const changed = mutation.history.filter((op, i) => op !== history[i]);
  assert.deepEqual(changed.map((op) => op.id), [mutation.mutated]);
  assert.notDeepEqual(changed[0]?.output, history[mutation.mutated]?.output);
});
