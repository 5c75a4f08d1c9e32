import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AssertionError } from '../util/assert.js';
import { logIndex, nodeId, term } from '../util/branded.js';
import { Prng } from '../util/prng.js';
import type { Entry, Snapshot } from '../raft/types.js';
import { StorageClosedError, StorageCorruptionError, StorageFailedError, StorageInconsistentError, WrongDataDirError } from './errors.js';
import { RaftLog, type RaftLogOptions } from './raft_log.js';
import { SimFileSystem, type SimOp } from './sim_file_system.js';
import { entries, entry, hardState, MEMBER, voters } from './test_helpers.js';

const DIR = '/data/m1';
const SEGMENT_BYTES = 8192;
const OPTIONS: RaftLogOptions = { ...MEMBER, segmentBytes: SEGMENT_BYTES, bootstrapConfState: voters(1, 2, 3) };

async function fresh(seed = 1, options: RaftLogOptions = OPTIONS): Promise<{ fs: SimFileSystem; log: RaftLog }> {
  const fs = new SimFileSystem(new Prng(seed));
  await fs.mkdir('/data');
  await fs.syncDir('/');
  return { fs, log: await RaftLog.open(fs, DIR, options) };
}

/** Power-cycles the machine and opens the log again. */
async function restart(fs: SimFileSystem, log: RaftLog, options: RaftLogOptions = OPTIONS): Promise<RaftLog> {
  fs.crash();
  await log.close().catch(() => undefined);
  fs.restart();
  return RaftLog.open(fs, DIR, options);
}

function allEntries(log: RaftLog): Entry[] {
  const s = log.storage;
  if (s.lastIndex() < s.firstIndex()) return [];
  const got = s.entries(s.firstIndex(), logIndex(s.lastIndex() + 1), Number.MAX_SAFE_INTEGER);
  assert.ok(Array.isArray(got));
  return [...got];
}

const summary = (es: readonly Entry[]): string[] => es.map((e) => `${e.index}@${e.term}`);

function snapshotAt(index: number, t: number, data = new Uint8Array([index & 0xff])): Snapshot {
  return { metadata: { index: logIndex(index), term: term(t), confState: voters(1, 2, 3) }, data };
}

test('a new directory starts empty with the bootstrap configuration, which a restart keeps', async () => {
  const { fs, log } = await fresh();
  assert.deepEqual(log.hardState, hardState(0, 0, 0));
  assert.equal(log.storage.lastIndex(), 0);
  assert.equal(log.storage.firstIndex(), 1);
  assert.deepEqual(log.storage.initialState().confState, voters(1, 2, 3));
  const again = await restart(fs, log, { ...OPTIONS, bootstrapConfState: voters(9) });
  assert.deepEqual(again.storage.initialState().confState, voters(1, 2, 3), 'bootstrap applies to a new directory only');
});

test('saved entries and hard state come back after a crash', async () => {
  const { fs, log } = await fresh();
  await log.save({ hardState: hardState(1, 1, 0), entries: entries(1, 3, 1) });
  await log.save({ hardState: hardState(1, 1, 3), entries: entries(4, 5, 1) });
  const again = await restart(fs, log);
  assert.deepEqual(again.hardState, hardState(1, 1, 3));
  assert.deepEqual(summary(allEntries(again)), ['1@1', '2@1', '3@1', '4@1', '5@1']);
  assert.deepEqual([...(allEntries(again)[2]?.data ?? [])], [...entry(3, 1).data]);
});

test('one save is one write and one fdatasync', async () => {
  const { fs, log } = await fresh();
  await log.save({ hardState: hardState(1, 1, 0), entries: [] });
  const ops: SimOp[] = [];
  fs.onOp = (op) => ops.push(op);
  await log.save({ hardState: hardState(1, 1, 2), entries: entries(1, 50, 1, 16) });
  assert.deepEqual(
    ops.map((o) => o.kind),
    ['write', 'datasync'],
  );
});

