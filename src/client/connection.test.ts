// Pure parts of the connection and the KV encoding, without a cluster: the retry rule, addresses, back-off
// bounds, prefix ranges and the freshness metadata.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Prng } from '../util/prng.js';
import { Connection, normalizeAddress, retryVerdict } from './connection.js';
import { consistencyRequest, prefixEnd, READ_METADATA } from './kv.js';
import { MAX_STALENESS_MS_MAX } from './limits.js';

const SEED = Number(process.env['SEED'] ?? Date.now() % 1_000_000);

test('retry rule: reads retry on any availability failure; writes only when they provably never entered the log', () => {
  const unavailable = { code: 14, details: 'Connection dropped' };
  const neverSent = { code: 14, details: 'No connection established. Last error: connect ECONNREFUSED' };
  const noLeader = { code: 14, details: 'etcdserver: no leader' };
  const busy = { code: 8, details: 'etcdserver: too many requests' };
  const timedOut = { code: 14, details: 'etcdserver: request timed out' };
  const invalid = { code: 3, details: 'etcdserver: key is not provided' };
  const deadline = { code: 4, details: 'Deadline exceeded' };
  assert.deepEqual([unavailable, neverSent, noLeader, busy, timedOut, invalid, deadline].map((e) => retryVerdict(e, false)),
    ['retry', 'retry', 'retry', 'retry', 'retry', 'fail', 'fail']);
  assert.deepEqual([unavailable, neverSent, noLeader, busy, timedOut, invalid, deadline].map((e) => retryVerdict(e, true)),
    ['unknown', 'retry', 'retry', 'retry', 'unknown', 'fail', 'fail']);
  assert.equal(retryVerdict(new Error('socket hang up'), true), 'unknown');
});

test('addresses: host:port and http://host:port are one member; anything else is a programmer error', () => {
  assert.equal(normalizeAddress('http://127.0.0.1:2379'), '127.0.0.1:2379');
  assert.equal(normalizeAddress(' 10.0.0.1:2379/ '), '10.0.0.1:2379');
  assert.throws(() => normalizeAddress('localhost'));
  const c = new Connection({ endpoints: ['127.0.0.1:1', 'http://127.0.0.1:1', '127.0.0.1:2'], discoverMembers: false });
  assert.deepEqual(c.members().map((m) => m.address), ['127.0.0.1:1', '127.0.0.1:2']);
  // A failed member is passed over while others remain.
  c.markDown('127.0.0.1:1');
  assert.deepEqual(c.members().map((m) => m.address), ['127.0.0.1:2', '127.0.0.1:1']);
  c.markUp('127.0.0.1:1');
  assert.equal(c.members()[0]?.address, '127.0.0.1:1');
  c.close();
});

test('back-off is jittered within [d/2, d] and capped', () => {
  console.log(`connection.test SEED=${SEED}`);
  const rng = new Prng(SEED);
  const c = new Connection({ endpoints: ['127.0.0.1:1'], discoverMembers: false, retryBackoffMsBase: 50, retryBackoffMsMax: 1_000, random: () => rng.float() });
  for (let attempt = 0; attempt < 40; attempt++) {
    const d = Math.min(1_000, 50 * 2 ** attempt);
    const b = c.backoffMs(attempt);
    assert.ok(b >= d / 2 && b <= d, `attempt ${attempt}: ${b} outside [${d / 2}, ${d}]`);
  }
  c.close();
});

test('prefix ranges and freshness metadata', () => {
  assert.deepEqual(prefixEnd('a/'), Buffer.from('a0'));
  assert.deepEqual(prefixEnd(Buffer.from([0x61, 0xff])), Buffer.from([0x62]));
  assert.deepEqual(prefixEnd(Buffer.from([0xff, 0xff])), Buffer.from([0]));
  assert.deepEqual(prefixEnd(''), Buffer.from([0]));
  assert.deepEqual(consistencyRequest('serializable'), { serializable: true, metadata: { [READ_METADATA.consistency]: 'serializable' } });
  assert.deepEqual(consistencyRequest('linearizable'), { serializable: false, metadata: { [READ_METADATA.consistency]: 'linearizable' } });
  assert.deepEqual(consistencyRequest({ maxStalenessMs: 250 }), {
    serializable: false, metadata: { 'meridian-read-consistency': 'bounded', 'meridian-max-staleness-ms': '250' },
  });
  assert.deepEqual(consistencyRequest({ minRevision: 42 }), {
    serializable: false, metadata: { 'meridian-read-consistency': 'min-revision', 'meridian-min-revision': '42' },
  });
  assert.throws(() => consistencyRequest({ minRevision: -1 }));
  // The member's accepted bounds (1 ms to 24 h): a zero bound is a linearizable read, a looser one is capped.
  assert.deepEqual(consistencyRequest({ maxStalenessMs: 0.5 }), consistencyRequest('linearizable'));
  assert.equal(consistencyRequest({ maxStalenessMs: Infinity }).metadata['meridian-max-staleness-ms'], String(MAX_STALENESS_MS_MAX));
});
