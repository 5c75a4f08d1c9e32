import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Prng } from '../util/prng.js';
import { errnoOf } from './file_system.js';
import { SimCrashError, SimFileSystem, type SimOp } from './sim_file_system.js';
import { prngFor } from './test_helpers.js';

const bytes = (...b: number[]): Uint8Array => new Uint8Array(b);

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => errnoOf(e) === code);
}

async function freshDir(fs: SimFileSystem): Promise<void> {
  await fs.mkdir('/d');
  await fs.syncDir('/');
}

test('synced data and synced directory entries survive a crash; the rest does not', async () => {
  const fs = new SimFileSystem(new Prng(1));
  await freshDir(fs);
  const a = await fs.open('/d/a', 'create');
  await a.write(bytes(1, 2, 3), 0);
  await a.datasync();
  await fs.syncDir('/d');
  await a.write(bytes(9, 9), 3);
  const b = await fs.open('/d/b', 'create');
  await b.write(bytes(7), 0);
  await b.datasync(); // data synced, but the name never was
  fs.crash();
  await assert.rejects(fs.readdir('/d'), SimCrashError);
  fs.restart();
  assert.deepEqual(await fs.readdir('/d'), ['a']);
  assert.deepEqual([...(await fs.readFile('/d/a'))], [1, 2, 3]);
  await rejectsWith(a.write(bytes(1), 0), 'EBADF');
});

test('a directory not synced into its parent vanishes with everything in it', async () => {
  const fs = new SimFileSystem(new Prng(1));
  await fs.mkdir('/d');
  const f = await fs.open('/d/x', 'create');
  await f.write(bytes(1), 0);
  await f.datasync();
  await fs.syncDir('/d');
  fs.crash();
  fs.restart();
  assert.equal(await fs.exists('/d'), false);
});

test('rename and unlink are volatile until the directory is synced', async () => {
  const fs = new SimFileSystem(new Prng(1));
  await freshDir(fs);
  const f = await fs.open('/d/tmp', 'create');
  await f.write(bytes(5), 0);
  await f.datasync();
  await fs.syncDir('/d');
  await fs.rename('/d/tmp', '/d/final');
  fs.crash();
  fs.restart();
  assert.deepEqual(await fs.readdir('/d'), ['tmp']);
  await fs.rename('/d/tmp', '/d/final');
  await fs.syncDir('/d');
  await fs.unlink('/d/final');
  fs.crash();
  fs.restart();
  assert.deepEqual(await fs.readdir('/d'), ['final']);
  assert.deepEqual([...(await fs.readFile('/d/final'))], [5]);
});

test('a failed fsync reports EIO and the dirty data never becomes durable, even after a later good fsync', async () => {
  const fs = new SimFileSystem(new Prng(1));
  await freshDir(fs);
  const f = await fs.open('/d/f', 'create');
  await fs.syncDir('/d');
  await f.write(bytes(1, 1), 0);
  fs.failNextSync();
  await rejectsWith(f.datasync(), 'EIO');
  await f.datasync();
  assert.deepEqual([...(await fs.readFile('/d/f'))], [1, 1], 'still visible before the crash');
  fs.crash();
  fs.restart();
  assert.equal((await fs.readFile('/d/f')).byteLength, 0);
});

test('a failed write reports EIO; a failed directory sync makes nothing durable', async () => {
  const fs = new SimFileSystem(new Prng(1));
  await freshDir(fs);
  const f = await fs.open('/d/f', 'create');
  fs.failNextWrite();
  await rejectsWith(f.write(new Uint8Array(2048).fill(1), 0), 'EIO');
  fs.failNextSync();
  await rejectsWith(fs.syncDir('/d'), 'EIO');
  fs.crash();
  fs.restart();
  assert.deepEqual(await fs.readdir('/d'), []);
});