test('a follower overwriting a conflicting suffix keeps the new entries, also across restarts and segments', async () => {
  const { fs, log } = await fresh();
  await log.save({ hardState: hardState(1, 2, 0), entries: entries(1, 40, 1, 200) });
  await log.save({ hardState: hardState(2, 3, 0), entries: entries(30, 35, 2, 200) });
  assert.deepEqual(summary(allEntries(log)).slice(-7), ['29@1', '30@2', '31@2', '32@2', '33@2', '34@2', '35@2']);
  let again = await restart(fs, log);
  assert.equal(again.storage.lastIndex(), 35);
  assert.deepEqual(summary(allEntries(again)).slice(27), ['28@1', '29@1', '30@2', '31@2', '32@2', '33@2', '34@2', '35@2']);
  // Fill a few segments, then overwrite below the current segment's start.
  for (let i = 36; i <= 120; i += 5) await again.save({ entries: entries(i, i + 4, 2, 300) });
  assert.ok(again.stats.segmentsCut >= 2);
  await again.save({ hardState: hardState(3, 1, 0), entries: entries(33, 34, 3, 10) });
  again = await restart(fs, again);
  assert.equal(again.storage.lastIndex(), 34);
  assert.deepEqual(summary(allEntries(again)).slice(-4), ['31@2', '32@2', '33@3', '34@3']);
});

test('segments roll over when full; each new segment starts with the hard state and snapshot it continues from', async () => {
  const { fs, log } = await fresh();
  for (let i = 1; i <= 200; i++) await log.save({ hardState: hardState(1, 1, i - 1), entries: [entry(i, 1, 100)] });
  const names = (await fs.readdir(`${DIR}/wal`)).filter((n) => n.endsWith('.wal'));
  assert.ok(names.length >= 4, `${names.length} segments`);
  assert.equal(log.stats.segmentsCut, names.length - 1);
  const again = await restart(fs, log);
  assert.equal(again.storage.lastIndex(), 200);
  assert.deepEqual(again.hardState, hardState(1, 1, 199));
});

test('a change of commit alone is not forced to disk; a new term or vote is', async () => {
  const { fs, log } = await fresh();
  await log.save({ hardState: hardState(1, 1, 0), entries: entries(1, 5, 1) });
  const before = log.stats.syncs;
  await log.save({ hardState: hardState(1, 1, 4), entries: [] });
  assert.equal(log.stats.syncs, before);
  assert.deepEqual(log.hardState, hardState(1, 1, 4));
  let again = await restart(fs, log);
  assert.deepEqual(again.hardState, hardState(1, 1, 0), 'the deferred commit was lost, as allowed');
  await again.save({ hardState: hardState(1, 1, 3), entries: [] });
  await again.save({ hardState: hardState(2, 0, 3), entries: [] });
  again = await restart(fs, again);
  assert.deepEqual(again.hardState, hardState(2, 0, 3), 'the term change carried the commit with it');
});

test('a snapshot from the leader replaces the log, and entries after it follow', async () => {
  const { fs, log } = await fresh();
  await log.save({ hardState: hardState(1, 1, 2), entries: entries(1, 8, 1) });
  await log.save({ hardState: hardState(3, 2, 50), entries: entries(51, 52, 3), snapshot: snapshotAt(50, 3) });
  assert.equal(log.storage.firstIndex(), 51);
  assert.equal(log.snapshot.metadata.index, 50);
  const again = await restart(fs, log);
  assert.equal(again.snapshot.metadata.index, 50);
  assert.deepEqual([...again.snapshot.data], [50]);
  assert.deepEqual(summary(allEntries(again)), ['51@3', '52@3']);
  assert.deepEqual(again.hardState, hardState(3, 2, 50));
});

test('a local snapshot, then compaction, releases the old segments; restart starts from the snapshot', async () => {
  const { fs, log } = await fresh();
  for (let i = 1; i <= 300; i += 10) await log.save({ hardState: hardState(1, 1, i + 9), entries: entries(i, i + 9, 1, 100) });
  const segmentsBefore = (await fs.readdir(`${DIR}/wal`)).filter((n) => n.endsWith('.wal')).length;
  assert.equal(await log.saveSnapshot(snapshotAt(250, 1)), true);
  assert.equal(await log.saveSnapshot(snapshotAt(240, 1)), false, 'an older snapshot is ignored');
  await log.compact(logIndex(250));
  assert.equal(log.storage.firstIndex(), 251);
  const segmentsAfter = (await fs.readdir(`${DIR}/wal`)).filter((n) => n.endsWith('.wal')).length;
  assert.ok(segmentsAfter < segmentsBefore, `${segmentsBefore} -> ${segmentsAfter}`);
  const again = await restart(fs, log);
  assert.equal(again.snapshot.metadata.index, 250);
  assert.equal(again.storage.firstIndex(), 251);
  assert.equal(again.storage.lastIndex(), 300);
  assert.equal(again.storage.term(logIndex(250)), 1);
});

