// Three real member processes in two DCs (m1 in east; m2, m3 in west): the client learns members and DCs,
// prefers its own DC, and when the member it uses is killed with kill -9, its calls, its watch (resumed without
// loss or duplicates), its kept lease and a held lock carry on through another member; the lock's fencing token
// keeps growing across the failover.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { type Client, connect, lock, type WatchEvent } from './index.js';
import { TestCluster, type TestMember } from './testing.js';

const WAIT_MS = 20_000;

let cluster: TestCluster;
let east: Client;
let west: Client;

before(async () => {
  cluster = await TestCluster.start(['east', 'west', 'west']);
  const options = { endpoints: cluster.endpoints(), dialTimeoutMs: 500, requestTimeoutMs: 10_000 };
  east = await connect({ ...options, dc: 'east' });
  west = await connect({ ...options, dc: 'west' });
});

after(async () => {
  east.close();
  west.close();
  await cluster.destroy();
});

const member = (i: number): TestMember => cluster.members[i] as TestMember;

async function until(what: string, check: () => boolean | Promise<boolean>, ms = WAIT_MS): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

test('the client learns every member and its DC and prefers members of its own DC', async () => {
  const learned = east.members();
  assert.deepEqual(learned.map((m) => [m.address, m.dc]), [[member(0).endpoint, 'east'], [member(1).endpoint, 'west'], [member(2).endpoint, 'west']]);
  assert.ok(learned.every((m) => m.memberId !== null && m.name !== '' && !m.isLearner));
  assert.deepEqual(west.members().map((m) => m.dc), ['west', 'west', 'east']);
  await east.put('dc/probe', 'x');
  await west.put('dc/probe', 'y');
  assert.equal(east.currentEndpoint(), member(0).endpoint);
  assert.equal(west.currentEndpoint(), member(1).endpoint);
  // Every freshness choice on a member of the client's own DC.
  for (const consistency of ['linearizable', 'serializable', { maxStalenessMs: 1_000 }, { minRevision: 1 }] as const) {
    const r = await west.range('dc/probe', { consistency });
    assert.equal(r.endpoint, member(1).endpoint);
    // A serializable read on a follower may lag; the others are at least as fresh as the write.
    if (consistency !== 'serializable') assert.equal(r.kvs[0]?.value.toString(), 'y');
  }
});

test('kill -9 of the member in use: calls, the watch, a kept lease and a held lock carry on elsewhere; fencing grows', { timeout: 90_000 }, async () => {
  // A watcher on the east client's stream (on m1) and a lock held with a kept lease (renewed through m1).
  const watcher = east.watch('fo/', { prefix: true });
  await watcher.created;
  assert.equal(east.watchEndpoint(), member(0).endpoint);
  const events: WatchEvent[] = [];
  const collecting = (async () => {
    for await (const ev of watcher) events.push(ev);
  })();
  const lease = await east.grant(2);
  const held = await lock(east, 'fo-lock', { lease }).acquire();
  const N = 10;
  for (let i = 0; i < N; i++) await west.put(`fo/k${i}`, String(i));
  await until('the first events', () => events.length >= N);

  await cluster.kill9(member(0));
  // Writes while the east client's member is gone, then its own calls: they move to a west member.
  for (let i = N; i < 2 * N; i++) await west.put(`fo/k${i}`, String(i));
  const p = await east.put('fo/k-east', 'after-failover');
  assert.notEqual(east.currentEndpoint(), member(0).endpoint);
  assert.equal(await east.getString('fo/k-east'), 'after-failover');
  assert.equal((await east.range('fo/k0', { consistency: 'serializable' })).kvs[0]?.value.toString(), '0');
  assert.equal((await east.range('fo/', { prefix: true, consistency: { minRevision: p.revision } })).count, 2 * N + 1);

  // The watch resumed on another member from the revision after the last event it delivered: each event once, in order.
  await until('every event after the failover', () => events.length >= 2 * N + 1);
  assert.notEqual(east.watchEndpoint(), member(0).endpoint);
  const keys = events.map((e) => e.kv.key.toString());
  const expected = [...Array.from({ length: 2 * N }, (_, i) => `fo/k${i}`), 'fo/k-east'];
  assert.deepEqual(keys, expected, 'events lost or duplicated across the failover');
  for (let i = 1; i < events.length; i++) assert.ok((events[i]?.kv.modRevision as number) > (events[i - 1]?.kv.modRevision as number));

  // The lease outlives its TTL through the failover: the keep-alive stream moved too.
  const since = Date.now();
  await until('a TTL and more', () => Date.now() - since > lease.ttlSeconds * 1000 + 500);
  assert.equal(lease.isLost, false);
  assert.equal((await west.get(held.key))?.createRevision, held.fencingToken, 'the lock key outlived its TTL');

  // The next holder, on the other client, gets a larger fencing token.
  const waiting = lock(west, 'fo-lock', { ttlSeconds: 5 }).acquire();
  await held.release();
  const next = await waiting;
  assert.ok(next.fencingToken > held.fencingToken, `fencing token ${next.fencingToken} after ${held.fencingToken}`);
  await next.release();
  await lease.revoke();
  watcher.cancel();
  await collecting;
});
