import { test } from 'node:test';
import assert from 'node:assert/strict';
import { logIndex, nodeId, term } from '../util/branded.js';
import { Prng } from '../util/prng.js';
import type { Snapshot } from '../raft/types.js';
import { StorageCorruptionError } from './errors.js';
import { SimFileSystem } from './sim_file_system.js';
import { decodeSnapshot, encodeSnapshotHead, parseSnapshotFileName, snapshotFileName, Snapshotter } from './snapshotter.js';

function snap(index: number, t: number, data = new Uint8Array([1, 2, 3, 4])): Snapshot {
  return {
    metadata: {
      index: logIndex(index),
      term: term(t),
      confState: { voters: [nodeId(1), nodeId(2)], learners: [nodeId(7)], votersOutgoing: [nodeId(3)], learnersNext: [], autoLeave: true },
    },
    data,
  };
}

function fileOf(s: Snapshot): Uint8Array {
  const head = encodeSnapshotHead(s);
  const out = new Uint8Array(head.byteLength + s.data.byteLength);
  out.set(head, 0);
  out.set(s.data, head.byteLength);
  return out;
}

test('a snapshot file round-trips metadata, configuration and data', () => {
  const s = snap(2 ** 40, 7, new Uint8Array(1000).map((_, i) => i));
  assert.deepEqual(decodeSnapshot(fileOf(s), 'x'), s);
  const empty = snap(0, 0, new Uint8Array(0));
  assert.deepEqual(decodeSnapshot(fileOf(empty), 'x'), empty);
});

test('any flipped bit or truncation is reported as corruption naming the file and an offset', () => {
  const bytes = fileOf(snap(9, 2));
  for (let bit = 0; bit < bytes.byteLength * 8; bit++) {
    const copy = bytes.slice();
    copy[bit >> 3] = (copy[bit >> 3] as number) ^ (1 << (bit & 7));
    assert.throws(
      () => decodeSnapshot(copy, '/s/f.snap'),
      (e: unknown) => e instanceof StorageCorruptionError && e.file === '/s/f.snap' && e.offset >= 0 && /\/s\/f\.snap is corrupt at byte offset/.test(e.message),
    );
  }
  for (let len = 0; len < bytes.byteLength; len++) {
    assert.throws(() => decodeSnapshot(bytes.subarray(0, len), 'f'), StorageCorruptionError);
  }
});

test('file names carry term and index', () => {
  const name = snapshotFileName(term(3), logIndex(255));
  assert.equal(name, '0000000000000003-00000000000000ff.snap');
  assert.deepEqual(parseSnapshotFileName(name), { term: 3, index: 255 });
  assert.equal(parseSnapshotFileName('x.snap'), null);
  assert.equal(parseSnapshotFileName(`${name}.tmp`), null);
});

test('save writes under a temporary name, syncs, renames and syncs the directory', async () => {
  const fs = new SimFileSystem(new Prng(1));
  await fs.mkdir('/snap');
  await fs.syncDir('/');
  const ops: string[] = [];
  fs.onOp = (op) => ops.push(`${op.kind} ${op.path}`);
  const s = new Snapshotter(fs, '/snap');
  const file = await s.save(snap(5, 1));
  assert.deepEqual(ops, [
    `create ${file.path}.tmp`,
    `write ${file.path}.tmp`,
    `write ${file.path}.tmp`,
    `datasync ${file.path}.tmp`,
    `rename ${file.path}.tmp -> ${file.path}`,
    'syncDir /snap',
  ]);
  fs.crash();
  fs.restart();
  assert.deepEqual(await s.load(file), snap(5, 1));
});

test('list is newest first and clears temporary leftovers; prune keeps the newest', async () => {
  const fs = new SimFileSystem(new Prng(1));
  await fs.mkdir('/snap');
  const s = new Snapshotter(fs, '/snap');
  for (const i of [3, 10, 7, 1]) await s.save(snap(i, 1));
  await (await fs.open('/snap/leftover.snap.tmp', 'create')).close();
  assert.deepEqual((await s.list()).map((f) => f.index), [10, 7, 3, 1]);
  assert.equal(await fs.exists('/snap/leftover.snap.tmp'), false);
  assert.equal(await s.prune(2), 2);
  assert.deepEqual((await s.list()).map((f) => f.index), [10, 7]);
});

test('a file whose contents disagree with its name is refused', async () => {
  const fs = new SimFileSystem(new Prng(1));
  await fs.mkdir('/snap');
  const s = new Snapshotter(fs, '/snap');
  const file = await s.save(snap(5, 1));
  await fs.rename(file.path, '/snap/0000000000000001-0000000000000006.snap');
  const [renamed] = await s.list();
  assert.ok(renamed !== undefined);
  await assert.rejects(s.load(renamed), /index 5 term 1, its name says index 6/);
});
