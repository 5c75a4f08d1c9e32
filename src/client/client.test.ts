// The client's calls against one real member process over gRPC: KV, txn, compaction, read freshness, watches,
// leases, typed errors and the ZooKeeper session plug.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort, TestCluster } from './testing.js';
import { quickStart } from './examples/quick_start.js';
import { lockFencing } from './examples/lock_fencing.js';
import { Client, Compare, connect, MeridianClientError, Op, READ_METADATA, registerZkSessionFactory, type WatchEvent, type Watcher } from './index.js';

/** Bound of one wait in these tests. */
const WAIT_MS = 5_000;

let cluster: TestCluster;
let server: { endpoint: string };
let client: Client;

before(async () => {
  cluster = await TestCluster.start(['dc1']);
  server = cluster.members[0] as { endpoint: string };
  client = await connect({ endpoints: [server.endpoint], dialTimeoutMs: 1_000, requestTimeoutMs: 3_000 });
});

after(async () => {
  client.close();
  await cluster.destroy();
});

/** The next `n` events of a watcher, within the wait bound. */
async function take(w: Watcher, n: number): Promise<WatchEvent[]> {
  const out: WatchEvent[] = [];
  const deadline = setTimeout(() => w.cancel(), WAIT_MS);
  try {
    for await (const ev of w) {
      out.push(ev);
      if (out.length >= n) break;
    }
  } finally {
    clearTimeout(deadline);
  }
  assert.equal(out.length, n, `expected ${n} events within ${WAIT_MS} ms, got ${out.length}`);
  return out;
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<MeridianClientError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof MeridianClientError, `expected a MeridianClientError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected a ${code} error`);
}

test('connect learns the member; put, get, getString, range with options, prefix, delete, prevKv', async () => {
  assert.equal(client.members().length, 1);
  assert.equal(client.members()[0]?.address, server.endpoint);
  const p1 = await client.put('kv/a', 'one');
  assert.ok(p1.revision > 0);
  const p2 = await client.put('kv/a', Buffer.from('two'), { prevKv: true });
  assert.equal(p2.prevKv?.value.toString(), 'one');
  assert.equal(p2.revision, p1.revision + 1);
  await client.put('kv/b', 'bee');
  await client.put('kw', 'outside');
  const a = await client.get('kv/a');
  assert.ok(a !== null);
  assert.deepEqual([a.key.toString(), a.value.toString(), a.version, a.createRevision, a.modRevision], ['kv/a', 'two', 2, p1.revision, p2.revision]);
  assert.equal(await client.getString('kv/missing'), null);
  const all = await client.getPrefix('kv/');
  assert.deepEqual(all.kvs.map((kv) => kv.key.toString()), ['kv/a', 'kv/b']);
  assert.equal(all.count, 2);
  const limited = await client.range('kv/', { prefix: true, limit: 1, sort: { target: 'key', order: 'descend' } });
  assert.deepEqual([limited.kvs.map((kv) => kv.key.toString()), limited.more, limited.count], [['kv/b'], true, 2]);
  const keysOnly = await client.range('kv/a', { rangeEnd: 'kv/c', keysOnly: true });
  assert.deepEqual(keysOnly.kvs.map((kv) => kv.value.length), [0, 0]);
  assert.equal((await client.range('kv/', { prefix: true, countOnly: true })).count, 2);
  const old = await client.get('kv/a', { revision: p1.revision });
  assert.equal(old?.value.toString(), 'one');
  const del = await client.delete('kv/', { prefix: true, prevKv: true });
  assert.equal(del.deleted, 2);
  assert.deepEqual(del.prevKvs.map((kv) => kv.value.toString()).sort(), ['bee', 'two']);
  assert.equal((await client.getPrefix('kv/')).count, 0);
  assert.equal(await client.getString('kw'), 'outside');
});

