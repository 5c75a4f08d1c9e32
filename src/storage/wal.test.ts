import { test } from 'node:test';
import assert from 'node:assert/strict';
import { term } from '../util/branded.js';
import { Prng } from '../util/prng.js';
import { StorageInconsistentError } from './errors.js';
import { RaftLog, type RaftLogOptions } from './raft_log.js';
import { SimFileSystem, type SimOp } from './sim_file_system.js';
import { collectSegment } from './segment_scan.js';
import { parseSegmentName, segmentName } from './wal.js';
import { entries, entry, hardState, MEMBER } from './test_helpers.js';

const DIR = '/d/m';
const SEGMENT_BYTES = 4096;
const OPTIONS: RaftLogOptions = { ...MEMBER, segmentBytes: SEGMENT_BYTES };

async function fresh(): Promise<{ fs: SimFileSystem; log: RaftLog }> {
  const fs = new SimFileSystem(new Prng(7));
  await fs.mkdir('/d');
  await fs.syncDir('/');
  return { fs, log: await RaftLog.open(fs, DIR, OPTIONS) };
}

const segmentFiles = async (fs: SimFileSystem): Promise<string[]> => (await fs.readdir(`${DIR}/wal`)).filter((n) => n.endsWith('.wal'));

test('segment names carry the sequence and the first index, in hex', () => {
  assert.equal(segmentName(3, 0x1f), '0000000000000003-000000000000001f.wal');
  assert.deepEqual(parseSegmentName('0000000000000003-000000000000001f.wal'), { seq: 3, firstIndex: 0x1f });
  assert.equal(parseSegmentName('3-1f.wal'), null);
  assert.equal(parseSegmentName('0.tmp'), null);
});

test('a cut renames a preallocated file and syncs the directory before writing the batch into it', async () => {
  const { fs, log } = await fresh();
  const ops: SimOp[] = [];
  fs.onOp = (op) => ops.push(op);
  for (let i = 1; log.stats.segmentsCut === 0 && i < 100; i++) await log.save({ entries: [entry(i, 1, 300)] });
  const rename = ops.findIndex((o) => o.kind === 'rename');
  assert.ok(rename > 0, 'a segment was cut');
  const after = ops.slice(rename).map((o) => `${o.kind} ${o.path.replace(`${DIR}/wal/`, '')}`);
  const newest = (await segmentFiles(fs)).at(-1) ?? '';
  assert.deepEqual(after.slice(0, 4), [`rename 0.tmp -> ${DIR}/wal/${newest}`, 'syncDir /d/m/wal', `write ${newest}`, `datasync ${newest}`]);
  assert.equal((await fs.readFile(`${DIR}/wal/${newest}`)).byteLength, SEGMENT_BYTES, 'preallocated to the segment size');
  const prepared = ops.filter((o) => o.path.endsWith('0.tmp')).map((o) => o.kind);
  assert.deepEqual(prepared.slice(0, 3), ['create', 'write', 'datasync'], 'zero-filled and synced before use');
});

test('a segment cut just before a crash, with no batch in it, is dropped and the log goes on', async () => {
  const { fs, log } = await fresh();
  let armed = false;
  fs.onOp = (op) => {
    // Power fails at the first write into a freshly cut segment.
    if (op.kind === 'rename') armed = true;
    else if (armed && op.kind === 'write' && op.path.endsWith('.wal')) fs.crashAt(op.seq);
  };
  let acked = 0;
  for (let i = 1; i < 100; i++) {
    try {
      await log.save({ hardState: hardState(1, 1, i - 1), entries: [entry(i, 1, 300)] });
      acked = i;
    } catch {
      break;
    }
  }
  assert.ok(fs.crashed);
  fs.onOp = null;
  await log.close().catch(() => undefined);
  fs.restart();
  const before = await segmentFiles(fs);
  const again = await RaftLog.open(fs, DIR, OPTIONS);
  assert.equal(again.storage.lastIndex(), acked);
  assert.equal((await segmentFiles(fs)).length, before.length - 1, 'the empty segment was removed');
  await again.save({ entries: entries(acked + 1, acked + 20, 1, 300) });
  assert.equal(again.storage.lastIndex(), acked + 20);
  await again.close();
});

test('segments left behind a gap by an interrupted release are ignored, then removed', async () => {
  const { fs, log } = await fresh();
  for (let i = 1; i <= 60; i++) await log.save({ hardState: hardState(1, 1, i), entries: [entry(i, 1, 300)] });
  await log.saveSnapshot({ metadata: { index: log.storage.lastIndex(), term: term(1), confState: log.storage.initialState().confState }, data: new Uint8Array(0) });
  await log.close();
  const names = await segmentFiles(fs);
  assert.ok(names.length >= 4);
  // A release that removed the second segment but not yet the first, then crashed.
  await fs.unlink(`${DIR}/wal/${names[1] ?? ''}`);
  const again = await RaftLog.open(fs, DIR, OPTIONS);
  assert.equal(again.storage.lastIndex(), 60);
  assert.equal(await fs.exists(`${DIR}/wal/${names[0] ?? ''}`), false, 'the stale segment was removed');
  await again.close();
});

test('a WAL directory without segments is refused: the log is lost', async () => {
  const { fs, log } = await fresh();
  await log.close();
  for (const name of await fs.readdir(`${DIR}/wal`)) await fs.unlink(`${DIR}/wal/${name}`);
  await assert.rejects(RaftLog.open(fs, DIR, OPTIONS), (e: unknown) => e instanceof StorageInconsistentError && /holds no WAL segment/.test(e.message));
});

test('a torn tail is zeroed on disk and synced before new batches go after it', async () => {
  const { fs, log } = await fresh();
  await log.save({ hardState: hardState(1, 1, 0), entries: entries(1, 3, 1, 100) });
  await log.close();
  const [name] = await segmentFiles(fs);
  const path = `${DIR}/wal/${name ?? ''}`;
  const end = collectSegment(await fs.readFile(path), 1).scan.end;
  fs.poke(path, end + 8, new Uint8Array(40).fill(0x77)); // half a record of garbage after the tail
  const again = await RaftLog.open(fs, DIR, OPTIONS);
  assert.equal(again.stats.tornBytesRepaired, 48);
  assert.ok((await fs.readFile(path)).subarray(end).every((b) => b === 0));
  fs.crash();
  fs.restart();
  assert.ok((await fs.readFile(path)).subarray(end).every((b) => b === 0), 'the repair was synced');
});
