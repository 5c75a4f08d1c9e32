// The WAN emulation hook: configured delay and jitter hold every message back without reordering,
// the round trip reflects both directions' delay, and loss drops the configured share, replayably.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { logIndex, nodeId, term, type NodeId } from '../../util/branded.js';
import { MessageType } from '../../raft/types.js';
import type { WanEmulation } from './peer_link.js';
import { appMessage, connectAll, EventLog, nextTurn, startNode, testSeed, waitConnected, waitFor, type Node } from './transport_test_support.js';

let nextClusterId = 4000;

const none = (): WanEmulation | null => null;

test('emulated delay and jitter hold each message back at least the delay, in order; the RTT shows both directions', async () => {
  const cid = nextClusterId++;
  const log = new EventLog(cid);
  const delayMs = 40;
  const jitterMs = 20;
  const a = await startNode(cid, 1, { emulate: () => ({ delayMs, jitterMs, lossRate: 0 }) });
  const b = await startNode(cid, 2, { emulate: () => ({ delayMs: 25, jitterMs: 0, lossRate: 0 }) });
  try {
    connectAll([a, b]);
    await waitConnected([a, b]);
    const sentAtMs: number[] = [];
    for (let seq = 0; seq < 60; seq += 6) {
      const batch = Array.from({ length: 6 }, (_, i) => appMessage(a.id, b.id, seq + i));
      for (let i = 0; i < 6; i++) sentAtMs.push(performance.now());
      a.t.send(batch);
      await nextTurn();
    }
    await waitFor('60 delayed messages', () => b.received.length === 60);
    assert.deepEqual(b.received.map((m) => m.index), Array.from({ length: 60 }, (_, i) => i), 'jitter never reorders');
    const latencies = b.receivedAtMs.map((at, i) => at - (sentAtMs[i] ?? 0));
    const min = Math.min(...latencies);
    assert.ok(min >= delayMs - 1, `fastest message took ${min.toFixed(1)} ms, the delay is ${delayMs} ms`);
    console.log(`emulated delay ${delayMs}+${jitterMs} ms: latency ${min.toFixed(1)}..${Math.max(...latencies).toFixed(1)} ms`);
    await waitFor('a round trip measured', () => log.of('rtt', a.id).length >= 1);
    const rtt = a.t.rttMs(b.id) ?? 0;
    assert.ok(rtt >= delayMs + 25 - 1, `rtt ${rtt.toFixed(1)} ms must include a's ${delayMs} ms and b's 25 ms`);
  } finally {
    log.stop();
    await Promise.all([a.t.close(), b.t.close()]);
  }
});

/** Sends 1000 messages from a to b with the given loss rate; returns the indexes that arrived. */
async function lossyRun(cid: number, seed: number, lossRate: number): Promise<number[]> {
  const log = new EventLog(cid);
  const emulate = (peer: NodeId): WanEmulation | null => (peer === nodeId(2) ? { delayMs: 0, jitterMs: 0, lossRate } : null);
  const a = await startNode(cid, 1, { seed, emulate });
  const b = await startNode(cid, 2, { emulate: none });
  const nodes: Node[] = [a, b];
  try {
    connectAll(nodes);
    await waitConnected(nodes);
    for (let seq = 0; seq < 1000; seq += 50) {
      a.t.send(Array.from({ length: 50 }, (_, i) => appMessage(a.id, b.id, seq + i)));
      await nextTurn();
    }
    const lost = (): number => log.of('dropped', a.id).filter((e) => e.reason === 'emulated-loss').length;
    await waitFor('every message delivered or lost', () => b.received.length + lost() === 1000);
    assert.deepEqual(a.unreachable, [], 'emulated loss is silent, like a lossy network');
    return b.received.map((m) => m.index);
  } finally {
    log.stop();
    await Promise.all(nodes.map((n) => n.t.close()));
  }
}

test('emulated loss drops about the configured share, in order, and replays exactly from the seed', async () => {
  const seed = testSeed('emulated loss', 41);
  const first = await lossyRun(nextClusterId++, seed, 0.3);
  // 1000 draws at p = 0.3: mean 300 lost, sd ≈ 14.5; ±7 sd.
  assert.ok(first.length >= 600 && first.length <= 800, `SEED=${seed}: ${1000 - first.length} of 1000 lost at a rate of 0.3`);
  assert.deepEqual(first, [...first].sort((x, y) => x - y), 'what arrives is in order');
  const again = await lossyRun(nextClusterId++, seed, 0.3);
  assert.deepEqual(again, first, `SEED=${seed}: the same seed loses the same messages`);
});

test('a snapshot under emulated delay streams chunk after chunk and arrives intact', async () => {
  const cid = nextClusterId++;
  const a = await startNode(cid, 1, { emulate: () => ({ delayMs: 3, jitterMs: 2, lossRate: 0 }), tuning: { snapshotChunkBytes: 64 * 1024 } });
  const b = await startNode(cid, 2);
  try {
    connectAll([a, b]);
    await waitConnected([a, b]);
    const data = new Uint8Array(1024 * 1024 + 7).map((_, i) => i % 251);
    const snap = { ...appMessage(a.id, b.id, 0), type: MessageType.Snap, entries: [], snapshot: {
      metadata: { index: logIndex(5), term: term(1), confState: { voters: [a.id, b.id], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } },
      data,
    } };
    const started = performance.now();
    a.t.send([snap, appMessage(a.id, b.id, 1)]);
    await waitFor('snapshot finished', () => a.snapshotStatuses.length === 1);
    assert.deepEqual(a.snapshotStatuses, [[b.id, 'finish']]);
    assert.ok(performance.now() - started >= 17 * 3 - 1, '17 chunks, each held back at least 3 ms');
    assert.deepEqual(b.received.find((m) => m.type === MessageType.Snap), snap);
  } finally {
    await Promise.all([a.t.close(), b.t.close()]);
  }
});
