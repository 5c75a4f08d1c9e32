// ZkSession against a real three-member cluster (member processes started from the `meridian` command, as a user
// would run them): every public call, watches of each kind, multi, ACLs, and a reconnect that keeps the session.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ZkError } from './zk_errors.js';
import { ZkMultiError, ZkSession, type ZkWatchEvent } from './zk_session.js';
import { connect } from './client.js';
import { zkSessions } from './zk_factory.js';
import { pollUntil } from '../util/poll.js';
import { ProcessCluster } from '../server/process_cluster.js';

const WAIT_MS = 20_000;
const MEMBERS = 3;

let cluster: ProcessCluster;
const sessions: ZkSession[] = [];
let zkPorts: number[] = [];
let clientPorts: number[] = [];

const until = <T>(what: string, fn: () => Promise<T | undefined>): Promise<T> => pollUntil(what, fn, { timeoutMs: WAIT_MS, intervalMs: 100 });

async function session(endpoints = zkPorts.map((p) => `127.0.0.1:${p}`), sessionTimeoutMs = 6000): Promise<ZkSession> {
  const s = await ZkSession.connect({ endpoints, sessionTimeoutMs });
  sessions.push(s);
  return s;
}

async function zkCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'OK';
  } catch (err) {
    if (err instanceof ZkError) return err.zkName;
    throw err;
  }
}

before(async () => {
  cluster = await ProcessCluster.start(MEMBERS);
  zkPorts = cluster.members.map((m) => m.zkPort);
  clientPorts = cluster.members.map((m) => m.clientPort);
  for (const port of zkPorts) {
    await until(`a session through ${port}`, async () => {
      const s = await ZkSession.connect({ endpoints: [`127.0.0.1:${port}`], sessionTimeoutMs: 4000, connectTimeoutMs: 1000 });
      await s.exists('/');
      await s.close();
      return true;
    });
  }
});

after(async () => {
  for (const s of sessions) await s.close().catch(() => undefined);
  await cluster.destroy();
});

test('create in every mode, get, set, exists, children, delete', async () => {
  const s = await session();
  const root = await s.create('/c', Buffer.from('root'));
  assert.equal(root.path, '/c');
  assert.equal(root.stat.version, 0);
  assert.equal((await s.create('/c/e', undefined, { ephemeral: true })).stat.ephemeralOwner, s.sessionId);
  assert.equal((await s.create('/c/s-', undefined, { sequential: true })).path, '/c/s-0000000001');
  assert.equal((await s.create('/c/es-', undefined, { ephemeral: true, sequential: true })).path, '/c/es-0000000002');
  assert.equal((await s.create('/c/box', undefined, { container: true })).path, '/c/box');
  assert.equal((await s.create('/c/ttl', undefined, { ttlMs: 60_000 })).path, '/c/ttl');
  const got = await s.get('/c');
  assert.equal(got.data.toString(), 'root');
  assert.equal(got.stat.numChildren, 5);
  const st = await s.set('/c', Buffer.from('two'), 0);
  assert.equal(st.version, 1);
  assert.equal(await zkCode(s.set('/c', Buffer.from('x'), 0)), 'BadVersion');
  assert.equal((await s.exists('/c/nothing')), null);
  assert.deepEqual((await s.children('/c')).children.sort(), ['box', 'e', 'es-0000000002', 's-0000000001', 'ttl']);
  assert.deepEqual((await s.ephemerals('/c')).sort(), ['/c/e', '/c/es-0000000002']);
  assert.equal(await s.descendantCount('/c'), 5);
  assert.equal(await zkCode(s.delete('/c')), 'NotEmpty');
  assert.equal(await zkCode(s.create('/c')), 'NodeExists');
  assert.equal(await zkCode(s.get('/none')), 'NoNode');
  const reads = await s.multiRead([{ op: 'get', path: '/c' }, { op: 'children', path: '/c/box' }, { op: 'get', path: '/c/none' }]);
  assert.deepEqual(reads.map((r) => (r.op === 'error' ? r.error.zkName : r.op)), ['get', 'children', 'NoNode']);
  await s.delete('/c/ttl', 0);
  assert.equal(await s.exists('/c/ttl'), null);
  await s.sync('/c');
});

test('a TTL node is reaped once its TTL passed without children or changes', async () => {
  const s = await session();
  await s.create('/short', Buffer.from('x'), { ttlMs: 500 });
  assert.ok(await s.exists('/short'));
  await until('the TTL node reaped', async () => ((await s.exists('/short')) === null ? true : undefined));
});

test('a container is reaped once its last child goes', async () => {
  const s = await session();
  await s.create('/box');
  await s.create('/box/x', undefined, { container: true });
  await s.create('/box/x/child');
  await s.delete('/box/x/child');
  await until('the container reaped', async () => ((await s.exists('/box/x')) === null ? true : undefined));
});

