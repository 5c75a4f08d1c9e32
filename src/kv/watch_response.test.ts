// Encoded sizes against a small independent protobuf encoder, and fragmenting as etcd's sendFragments.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { leaseId, revision } from '../util/branded.js';
import { Prng } from '../util/prng.js';
import { EventType, type Event, type KeyValue } from './types.js';
import { WATCH_RESPONSE_HEADER_BYTES } from './watch_limits.js';
import { eventBytes, fragmentResponse, watchResponse, watchResponseBytes, type WatchResponse } from './watch_response.js';

// A minimal protobuf writer: varints (negative int64 as ten bytes), length-delimited fields, zero values omitted.
function varint(n: number): number[] {
  let v = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return out;
}
function intField(field: number, n: number): number[] {
  return n === 0 ? [] : [...varint(field << 3), ...varint(n)];
}
function lenField(field: number, body: number[] | Uint8Array, always = false): number[] {
  if (body.length === 0 && !always) return [];
  return [...varint((field << 3) | 2), ...varint(body.length), ...body];
}
function encodeKv(kv: KeyValue): number[] {
  return [
    ...lenField(1, kv.key),
    ...intField(2, kv.createRevision),
    ...intField(3, kv.modRevision),
    ...intField(4, kv.version),
    ...lenField(5, kv.value),
    ...intField(6, kv.lease),
  ];
}
function encodeEvent(e: Event): number[] {
  return [...intField(1, e.type), ...lenField(2, encodeKv(e.kv), true), ...(e.prevKv === null ? [] : lenField(3, encodeKv(e.prevKv), true))];
}
function encodeWithoutHeader(r: WatchResponse): number {
  return [
    ...intField(2, r.watchId),
    ...intField(3, r.created ? 1 : 0),
    ...intField(4, r.canceled ? 1 : 0),
    ...intField(5, r.compactRevision),
    ...lenField(6, [...new TextEncoder().encode(r.cancelReason)]),
    ...intField(7, r.fragment ? 1 : 0),
    ...r.events.flatMap((e) => lenField(11, encodeEvent(e), true)),
  ].length;
}

function randomKv(rng: Prng, rev: number): KeyValue {
  return {
    key: new Uint8Array(rng.range(1, 300)).fill(97),
    createRevision: revision(rng.chance(0.5) ? rev : rng.int(1 << 30)),
    modRevision: revision(rev),
    version: rng.int(200),
    value: new Uint8Array(rng.chance(0.1) ? 20_000 : rng.int(200)),
    lease: leaseId(rng.chance(0.5) ? 0 : rng.nextU32() * 1024),
  };
}

function randomEvent(rng: Prng, rev: number): Event {
  return { type: rng.chance(0.3) ? EventType.Delete : EventType.Put, kv: randomKv(rng, rev), prevKv: rng.chance(0.5) ? randomKv(rng, rev - 1) : null };
}

test('encoded sizes match a protobuf encoding (header counted at its worst case)', () => {
  const seed = Number(process.env['SEED'] ?? 20240611);
  const rng = new Prng(seed);
  for (let i = 0; i < 200; i++) {
    const rev = rng.range(1, 2 ** 40);
    const events = Array.from({ length: rng.int(5) }, () => randomEvent(rng, rev));
    const r = watchResponse({
      headerRevision: revision(rev),
      watchId: rng.chance(0.1) ? -1 : rng.int(1000),
      created: rng.chance(0.2),
      canceled: rng.chance(0.2),
      compactRevision: revision(rng.chance(0.2) ? rng.int(1 << 20) : 0),
      cancelReason: rng.chance(0.2) ? 'mvcc: watcher range is empty — ü' : '',
      fragment: rng.chance(0.2),
      events,
    });
    const want = encodeWithoutHeader(r) + WATCH_RESPONSE_HEADER_BYTES;
    assert.equal(watchResponseBytes(r), want, `seed ${seed} case ${i}; replay with SEED=${seed}`);
    for (const e of events) assert.equal(eventBytes(e), encodeEvent(e).length);
  }
});

function putEvent(i: number, valueBytes: number): Event {
  const kv: KeyValue = {
    key: new TextEncoder().encode(`key-${i}`),
    createRevision: revision(7),
    modRevision: revision(7),
    version: 1,
    value: new Uint8Array(valueBytes),
    lease: leaseId(0),
  };
  return { type: EventType.Put, kv, prevKv: null };
}

test('a response below the bound, or with one event, is not split', () => {
  const small = watchResponse({ headerRevision: revision(7), watchId: 1, events: [putEvent(1, 10), putEvent(2, 10)] });
  assert.deepEqual(fragmentResponse(small, 1000), [small]);
  const single = watchResponse({ headerRevision: revision(7), watchId: 1, events: [putEvent(1, 5000)] });
  assert.deepEqual(fragmentResponse(single, 1000), [single]);
});

test('a response at the bound splits into pieces below it, all but the last marked, events in order', () => {
  const events = Array.from({ length: 40 }, (_, i) => putEvent(i, i % 7 === 0 ? 900 : 50));
  const r = watchResponse({ headerRevision: revision(7), watchId: 3, events });
  const pieces = fragmentResponse(r, 1000);
  assert.ok(pieces.length > 2);
  assert.deepEqual(pieces.flatMap((p) => p.events), events);
  assert.deepEqual(pieces.map((p) => p.fragment), [...pieces.slice(1).map(() => true), false]);
  for (const p of pieces) {
    assert.equal(p.watchId, 3);
    assert.equal(p.headerRevision, 7);
    if (p.events.length > 1) assert.ok(watchResponseBytes(p) < 1000, `piece of ${watchResponseBytes(p)} bytes`);
  }
  // Greedy, as etcd: each piece but the last could not have taken the next event.
  for (let i = 0; i + 1 < pieces.length; i++) {
    const p = pieces[i] as WatchResponse;
    const next = (pieces[i + 1] as WatchResponse).events[0] as Event;
    assert.ok(watchResponseBytes({ ...p, events: [...p.events, next] }) >= 1000);
  }
  // Exactly at the bound splits (etcd splits when size >= max).
  const two = watchResponse({ headerRevision: revision(7), watchId: 3, events: [putEvent(1, 10), putEvent(2, 10)] });
  assert.equal(fragmentResponse(two, watchResponseBytes(two)).length, 2);
  assert.equal(fragmentResponse(two, watchResponseBytes(two) + 1).length, 1);
});
