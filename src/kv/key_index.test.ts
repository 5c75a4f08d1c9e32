import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeyIndex } from './key_index.js';

test('a key index finds the version visible at each revision across generations', () => {
  // put(2), put(4), delete(5), put(7): etcd's generations {2, 4, 5(t)} {7}
  const ki = new KeyIndex('k');
  ki.put(2, 0, 10, 2, 1, 0);
  ki.put(4, 1, 10, 2, 2, 0);
  ki.tombstone(5, 0, 10);
  ki.put(7, 3, 10, 7, 1, 0);
  const visible = [1, 2, 3, 4, 5, 6, 7, 8].map((rev) => {
    const i = ki.liveAt(rev);
    return i < 0 ? null : ki.main(i);
  });
  assert.deepEqual(visible, [null, 2, 2, 4, null, null, 7, 7]);
  assert.equal(ki.sub(2), 0);
  assert.ok(ki.isTombstone(2));
  assert.throws(() => ki.put(7, 0, 10, 7, 2, 0), /not above/);
});

test('compaction keeps the version visible at the compacted revision and drops tombstones below it', () => {
  const mk = (): KeyIndex => {
    const ki = new KeyIndex('k');
    ki.put(2, 0, 10, 2, 1, 0);
    ki.put(4, 0, 10, 2, 2, 0);
    ki.tombstone(5, 0, 10);
    ki.put(7, 0, 10, 7, 1, 0);
    return ki;
  };
  const removed: number[] = [];
  let ki = mk();
  assert.equal(ki.compact(3, (m) => removed.push(m)), false);
  assert.deepEqual([removed, ki.main(0)], [[], 2]);
  ki = mk();
  ki.compact(4, (m) => removed.push(m));
  assert.deepEqual([removed.splice(0), ki.entries], [[2], 3]);
  ki = mk();
  ki.compact(6, (m) => removed.push(m));
  assert.deepEqual([removed.splice(0), ki.entries, ki.main(0)], [[2, 4, 5], 1, 7]);
  ki = new KeyIndex('gone');
  ki.put(2, 0, 10, 2, 1, 0);
  ki.tombstone(3, 0, 10);
  assert.equal(ki.compact(3, (m) => removed.push(m)), true, 'an index with nothing left can be forgotten');
  assert.deepEqual(removed, [2, 3]);
});

test('long histories use binary search and agree with a linear scan', () => {
  const ki = new KeyIndex('k');
  for (let r = 2; r < 400; r += 3) ki.put(r, 0, 10, 2, 1, 0);
  for (let rev = 0; rev < 420; rev++) {
    let want = -1;
    for (let i = 0; i < ki.entries; i++) if (ki.main(i) <= rev) want = i;
    assert.equal(ki.findAt(rev), want);
  }
});