test('txn: compare/then/else, every comparison target, nested responses', async () => {
  await client.put('tx/k', 'v1');
  const won = await client.txn().if(Compare.value('tx/k', '=', 'v1'), Compare.version('tx/k', '>', 0)).then(Op.put('tx/k', 'v2'), Op.get('tx/k')).else(Op.get('tx/k')).commit();
  assert.equal(won.succeeded, true);
  assert.deepEqual(won.responses.map((r) => r.type), ['put', 'get']);
  const read = won.responses[1];
  assert.ok(read?.type === 'get');
  assert.equal(read.result.kvs[0]?.value.toString(), 'v2');
  const lost = await client.txn().if(Compare.absent('tx/k')).then(Op.put('tx/k', 'never')).else(Op.get('tx/k'), Op.delete('tx/other')).commit();
  assert.equal(lost.succeeded, false);
  assert.deepEqual(lost.responses.map((r) => r.type), ['get', 'delete']);
  const kv = await client.get('tx/k');
  assert.ok(kv !== null);
  const exact = await client.txn().if(
    Compare.createRevision('tx/k', '=', kv.createRevision), Compare.modRevision('tx/k', '=', kv.modRevision),
    Compare.lease('tx/k', '=', 0), Compare.value('tx/k', '!=', 'v1'), Compare.version('tx/k', '<', 3),
  ).then(Op.delete('tx/k', { prevKv: true })).commit();
  assert.equal(exact.succeeded, true);
  const d = exact.responses[0];
  assert.ok(d?.type === 'delete');
  assert.equal(d.result.prevKvs[0]?.value.toString(), 'v2');
});

test('read freshness: every consistency choice reads correct data; metadata is exposed when the member sends it', async () => {
  const { revision } = await client.put('fresh/k', 'x');
  for (const consistency of ['linearizable', 'serializable', { maxStalenessMs: 500 }, { minRevision: revision }] as const) {
    const r = await client.range('fresh/k', { consistency });
    assert.equal(r.kvs[0]?.value.toString(), 'x', JSON.stringify(consistency));
    assert.ok(r.header.revision >= revision);
    assert.equal(r.endpoint, server.endpoint);
    // Stricter once the member answers with Meridian's read metadata (issue #6).
    if (r.readPath !== null) assert.ok(r.appliedRevision !== null && r.appliedRevision >= revision);
  }
  assert.equal(READ_METADATA.consistency, 'meridian-read-consistency');
  // A minimum revision the cluster has not reached cannot be satisfied: the client says so from the answer's
  // revision, or (a member that honours min-revision waits for it) the wait runs out.
  try {
    await client.range('fresh/k', { consistency: { minRevision: revision + 1_000_000 }, timeoutMs: 1_500 });
    assert.fail('a read at a revision never reached succeeded');
  } catch (err) {
    assert.ok(err instanceof MeridianClientError && ['FutureRevision', 'Timeout', 'Unavailable'].includes(err.code), String(err));
  }
});

test('compact: older revisions then fail with Compacted; errors carry codes and gRPC status', async () => {
  const first = await client.put('cmp/k', '1');
  const second = await client.put('cmp/k', '2');
  await client.compact(second.revision);
  const err = await rejectsWith(client.get('cmp/k', { revision: first.revision }), 'Compacted');
  assert.equal(err.grpcCode, 11);
  assert.match(err.message, /compacted/);
  await rejectsWith(client.get('cmp/k', { revision: second.revision + 1_000_000 }), 'FutureRevision');
  await rejectsWith(client.put('', 'empty key'), 'InvalidArgument');
  await rejectsWith(client.revoke(424242), 'LeaseNotFound');
});

