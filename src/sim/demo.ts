// `npm start` (until the member server exists): one simulated three-data-center cluster under faults,
// narrated as it runs, then checked. Shows what the simulator does in under a minute.

import { performance } from 'node:perf_hooks';
import { runSeed } from './cluster_sim.js';

const seed = Number(process.env['SEED'] ?? 7);
console.log(`Meridian simulator demo: seed ${seed} (replay with SEED=${seed} npm start; many seeds: npm run sim -- --seeds 100)\n`);
const started = performance.now();
const r = await runSeed({ seed, log: (line) => console.log(line) });
const wall = (performance.now() - started) / 1000;
console.log(`\nTopology: ${r.topology}`);
console.log(`Faults injected: ${r.faultCount} (${Object.entries(r.faults).map(([k, n]) => `${k} ${n}`).join(', ')})`);
console.log(`Simulated ${(r.simulatedMs / 1000).toFixed(1)} s in ${wall.toFixed(1)} s wall; ${r.events.toLocaleString('en-US')} events`);
console.log(`Client operations: ${r.operations} (${r.unknownOperations} with unknown outcome); log entries committed: ${r.committedEntries}; elections: ${r.leaderElections}`);
console.log(`Linearizability: ${r.linearizability}; invariant violations: ${r.violations.length}`);
for (const v of r.violations) console.log(`  ${v}`);
process.exit(r.violations.length === 0 ? 0 : 1);