test('with skipDirSync a directory sync succeeds but persists nothing', async () => {
  const fs = new SimFileSystem(new Prng(1));
  await freshDir(fs);
  fs.faults.skipDirSync = true;
  await (await fs.open('/d/f', 'create')).datasync();
  await fs.syncDir('/d');
  fs.crash();
  fs.restart();
  assert.deepEqual(await fs.readdir('/d'), []);
});

test('a full disk refuses growth with ENOSPC but allows overwrites', async () => {
  const fs = new SimFileSystem(new Prng(1));
  await freshDir(fs);
  fs.faults.capacityBytes = 100;
  const f = await fs.open('/d/f', 'create');
  await f.write(new Uint8Array(100), 0);
  await rejectsWith(f.write(bytes(1), 100), 'ENOSPC');
  await f.write(bytes(1, 2), 50);
  assert.equal(fs.usedBytes(), 100);
});

test('flipBit corrupts a file at rest, in both layers', async () => {
  const fs = new SimFileSystem(new Prng(1));
  await freshDir(fs);
  const f = await fs.open('/d/f', 'create');
  await fs.syncDir('/d');
  await f.write(bytes(0, 0, 0), 0);
  await f.datasync();
  fs.flipBit('/d/f', 1, 3);
  assert.deepEqual([...(await fs.readFile('/d/f'))], [0, 8, 0]);
  fs.crash();
  fs.restart();
  assert.deepEqual([...(await fs.readFile('/d/f'))], [0, 8, 0]);
});

test('torn writes keep a prefix of the unsynced changes, never more than was written', async (t) => {
  const prng = prngFor((l) => t.diagnostic(l));
  for (let round = 0; round < 50; round++) {
    const fs = new SimFileSystem(prng.fork());
    fs.faults.tornWrites = true;
    await freshDir(fs);
    const f = await fs.open('/d/f', 'create');
    await fs.syncDir('/d');
    await f.write(new Uint8Array(4096), 0);
    await f.datasync();
    const data = new Uint8Array(3000).fill(0xee);
    await f.write(data, 100);
    fs.crash();
    fs.restart();
    const after = await fs.readFile('/d/f');
    assert.equal(after.byteLength, 4096);
    assert.ok(after.subarray(0, 100).every((b) => b === 0) && after.subarray(3100).every((b) => b === 0));
    assert.ok(after.subarray(100, 3100).every((b) => b === 0 || b === 0xee));
  }
});

test('crashAt stops the machine just before the numbered operation, and the same seed replays the same run', async () => {
  const run = async (crashAt: number | null): Promise<SimOp[]> => {
    const fs = new SimFileSystem(new Prng(42));
    const ops: SimOp[] = [];
    fs.onOp = (op) => ops.push(op);
    fs.crashAt(crashAt);
    try {
      await freshDir(fs);
      const f = await fs.open('/d/f', 'create');
      await f.write(bytes(1), 0);
      await f.datasync();
    } catch (e) {
      assert.ok(e instanceof SimCrashError);
      assert.ok(fs.crashed);
    }
    return ops;
  };
  const all = await run(null);
  assert.deepEqual(
    all.map((o) => o.kind),
    ['mkdir', 'syncDir', 'create', 'write', 'datasync'],
  );
  const partial = await run(3);
  assert.equal(partial.length, 4);
  assert.deepEqual(await run(null), all);
});

test('paths are checked like a real file system', async () => {
  const fs = new SimFileSystem(new Prng(1));
  await freshDir(fs);
  await rejectsWith(fs.open('/d/none', 'read'), 'ENOENT');
  await rejectsWith(fs.open('/nodir/f', 'create'), 'ENOENT');
  await (await fs.open('/d/f', 'create')).close();
  await rejectsWith(fs.open('/d/f', 'create'), 'EEXIST');
  await rejectsWith(fs.mkdir('/d'), 'EEXIST');
  await rejectsWith(fs.unlink('/d'), 'EISDIR');
  await rejectsWith(fs.rmdir('/d'), 'ENOTEMPTY');
  const h = await fs.open('/d/f', 'readWrite');
  await h.close();
  await rejectsWith(h.write(bytes(1), 0), 'EBADF');
});
