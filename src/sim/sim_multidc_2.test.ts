// Multi-DC availability: each DC in turn is cut off, or all its members crash; writes must keep being
// acknowledged, every history check must pass, and after healing leadership returns to the preferred DC.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterSim, runSeed } from './cluster_sim.js';
import { DC_OUTAGES_SAFETY_TIMEOUTS, dcOutages, multiDcOptions } from './sim_multidc.js';

const SEED = process.env['SEED'] !== undefined ? Number(process.env['SEED']) : 1;

for (const mode of ['isolate', 'crash'] as const) {
  test(`writes continue with any one DC ${mode === 'isolate' ? 'cut off' : 'crashed'} (seed ${SEED})`, async (t) => {
    const r = await runSeed(multiDcOptions({ seed: SEED, scenario: dcOutages(mode), safetyElectionTimeouts: DC_OUTAGES_SAFETY_TIMEOUTS }));
    t.diagnostic(`${r.topology}; ${r.operations} ops; ${r.leaderElections} elections; linearizability ${r.linearizability}`);
    assert.deepEqual(r.violations, [], `replay: SEED=${SEED} node --test dist/src/sim/sim_multidc_2.test.js`);
    assert.notEqual(r.linearizability, 'illegal');
  });
}

test(`LAN-tuned timing over WAN links: adaptive timing stretches it, and the cluster stays safe under faults (seed ${SEED})`, async (t) => {
  const sim = new ClusterSim(multiDcOptions({ seed: SEED, lanTiming: true, faultsMin: 10, faultsMax: 16 }));
  const r = await sim.run();
  const scales = sim.members().filter((m) => m.member !== null).map((m) => `${m.id}:${m.member?.multiDc.status().timing.heartbeatMs.toFixed(0) ?? '-'}ms`);
  t.diagnostic(`heartbeats after the run ${scales.join(' ')}; ${r.leaderElections} elections; linearizability ${r.linearizability}`);
  assert.deepEqual(r.violations, [], `replay: SEED=${SEED} node --test dist/src/sim/sim_multidc_2.test.js`);
  const stretched = sim.members().some((m) => (m.member?.multiDc.status().timing.scale ?? 1) > 1);
  assert.ok(stretched, 'some member stretched its timing to the WAN round trips');
});