test('old snapshot files are pruned down to the retention limit', async () => {
  const { fs, log } = await fresh(1, { ...OPTIONS, snapshotsRetained: 2 });
  await log.save({ hardState: hardState(1, 1, 50), entries: entries(1, 50, 1) });
  for (const i of [10, 20, 30, 40]) await log.saveSnapshot(snapshotAt(i, 1));
  assert.deepEqual(await fs.readdir(`${DIR}/snap`), ['0000000000000001-000000000000001e.snap', '0000000000000001-0000000000000028.snap']);
});

test('a failed fsync makes the log unusable at once; the acknowledged data is intact after restart', async () => {
  const { fs, log } = await fresh();
  await log.save({ hardState: hardState(1, 1, 0), entries: entries(1, 5, 1) });
  fs.failNextSync();
  await assert.rejects(log.save({ entries: entries(6, 6, 1) }), (e: unknown) => e instanceof StorageFailedError && /EIO/.test(e.message));
  assert.ok(log.failed instanceof StorageFailedError);
  for (const call of [() => log.save({ entries: entries(6, 6, 1) }), () => log.saveSnapshot(snapshotAt(3, 1)), () => log.compact(logIndex(0))]) {
    await assert.rejects(call(), (e: unknown) => e instanceof StorageFailedError && /failed earlier and the member must stop/.test(e.message));
  }
  const again = await restart(fs, log);
  assert.equal(again.storage.lastIndex(), 5);
});

test('a failed write and a full disk also stop the log', async () => {
  const { fs, log } = await fresh();
  fs.failNextWrite();
  await assert.rejects(log.save({ entries: entries(1, 1, 1) }), StorageFailedError);
  await assert.rejects(log.save({ entries: entries(1, 1, 1) }), StorageFailedError);
  const full = await fresh(2);
  full.fs.faults.capacityBytes = full.fs.usedBytes() + 100;
  let failure: unknown = null;
  for (let i = 1; i <= 100 && failure === null; i++) {
    await full.log.save({ entries: [entry(i, 1, 200)] }).catch((e: unknown) => (failure = e));
  }
  assert.ok(failure instanceof StorageFailedError && /ENOSPC/.test(failure.message), String(failure));
});

test('a directory of another member or cluster is refused, naming the owner', async () => {
  const { fs, log } = await fresh();
  await log.close();
  await assert.rejects(RaftLog.open(fs, DIR, { ...OPTIONS, memberId: nodeId(2) }), (e: unknown) => e instanceof WrongDataDirError && /belongs to member 1 of cluster "cluster-a"/.test(e.message));
  await assert.rejects(RaftLog.open(fs, DIR, { ...OPTIONS, clusterId: 'other' }), WrongDataDirError);
  await fs.unlink(`${DIR}/identity`);
  await assert.rejects(RaftLog.open(fs, DIR, OPTIONS), (e: unknown) => e instanceof StorageInconsistentError && /no identity file/.test(e.message));
});

test('corruption before the tail stops the member with the file and byte offset', async () => {
  const { fs, log } = await fresh();
  for (let i = 1; i <= 100; i += 5) await log.save({ hardState: hardState(1, 1, i), entries: entries(i, i + 4, 1, 200) });
  await log.close();
  const first = (await fs.readdir(`${DIR}/wal`)).find((n) => n.endsWith('.wal'));
  const path = `${DIR}/wal/${first ?? ''}`;
  fs.flipBit(path, 1000, 2);
  await assert.rejects(RaftLog.open(fs, DIR, OPTIONS), (e: unknown) => {
    assert.ok(e instanceof StorageCorruptionError, String(e));
    assert.equal(e.file, path);
    assert.ok(e.offset <= 1000 && e.offset > 900, `offset ${e.offset}`);
    assert.match(e.message, /is corrupt at byte offset \d+: checksum mismatch/);
    return true;
  });
});

