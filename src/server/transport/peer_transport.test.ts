// PeerTransport on real sockets (127.0.0.1, ephemeral ports): batched ordered delivery between two and
// three members, reconnects, the handshake's identity checks, peer removal and round-trip measurement.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeId, type NodeId } from '../../util/branded.js';
import { encodeWelcome } from './frame_codec.js';
import { PEER_PROTOCOL_VERSION } from './limits.js';
import type { TransportEvent } from './diagnostics.js';
import {
  appMessage,
  connectAll,
  EventLog,
  nextTurn,
  RawListener,
  RawPeer,
  startNode,
  waitConnected,
  waitFor,
  waitForEvent,
  type Node,
} from './transport_test_support.js';

let nextClusterId = 1000;

async function closeAll(nodes: readonly Node[]): Promise<void> {
  await Promise.all(nodes.map((n) => n.t.close()));
}

/** Sends `count` MsgApps from `a` to `b`, `perTurn` per send() call, one event-loop turn apart. */
async function sendSeries(a: Node, b: Node, count: number, perTurn: number): Promise<void> {
  for (let seq = 0; seq < count; seq += perTurn) {
    const batch = [];
    for (let i = seq; i < Math.min(count, seq + perTurn); i++) batch.push(appMessage(a.id, b.id, i));
    a.t.send(batch);
    await nextTurn();
  }
}

function indexesFrom(n: Node, from: NodeId): number[] {
  return n.received.filter((m) => m.from === from).map((m) => m.index);
}

test('two transports exchange batched messages in order, both ways', async () => {
  const cid = nextClusterId++;
  const nodes = [await startNode(cid, 1), await startNode(cid, 2)];
  const [a, b] = nodes as [Node, Node];
  try {
    connectAll(nodes);
    await waitConnected(nodes);
    await Promise.all([sendSeries(a, b, 1000, 100), sendSeries(b, a, 1000, 7)]);
    await waitFor('1000 messages each way', () => a.received.length === 1000 && b.received.length === 1000);
    const expected = Array.from({ length: 1000 }, (_, i) => i);
    assert.deepEqual(indexesFrom(b, a.id), expected);
    assert.deepEqual(indexesFrom(a, b.id), expected);
    assert.deepEqual(b.received[42], appMessage(a.id, b.id, 42), 'every field arrives intact');
    assert.deepEqual([a.unreachable, b.unreachable], [[], []]);
  } finally {
    await closeAll(nodes);
  }
});

test('three transports: every pair in order, each on its own connection', async () => {
  const cid = nextClusterId++;
  const nodes = [await startNode(cid, 1), await startNode(cid, 2), await startNode(cid, 3)];
  try {
    connectAll(nodes);
    await waitConnected(nodes);
    const sends = [];
    for (const x of nodes) for (const y of nodes) if (x !== y) sends.push(sendSeries(x, y, 300, 30));
    await Promise.all(sends);
    await waitFor('600 messages at every member', () => nodes.every((n) => n.received.length === 600));
    const expected = Array.from({ length: 300 }, (_, i) => i);
    for (const x of nodes) for (const y of nodes) if (x !== y) assert.deepEqual(indexesFrom(y, x.id), expected, `${x.id} → ${y.id}`);
  } finally {
    await closeAll(nodes);
  }
});

test('a closed peer is reported unreachable, messages to it are dropped, and the link comes back when it reopens', async () => {
  const cid = nextClusterId++;
  const log = new EventLog(cid);
  const a = await startNode(cid, 1);
  let b = await startNode(cid, 2);
  const port = b.t.port;
  try {
    connectAll([a, b]);
    await waitConnected([a, b]);
    a.t.send([appMessage(a.id, b.id, 0)]);
    await waitFor('first message', () => b.received.length === 1);
    await b.t.close();
    await waitFor('a sees the peer gone', () => a.unreachable.includes(b.id) && a.t.peerStatus(b.id)?.state !== 'open');
    assert.ok(log.of('disconnected', a.id).some((e) => e.peer === b.id && e.direction === 'outbound' && e.retryInMs !== null));
    a.t.send([appMessage(a.id, b.id, 1)]); // dropped while the link is down: raft will retry
    b = await startNode(cid, 2, { port });
    b.t.addPeer(a.id, '127.0.0.1', a.t.port);
    await waitConnected([a, b]);
    a.t.send([appMessage(a.id, b.id, 2)]);
    await waitFor('message after reconnect', () => b.received.length === 1);
    assert.equal(b.received[0]?.index, 2);
    assert.ok(log.of('dropped', a.id).some((e) => e.reason === 'not-connected' || e.reason === 'connection-lost'));
  } finally {
    log.stop();
    await closeAll([a, b]);
  }
});

