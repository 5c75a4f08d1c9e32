// Multi-DC simulator seeds under the whole fault catalogue: 3 DCs, 5 voters 2-2-1 plus two learners, leader
// affinity, bounded-staleness reads checked against the history, monotonic clocks drifting within the margin.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSeed } from './cluster_sim.js';
import { SUITE_FAULTS_MIN } from './seed_suite.js';
import { multiDcOptions } from './sim_multidc.js';

const SEEDS = process.env['SEED'] !== undefined ? [Number(process.env['SEED'])] : [1, 2, 3, 4, 5];

for (const seed of SEEDS) {
  test(`multi-DC seed ${seed} under the fault catalogue`, async (t) => {
    const r = await runSeed(multiDcOptions({ seed, faultsMin: SUITE_FAULTS_MIN, faultsMax: SUITE_FAULTS_MIN + 6 }));
    t.diagnostic(`${r.topology}; ${r.faultCount} faults; ${r.operations} ops; bounded reads ${r.boundedReads?.reads ?? 0} (${r.boundedReads?.servedLocally ?? 0} local); linearizability ${r.linearizability}`);
    assert.deepEqual(r.violations, [], `replay: SEED=${seed} node --test dist/src/sim/sim_multidc_1.test.js`);
    assert.notEqual(r.linearizability, 'illegal');
    assert.ok((r.boundedReads?.servedLocally ?? 0) > 0, 'some bounded reads were served locally');
  });
}