test('a torn tail is truncated and the member goes on', async () => {
  const { fs, log } = await fresh();
  await log.save({ hardState: hardState(1, 1, 0), entries: entries(1, 10, 1, 100) });
  fs.faults.tornWrites = true;
  fs.crashAt(fs.opCount + 1); // after the write of the next batch, before its fdatasync
  await assert.rejects(log.save({ entries: entries(11, 30, 1, 100) }));
  await log.close().catch(() => undefined);
  fs.restart();
  const again = await RaftLog.open(fs, DIR, OPTIONS);
  const last = again.storage.lastIndex();
  assert.ok(last === 10 || last === 30, `a batch is all or nothing, got ${last}`);
  await again.save({ entries: entries(last + 1, last + 5, 1) });
  const third = await restart(fs, again);
  assert.equal(third.storage.lastIndex(), last + 5);
});

test('a snapshot the WAL records but whose file is gone is refused; a file the WAL never recorded is dropped', async () => {
  const { fs, log } = await fresh();
  await log.save({ hardState: hardState(1, 1, 20), entries: entries(1, 20, 1) });
  await log.saveSnapshot(snapshotAt(10, 1));
  await log.close();
  // An unrecorded newer snapshot: a save interrupted between the file and the WAL mark.
  const orphan = `${DIR}/snap/0000000000000001-0000000000000014.snap`;
  await fs.rename(`${DIR}/snap/0000000000000001-000000000000000a.snap`, orphan);
  await assert.rejects(RaftLog.open(fs, DIR, OPTIONS), (e: unknown) => e instanceof StorageInconsistentError && /index 10 term 1/.test(e.message));
  assert.equal(await fs.exists(orphan), false);
});

test('hard-state and log invariants are asserted before anything reaches the disk', async () => {
  const { log } = await fresh();
  await log.save({ hardState: hardState(2, 3, 0), entries: entries(1, 5, 2) });
  await assert.rejects(log.save({ hardState: hardState(2, 2, 0), entries: [] }), /vote changes from 3 to 2 within term 2/);
  const { log: log2 } = await fresh();
  await assert.rejects(log2.save({ entries: entries(3, 4, 1) }), AssertionError);
  const { log: log3 } = await fresh();
  await assert.rejects(log3.save({ hardState: hardState(1, 0, 9), entries: entries(1, 2, 1) }), /commit 9 is past the last entry 2/);
});

test('calls run one at a time in call order', async () => {
  const { fs, log } = await fresh();
  const order: string[] = [];
  const saves = [1, 2, 3].map((i) => log.save({ hardState: hardState(1, 1, i), entries: [entry(i, 1)] }).then(() => order.push(`save ${i}`)));
  const snap = log.saveSnapshot(snapshotAt(2, 1)).then(() => order.push('snapshot'));
  const compaction = log.compact(logIndex(2)).then(() => order.push('compact'));
  await Promise.all([...saves, snap, compaction]);
  assert.deepEqual(order, ['save 1', 'save 2', 'save 3', 'snapshot', 'compact']);
  await log.close();
  await assert.rejects(log.save({ entries: [entry(4, 1)] }), StorageClosedError);
  assert.equal(fs.crashed, false);
});

test('without directory fsyncs a crash loses an acknowledged segment: the fault is real', async () => {
  const { fs, log } = await fresh();
  fs.faults.skipDirSync = true;
  for (let i = 1; i <= 100; i++) await log.save({ hardState: hardState(1, 1, i - 1), entries: [entry(i, 1, 200)] });
  assert.ok(log.stats.segmentsCut > 0);
  fs.faults.skipDirSync = false;
  const again = await restart(fs, log).catch((e: unknown) => e);
  // Either recovery notices (the hard state commits past the log) or entries are silently gone.
  assert.ok(again instanceof StorageInconsistentError || (again instanceof RaftLog && again.storage.lastIndex() < 100), String(again));
});