test('watch: events in order with prevKv, prefix and history from a start revision, cancel, several watchers on one stream', async () => {
  const w = client.watch('w/', { prefix: true, prevKv: true });
  const other = client.watch('w/only');
  await Promise.all([w.created, other.created]);
  const p1 = await client.put('w/a', '1');
  await client.put('w/a', '2');
  await client.delete('w/a');
  await client.put('w/only', 'x');
  const evs = await take(w, 4);
  assert.deepEqual(evs.map((e) => [e.type, e.kv.key.toString(), e.kv.value.toString()]), [['put', 'w/a', '1'], ['put', 'w/a', '2'], ['delete', 'w/a', ''], ['put', 'w/only', 'x']]);
  assert.equal(evs[1]?.prevKv?.value.toString(), '1');
  assert.equal(evs[2]?.prevKv?.value.toString(), '2');
  const only = await take(other, 1);
  assert.equal(only[0]?.kv.value.toString(), 'x');
  assert.equal(w.isDone, true, 'leaving the loop cancels the watcher');
  // History from a past revision.
  const hist = client.watch('w/a', { startRevision: p1.revision });
  const replay = await take(hist, 3);
  assert.deepEqual(replay.map((e) => e.kv.modRevision), [p1.revision, p1.revision + 1, p1.revision + 2]);
  assert.equal(hist.revision, p1.revision + 2);
});

test('watch from a compacted revision fails with a typed Compacted error naming the compact revision', async () => {
  const first = await client.put('wc/k', '1');
  const second = await client.put('wc/k', '2');
  await client.compact(second.revision);
  const w = client.watch('wc/k', { startRevision: first.revision });
  const err = await rejectsWith(take(w, 1), 'Compacted');
  // `created` settled either way (the member confirms, then cancels; a watcher failing earlier rejects it).
  await w.created.catch(() => undefined);
  // (The member names the first revision still available, at or after the compaction point.)
  assert.ok(err.compactRevision !== null && err.compactRevision >= second.revision, String(err.compactRevision));
});

test('a watcher whose consumer falls more than watchBufferedEventsMax events behind fails with SlowConsumer', async () => {
  const c = await connect({ endpoints: [server.endpoint], watchBufferedEventsMax: 3 });
  try {
    const w = c.watch('slow/', { prefix: true });
    await w.created;
    for (let i = 0; i < 5; i++) await c.put(`slow/${i}`, String(i));
    const got: string[] = [];
    const err = await rejectsWith((async () => {
      for await (const ev of w) got.push(ev.kv.key.toString());
    })(), 'SlowConsumer');
    assert.match(err.message, /more than 3 events behind/);
    // The events buffered before the limit are delivered first, then the error.
    assert.deepEqual(got, ['slow/0', 'slow/1', 'slow/2']);
  } finally {
    c.close();
  }
});

