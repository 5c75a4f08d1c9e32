// Enforces the one-way layer rule of ARCHITECTURE.md and the purity bans of the raft core.
// Reads the TypeScript sources as text; exits non-zero listing every violation.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, dirname, resolve } from 'node:path';

// Which layers each layer may import (besides itself).
const allowed = {
  util: [],
  raft: ['util'],
  storage: ['util', 'raft'],
  kv: ['util', 'storage'],
  wire: ['util'],
  server: ['util', 'raft', 'storage', 'kv', 'wire'],
  client: ['util', 'wire'],
  cli: ['util', 'server', 'client', 'wire'],
  sim: ['util', 'raft', 'storage', 'kv', 'server', 'client', 'wire'],
  web: [],
};

// Banned inside src/raft: anything that makes the core impure or non-deterministic.
const raftBans = [
  [/from\s+['"]node:/, 'imports a node:* module'],
  [/\bimport\s*\(/, 'uses a dynamic import'],
  [/\b(setTimeout|setInterval|setImmediate|queueMicrotask)\s*\(/, 'uses a timer'],
  [/\bDate\b/, 'reads the clock (Date)'],
  [/\bperformance\s*\./, 'reads the clock (performance)'],
  [/Math\.random/, 'uses Math.random'],
  [/\bPromise\b|\basync\s|\bawait\s/, 'uses promises or async'],
  [/\bprocess\./, 'touches process'],
];

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path, out);
    else if (name.endsWith('.ts')) out.push(path);
  }
  return out;
}

function stripComments(text) {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1');
}

const root = resolve('src');
const violations = [];
for (const file of walk(root, [])) {
  const layer = relative(root, file).split(/[\\/]/)[0];
  if (!(layer in allowed)) {
    violations.push(`${file}: folder "${layer}" is not a layer of ARCHITECTURE.md`);
    continue;
  }
  const text = stripComments(readFileSync(file, 'utf8'));
  // Test code (tests and a folder's testing.ts) may use the real member processes of any layer's test support.
  const isTestCode = file.endsWith('.test.ts') || file.endsWith('/testing.ts');
  for (const match of text.matchAll(/(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/g)) {
    const spec = match[1];
    if (!spec.startsWith('.')) continue;
    const target = relative(root, resolve(dirname(file), spec)).split(/[\\/]/)[0];
    if (target === layer) continue;
    if (isTestCode && resolve(dirname(file), spec).endsWith('/server/process_cluster.js')) continue;
    if (target === 'sim') violations.push(`${file}: imports sim (nothing may import the simulator)`);
    else if (!allowed[layer].includes(target)) violations.push(`${file}: layer ${layer} may not import ${target} ("${spec}")`);
  }
  if (layer === 'raft' && !file.endsWith('.test.ts')) {
    for (const [pattern, what] of raftBans) {
      if (pattern.test(text)) violations.push(`${file}: raft ${what}`);
    }
  }
}

if (violations.length > 0) {
  console.error(`Layer check failed (${violations.length}):\n  ${violations.join('\n  ')}`);
  process.exit(1);
}
console.log('Layer check passed.');
