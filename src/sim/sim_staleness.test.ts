import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { History } from './checker/history.js';
import { UNKNOWN } from './checker/history.js';
import type { KvInput, KvOutput } from './checker/model.js';
import { checkBoundedStaleness, type BoundedRead } from './sim_staleness.js';

const put = (id: number, callTime: number, returnTime: number, revision: number): History<KvInput, KvOutput>[number] => ({
  id, clientId: 1, key: 'k', input: { kind: 'put', value: `v${id}` }, output: { kind: 'put', revision }, callTime, returnTime,
});
const read = (arrivedAt: number, maxStalenessMs: number, appliedRevision: number): BoundedRead => ({
  member: 2, key: 'k', arrivedAt, maxStalenessMs, appliedRevision, path: 'bounded-local',
});

const history: History<KvInput, KvOutput> = [
  put(0, 0, 10, 2),
  put(1, 20, 100, 3),
  put(2, 150, 400, 4),
  // An unknown write never obliges a read.
  { id: 3, clientId: 2, key: 'k', input: { kind: 'put', value: 'x' }, output: UNKNOWN, callTime: 50, returnTime: Infinity },
];

test('a read within its bound passes; one that misses a write acknowledged before T − B fails', () => {
  assert.deepEqual(checkBoundedStaleness(history, [read(150, 100, 2)]).violations, []);
  const bad = checkBoundedStaleness(history, [read(250, 100, 2)]);
  assert.equal(bad.violations.length, 1);
  assert.match(bad.violations[0] ?? '', /saw revision 2, but revision 3 was acknowledged before 150\.0 ms/);
  // Exactly at the bound the write is not yet required (acknowledged strictly before T − B).
  assert.deepEqual(checkBoundedStaleness(history, [read(200, 100, 2)]).violations, []);
});

test('the required revision is the highest acknowledged, not the last one', () => {
  const h: History<KvInput, KvOutput> = [put(0, 0, 50, 9), put(1, 10, 60, 5)];
  assert.equal(checkBoundedStaleness(h, [read(1000, 10, 5)]).violations.length, 1);
  assert.equal(checkBoundedStaleness(h, [read(1000, 10, 9)]).violations.length, 0);
});

test('counts local reads and caps the listed violations', () => {
  const reads = Array.from({ length: 20 }, () => read(1000, 1, 0));
  const r = checkBoundedStaleness(history, reads);
  assert.equal(r.reads, 20);
  assert.equal(r.servedLocally, 20);
  assert.equal(r.violations.length, 6);
  assert.match(r.violations[5] ?? '', /15 more violations/);
});
