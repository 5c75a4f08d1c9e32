// Multi-DC: leader lease reads under faults (clock faults within the documented assumption), automatic learner
// promotion that respects the survival goal, and the staleness checker catching reads served without proof.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterSim, runSeed } from './cluster_sim.js';
import { FAULT_KINDS } from './faults.js';
import { multiDcOptions, NOW_DRIFT_RATE } from './sim_multidc.js';

const SEED = process.env['SEED'] !== undefined ? Number(process.env['SEED']) : 1;
/** Lease reads assume bounded clock drift; the catalogue's clock-drift fault runs timers up to 2× off, beyond it. */
const LEASE_FAULTS = FAULT_KINDS.filter((k) => k !== 'clock-drift');

test(`leader lease reads stay linearizable under faults, deposed leaders included (seeds ${SEED}, ${SEED + 1})`, async (t) => {
  let served = 0;
  for (const seed of [SEED, SEED + 1]) {
    const r = await runSeed(multiDcOptions({ seed, leaseReadShare: 0.5, faultKinds: LEASE_FAULTS, faultsMin: 10, faultsMax: 16 }));
    t.diagnostic(`seed ${seed}: ${r.leaseReadsServed ?? 0} lease reads; linearizability ${r.linearizability}`);
    assert.deepEqual(r.violations, [], `replay: SEED=${seed} node --test dist/src/sim/sim_multidc_3.test.js`);
    served += r.leaseReadsServed ?? 0;
  }
  assert.ok(served > 0, 'some reads were served on a lease');
});

test('auto-promotion promotes a learner only where the survival goal still holds', async () => {
  const votersAfter = async (learnerDcs: string[]): Promise<Set<number>> => {
    const sim = new ClusterSim(multiDcOptions({ seed: SEED, learnerDcs, autoPromote: true, scenario: () => undefined, safetyElectionTimeouts: 8 }));
    const r = await sim.run();
    assert.deepEqual(r.violations, []);
    return new Set<number>(sim.voters());
  };
  // 2-2-1 + a learner in ap-south: 2-2-2 survives any one DC, so it is promoted.
  assert.ok((await votersAfter(['ap-south'])).has(6));
  // 2-2-1 + a learner in us-east: 3-2-1 would not survive losing us-east, so it stays a learner.
  assert.ok(!(await votersAfter(['us-east'])).has(6));
});

test('the staleness checker catches bounded reads served without a proof of freshness', async () => {
  let caught = 0;
  for (const seed of [SEED, SEED + 1, SEED + 2]) {
    const o = multiDcOptions({ seed, faultKinds: ['isolate-dc', 'isolate-leader', 'split'], faultsMin: 10, faultsMax: 12 });
    const md = o.multiDc;
    assert.ok(md !== undefined);
    // A margin of minus a day: any proof, however old, "fits" the bound. Served locally, that is stale.
    const r = await runSeed({ ...o, multiDc: { ...md, nowDriftRate: NOW_DRIFT_RATE, member: { ...md.member, stalenessMarginMs: -86_400_000 } } });
    if (r.violations.some((v) => v.startsWith('t=') && v.includes('bounded staleness'))) caught++;
  }
  assert.ok(caught > 0, 'no seed caught a stale bounded read');
});
