// `npm run bench:raft`: raw speed of the Raft core with no I/O — committed entries per second through a
// three-member in-process cluster with small payloads — and the simulator's simulated seconds per wall second.

import { performance } from 'node:perf_hooks';
import { TestCluster } from '../src/raft/test_cluster.js';
import { runSeed } from '../src/sim/cluster_sim.js';

function raftThroughput(batch: number, totalEntries: number): { entriesPerSec: number; messages: number } {
  const c = new TestCluster([1, 2, 3], { recordApplied: false, maxInflightMsgs: 256, maxSizePerMsg: 1024 * 1024 });
  const leader = c.node(1).rawNode;
  leader.campaign();
  c.stabilize();
  const payload = new Uint8Array(16).fill(7);
  let messages = 0;
  const started = performance.now();
  for (let done = 0; done < totalEntries; done += batch) {
    for (let i = 0; i < batch; i++) leader.propose(payload);
    messages += c.stabilize();
  }
  const seconds = (performance.now() - started) / 1000;
  return { entriesPerSec: leader.raft.log.applied / seconds, messages };
}

async function simulatorSpeed(seeds: number): Promise<{ simulatedPerWall: number; seconds: number }> {
  let simulatedMs = 0;
  const started = performance.now();
  for (let s = 1; s <= seeds; s++) simulatedMs += (await runSeed({ seed: s })).simulatedMs;
  const wall = (performance.now() - started) / 1000;
  return { simulatedPerWall: simulatedMs / 1000 / wall, seconds: wall };
}

async function main(): Promise<void> {
  console.log('Raft core, 3 members in one process, no I/O, 16-byte entries');
  console.log('batch   entries/s   messages');
  // Warm up the JIT before measuring.
  raftThroughput(64, 50_000);
  for (const batch of [1, 16, 256, 4096]) {
    const total = batch === 1 ? 50_000 : 400_000;
    const r = raftThroughput(batch, total);
    console.log(`${String(batch).padStart(5)}  ${Math.round(r.entriesPerSec).toLocaleString('en-US').padStart(10)}  ${r.messages.toLocaleString('en-US').padStart(9)}`);
  }
  const sim = await simulatorSpeed(20);
  console.log(`\nSimulator: 20 seeds in ${sim.seconds.toFixed(1)} s wall, ${sim.simulatedPerWall.toFixed(0)} simulated seconds per wall second`);
}

await main();