test('lease: grant with keep-alive outlives its TTL, timeToLive lists keys, revoke deletes them; loss is reported', async () => {
  const lease = await client.grant(1);
  // (A member raises a TTL below its minimum, 1.5 election timeouts rounded up to a second, as etcd does.)
  assert.ok(lease.ttlSeconds >= 1);
  await client.put('lease/k', 'v', { lease: lease.id });
  // More than a TTL passes: only the keep-alive holds the key.
  const start = performance.now();
  const holdMs = lease.ttlSeconds * 1000 + 1_000;
  for (let i = 0; i < 200 && performance.now() - start < holdMs; i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(await client.getString('lease/k'), 'v');
  assert.equal(lease.isLost, false);
  const ttl = await lease.timeToLive({ keys: true });
  assert.ok(ttl !== null);
  assert.deepEqual([ttl.grantedTtlSeconds, ttl.keys.map(String)], [lease.ttlSeconds, ['lease/k']]);
  assert.equal(await lease.keepAliveOnce(), lease.ttlSeconds);
  assert.ok((await client.lease.leases()).includes(lease.id));
  await lease.revoke();
  assert.equal(await client.getString('lease/k'), null);
  assert.equal(await client.timeToLive(lease.id), null);
  // A kept lease revoked behind its back is reported lost on the next keep-alive answer.
  const doomed = await client.grant(1);
  const lostEvent = new Promise<MeridianClientError>((resolve) => doomed.onLost(resolve));
  await client.revoke(doomed.id);
  const lost = await Promise.race([doomed.lost, new Promise<null>((r) => setTimeout(() => r(null), WAIT_MS))]);
  assert.ok(lost !== null, 'the lost promise resolves');
  assert.equal(lost.code, 'LeaseLost');
  assert.equal((await lostEvent).code, 'LeaseLost');
  await rejectsWith(doomed.keepAliveOnce(), 'LeaseLost');
});

test('a lease without keep-alive, and a kept one released, expire after their TTL', async () => {
  const lease = await client.grant(1, { keepAlive: false });
  const released = await client.grant(1);
  await client.put('lease/short', 'v', { lease: lease.id });
  await client.put('lease/released', 'v', { lease: released.id });
  released.release();
  const deadline = performance.now() + WAIT_MS;
  const gone = async (): Promise<boolean> => (await client.getString('lease/short')) === null && (await client.getString('lease/released')) === null;
  while (performance.now() < deadline && !(await gone())) await new Promise((r) => setTimeout(r, 100));
  assert.ok(await gone(), 'the keys outlived their leases');
  assert.equal(released.isLost, false, 'a released lease is not reported lost');
  await rejectsWith(lease.keepAliveOnce(), 'LeaseNotFound');
});

test('no reachable member: connect fails with Unavailable within its bounds; a closed client refuses calls', async () => {
  const port = await freePort();
  const t0 = performance.now();
  await rejectsWith(connect({ endpoints: [`127.0.0.1:${port}`], dialTimeoutMs: 300, requestTimeoutMs: 2_000, retryAttemptsMax: 3 }), 'Unavailable');
  assert.ok(performance.now() - t0 < 3_000);
  const c = await connect({ endpoints: [`http://${server.endpoint}`] });
  c.close();
  await rejectsWith(c.get('x'), 'Closed');
  assert.throws(() => c.watch('x'), (e: unknown) => e instanceof MeridianClientError && e.code === 'Closed');
});

test('zk(): the session comes from the injected factory, is created once, and closes with the client', async () => {
  let made = 0;
  let closed = 0;
  const c = await connect({
    endpoints: [server.endpoint], dc: 'dc1',
    zk: async (ctx) => {
      made++;
      assert.equal(ctx.dc, 'dc1');
      assert.equal(ctx.members()[0]?.address, server.endpoint);
      return { kind: 'fake-session', close: () => { closed++; } };
    },
  });
  const s1 = await c.zk();
  const s2 = await c.zk();
  assert.equal(s1, s2);
  assert.equal(s1.kind, 'fake-session');
  assert.equal(made, 1);
  c.close();
  await new Promise((r) => setImmediate(r));
  assert.equal(closed, 1);
  const plain = await connect({ endpoints: [server.endpoint] });
  await rejectsWith(plain.zk(), 'NotConfigured');
  // The process-wide factory (what the zk module registers) serves clients given none.
  registerZkSessionFactory(async () => ({ kind: 'registered', close: () => undefined }));
  try {
    assert.equal(((await plain.zk()) as unknown as { kind: string }).kind, 'registered');
  } finally {
    registerZkSessionFactory(null);
    plain.close();
  }
});

test('the examples of docs/client.md run and print what the docs say', async () => {
  const qs = await quickStart([server.endpoint]);
  assert.match(qs[0] ?? '', /^members: m1@127\.0\.0\.1:\d+ \(dc1\)$/);
  assert.deepEqual(qs.slice(1, 3).map((l) => l.replace(/\(revision \d+\)/, '(revision N)')), ['feature-x = on (revision N)', 'swapped: true']);
  assert.deepEqual(qs.slice(4), ['event: put config/feature-x = on (was absent)', 'event: put config/feature-x = off (was on)', 'after revoke: workers/w1 = null']);
  const lf = await lockFencing([server.endpoint]);
  assert.equal(lf.length, 5);
  assert.match(lf[2] ?? '', /^a's late write accepted: false$/);
  assert.deepEqual(lf.slice(3), ['leader: a', 'leader after resign: b']);
});
