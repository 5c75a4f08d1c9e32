// Runs every compiled test file (dist/**/*.test.js) with node's built-in test runner.
// Kept as a script so `npm test` works the same on every shell; extra arguments go to the runner.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function findTests(dir, out) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) findTests(path, out);
    else if (name.endsWith('.test.js')) out.push(path);
  }
  return out;
}

/** A test still running after this long has hung (the slowest take about a minute): it fails instead of eating CI. */
const TEST_TIMEOUT_MS = 300_000;

const filter = process.env.TEST_FILTER ?? '';
const files = findTests('dist', []).filter((f) => f.includes(filter)).sort();
if (files.length === 0) {
  console.error(`No test files found under dist/ matching "${filter}". Run \`npm run build\` first.`);
  process.exit(1);
}
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=2', `--test-timeout=${TEST_TIMEOUT_MS}`, ...process.argv.slice(2), ...files], {
  stdio: 'inherit',
});
process.exit(result.status ?? 1);
