// Integration: the unmodified npm client node-zookeeper-client against a real three-member cluster (ProcessCluster):
// every create mode, ZooKeeper's errors, sequential numbering, watches, multi, ephemerals removed on close and on
// session expiry, a session kept across a reconnect to another member, malformed packets and four-letter words.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import zookeeper, { type Client, type ZkEvent, type ZkException, type ZkStat } from 'node-zookeeper-client';
import { ProcessCluster } from '../process_cluster.js';
import { pollUntil, withDeadline } from '../../util/poll.js';
import { JuteReader, JuteWriter } from '../../wire/jute/jute_buffer.js';
import { readConnectResponse, readReplyHeader, writeConnectRequest, writeCreateRequest, writeRequestHeader, type ConnectResponse } from '../../wire/jute/records.js';
import { OpCode } from '../../wire/jute/zk_codes.js';

const WAIT_MS = 20_000;
let cluster: ProcessCluster;
const clients: Client[] = [];

const until = <T>(what: string, fn: () => Promise<T | undefined> | T | undefined, waitMs = WAIT_MS): Promise<T> =>
  pollUntil(what, fn, { timeoutMs: waitMs, intervalMs: 50, context: () => cluster.logTails(1500) });

async function client(endpoints: string[], sessionTimeout = 6000): Promise<Client> {
  const c = zookeeper.createClient(endpoints.join(','), { sessionTimeout, spinDelay: 100, retries: 0 });
  clients.push(c);
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('connect timed out')), WAIT_MS);
    c.once('connected', () => {
      clearTimeout(t);
      resolve();
    });
    c.connect();
  });
  return c;
}

const p = {
  create: (c: Client, path: string, data: string | null, mode: number): Promise<string> =>
    new Promise((res, rej) => c.create(path, data === null ? null : Buffer.from(data), mode, (e, out) => (e !== null ? rej(e) : res(out)))),
  remove: (c: Client, path: string, version = -1): Promise<void> =>
    new Promise((res, rej) => c.remove(path, version, (e) => (e !== null ? rej(e) : res()))),
  setData: (c: Client, path: string, data: string, version = -1): Promise<ZkStat> =>
    new Promise((res, rej) => c.setData(path, Buffer.from(data), version, (e, s) => (e !== null ? rej(e) : res(s)))),
  getData: (c: Client, path: string, w?: (e: ZkEvent) => void): Promise<{ data: string; stat: ZkStat }> =>
    new Promise((res, rej) => c.getData(path, w, (e, d, s) => (e !== null ? rej(e) : res({ data: d === null || d === undefined ? '' : d.toString(), stat: s })))),
  exists: (c: Client, path: string, w?: (e: ZkEvent) => void): Promise<ZkStat | null> =>
    new Promise((res, rej) => c.exists(path, w, (e, s) => (e !== null ? rej(e) : res(s)))),
  children: (c: Client, path: string, w?: (e: ZkEvent) => void): Promise<string[]> =>
    new Promise((res, rej) => c.getChildren(path, w, (e, ch) => (e !== null ? rej(e) : res(ch)))),
};

async function code(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
    return 0;
  } catch (err) {
    return (err as ZkException).getCode();
  }
}

const { CreateMode, Exception, Event } = zookeeper;

before(async () => {
  // The third member serves ZooKeeper reads linearizably (--zk-read-consistency); the others as ZooKeeper does.
  cluster = await ProcessCluster.start(3, [], (i) => (i === 2 ? ['--zk-read-consistency', 'linearizable'] : []));
  // Ready once a session can be created through every member (a leader exists and attributes are published).
  for (const ep of cluster.zkEndpoints()) {
    await until(`a session through ${ep}`, async () => {
      const c = await client([ep]);
      await p.exists(c, '/');
      c.close();
      return true;
    });
  }
});

after(async () => {
  for (const c of clients) c.close();
  await cluster.destroy();
});

