// PeerTransport against bad peers: oversized, corrupted and misaddressed frames, random bytes on the
// listening port, and a receiver that stops reading (the sender must drop, not grow).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeId } from '../../util/branded.js';
import { Prng } from '../../util/prng.js';
import { MessageType } from '../../raft/types.js';
import { encodeMessageFrame, encodeWelcome } from './frame_codec.js';
import {
  PEER_FRAME_HEADER_BYTES,
  PEER_FRAME_PAYLOAD_BYTES_MAX,
  PEER_INBOUND_HANDSHAKING_MAX,
  PEER_MESSAGE_CONTEXT_BYTES_MAX,
  PEER_PROTOCOL_VERSION,
} from './limits.js';
import type { TransportEvent } from './diagnostics.js';
import {
  appMessage,
  connectAll,
  EventLog,
  nextTurn,
  randomBytes,
  RawListener,
  RawPeer,
  startNode,
  testSeed,
  waitConnected,
  waitFor,
  waitForEvent,
  type Node,
} from './transport_test_support.js';

let nextClusterId = 2000;

/** a and b connected; b also knows member 3, which the test plays with a raw socket. */
async function pairWithRawThird(cid: number, tuning: { handshakeTimeoutMs?: number } = {}): Promise<[Node, Node]> {
  const a = await startNode(cid, 1);
  const b = await startNode(cid, 2, { tuning });
  connectAll([a, b]);
  b.t.addPeer(nodeId(3), '127.0.0.1', 9); // never answers; only makes 3 a known sender
  await waitConnected([a, b]);
  return [a, b];
}

/** The transport still serves its good peer. */
async function assertStillServing(a: Node, b: Node, seq: number): Promise<void> {
  const before = b.received.length;
  a.t.send([appMessage(a.id, b.id, seq)]);
  await waitFor(`message ${seq} from a still arrives`, () => b.received.length === before + 1);
  assert.equal(b.received.at(-1)?.index, seq);
}

test('an oversized frame and a corrupted frame each close that connection; the member goes on serving', async () => {
  const cid = nextClusterId++;
  const [a, b] = await pairWithRawThird(cid);
  try {
    const big = await RawPeer.handshake(b.t.port, cid, 3, 2);
    assert.equal(big.frames[0]?.kind, 'welcome');
    const header = Buffer.alloc(PEER_FRAME_HEADER_BYTES);
    header.writeUInt32BE(PEER_FRAME_PAYLOAD_BYTES_MAX + 1, 0);
    const tooLarge = waitForEvent('frame too large', (e) => e.kind === 'frame-error' && e.member === b.id);
    big.socket.write(header);
    assert.equal((await tooLarge as Extract<TransportEvent, { kind: 'frame-error' }>).code, 'ERR_PEER_FRAME_TOO_LARGE');
    await big.waitClosed();
    await assertStillServing(a, b, 1);

    const corrupt = await RawPeer.handshake(b.t.port, cid, 3, 2);
    const frame = encodeMessageFrame(appMessage(nodeId(3), b.id, 7));
    frame[frame.byteLength - 1] = (frame[frame.byteLength - 1] ?? 0) ^ 1;
    const badCrc = waitForEvent('checksum mismatch', (e) => e.kind === 'frame-error' && e.member === b.id);
    corrupt.socket.write(frame);
    assert.equal((await badCrc as Extract<TransportEvent, { kind: 'frame-error' }>).code, 'ERR_PEER_FRAME_CHECKSUM');
    await corrupt.waitClosed();
    await assertStillServing(a, b, 2);
    assert.ok(b.received.every((m) => m.from === a.id), 'nothing from the bad connections was delivered');
  } finally {
    await Promise.all([a.t.close(), b.t.close()]);
  }
});

test('messages for another member, from another sender, or of a local type are dropped; the connection stays', async () => {
  const cid = nextClusterId++;
  const log = new EventLog(cid);
  const [a, b] = await pairWithRawThird(cid);
  try {
    const raw = await RawPeer.handshake(b.t.port, cid, 3, 2);
    raw.socket.write(Buffer.concat([
      encodeMessageFrame(appMessage(nodeId(3), nodeId(4), 1)),
      encodeMessageFrame(appMessage(nodeId(1), b.id, 2)),
      encodeMessageFrame({ ...appMessage(nodeId(3), b.id, 3), type: MessageType.Hup }),
      encodeMessageFrame(appMessage(nodeId(3), b.id, 4)),
    ]));
    await waitFor('the good message', () => b.received.length === 1);
    assert.equal(b.received[0]?.index, 4);
    assert.deepEqual(log.of('dropped', b.id).map((e) => e.reason), ['wrong-recipient', 'wrong-sender', 'local-type']);
    assert.equal(raw.closed, false);
    await raw.destroy();
    await assertStillServing(a, b, 5);
  } finally {
    log.stop();
    await Promise.all([a.t.close(), b.t.close()]);
  }
});

