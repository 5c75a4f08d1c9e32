// The synced-watcher index against brute force: single keys, shared and overlapping ranges, from-key.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { revision } from '../util/branded.js';
import { Prng } from '../util/prng.js';
import type { WatchStream } from './watch_stream.js';
import { Watcher, WatcherState, keyString, watchRange } from './watcher.js';
import { WatcherGroup } from './watcher_group.js';

const STREAM = {} as WatchStream;

function watcher(id: number, key: string, end: string): Watcher {
  const range = watchRange(new TextEncoder().encode(key), new TextEncoder().encode(end));
  assert.ok(range !== null, `empty range ${key}..${end}`);
  return new Watcher({
    id,
    stream: STREAM,
    range,
    startRevision: revision(0),
    minRevision: revision(1),
    state: WatcherState.Synced,
    noPut: false,
    noDelete: false,
    prevKv: false,
    fragment: false,
    progressNotify: false,
  });
}

function covering(g: WatcherGroup, key: string): number[] {
  const ids: number[] = [];
  g.forEachCovering(key, (w) => ids.push(w.id));
  return ids.sort((a, b) => a - b);
}

test('single keys, ranges and from-key ranges', () => {
  const g = new WatcherGroup();
  g.add(watcher(1, 'a', ''));
  g.add(watcher(2, 'a', 'c'));
  g.add(watcher(3, 'a', 'c'));
  g.add(watcher(4, 'b', '\0'));
  g.add(watcher(5, 'b', 'b\0'));
  assert.equal(g.size, 5);
  assert.deepEqual(covering(g, 'a'), [1, 2, 3]);
  assert.deepEqual(covering(g, 'b'), [2, 3, 4, 5]);
  assert.deepEqual(covering(g, 'c'), [4]);
  assert.deepEqual(covering(g, '0'), []);
  const three = watcher(3, 'a', 'c');
  assert.equal(g.delete(three), false, 'a different watcher with the same range is not removed');
  assert.equal(g.size, 5);
});

test('empty key and range normalization, as etcd', () => {
  assert.equal(watchRange(new Uint8Array(0), new Uint8Array(0))?.key, '\0');
  assert.equal(watchRange(new Uint8Array(0), Uint8Array.of(0))?.end, '');
  assert.equal(watchRange(Uint8Array.of(98), Uint8Array.of(97)), null);
  assert.equal(watchRange(Uint8Array.of(97), Uint8Array.of(97)), null);
  assert.equal(keyString(Uint8Array.of(0xff, 0, 0x80)), '\xff\0\x80');
});

test('randomized against brute force, with adds and deletes', () => {
  const seed = Number(process.env['SEED'] ?? 777);
  const rng = new Prng(seed);
  const alphabet = ['\0', 'a', 'b', 'c', '\xff'];
  const randomKey = (): string => Array.from({ length: rng.range(1, 3) }, () => rng.pick(alphabet)).join('');
  const g = new WatcherGroup();
  const live: Watcher[] = [];
  for (let i = 0; i < 2000; i++) {
    if (live.length > 0 && rng.chance(0.3)) {
      const w = live.splice(rng.int(live.length), 1)[0] as Watcher;
      assert.equal(g.delete(w), true);
      assert.equal(g.delete(w), false);
      continue;
    }
    const key = randomKey();
    const roll = rng.int(3);
    const end = roll === 0 ? '' : roll === 1 ? '\0' : randomKey();
    if (roll === 2 && end <= key) continue;
    const w = new Watcher({ ...watcher(i, 'a', ''), id: i, range: rangeOf(key, end) });
    g.add(w);
    live.push(w);
    const probe = randomKey();
    const want = live.filter((x) => x.covers(probe)).map((x) => x.id).sort((a, b) => a - b);
    assert.deepEqual(covering(g, probe), want, `seed ${seed} step ${i}; replay with SEED=${seed}`);
    assert.equal(g.size, live.length);
  }
});

function rangeOf(key: string, end: string): NonNullable<ReturnType<typeof watchRange>> {
  const bytes = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
  const r = watchRange(bytes(key), bytes(end));
  assert.ok(r !== null);
  return r;
}