test('one-shot watches and persistent / recursive watch streams', async () => {
  const a = await session();
  const b = await session();
  await a.create('/w');
  const data = new Promise<ZkWatchEvent>((resolve) => void a.get('/w', resolve));
  const kids = new Promise<ZkWatchEvent>((resolve) => void a.children('/w', resolve));
  const created = new Promise<ZkWatchEvent>((resolve) => void a.exists('/w/n', resolve));
  const rec = await a.watch('/w', { recursive: true });
  const per = await a.watch('/w');
  await b.set('/w', Buffer.from('1'));
  await b.create('/w/n');
  await b.create('/w/n/deep');
  assert.deepEqual(await data, { type: 'dataChanged', path: '/w' });
  assert.deepEqual(await kids, { type: 'childrenChanged', path: '/w' });
  assert.deepEqual(await created, { type: 'created', path: '/w/n' });
  const seen: ZkWatchEvent[] = [];
  for await (const ev of rec) {
    seen.push(ev);
    if (seen.length === 3) break;
  }
  assert.deepEqual(seen, [{ type: 'dataChanged', path: '/w' }, { type: 'created', path: '/w/n' }, { type: 'created', path: '/w/n/deep' }]);
  const perSeen: ZkWatchEvent[] = [];
  for await (const ev of per) {
    perSeen.push(ev);
    if (perSeen.length === 2) break;
  }
  assert.deepEqual(perSeen, [{ type: 'dataChanged', path: '/w' }, { type: 'childrenChanged', path: '/w' }]);
  rec.close();
  per.close();
});

test('multi commits all or nothing', async () => {
  const s = await session();
  await s.create('/m');
  await assert.rejects(s.multi([{ op: 'create', path: '/m/a' }, { op: 'check', path: '/m', version: 3 }]), (err: unknown) =>
    err instanceof ZkMultiError && err.zkName === 'BadVersion' && err.codes.join() === '0,-103');
  assert.equal(await s.exists('/m/a'), null);
  const res = await s.multi([{ op: 'create', path: '/m/a', data: Buffer.from('1') }, { op: 'set', path: '/m/a', data: Buffer.from('2') }, { op: 'check', path: '/m', version: 0 }, { op: 'delete', path: '/m/a' }]);
  assert.deepEqual(res.map((r) => r.op), ['create', 'set', 'check', 'delete']);
});

test('digest ACLs: NoAuth until the session authenticates', async () => {
  const owner = await session();
  owner.addAuth('digest', 'alice:secret');
  await owner.create('/private', Buffer.from('x'), { acl: [{ perms: 31, id: { scheme: 'auth', id: '' } }] });
  const { acl } = await owner.getAcl('/private');
  assert.equal(acl[0]?.id.scheme, 'digest');
  const other = await session();
  assert.equal(await zkCode(other.get('/private')), 'NoAuth');
  other.addAuth('digest', 'alice:secret');
  assert.equal((await other.get('/private')).data.toString(), 'x');
  await owner.setAcl('/private', [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }]);
});

test('a dropped connection reconnects to another member and keeps the session, its ephemerals and its watches', async () => {
  const states: string[] = [];
  const s = await ZkSession.connect({ endpoints: zkPorts.map((p) => `127.0.0.1:${p}`), sessionTimeoutMs: 6000, onStateChange: (st) => states.push(st) });
  sessions.push(s);
  const id = s.sessionId;
  await s.create('/moving', undefined, { ephemeral: true });
  let fired: (e: ZkWatchEvent) => void = () => undefined;
  const watched = new Promise<ZkWatchEvent>((resolve) => (fired = resolve));
  await s.get('/moving', (e) => fired(e));
  // Drop the connection under the session (as a network failure would).
  (s as unknown as { socket: { destroy(): void } }).socket.destroy();
  await until('reconnected', async () => (s.currentState === 'connected' && states.includes('disconnected') ? true : undefined));
  assert.equal(s.sessionId, id);
  assert.ok(await s.exists('/moving'));
  const other = await session();
  await other.set('/moving', Buffer.from('changed'));
  assert.deepEqual(await watched, { type: 'dataChanged', path: '/moving' });
  await s.close();
  // Another session may read from a member that has not applied the close yet (ZooKeeper's semantics): sync first.
  await other.sync('/moving');
  assert.equal(await other.exists('/moving'), null, 'close deletes the ephemerals at once');
  assert.equal(await zkCode(s.get('/')), 'SessionExpired');
});

test('one client for both models: client.zk() is a ZooKeeper session on the same store', async () => {
  const client = await connect({ endpoints: clientPorts.map((p) => `127.0.0.1:${p}`), zk: zkSessions({ endpoints: zkPorts.map((p) => `127.0.0.1:${p}`) }) });
  try {
    const zk = await client.zk();
    assert.equal(zk, await client.zk(), 'one session per client');
    await zk.create('/both', Buffer.from('z'));
    assert.equal((await zk.get('/both')).data.toString(), 'z');
    // The etcd half of the same client keeps working beside it.
    await client.put('both/etcd', 'e');
    assert.equal(await client.getString('both/etcd'), 'e');
  } finally {
    client.close();
  }
});
