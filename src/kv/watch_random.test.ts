// Seeded randomized test of the watch hub: interleaves writes, compactions, store restores, slow and
// blocked consumers, creates, cancels, progress requests and ticks, then checks every stream's received
// responses against the full write history. Replay one run with SEED=<n>; ROUNDS=<n> runs more seeds.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Prng } from '../util/prng.js';
import { WatchFilterType, type WatchCreateRequest } from './watch_response.js';
import { WatchHarness, type HarnessStream } from './watch_test_harness.js';
import { bytes, type TestWrite } from './watch_test_history.js';

const STEPS_PER_SEED = 400;
const SEEDS_DEFAULT = 24;
const KEYS = ['a', 'b', 'c', 'p/1', 'p/2', 'p/3', 'p/4', 'q', 'x/a', 'x/b', 'z'];
const RANGES: readonly [string, string | undefined][] = [
  ['a', undefined],
  ['p/1', undefined],
  ['p/', 'p0'],
  ['x/', 'x0'],
  ['p/2', 'x/b'],
  ['c', '\0'],
  ['', '\0'],
];
/** Small bounds, so a few hundred steps reach the queue bound, fragments and catch-up batching. */
const LIMITS = {
  streamQueueResponsesMax: 3,
  streamQueueBytesMax: 700,
  responseBytesMax: 250,
  watchersPerStreamMax: 6,
  catchUpBatchEventsMax: 3,
  syncRoundReadsMax: 4,
};

interface Tally {
  fragments: number;
  compacted: number;
  refused: number;
  progress: number;
  fellBehind: number;
  restores: number;
}

function seeds(): number[] {
  const fixed = process.env['SEED'];
  if (fixed !== undefined) return [Number(fixed)];
  const rounds = Number(process.env['ROUNDS'] ?? SEEDS_DEFAULT);
  return Array.from({ length: rounds }, (_, i) => 0x5eed + i * 7919);
}

function randomWrites(rng: Prng, h: WatchHarness): TestWrite[] {
  const writes: TestWrite[] = [];
  const used = new Set<string>();
  const n = rng.range(1, 3);
  for (let i = 0; i < n; i++) {
    const key = rng.pick(KEYS);
    if (used.has(key)) continue;
    if (rng.chance(0.2) && h.history.keys().includes(key)) {
      writes.push({ op: 'delete', key });
      used.add(key);
    } else if (rng.chance(0.05) && writes.length === 0) {
      // A range delete alone in its transaction, so it cannot overlap a put of the same revision.
      return [{ op: 'delete', key: 'p/', rangeEnd: 'p0' }];
    } else {
      writes.push({ op: 'put', key, value: 'v'.repeat(rng.int(60)) + String(rng.int(1000)) });
      used.add(key);
    }
  }
  return writes;
}

function randomCreate(rng: Prng, h: WatchHarness): WatchCreateRequest {
  const [key, rangeEnd] = rng.pick(RANGES);
  const current = h.history.currentRevision();
  const roll = rng.float();
  const recent = rng.range(Math.max(1, current - 10), Math.max(1, current));
  const startRevision =
    roll < 0.35 ? 0 : roll < 0.65 ? recent : roll < 0.85 ? rng.range(1, Math.max(1, current)) : roll < 0.97 ? current + rng.range(1, 4) : -1;
  const filters: number[] = [];
  if (rng.chance(0.15)) filters.push(WatchFilterType.NoPut);
  if (rng.chance(0.15)) filters.push(WatchFilterType.NoDelete);
  return {
    key: bytes(key),
    ...(rangeEnd === undefined ? {} : { rangeEnd: bytes(rangeEnd) }),
    startRevision,
    filters,
    prevKv: rng.chance(0.5),
    progressNotify: rng.chance(0.5),
    fragment: rng.chance(0.5),
    watchId: rng.chance(0.2) ? rng.range(100, 103) : 0,
  };
}

/** Ids the client believes live: created for it and not yet canceled. */
function liveIds(s: HarnessStream): number[] {
  const live = new Set<number>();
  for (const r of s.responses) {
    if (r.created && !r.canceled) live.add(r.watchId);
    else if (r.canceled) live.delete(r.watchId);
  }
  return [...live];
}

function step(rng: Prng, h: WatchHarness, streams: HarnessStream[], tally: Tally): void {
  const s = rng.pick(streams);
  const roll = rng.int(100);
  if (roll < 40) {
    h.write(...randomWrites(rng, h));
  } else if (roll < 43) {
    const current = h.history.currentRevision();
    // Mostly a little behind the head, as an operator's retention window would leave it.
    const target = Math.max(h.compactedUpTo, current - rng.range(0, 40));
    if (target > h.compactedUpTo) h.compact(target);
  } else if (roll < 55) {
    s.create(randomCreate(rng, h));
  } else if (roll < 61) {
    const ids = liveIds(s);
    s.cancel(ids.length > 0 && rng.chance(0.9) ? rng.pick(ids) : 9999);
  } else if (roll < 67) {
    s.sink.blocked = !s.sink.blocked;
    if (!s.sink.blocked) s.stream.ready();
  } else if (roll < 72) {
    s.stream.ready();
  } else if (roll < 82) {
    h.hub.syncWatchers();
  } else if (roll < 86) {
    s.requestProgress();
  } else if (roll < 90) {
    h.hub.tickProgress();
  } else if (roll < 91) {
    // The store installs a snapshot: a few revisions arrive without notify, then the hub is told.
    for (let i = rng.range(1, 3); i > 0; i--) h.history.apply(randomWrites(rng, h));
    h.hub.restored();
    tally.restores++;
  } else if (roll < 92 && !s.stream.closed) {
    s.stream.close();
    streams[streams.indexOf(s)] = h.openStream();
  }
  tally.fellBehind = Math.max(tally.fellBehind, h.hub.stats().unsyncedWatchers);
}

function runSeed(seed: number, tally: Tally): void {
  const rng = new Prng(seed);
  const h = new WatchHarness(LIMITS);
  const streams = [h.openStream(), h.openStream(), h.openStream()];
  for (let i = 0; i < STEPS_PER_SEED; i++) step(rng, h, streams, tally);
  h.drain();
  // A last progress request on every stream must be answered at the final revision, after all events.
  for (const s of streams) s.requestProgress();
  h.drain();
  const errors = h.check(true);
  assert.deepEqual(errors, [], `seed ${seed} failed; replay with SEED=${seed}`);
  for (const s of h.streams) {
    for (const r of s.responses) {
      if (r.fragment) tally.fragments++;
      if (r.compactRevision > 0) tally.compacted++;
      if (r.created && r.canceled) tally.refused++;
      if (r.events.length === 0 && !r.created && !r.canceled) tally.progress++;
    }
  }
}

test('randomized: every watcher receives exactly its history, in order, whole, never ahead', (t) => {
  const tally: Tally = { fragments: 0, compacted: 0, refused: 0, progress: 0, fellBehind: 0, restores: 0 };
  const all = seeds();
  for (const seed of all) {
    t.diagnostic(`seed ${seed}`);
    runSeed(seed, tally);
  }
  t.diagnostic(`tally ${JSON.stringify(tally)}`);
  if (all.length > 1) {
    // The default seeds must reach every path, or the test proves less than it claims.
    for (const [what, n] of Object.entries(tally)) assert.ok(n > 0, `no seed exercised ${what}`);
  }
});
