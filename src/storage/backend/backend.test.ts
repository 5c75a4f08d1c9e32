// The Backend contract, checked on both engines: buffered writes visible to reads, atomic commit, crash drops
// what was not committed, read views isolated from later commits.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Backend } from './backend.js';
import { LmdbBackend } from './lmdb_backend.js';
import { MemoryBackend } from './memory_backend.js';

const b = (s: string): Uint8Array => Buffer.from(s);
const s = (x: Uint8Array | undefined): string | undefined => (x === undefined ? undefined : Buffer.from(x).toString());

function contract(backend: Backend): void {
  backend.put('kv', b('a'), b('1'));
  backend.put('meta', b('a'), b('m'));
  assert.equal(s(backend.get('kv', b('a'))), '1', 'a buffered write is visible');
  assert.equal(backend.bufferedWrites(), 2);
  backend.commit((put) => put('kv', b('c'), b('3')));
  assert.equal(backend.bufferedWrites(), 0);
  assert.equal(s(backend.get('kv', b('c'))), '3');
  const view = backend.readView();
  backend.delete('kv', b('a'));
  backend.put('kv', b('b'), b('2'));
  assert.equal(backend.get('kv', b('a')), undefined, 'a buffered delete is visible');
  backend.commit();
  assert.deepEqual([...view.entries('kv')].map((e) => s(e.key)), ['a', 'c'], 'the view predates the commit');
  view.release();
  const after = backend.readView();
  assert.deepEqual([...after.entries('kv')].map((e) => [s(e.key), s(e.value)]), [['b', '2'], ['c', '3']]);
  assert.deepEqual([...after.entries('meta')].map((e) => s(e.key)), ['a']);
  after.release();
}

test('memory backend keeps the contract and loses only uncommitted writes on crash', () => {
  const m = new MemoryBackend();
  contract(m);
  m.put('kv', b('lost'), b('x'));
  m.crash();
  const again = m.reopen();
  assert.equal(again.get('kv', b('lost')), undefined);
  assert.equal(s(again.get('kv', b('b'))), '2');
  again.clear();
  assert.equal(again.get('kv', b('b')), undefined);
});

test('LMDB backend keeps the contract and loses only uncommitted writes on close', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'meridian-backend-test-'));
  try {
    let l = new LmdbBackend({ path: dir });
    contract(l);
    l.put('kv', b('lost'), b('x'));
    await l.closeAndWait();
    l = new LmdbBackend({ path: dir });
    assert.equal(l.get('kv', b('lost')), undefined);
    assert.equal(s(l.get('kv', b('b'))), '2');
    assert.ok(l.sizeBytes() > 0);
    l.clear();
    assert.equal(l.get('kv', b('c')), undefined);
    await l.closeAndWait();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
