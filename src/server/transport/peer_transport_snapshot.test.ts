// Snapshots between transports: multi-megabyte data arrives intact in chunks while messages keep
// flowing; a corrupted chunk, a wrong checksum or an oversized snapshot is rejected with a failure status.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { crc32c } from '@node-rs/crc32';
import { logIndex, nodeId, term, type NodeId } from '../../util/branded.js';
import { Prng } from '../../util/prng.js';
import { MessageType, type Message } from '../../raft/types.js';
import { encodeMessageFrame, encodeSnapBegin, encodeSnapChunk } from './frame_codec.js';
import { PEER_SNAPSHOT_CHUNK_BYTES } from './limits.js';
import {
  appMessage,
  connectAll,
  EventLog,
  RawPeer,
  randomBytes,
  startNode,
  testSeed,
  waitConnected,
  waitFor,
  type Node,
} from './transport_test_support.js';

let nextClusterId = 3000;

function snapMessage(from: NodeId, to: NodeId, data: Uint8Array): Message {
  return {
    type: MessageType.Snap, to, from, term: term(3), logTerm: term(0), index: logIndex(0), entries: [], commit: logIndex(0),
    snapshot: {
      metadata: {
        index: logIndex(1234), term: term(3),
        confState: { voters: [from, to], learners: [nodeId(9)], votersOutgoing: [], learnersNext: [], autoLeave: false },
      },
      data,
    },
    reject: false, rejectHint: logIndex(0), context: new Uint8Array(0),
  };
}

async function pair(cid: number, tuningB: { snapshotBytesMax?: number } = {}): Promise<[Node, Node]> {
  const a = await startNode(cid, 1);
  const b = await startNode(cid, 2, { tuning: tuningB });
  connectAll([a, b]);
  await waitConnected([a, b]);
  return [a, b];
}

test('a multi-megabyte snapshot arrives intact in chunks, with messages flowing alongside', async () => {
  const cid = nextClusterId++;
  const seed = testSeed('snapshot data', 31);
  const log = new EventLog(cid);
  const [a, b] = await pair(cid);
  try {
    const data = randomBytes(new Prng(seed), 6 * 1024 * 1024 + 12345);
    const snap = snapMessage(a.id, b.id, data);
    a.t.send([appMessage(a.id, b.id, 1), snap, appMessage(a.id, b.id, 2)]);
    await waitFor('snapshot finished', () => a.snapshotStatuses.length === 1, 10_000);
    assert.deepEqual(a.snapshotStatuses, [[b.id, 'finish']]);
    const got = b.received.find((m) => m.type === MessageType.Snap);
    assert.ok(got !== undefined && got.snapshot !== null);
    assert.equal(crc32c(got.snapshot.data), crc32c(data));
    assert.deepEqual(got, snap);
    assert.deepEqual(b.received.filter((m) => m.type === MessageType.App).map((m) => m.index), [1, 2]);
    assert.deepEqual(log.of('snapshot', b.id).map((e) => [e.status, e.bytes]), [['received', data.byteLength]]);
    assert.ok(data.byteLength / PEER_SNAPSHOT_CHUNK_BYTES > 20, 'many chunks');
    assert.equal(a.t.peerStatus(b.id)?.snapshotInFlight, false);
  } finally {
    log.stop();
    await Promise.all([a.t.close(), b.t.close()]);
  }
});

