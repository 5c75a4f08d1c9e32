// Loopback throughput of two PeerTransports in one process (sender and receiver share one event loop):
// small messages/s, MB/s with 1 MiB MsgApps, and snapshot streaming MB/s. Run after a build with
//   node dist/src/server/transport/peer_transport_bench.js
// It is a measurement, never a test: nothing asserts on the numbers.

import { logIndex, nodeId, term } from '../../util/branded.js';
import { EntryType, MessageType, type Entry, type Message } from '../../raft/types.js';
import { PeerTransport } from './peer_transport.js';

const MiB = 1024 * 1024;

function app(seq: number, entries: readonly Entry[]): Message {
  return {
    type: MessageType.App, to: nodeId(2), from: nodeId(1), term: term(1), logTerm: term(1), index: logIndex(seq),
    entries, commit: logIndex(seq), snapshot: null, reject: false, rejectHint: logIndex(0), context: new Uint8Array(0),
  };
}

async function main(): Promise<void> {
  let received = 0;
  let receivedBytes = 0;
  let snapshotDone: (() => void) | null = null;
  let dropped = 0;
  const common = { clusterId: 1, host: '127.0.0.1', port: 0, onSnapshotStatus: () => snapshotDone?.() };
  const a = await PeerTransport.listen({ ...common, memberId: nodeId(1), onMessage: () => undefined, onUnreachable: () => dropped++ });
  const b = await PeerTransport.listen({
    ...common, memberId: nodeId(2), onUnreachable: () => undefined,
    onMessage: (m) => {
      received++;
      for (const e of m.entries) receivedBytes += e.data.byteLength;
      receivedBytes += m.snapshot?.data.byteLength ?? 0;
    },
  });
  a.addPeer(nodeId(2), '127.0.0.1', b.port);
  b.addPeer(nodeId(1), '127.0.0.1', a.port);
  while (a.peerStatus(nodeId(2))?.state !== 'open' || b.peerStatus(nodeId(1))?.state !== 'open') await turn();

  /** Sends `count` messages keeping at most `window` unreceived, like raft's inflight window. */
  const run = async (name: string, count: number, window: number, make: (seq: number) => Message): Promise<void> => {
    received = 0;
    receivedBytes = 0;
    dropped = 0;
    const start = performance.now();
    let sent = 0;
    while (received < count) {
      const batch: Message[] = [];
      while (sent < count && sent - received < window && batch.length < window) batch.push(make(sent++));
      if (batch.length > 0) a.send(batch);
      await turn();
    }
    const s = (performance.now() - start) / 1000;
    console.log(`${name}: ${count} messages in ${s.toFixed(2)} s = ${Math.round(count / s)} msg/s, ${(receivedBytes / MiB / s).toFixed(1)} MiB/s of entry data, ${dropped} unreachable reports`);
  };

  const small = [{ term: term(1), index: logIndex(1), type: EntryType.Normal, data: new Uint8Array(16) }];
  await run('small MsgApp (1 entry of 16 B)', 300_000, 1024, (i) => app(i, small));
  const big = Array.from({ length: 64 }, (_, i) => ({ term: term(1), index: logIndex(i + 1), type: EntryType.Normal, data: new Uint8Array(16 * 1024).fill(i) }));
  await run('1 MiB MsgApp (64 entries of 16 KiB)', 2000, 8, (i) => app(i, big));

  const data = new Uint8Array(256 * MiB).fill(7);
  const start = performance.now();
  await new Promise<void>((resolve) => {
    snapshotDone = resolve;
    a.send([{ ...app(0, []), type: MessageType.Snap, snapshot: { metadata: { index: logIndex(1), term: term(1), confState: { voters: [nodeId(1), nodeId(2)], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } }, data } }]);
  });
  const s = (performance.now() - start) / 1000;
  console.log(`snapshot: 256 MiB verified and delivered in ${s.toFixed(2)} s = ${(256 / s).toFixed(0)} MiB/s`);
  await Promise.all([a.close(), b.close()]);
}

function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

await main();