test('a cluster-id mismatch is refused on both sides and retried only after a growing back-off', async () => {
  const cid = nextClusterId++;
  const a = await startNode(cid, 1);
  const b = await startNode(cid + 500, 2);
  const log = new EventLog(cid);
  const seenAtMs = new Map<TransportEvent, number>();
  const stamp = (): void => {
    for (const e of log.events) if (!seenAtMs.has(e)) seenAtMs.set(e, performance.now());
  };
  try {
    b.t.addPeer(a.id, '127.0.0.1', a.t.port);
    const inbound = waitForEvent('b refuses', (e) => e.kind === 'refused' && e.member === b.id && e.direction === 'inbound');
    a.t.addPeer(b.id, '127.0.0.1', b.t.port);
    const refused = (await inbound) as Extract<TransportEvent, { kind: 'refused' }>;
    assert.match(refused.reason, new RegExp(`member 2 belongs to cluster ${cid + 500}, not ${cid}`));
    const outbound = (): TransportEvent[] => log.events.filter((e) => e.member === a.id && 'direction' in e && e.direction === 'outbound');
    await waitFor('5 refusals seen by a', () => {
      stamp();
      return outbound().filter((e) => e.kind === 'refused').length >= 5;
    });
    let lastRefusalMs: number | null = null;
    let retryInMs = 0;
    let attempt = 0;
    for (const e of outbound()) {
      const at = seenAtMs.get(e) ?? 0;
      if (e.kind === 'refused') {
        assert.match(e.reason, /refused by the peer: member 2 belongs to cluster/);
        if (lastRefusalMs !== null) assert.ok(at - lastRefusalMs >= retryInMs - 1, `retried after ${at - lastRefusalMs} ms, back-off was ${retryInMs} ms`);
        lastRefusalMs = at;
      } else if (e.kind === 'disconnected' && e.retryInMs !== null) {
        // Exponential with jitter in [half, full]: base 10 ms, cap 100 ms in tests.
        const full = Math.min(100, 10 * 2 ** attempt++);
        assert.ok(e.retryInMs >= full / 2 && e.retryInMs <= full, `attempt ${attempt}: back-off ${e.retryInMs} ms, expected within [${full / 2}, ${full}]`);
        retryInMs = e.retryInMs;
      }
    }
    assert.ok(attempt >= 4);
    assert.notEqual(a.t.peerStatus(b.id)?.state, 'open');
    assert.ok((a.t.peerStatus(b.id)?.failedAttempts ?? 0) >= 4);
  } finally {
    log.stop();
    await closeAll([a, b]);
  }
});

test('a member-id mismatch is refused: by the listener, and by the dialer when the answer names another member', async () => {
  const cid = nextClusterId++;
  const a = await startNode(cid, 1);
  const c = await startNode(cid, 3);
  const raw = await RawListener.start();
  try {
    c.t.addPeer(a.id, '127.0.0.1', a.t.port);
    const listenerRefuses = waitForEvent('c refuses', (e) => e.kind === 'refused' && e.member === c.id);
    a.t.addPeer(nodeId(2), '127.0.0.1', c.t.port); // a believes member 2 lives where member 3 does
    assert.match((await listenerRefuses as Extract<TransportEvent, { kind: 'refused' }>).reason, /this is member 3, not member 2/);

    a.t.addPeer(nodeId(4), '127.0.0.1', raw.port);
    const peer = await raw.nextHello();
    const dialerRefuses = waitForEvent('a refuses the answer', (e) => e.kind === 'refused' && e.member === a.id && e.peer === 4);
    peer.socket.write(encodeWelcome({ version: PEER_PROTOCOL_VERSION, clusterId: cid, member: nodeId(5) }));
    assert.match((await dialerRefuses as Extract<TransportEvent, { kind: 'refused' }>).reason, /the peer answered with member id 5, expected member 4/);
    await peer.waitClosed();
  } finally {
    await raw.close();
    await closeAll([a, c]);
  }
});

test('an unknown sender is refused with a reason, and a removed peer is cut off', async () => {
  const cid = nextClusterId++;
  const nodes = [await startNode(cid, 1), await startNode(cid, 2)];
  const [a, b] = nodes as [Node, Node];
  try {
    const stranger = await RawPeer.handshake(b.t.port, cid, 9, 2);
    assert.deepEqual(stranger.frames.map((f) => f.kind), ['refuse']);
    assert.match(stranger.frames[0]?.kind === 'refuse' ? stranger.frames[0].text : '', /member 9 is not a known peer of member 2/);
    await stranger.waitClosed();

    connectAll(nodes);
    await waitConnected(nodes);
    const refusedAfterRemoval = waitForEvent('a refused after b removed it', (e) => e.kind === 'refused' && e.member === a.id);
    b.t.removePeer(a.id);
    assert.equal(b.t.peerStatus(a.id), null);
    await refusedAfterRemoval;
    assert.ok(a.unreachable.includes(b.id));
  } finally {
    await closeAll(nodes);
  }
});

test('the round trip is measured right after connecting and then every ping interval', async () => {
  const cid = nextClusterId++;
  const log = new EventLog(cid);
  const nodes = [await startNode(cid, 1, { tuning: { pingIntervalMs: 20 } }), await startNode(cid, 2)];
  const [a, b] = nodes as [Node, Node];
  try {
    connectAll(nodes);
    await waitFor('4 round trips from a to b', () => log.of('rtt', a.id).filter((e) => e.peer === b.id).length >= 4);
    const rtt = a.t.rttMs(b.id);
    assert.ok(rtt !== null && rtt >= 0 && rtt < 1000, `rtt ${rtt}`);
    assert.equal(a.t.rttMs(nodeId(9)), null);
    assert.equal(a.t.peerStatus(b.id)?.rttMs, rtt);
  } finally {
    log.stop();
    await closeAll(nodes);
  }
});

test('close() is graceful: what was sent just before still arrives, then every socket is closed', async () => {
  const cid = nextClusterId++;
  const nodes = [await startNode(cid, 1), await startNode(cid, 2)];
  const [a, b] = nodes as [Node, Node];
  try {
    connectAll(nodes);
    await waitConnected(nodes);
    a.t.send(Array.from({ length: 50 }, (_, i) => appMessage(a.id, b.id, i)));
    await a.t.close();
    await waitFor('all 50 delivered', () => b.received.length === 50);
    assert.deepEqual(b.received.map((m) => m.index), Array.from({ length: 50 }, (_, i) => i));
    a.t.send([appMessage(a.id, b.id, 50)]); // after close: ignored
    assert.equal(a.t.peerStatus(b.id), null);
  } finally {
    await closeAll(nodes);
  }
});