test('every create mode, sequential numbering, stat fields', async () => {
  const c = await client(cluster.zkEndpoints());
  assert.equal(await p.create(c, '/modes', 'root', CreateMode.PERSISTENT), '/modes');
  assert.equal(await p.create(c, '/modes/e', 'x', CreateMode.EPHEMERAL), '/modes/e');
  assert.equal(await p.create(c, '/modes/s-', 'x', CreateMode.PERSISTENT_SEQUENTIAL), '/modes/s-0000000001');
  assert.equal(await p.create(c, '/modes/es-', 'x', CreateMode.EPHEMERAL_SEQUENTIAL), '/modes/es-0000000002');
  assert.deepEqual((await p.children(c, '/modes')).sort(), ['e', 'es-0000000002', 's-0000000001']);
  const { data, stat } = await p.getData(c, '/modes');
  assert.equal(data, 'root');
  assert.equal(stat.numChildren, 3);
  assert.equal(stat.cversion, 3);
  assert.equal(stat.version, 0);
  assert.equal(stat.dataLength, 4);
  const e = await p.exists(c, '/modes/e');
  assert.ok(e !== null);
  assert.notEqual(e.ephemeralOwner.readBigInt64BE(0), 0n, 'an ephemeral names its session');
  assert.deepEqual(e.ephemeralOwner, c.getSessionId());
  const s2 = await p.setData(c, '/modes', 'v2', 0);
  assert.equal(s2.version, 1);
  assert.ok(s2.mzxid.readBigInt64BE(0) > s2.czxid.readBigInt64BE(0));
});

test('ZooKeeper errors: NodeExists, NoNode, BadVersion, NotEmpty, NoChildrenForEphemerals', async () => {
  const c = await client(cluster.zkEndpoints());
  await p.create(c, '/err', null, CreateMode.PERSISTENT);
  await p.create(c, '/err/child', null, CreateMode.PERSISTENT);
  await p.create(c, '/err/eph', null, CreateMode.EPHEMERAL);
  assert.equal(await code(p.create(c, '/err', null, CreateMode.PERSISTENT)), Exception.NODE_EXISTS);
  assert.equal(await code(p.create(c, '/nope/x', null, CreateMode.PERSISTENT)), Exception.NO_NODE);
  assert.equal(await code(p.getData(c, '/nope')), Exception.NO_NODE);
  assert.equal(await code(p.setData(c, '/err', 'x', 7)), Exception.BAD_VERSION);
  assert.equal(await code(p.remove(c, '/err/child', 3)), Exception.BAD_VERSION);
  assert.equal(await code(p.remove(c, '/err')), Exception.NOT_EMPTY);
  assert.equal(await code(p.create(c, '/err/eph/x', null, CreateMode.PERSISTENT)), Exception.NO_CHILDREN_FOR_EPHEMERALS);
  assert.equal(await p.exists(c, '/nope'), null);
});

test('data, exists and child watches fire once', async () => {
  const a = await client(cluster.zkEndpoints());
  const b = await client(cluster.zkEndpoints());
  await p.create(a, '/w', 'v0', CreateMode.PERSISTENT);
  const events: string[] = [];
  const dataFired = new Promise<ZkEvent>((res) => void p.getData(a, '/w', res));
  const childFired = new Promise<ZkEvent>((res) => void p.children(a, '/w', res));
  const existFired = new Promise<ZkEvent>((res) => void p.exists(a, '/w/new', res));
  await p.exists(a, '/w'); // the watches are registered once this later request returned (FIFO)
  await p.setData(b, '/w', 'v1');
  await p.create(b, '/w/new', null, CreateMode.PERSISTENT);
  for (const ev of await Promise.all([dataFired, childFired, existFired])) events.push(`${ev.getType()} ${ev.getPath()}`);
  assert.deepEqual(events, [`${Event.NODE_DATA_CHANGED} /w`, `${Event.NODE_CHILDREN_CHANGED} /w`, `${Event.NODE_CREATED} /w/new`]);
  const deleted = new Promise<ZkEvent>((res) => void p.getData(a, '/w/new', res));
  await p.exists(a, '/w/new');
  await p.remove(b, '/w/new');
  assert.equal((await deleted).getType(), Event.NODE_DELETED);
});

test('multi is atomic with per-operation results', async () => {
  const c = await client(cluster.zkEndpoints());
  await p.create(c, '/tx', null, CreateMode.PERSISTENT);
  const failed = await new Promise<{ err: ZkException | null; n: number }>((res) => c.transaction()
    .create('/tx/a', Buffer.from('1'), zookeeper.ACL.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT)
    .check('/tx', 9)
    .commit((err, results) => res({ err, n: results?.length ?? 0 })));
  assert.equal(failed.err?.getCode(), Exception.BAD_VERSION);
  assert.equal(await p.exists(c, '/tx/a'), null, 'nothing of a failed multi is applied');
  const ok = await new Promise<{ err: ZkException | null; results: unknown[] }>((res) => c.transaction()
    .create('/tx/a', Buffer.from('1'), zookeeper.ACL.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT)
    .setData('/tx/a', Buffer.from('2'), 0)
    .check('/tx', 0)
    .commit((err, results) => res({ err, results })));
  assert.equal(ok.err, null);
  assert.equal(ok.results.length, 3);
  assert.equal((await p.getData(c, '/tx/a')).data, '2');
});

