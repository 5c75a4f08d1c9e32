// The stock `etcd3` npm client against the etcd API on a real socket (single-node fixture): KV, txn, watches,
// leases, its lock and election recipes, namespaces, and compaction errors, exactly as applications use them.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3, EtcdLockFailedError, type IKeyValue, type Watcher } from 'etcd3';
import { startTestServer, type TestServer, within } from './testing.js';

let server: TestServer;
let client: Etcd3;

before(async () => {
  server = await startTestServer();
  client = new Etcd3({ hosts: server.endpoint });
});

after(async () => {
  client.close();
  await server.close();
});

/** Resolves with the next `event` of a watcher (bounded). */
function next<T extends unknown[]>(watcher: Watcher, event: 'put' | 'delete' | 'error' | 'data', what: string): Promise<T> {
  return within(new Promise<T>((resolve) => watcher.once(event, (...args: unknown[]) => resolve(args as T))), what);
}

test('put, get, getAll with a prefix, delete', async () => {
  await client.put('kv/a').value('1');
  await client.put('kv/b').value('2');
  await client.put('kw').value('3');
  assert.equal(await client.get('kv/a').string(), '1');
  assert.deepEqual(await client.getAll().prefix('kv/').strings(), { 'kv/a': '1', 'kv/b': '2' });
  assert.equal(await client.getAll().prefix('kv/').count(), 2);
  await client.delete().key('kv/a');
  assert.equal(await client.get('kv/a').string(), null);
  const deleted = await client.delete().prefix('kv/').getPrevious();
  assert.deepEqual(deleted.map((kv) => kv.key.toString()), ['kv/b']);
});

test('txn takes the then or the else branch by its compares', async () => {
  await client.put('tx').value('1');
  const first = await client.if('tx', 'Value', '==', '1').then(client.put('tx').value('2')).else(client.put('tx-else').value('x')).commit();
  assert.equal(first.succeeded, true);
  assert.equal(await client.get('tx').string(), '2');
  const second = await client.if('tx', 'Value', '==', '1').then(client.put('tx').value('3')).else(client.get('tx')).commit();
  assert.equal(second.succeeded, false);
  assert.equal(second.responses[0]?.response_range?.kvs[0]?.value.toString(), '2');
});

test('watch a key with its previous value, and a prefix for puts and deletes', async () => {
  await client.put('wk').value('old');
  const keyWatcher = await client.watch().key('wk').withPreviousKV().create();
  const prefixWatcher = await client.watch().prefix('wp/').create();
  try {
    const put = next<[IKeyValue, IKeyValue | undefined]>(keyWatcher, 'put', 'the put event on wk');
    await client.put('wk').value('new');
    const [kv, prev] = await put;
    assert.equal(kv.value.toString(), 'new');
    assert.equal(prev?.value.toString(), 'old');
    const created = next<[IKeyValue]>(prefixWatcher, 'put', 'the put event on wp/');
    await client.put('wp/x').value('1');
    assert.equal((await created)[0].key.toString(), 'wp/x');
    const deleted = next<[IKeyValue]>(prefixWatcher, 'delete', 'the delete event on wp/');
    await client.delete().key('wp/x');
    assert.equal((await deleted)[0].key.toString(), 'wp/x');
  } finally {
    await keyWatcher.cancel();
    await prefixWatcher.cancel();
  }
});

test('watch from a past revision replays history; from a compacted one fails', async () => {
  const r1 = await client.put('wh').value('v1').exec();
  await client.put('wh').value('v2');
  const values: string[] = [];
  const watcher = await client.watch().key('wh').startRevision(r1.header.revision).create();
  try {
    await within(new Promise<void>((resolve) => watcher.on('put', (kv) => {
      values.push(kv.value.toString());
      if (values.length === 2) resolve();
    })), 'two replayed puts');
    assert.deepEqual(values, ['v1', 'v2']);
  } finally {
    await watcher.cancel();
  }
  const r3 = await client.put('wh').value('v3').exec();
  await client.kv.compact({ revision: r3.header.revision });
  const stale = await client.watch().key('wh').startRevision(r1.header.revision).create();
  const [err] = await next<[Error]>(stale, 'error', 'the compaction error');
  assert.match(err.message, /Watcher canceled/);
});

test('lease grant, put with the lease, keepalive, time to live, revoke', async () => {
  const lease = client.lease(10, { autoKeepAlive: false });
  const id = await lease.grant();
  await lease.put('lk').value('v');
  await lease.keepaliveOnce();
  const ttl = await client.leaseClient.leaseTimeToLive({ ID: id, keys: true });
  assert.equal(ttl.grantedTTL, '10');
  assert.ok(Number(ttl.TTL) > 0 && Number(ttl.TTL) <= 10);
  assert.deepEqual(ttl.keys.map((k) => k.toString()), ['lk']);
  const leases = await client.leaseClient.leaseLeases({});
  assert.ok(leases.leases.some((l) => l.ID === id));
  await lease.revoke();
  assert.equal(await client.get('lk').string(), null);
  const gone = await client.leaseClient.leaseTimeToLive({ ID: id });
  assert.equal(gone.TTL, '-1');
});

test('a lease with automatic keepalives renews over the keep-alive stream', async () => {
  // etcd3 renews every TTL/3: with the minimum TTL of 2 s the first renewal comes within a second.
  const lease = client.lease(2);
  try {
    await lease.grant();
    const renewed = await within(new Promise<{ TTL: string }>((resolve) => lease.once('keepaliveSucceeded', resolve)), 'an automatic keepalive');
    assert.equal(renewed.TTL, '2');
  } finally {
    await lease.revoke();
  }
});

test('the lock recipe excludes a second holder until release', async () => {
  const first = client.lock('locks/a').ttl(10);
  await first.acquire();
  await assert.rejects(client.lock('locks/a').ttl(10).acquire(), EtcdLockFailedError);
  await first.release();
  const second = client.lock('locks/a').ttl(10);
  await second.acquire();
  await second.release();
});

test('the election recipe elects one campaign, then the next after it resigns', async () => {
  const election = client.election('elections/e', 10);
  const a = election.campaign('a');
  await within(a.wait(), 'campaign a elected');
  const b = election.campaign('b');
  let bElected = false;
  const bWait = b.wait().then(() => {
    bElected = true;
  });
  assert.equal(await election.leader(), 'a');
  assert.equal(bElected, false);
  await a.resign();
  await within(bWait, 'campaign b elected after a resigned');
  assert.equal(await election.leader(), 'b');
  await b.resign();
});

test('a namespace prefixes every key it touches', async () => {
  const ns = client.namespace('app/');
  await ns.put('k').value('v');
  assert.equal(await client.get('app/k').string(), 'v');
  assert.deepEqual(await ns.getAll().keys(), ['k']);
  await ns.delete().all();
  assert.equal(await client.get('app/k').string(), null);
});

test('a get below the compacted revision fails with etcd\'s compacted error', async () => {
  const old = await client.put('cmp').value('1').exec();
  const now = await client.put('cmp').value('2').exec();
  await client.kv.compact({ revision: now.header.revision });
  await assert.rejects(client.get('cmp').revision(old.header.revision).string(), /etcdserver: mvcc: required revision has been compacted/);
  assert.equal(await client.get('cmp').revision(now.header.revision).string(), '2');
});
