// `npm run sim -- --seeds N [--from S] [--faults-min N]`: runs many simulator seeds and prints a summary.
// Any failing seed replays exactly with `SEED=<seed> npm run sim`.

import { performance } from 'node:perf_hooks';
import { FAULT_KINDS, type FaultKind } from './faults.js';
import { runSeed, type SimReport } from './cluster_sim.js';

interface Args {
  seeds: number;
  from: number;
  faultsMin: number;
  verbose: boolean;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { seeds: 100, from: 1, faultsMin: 10, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 0) throw new Error(`${a} needs a non-negative integer, got "${argv[i] ?? ''}"`);
      return v;
    };
    if (a === '--seeds') args.seeds = value();
    else if (a === '--from') args.from = value();
    else if (a === '--faults-min') args.faultsMin = value();
    else if (a === '--verbose' || a === '-v') args.verbose = true;
    else throw new Error(`unknown argument "${a}"; usage: npm run sim -- [--seeds N] [--from S] [--faults-min N] [--verbose]`);
  }
  return args;
}

async function main(): Promise<void> {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error((err as Error).message);
    process.exit(2);
  }
  const single = process.env['SEED'];
  const seeds = single !== undefined ? [Number(single)] : Array.from({ length: args.seeds }, (_, i) => args.from + i);
  const started = performance.now();
  const faults: Partial<Record<FaultKind, number>> = {};
  let simulatedMs = 0;
  let operations = 0;
  let events = 0;
  const failed: SimReport[] = [];
  for (const [i, seed] of seeds.entries()) {
    const r = await runSeed({ seed, faultsMin: args.faultsMin, faultsMax: args.faultsMin + 6 });
    for (const [k, n] of Object.entries(r.faults)) faults[k as FaultKind] = (faults[k as FaultKind] ?? 0) + n;
    simulatedMs += r.simulatedMs;
    operations += r.operations;
    events += r.events;
    if (r.violations.length > 0) failed.push(r);
    if (args.verbose || r.violations.length > 0 || seeds.length === 1) {
      console.log(`seed ${seed}: ${r.topology}; ${r.faultCount} faults; ${(r.simulatedMs / 1000).toFixed(1)} s simulated; ` +
        `${r.operations} ops (${r.unknownOperations} unknown); ${r.committedEntries} entries; ${r.leaderElections} elections; ` +
        `linearizability ${r.linearizability}`);
      for (const v of r.violations) console.log(`  VIOLATION ${v}`);
    }
    if (!args.verbose && seeds.length > 1 && (i + 1) % 50 === 0) {
      process.stderr.write(`  ${i + 1}/${seeds.length} seeds, ${failed.length} failing, ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
    }
  }
  const wallS = (performance.now() - started) / 1000;
  const totalFaults = Object.values(faults).reduce((a, b) => a + b, 0);
  console.log(`\nseeds: ${seeds.length}, failing: ${failed.length}${failed.length > 0 ? ` (${failed.map((r) => r.seed).join(', ')})` : ''}`);
  console.log(`faults injected: ${totalFaults} (${(totalFaults / seeds.length).toFixed(1)} per seed)`);
  for (const k of FAULT_KINDS) console.log(`  ${k.padEnd(16)} ${faults[k] ?? 0}`);
  console.log(`simulated time: ${(simulatedMs / 1000).toFixed(0)} s in ${wallS.toFixed(1)} s wall (${(simulatedMs / 1000 / wallS).toFixed(0)} simulated s per wall s)`);
  console.log(`client operations: ${operations}; events: ${events}`);
  if (failed.length > 0) {
    console.log(`replay one with: SEED=${failed[0]?.seed} npm run sim`);
    process.exit(1);
  }
}

await main();
