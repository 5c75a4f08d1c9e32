import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { logIndex } from '../util/branded.js';
import { errnoOf } from './file_system.js';
import { NodeFileSystem } from './node_file_system.js';
import { RaftLog } from './raft_log.js';
import { entries, hardState, MEMBER } from './test_helpers.js';

async function withTmp(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'meridian-storage-'));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('the real file system does what the interface promises', () =>
  withTmp(async (dir) => {
    const fs = new NodeFileSystem();
    await fs.mkdir(join(dir, 'd'));
    const path = join(dir, 'd', 'f');
    const h = await fs.open(path, 'create');
    await h.write(new Uint8Array([1, 2, 3]), 0);
    await h.write(new Uint8Array([9]), 5);
    await h.datasync();
    assert.equal(await h.size(), 6);
    const buf = new Uint8Array(10);
    assert.equal(await h.read(buf, 0), 6);
    assert.deepEqual([...buf.subarray(0, 6)], [1, 2, 3, 0, 0, 9]);
    await h.truncate(2);
    await h.close();
    assert.deepEqual([...(await fs.readFile(path))], [1, 2]);
    await assert.rejects(fs.open(path, 'create'), (e: unknown) => errnoOf(e) === 'EEXIST');
    await fs.rename(path, join(dir, 'd', 'g'));
    await fs.syncDir(join(dir, 'd'));
    assert.deepEqual(await fs.readdir(join(dir, 'd')), ['g']);
    assert.equal(await fs.exists(path), false);
    await fs.unlink(join(dir, 'd', 'g'));
    await fs.rmdir(join(dir, 'd'));
    assert.equal(await fs.exists(join(dir, 'd')), false);
  }));

test('a durable write reaches the open file even after it was renamed, and leaves others alone', () =>
  withTmp(async (dir) => {
    const fs = new NodeFileSystem();
    const h = await fs.open(join(dir, 'a.tmp'), 'create');
    await h.write(new Uint8Array([1, 1, 1, 1]), 0);
    await fs.rename(join(dir, 'a.tmp'), join(dir, 'a'));
    // A new file under the old name must not receive the durable write.
    const other = await fs.open(join(dir, 'a.tmp'), 'create');
    await h.writeDurable(new Uint8Array([7, 8]), 1);
    await h.writeDurable(new Uint8Array([9]), 4);
    await h.close();
    await other.close();
    assert.deepEqual([...(await fs.readFile(join(dir, 'a')))], [1, 7, 8, 1, 9]);
    assert.deepEqual([...(await fs.readFile(join(dir, 'a.tmp')))], []);
  }));

test('a raft log on the real disk survives close and reopen', () =>
  withTmp(async (dir) => {
    const fs = new NodeFileSystem();
    const data = join(dir, 'member');
    const opts = { ...MEMBER, segmentBytes: 64 * 1024 };
    let log = await RaftLog.open(fs, data, opts);
    for (let i = 0; i < 40; i++) await log.save({ hardState: hardState(2, 1, i * 10), entries: entries(i * 10 + 1, i * 10 + 10, 2, 200) });
    assert.ok(log.stats.segmentsCut >= 1);
    await log.close();
    log = await RaftLog.open(fs, data, opts);
    assert.equal(log.storage.lastIndex(), 400);
    assert.deepEqual(log.hardState, hardState(2, 1, 390));
    const got = log.storage.entries(log.storage.firstIndex(), logIndex(401), Number.MAX_SAFE_INTEGER);
    assert.ok(Array.isArray(got) && got.length === 400);
    await log.close();
  }));
