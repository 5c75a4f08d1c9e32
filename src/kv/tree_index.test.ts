import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Prng } from '../util/prng.js';
import { TreeIndex } from './tree_index.js';

test('the B+tree matches a sorted set under random inserts, removals, lookups and range scans', () => {
  const seed = Number(process.env['SEED'] ?? Date.now() >>> 0);
  console.log(`tree index seed ${seed} (replay with SEED=${seed})`);
  const rng = new Prng(seed);
  const tree = new TreeIndex();
  const model = new Set<string>();
  const key = (): string => String.fromCharCode(...Array.from({ length: rng.range(1, 3) }, () => rng.range(0x61, 0x68)));
  for (let i = 0; i < 20_000; i++) {
    const k = key();
    if (rng.chance(0.6)) {
      tree.getOrCreate(k);
      model.add(k);
    } else if (model.has(k)) {
      tree.remove(k);
      model.delete(k);
    }
    assert.equal(tree.get(k) !== undefined, model.has(k), `seed ${seed} step ${i}`);
    if (i % 500 === 0) {
      const start = key();
      const end = rng.chance(0.2) ? null : key();
      const got: string[] = [];
      tree.forRange(start, end, (ki) => got.push(ki.key) < 1000);
      const want = [...model].filter((x) => x >= start && (end === null || x < end)).sort();
      assert.deepEqual(got, want, `seed ${seed} range [${start}, ${end}) at step ${i}`);
      assert.equal(tree.size(), model.size);
    }
  }
  tree.rebuild();
  const all: string[] = [];
  tree.forEach((ki) => all.push(ki.key));
  assert.deepEqual(all, [...model].sort());
});

test('ascending bulk inserts and removing everything keep the tree usable', () => {
  const tree = new TreeIndex();
  for (let i = 0; i < 50_000; i++) tree.getOrCreate(`k${String(i).padStart(6, '0')}`);
  assert.equal(tree.size(), 50_000);
  for (let i = 0; i < 50_000; i++) tree.remove(`k${String(i).padStart(6, '0')}`);
  assert.equal(tree.size(), 0);
  let visited = 0;
  tree.forEach(() => visited++);
  assert.equal(visited, 0);
  tree.getOrCreate('again');
  assert.ok(tree.get('again'));
});