test('ephemerals vanish when their session closes', async () => {
  const a = await client(cluster.zkEndpoints());
  const b = await client(cluster.zkEndpoints());
  await p.create(a, '/eph-close', null, CreateMode.EPHEMERAL);
  // b may be connected to a member that has not applied the create yet (reads are local, as in ZooKeeper).
  await until('b to see the ephemeral', async () => ((await p.exists(b, '/eph-close')) !== null ? true : undefined));
  const gone = new Promise<ZkEvent>((res) => void p.exists(b, '/eph-close', res));
  await p.exists(b, '/');
  a.close();
  assert.equal((await gone).getType(), Event.NODE_DELETED);
});

// ---------------------------------------------------------------- raw protocol

interface Raw {
  socket: Socket;
  frames: Buffer[];
  closed: Promise<void>;
  next(): Promise<Buffer>;
}

function raw(port: number): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    const frames: Buffer[] = [];
    let wake: (() => void) | null = null;
    const closed = new Promise<void>((res) => socket.on('close', () => res()));
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readInt32BE(0)) {
        frames.push(buf.subarray(4, 4 + buf.readInt32BE(0)));
        buf = buf.subarray(4 + buf.readInt32BE(0));
      }
      wake?.();
    });
    socket.on('error', () => undefined);
    socket.once('connect', () => resolve({
      socket, frames, closed,
      next: async () => {
        const deadline = Date.now() + WAIT_MS;
        while (frames.length === 0) {
          if (Date.now() > deadline || socket.destroyed) throw new Error('no frame');
          await Promise.race([new Promise<void>((r) => (wake = r)), closed, new Promise((r) => setTimeout(r, 100))]);
        }
        return frames.shift() as Buffer;
      },
    }));
    socket.once('error', reject);
  });
}

async function fourLetterWord(port: number, w: string): Promise<string> {
  const s = await raw(port);
  s.socket.write(w);
  let out = '';
  s.socket.on('data', (d: Buffer) => (out += d.toString()));
  await s.closed;
  return out;
}

async function rawSession(port: number, sessionId = 0, passwd = Buffer.alloc(16), timeOut = 2000, lastZxidSeen = 0): Promise<{ r: Raw; res: ConnectResponse }> {
  const r = await raw(port);
  const w = new JuteWriter();
  writeConnectRequest(w, { protocolVersion: 0, lastZxidSeen, timeOut, sessionId, passwd, readOnly: false });
  r.socket.write(w.frame());
  return { r, res: readConnectResponse(new JuteReader(await r.next())) };
}

async function rawCreate(r: Raw, path: string, flags: number): Promise<number> {
  const w = new JuteWriter();
  writeRequestHeader(w, { xid: 1, type: OpCode.create });
  writeCreateRequest(w, { path, data: Buffer.alloc(0), acl: [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }], flags, ttl: 0 }, false);
  r.socket.write(w.frame());
  return readReplyHeader(new JuteReader(await r.next())).err;
}

test('a session survives a reconnect to another member, with its ephemerals; it expires without pings', async () => {
  const [m1, m2] = cluster.members;
  assert.ok(m1 !== undefined && m2 !== undefined);
  const { r, res } = await rawSession(m1.zkPort);
  assert.ok(res.sessionId > 0 && res.timeOut >= 2000);
  assert.equal(await rawCreate(r, '/eph-moved', 1), 0);
  r.socket.destroy();
  const again = await rawSession(m2.zkPort, res.sessionId, Buffer.from(res.passwd));
  assert.equal(again.res.sessionId, res.sessionId, 'the other member takes the session');
  assert.ok(again.res.timeOut > 0);
  const c = await client(cluster.zkEndpoints());
  await until('the ephemeral seen through any member', async () => ((await p.exists(c, '/eph-moved')) !== null ? true : undefined));
  // Now the client dies without a word: no pings, no close. Its ephemeral must outlive the timeout, then go.
  const died = Date.now();
  again.r.socket.destroy();
  const gone = new Promise<ZkEvent>((resolve) => void p.exists(c, '/eph-moved', resolve));
  await p.exists(c, '/');
  assert.equal((await gone).getType(), Event.NODE_DELETED);
  assert.ok(Date.now() - died >= res.timeOut, `deleted after ${Date.now() - died} ms, before the ${res.timeOut} ms timeout`);
  const late = await rawSession(m1.zkPort, res.sessionId, Buffer.from(res.passwd));
  assert.equal(late.res.timeOut, 0, 'an expired session is refused');
  late.r.socket.destroy();
});

