// ZooKeeper sessions under simulated faults and leader changes: every run opens sessions with ephemerals on the
// real member code; none may end early, keep an ephemeral past its end, lose one before it, or leave an orphan.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterSim } from './cluster_sim.js';

const SEEDS = process.env['SEED'] !== undefined ? [Number(process.env['SEED'])] : [11, 12, 13, 14];

for (const seed of SEEDS) {
  test(`sessions and ephemerals survive faults correctly, seed ${seed}`, async (t) => {
    const sim = new ClusterSim({ seed, faultsMin: 10, faultsMax: 16 });
    const r = await sim.run();
    assert.deepEqual(r.violations, [], `seed ${seed} (${r.topology}) failed; replay: SEED=${seed} node --test dist/src/sim/sim_sessions.test.js`);
    assert.ok(sim.sessions.count > 0, 'no session was opened');
    t.diagnostic(`SEED=${seed}: ${sim.sessions.count} sessions, ${sim.sessions.ephemeralCount} ephemerals, ${r.faultCount} faults, ${r.leaderElections} elections`);
  });
}