/** A TCP relay that flips one byte of the first connection's a→b stream at `flipAt`. */
async function corruptingProxy(targetPort: number, flipAt: number): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const server = net.createServer((client) => {
    const corrupt = connections++ === 0;
    const upstream = net.connect({ host: '127.0.0.1', port: targetPort });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    let seen = 0;
    client.on('data', (chunk: Buffer) => {
      if (corrupt && seen <= flipAt && flipAt < seen + chunk.byteLength) chunk[flipAt - seen] = (chunk[flipAt - seen] ?? 0) ^ 0x40;
      seen += chunk.byteLength;
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
  });
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  return {
    port: address.port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

test('a chunk corrupted on the wire is rejected: failure status, nothing delivered, and a retry succeeds', async () => {
  const cid = nextClusterId++;
  const log = new EventLog(cid);
  const a = await startNode(cid, 1);
  const b = await startNode(cid, 2);
  const proxy = await corruptingProxy(b.t.port, 1_000_000);
  try {
    b.t.addPeer(a.id, '127.0.0.1', a.t.port);
    a.t.addPeer(b.id, '127.0.0.1', proxy.port);
    await waitConnected([a, b]);
    const data = randomBytes(new Prng(32), 3 * 1024 * 1024);
    a.t.send([snapMessage(a.id, b.id, data)]);
    await waitFor('failure reported', () => a.snapshotStatuses.length === 1);
    assert.deepEqual(a.snapshotStatuses, [[b.id, 'failure']]);
    assert.ok(log.of('frame-error', b.id).some((e) => e.code === 'ERR_PEER_FRAME_CHECKSUM'));
    assert.equal(b.received.length, 0);
    await waitFor('unreachable reported', () => a.unreachable.includes(b.id));

    await waitFor('reconnected', () => a.t.peerStatus(b.id)?.state === 'open');
    a.t.send([snapMessage(a.id, b.id, data)]);
    await waitFor('second attempt finished', () => a.snapshotStatuses.length === 2);
    assert.deepEqual(a.snapshotStatuses[1], [b.id, 'finish']);
    assert.equal(crc32c(b.received[0]?.snapshot?.data ?? new Uint8Array(0)), crc32c(data));
  } finally {
    log.stop();
    await Promise.all([a.t.close(), b.t.close()]);
    await proxy.close();
  }
});

test('a snapshot whose data does not match its checksum is refused with a negative ack; the connection stays', async () => {
  const cid = nextClusterId++;
  const [a, b] = await pair(cid);
  b.t.addPeer(nodeId(3), '127.0.0.1', 9);
  try {
    const raw = await RawPeer.handshake(b.t.port, cid, 3, 2);
    const data = randomBytes(new Prng(33), 1000);
    const header = snapMessage(nodeId(3), b.id, new Uint8Array(0));
    raw.socket.write(Buffer.concat([
      encodeSnapBegin(1, data.byteLength, crc32c(data) ^ 0xff, header),
      ...encodeSnapChunk(1, 0, data.subarray(0, 600)),
      ...encodeSnapChunk(1, 600, data.subarray(600)),
    ]));
    await waitFor('an ack', () => raw.frames.some((f) => f.kind === 'snap-ack'));
    assert.deepEqual(raw.frames.at(-1), { kind: 'snap-ack', id: 1, ok: false });
    raw.socket.write(encodeMessageFrame(appMessage(nodeId(3), b.id, 5)));
    await waitFor('a message on the same connection', () => b.received.length === 1);
    assert.equal(b.received[0]?.type, MessageType.App);
    assert.equal(raw.closed, false);
    await raw.destroy();
  } finally {
    await Promise.all([a.t.close(), b.t.close()]);
  }
});

test('a snapshot over the receiver\'s limit is refused at once and reported as a failure', async () => {
  const cid = nextClusterId++;
  const [a, b] = await pair(cid, { snapshotBytesMax: 1024 * 1024 });
  try {
    a.t.send([snapMessage(a.id, b.id, new Uint8Array(2 * 1024 * 1024))]);
    await waitFor('failure reported', () => a.snapshotStatuses.length === 1);
    assert.deepEqual(a.snapshotStatuses, [[b.id, 'failure']]);
    assert.equal(b.received.length, 0);
    assert.equal(a.t.peerStatus(b.id)?.state, 'open');
    a.t.send([snapMessage(a.id, b.id, Uint8Array.of(1, 2, 3))]);
    await waitFor('a small one goes through', () => a.snapshotStatuses.length === 2);
    assert.deepEqual(a.snapshotStatuses[1], [b.id, 'finish']);
  } finally {
    await Promise.all([a.t.close(), b.t.close()]);
  }
});

test('a second snapshot while one is streaming fails at once; a snapshot to a disconnected peer fails too', async () => {
  const cid = nextClusterId++;
  const [a, b] = await pair(cid);
  try {
    const data = new Uint8Array(1024 * 1024);
    a.t.send([snapMessage(a.id, b.id, data), snapMessage(a.id, b.id, data)]);
    await waitFor('both settled', () => a.snapshotStatuses.length === 2);
    assert.deepEqual(a.snapshotStatuses.map(([, s]) => s).sort(), ['failure', 'finish']);
    assert.equal(b.received.length, 1);
    await b.t.close();
    await waitFor('link down', () => a.t.peerStatus(b.id)?.state === 'backoff');
    a.t.send([snapMessage(a.id, b.id, data)]);
    await waitFor('failure', () => a.snapshotStatuses.length === 3);
    assert.deepEqual(a.snapshotStatuses[2], [b.id, 'failure']);
  } finally {
    await Promise.all([a.t.close(), b.t.close()]);
  }
});