test('malformed packets close only their connection; four-letter words answer', async () => {
  const c = await client(cluster.zkEndpoints());
  const m1 = cluster.members[0];
  assert.ok(m1 !== undefined);
  for (const garbage of [Buffer.from([0xff, 0xff, 0xff, 0xff]), Buffer.from([0x7f, 0, 0, 0, 1, 2]), Buffer.from([0, 0, 0, 3, 1, 2, 3])]) {
    const r = await raw(m1.zkPort);
    r.socket.write(garbage);
    await r.closed;
  }
  // A client that has seen a newer zxid than the member applied is refused (it must try another member).
  await assert.rejects(rawSession(m1.zkPort, 0, Buffer.alloc(16), 2000, 2 ** 50), /no frame/);
  // A connected session sending a truncated request is dropped too.
  const { r } = await rawSession(m1.zkPort);
  r.socket.write(Buffer.from([0, 0, 0, 6, 0, 0, 0, 1, 0, 1]));
  await r.closed;
  assert.ok(await p.exists(c, '/'), 'the member still serves');
  const word = (w: string): Promise<string> => fourLetterWord(m1.zkPort, w);
  assert.equal(await word('ruok'), 'imok');
  assert.equal(await word('isro'), 'rw');
  assert.match(await word('srvr'), /Zookeeper version: .*\nLatency.*\n[\s\S]*Mode: (leader|follower)\n/);
  assert.match(await word('mntr'), /zk_znode_count\t\d+\n/);
});

test('a member started with --zk-read-consistency linearizable answers every read with what was acknowledged before it', async () => {
  const linear = cluster.members[2];
  const other = cluster.members[0];
  assert.ok(linear !== undefined && other !== undefined);
  assert.match(await fourLetterWord(linear.zkPort, 'srvr'), /\nRead consistency: linearizable\n/);
  assert.match(await fourLetterWord(other.zkPort, 'srvr'), /\nRead consistency: serializable\n/);
  const writer = await client([`127.0.0.1:${other.zkPort}`]);
  const reader = await client([`127.0.0.1:${linear.zkPort}`]);
  try {
    await p.create(writer, '/fresh', '0', CreateMode.PERSISTENT);
    for (let i = 1; i <= 20; i++) {
      await p.setData(writer, '/fresh', String(i));
      // Acknowledged by another member just now: a linearizable read through this one must see it.
      assert.equal((await p.getData(reader, '/fresh')).data.toString(), String(i));
    }
  } finally {
    writer.close();
    reader.close();
  }
});

test('node-zookeeper-client moves to another member when its member dies: session, ephemerals and watches survive', async () => {
  const a = await client(cluster.zkEndpoints(), 8000);
  const observer = await client(cluster.zkEndpoints());
  await p.create(a, '/survivor', 'v0', CreateMode.EPHEMERAL);
  await p.create(a, '/watched', 'v0', CreateMode.PERSISTENT);
  const sessionBefore = a.getSessionId().toString('hex');
  let fired: (e: ZkEvent) => void = () => undefined;
  const watched = new Promise<ZkEvent>((resolve) => (fired = resolve));
  await p.getData(a, '/watched', (e) => fired(e));
  // Which member serves `a`: the client does not say, its socket does.
  const port = (a as unknown as { connectionManager: { socket: Socket } }).connectionManager.socket.remotePort;
  const served = cluster.members.find((m) => m.zkPort === port);
  assert.ok(served !== undefined, `no member on port ${String(port)}`);
  await cluster.kill9(served);
  await until('a to reconnect elsewhere', async () => ((await p.exists(a, '/survivor')) !== null ? true : undefined));
  assert.equal(a.getSessionId().toString('hex'), sessionBefore, 'the same session');
  const other = (observer as unknown as { connectionManager: { socket: Socket } }).connectionManager.socket.remotePort === port
    ? await client(cluster.zkEndpoints()) : observer;
  await until('the write through a live member', async () => {
    await p.setData(other, '/watched', 'v1');
    return true;
  });
  assert.equal((await withDeadline(watched, WAIT_MS, 'the data watch')).getType(), Event.NODE_DATA_CHANGED, 'the watch was re-registered on the new member (setWatches)');
  assert.ok(await p.exists(other, '/survivor'), 'the ephemeral outlived the move');
});

