// Quorum arithmetic from the text tables in testdata/quorum.txt.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { nodeId, type LogIndex, type NodeId } from '../util/branded.js';
import { jointCommitted, jointVoteResult } from './quorum.js';

const tablePath = fileURLToPath(new URL('../../../src/raft/testdata/quorum.txt', import.meta.url));

function ids(text: string): Set<NodeId> {
  return new Set(text.trim().split(/\s+/).filter((s) => s !== '').map((s) => nodeId(Number(s))));
}

function pairs(text: string): Map<NodeId, string> {
  const out = new Map<NodeId, string>();
  for (const p of text.trim().split(/\s+/)) {
    if (p === '-' || p === '') continue;
    const [id, v] = p.split('=');
    out.set(nodeId(Number(id)), v ?? '');
  }
  return out;
}

const lines = readFileSync(tablePath, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));

test('quorum tables have rows', () => {
  assert.ok(lines.length >= 20, `expected at least 20 rows, found ${lines.length}`);
});

for (const line of lines) {
  test(`quorum: ${line}`, () => {
    const m = /^(committed|vote)\s+([^|]*)\|([^|]*)\|(.*)=>\s*(\S+)$/.exec(line);
    assert.ok(m !== null, `malformed row: ${line}`);
    const [, kind, inc, out, acked, expected] = m as unknown as [string, string, string, string, string, string];
    if (kind === 'committed') {
      const acks = pairs(acked);
      const got = jointCommitted(ids(inc), ids(out), (id) => (acks.has(id) ? (Number(acks.get(id)) as LogIndex) : undefined));
      assert.equal(String(got), expected);
    } else {
      const votes = new Map([...pairs(acked)].map(([id, v]) => [id, v === 'y'] as const));
      assert.equal(jointVoteResult(ids(inc), ids(out), votes), expected);
    }
  });
}