test('fuzz: random bytes on the listening port, before and after a handshake, never crash the member', async () => {
  const cid = nextClusterId++;
  const seed = testSeed('listening port random bytes', 21);
  const prng = new Prng(seed);
  const [a, b] = await pairWithRawThird(cid, { handshakeTimeoutMs: 300 });
  try {
    for (let round = 0; round < 24; round++) {
      const raw = round % 3 === 2 ? await RawPeer.handshake(b.t.port, cid, 3, 2) : await RawPeer.connect(b.t.port);
      const bytes = Buffer.from(randomBytes(prng, prng.range(1, 4000)));
      if (round % 3 === 1) bytes.writeUInt32BE(prng.int(PEER_FRAME_HEADER_BYTES + 64), 0); // a small length: the CRC must catch it
      raw.socket.write(bytes);
      // Closed for a bad frame, or by the handshake timeout if the bytes left a frame incomplete.
      await raw.waitClosed(3000);
    }
    await assertStillServing(a, b, 1);
    assert.equal(b.t.peerStatus(a.id)?.state, 'open');
  } finally {
    await Promise.all([a.t.close(), b.t.close()]);
  }
});

test('a receiver that stops reading makes the sender drop and report unreachable, with a bounded queue', async () => {
  const cid = nextClusterId++;
  const queueBytesMax = 1 << 20;
  const log = new EventLog(cid);
  const a = await startNode(cid, 1, { tuning: { queueBytesMax } });
  const raw = await RawListener.start();
  try {
    a.t.addPeer(nodeId(2), '127.0.0.1', raw.port);
    const peer = await raw.nextHello();
    peer.socket.pause(); // reads nothing more: the kernel buffers fill, then the socket's, then the queue
    peer.socket.write(encodeWelcome({ version: PEER_PROTOCOL_VERSION, clusterId: cid, member: nodeId(2) }));
    await waitFor('link open', () => a.t.peerStatus(nodeId(2))?.state === 'open');
    let sent = 0;
    for (let round = 0; round < 400 && !a.unreachable.includes(nodeId(2)); round++) {
      a.t.send(Array.from({ length: 8 }, (_, i) => appMessage(a.id, nodeId(2), sent + i, 64 * 1024)));
      sent += 8;
      await nextTurn();
      const queued = a.t.peerStatus(nodeId(2))?.queuedBytes ?? 0;
      assert.ok(queued <= queueBytesMax, `round ${round}: ${queued} bytes queued, limit ${queueBytesMax}`);
    }
    await waitFor('unreachable reported', () => a.unreachable.includes(nodeId(2)));
    const drops = log.of('dropped', a.id).filter((e) => e.reason === 'queue-full');
    assert.ok(drops.length > 0, 'messages were dropped because the queue was full');
    console.log(`slow receiver: ${sent} messages of 64 KiB offered before the first drop`);
    assert.equal(a.t.peerStatus(nodeId(2))?.state, 'open', 'a slow peer is not disconnected for being slow');
  } finally {
    log.stop();
    await a.t.close();
    await raw.close();
  }
});

test('limits: queued messages while connecting, oversized messages, and connections awaiting a handshake', async () => {
  const cid = nextClusterId++;
  const log = new EventLog(cid);
  const a = await startNode(cid, 1, { tuning: { queueMessagesMax: 10 } });
  const raw = await RawListener.start();
  const strangers: RawPeer[] = [];
  try {
    a.t.addPeer(nodeId(2), '127.0.0.1', raw.port);
    await raw.nextHello(); // never answered: the link stays 'connecting' and queues
    a.t.send(Array.from({ length: 12 }, (_, i) => appMessage(a.id, nodeId(2), i)));
    assert.equal(a.t.peerStatus(nodeId(2))?.queuedMessages, 10);
    a.t.send([{ ...appMessage(a.id, nodeId(2), 99), context: new Uint8Array(PEER_MESSAGE_CONTEXT_BYTES_MAX + 1) }]);
    await waitFor('unreachable', () => a.unreachable.includes(nodeId(2)));
    assert.deepEqual(log.of('dropped', a.id).map((e) => e.reason), ['queue-full', 'queue-full', 'too-large']);

    for (let i = 0; i < PEER_INBOUND_HANDSHAKING_MAX; i++) strangers.push(await RawPeer.connect(a.t.port));
    const refused = waitForEvent('one connection too many', (e) => e.kind === 'refused' && e.member === a.id && e.peer === null);
    const extra = await RawPeer.connect(a.t.port);
    assert.match((await refused as Extract<TransportEvent, { kind: 'refused' }>).reason, /64 connections are already awaiting their handshake/);
    await extra.waitClosed();
    assert.ok(strangers.every((s) => !s.closed));
  } finally {
    log.stop();
    await Promise.all(strangers.map((s) => s.destroy()));
    await a.t.close();
    await raw.close();
  }
});

test('a peer that answers the handshake and then falls silent is disconnected and redialed', async () => {
  const cid = nextClusterId++;
  const a = await startNode(cid, 1, { tuning: { pingIntervalMs: 20, silentLimitMs: 100 } });
  const raw = await RawListener.start();
  try {
    a.t.addPeer(nodeId(2), '127.0.0.1', raw.port);
    const first = await raw.nextHello();
    const silent = waitForEvent('silence detected', (e) => e.kind === 'disconnected' && e.member === a.id);
    first.socket.write(encodeWelcome({ version: PEER_PROTOCOL_VERSION, clusterId: cid, member: nodeId(2) }));
    assert.match((await silent as Extract<TransportEvent, { kind: 'disconnected' }>).reason, /nothing heard for \d+ ms/);
    assert.ok(first.frames.some((f) => f.kind === 'ping'), 'pings were sent');
    await raw.nextHello();
  } finally {
    await a.t.close();
    await raw.close();
  }
});
