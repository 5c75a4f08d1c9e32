// Runs every Raft interaction script in testdata/ and compares its output with the expected text.
// REWRITE=1 regenerates the expected output (then read the diff before committing it).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InteractionEnv, parseScript, rewriteScript } from './interaction_env.js';

const dir = fileURLToPath(new URL('../../../src/raft/testdata', import.meta.url));
const scripts = readdirSync(dir).filter((f) => f.endsWith('.txt') && f !== 'quorum.txt').sort();

test('there are interaction scripts', () => {
  assert.ok(scripts.length >= 8, `expected at least 8 scripts in ${dir}, found ${scripts.length}`);
});

for (const file of scripts) {
  test(`script ${file}`, () => {
    const path = join(dir, file);
    const text = readFileSync(path, 'utf8');
    const env = new InteractionEnv();
    const outputs: string[] = [];
    for (const c of parseScript(text)) {
      const got = env.handle(c.command);
      outputs.push(got);
      if (process.env['REWRITE'] !== '1') {
        assert.equal(got, c.expected, `${file}:${c.line}: output of "${c.command}" differs`);
      }
    }
    if (process.env['REWRITE'] === '1') writeFileSync(path, rewriteScript(text, outputs));
  });
}
