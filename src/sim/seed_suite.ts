// Runs a range of simulator seeds as node:test subtests; each failing seed names its replay command.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSeed } from './cluster_sim.js';

/** Faults drawn per seed in the default suite (TESTING.md asks for many per seed, not one). */
export const SUITE_FAULTS_MIN = 10;

export function seedSuite(from: number, to: number): void {
  const only = process.env['SEED'];
  const seeds = only !== undefined ? [Number(only)] : Array.from({ length: to - from + 1 }, (_, i) => from + i);
  for (const seed of seeds) {
    test(`simulator seed ${seed}`, async (t) => {
      const r = await runSeed({ seed, faultsMin: SUITE_FAULTS_MIN, faultsMax: SUITE_FAULTS_MIN + 6 });
      assert.ok(r.faultCount >= SUITE_FAULTS_MIN, `only ${r.faultCount} faults injected`);
      assert.deepEqual(r.violations, [], `seed ${seed} (${r.topology}) failed; replay: SEED=${seed} npm run sim`);
      assert.notEqual(r.linearizability, 'illegal');
      t.diagnostic(`${r.topology}; ${r.faultCount} faults; ${(r.simulatedMs / 1000).toFixed(0)} s simulated; ${r.operations} ops; linearizability ${r.linearizability}`);
    });
  }
}
