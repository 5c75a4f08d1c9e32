// The state machine as a whole: quota alarm, hashes between members, LMDB restart and replay, snapshots.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type LeaseId, revision } from '../util/branded.js';
import { Prng } from '../util/prng.js';
import { LmdbBackend } from '../storage/backend/lmdb_backend.js';
import { MemoryBackend } from '../storage/backend/memory_backend.js';
import { encodeCommand } from './command.js';
import { BadSnapshotError } from './errors.js';
import { AlarmAction, AlarmType, type Command, deleteRangeRequest, putRequest, rangeRequest } from './rpc.js';
import { KvStateMachine } from './state_machine.js';
import { bytes, FROM_KEY, Harness, str, withTmpDir } from './testing.js';

/** A reproducible mix of writes over a few hundred keys, with compactions. */
function workload(seed: number, n: number): Command[] {
  const rng = new Prng(seed);
  const out: Command[] = [{ type: 'leaseGrant', id: 5 as LeaseId, ttlSeconds: 100 }];
  for (let i = 0; i < n; i++) {
    const key = bytes(`key/${rng.int(300)}`);
    const k = rng.int(20);
    if (k < 14) out.push({ type: 'put', put: putRequest({ key, value: bytes(`value-${i}`), lease: (rng.chance(0.1) ? 5 : 0) as LeaseId }) });
    else if (k < 17) out.push({ type: 'deleteRange', deleteRange: deleteRangeRequest({ key, rangeEnd: rng.chance(0.3) ? bytes(`key/${rng.int(300)}`) : new Uint8Array(0) }) });
    else if (k < 19) out.push({ type: 'txn', txn: { compare: [], success: [{ type: 'put', put: putRequest({ key, value: bytes('t') }) }], failure: [] } });
    else out.push({ type: 'compact', revision: Math.max(1, i - 50), physical: true });
  }
  return out;
}

function fingerprint(sm: KvStateMachine): unknown {
  const all = sm.range(rangeRequest({ key: FROM_KEY, rangeEnd: FROM_KEY }));
  return {
    status: { ...sm.status(), backendBytes: 0 }, hashKV: sm.hashKV(0), leases: sm.leases(),
    kvs: all.kvs.map((kv) => [str(kv.key), str(kv.value), kv.createRevision, kv.modRevision, kv.version, kv.lease]),
  };
}

test('members applying the same log agree on HashKV, and HashKV checks its revision', () => {
  const a = Harness.memory({ batchOps: 7 });
  const b = Harness.memory({ batchOps: 1000 });
  for (const c of workload(1, 500)) {
    a.apply(c);
    b.apply(c);
  }
  assert.deepEqual(a.sm.hashKV(0), b.sm.hashKV(0));
  assert.deepEqual(a.sm.hash(), b.sm.hash());
  const mid = a.sm.currentRevision() - 5;
  assert.deepEqual(a.sm.hashKV(mid), b.sm.hashKV(mid));
  assert.notEqual(a.sm.hashKV(mid).hash, a.sm.hashKV(0).hash);
  assert.throws(() => a.sm.hashKV(a.sm.currentRevision() + 1), /future revision/);
  assert.throws(() => a.sm.hashKV(a.sm.compactRevision() - 1), /has been compacted/);
  // A member that diverged by one write disagrees.
  b.ok({ type: 'put', put: putRequest({ key: bytes('extra') }) });
  assert.notDeepEqual(a.sm.hashKV(0).hash, b.sm.hashKV(0).hash);
});

test('LMDB: a crash after apply but before commit replays to an identical state', async () => {
  await withTmpDir(async (dir) => {
    const log = workload(2, 600).map((c, i) => encodeCommand(c, i + 1));
    const reference = KvStateMachine.open({ backend: new MemoryBackend() });
    log.forEach((d, i) => reference.apply(i + 1, d));

    let backend = new LmdbBackend({ path: dir });
    let sm = KvStateMachine.open({ backend, batchOps: 1_000_000 });
    for (let i = 0; i < 400; i++) sm.apply(i + 1, log[i] as Uint8Array);
    sm.commit();
    assert.equal(sm.durableIndex(), 400);
    for (let i = 400; i < 550; i++) sm.apply(i + 1, log[i] as Uint8Array); // applied, never committed
    assert.deepEqual([sm.appliedIndex(), sm.durableIndex()], [550, 400]);
    await backend.closeAndWait(); // the crash: buffered writes are lost

    backend = new LmdbBackend({ path: dir });
    sm = KvStateMachine.open({ backend });
    assert.equal(sm.appliedIndex(), 400, 'the applied index is the one committed with the data');
    for (let i = sm.appliedIndex(); i < log.length; i++) sm.apply(i + 1, log[i] as Uint8Array);
    assert.deepEqual(fingerprint(sm), fingerprint(reference));
    sm.commit();
    await backend.closeAndWait();

    // A clean restart finds the same state without replaying anything.
    backend = new LmdbBackend({ path: dir });
    sm = KvStateMachine.open({ backend });
    assert.equal(sm.appliedIndex(), log.length);
    assert.deepEqual(fingerprint(sm), fingerprint(reference));
    await backend.closeAndWait();
  });
});

test('a crash while compacted versions are still being deleted recovers the same state', () => {
  const log = workload(6, 1500).map((c, i) => encodeCommand(c, i + 1));
  const reference = KvStateMachine.open({ backend: new MemoryBackend() });
  log.forEach((d, i) => reference.apply(i + 1, d));
  let backend = new MemoryBackend();
  let sm = KvStateMachine.open({ backend, compactionDeletesPerCommit: 3, batchOps: 50 });
  let crashes = 0;
  for (let i = 0; i < log.length; i++) {
    sm.apply(i + 1, log[i] as Uint8Array);
    if (i % 97 === 0) {
      // Crash: the committed backend may hold versions a compaction already dropped from the index.
      backend.crash();
      backend = backend.reopen();
      sm = KvStateMachine.open({ backend, compactionDeletesPerCommit: 3, batchOps: 50 });
      for (let j = sm.appliedIndex(); j <= i; j++) sm.apply(j + 1, log[j] as Uint8Array);
      crashes++;
    }
  }
  assert.ok(crashes > 10);
  assert.deepEqual(fingerprint(sm), fingerprint(reference));
});

test('a snapshot streams while applies go on and restores on another member (LMDB)', async () => {
  await withTmpDir(async (dir) => withTmpDir(async (leaderDir) => {
    const log = workload(3, 800).map((c, i) => encodeCommand(c, i + 1));
    // The leader commits every few writes, so LMDB write transactions land while the snapshot streams.
    const leaderBackend = new LmdbBackend({ path: leaderDir });
    const leader = KvStateMachine.open({ backend: leaderBackend, batchOps: 5 });
    const follower = KvStateMachine.open({ backend: new MemoryBackend() });
    for (let i = 0; i < 500; i++) {
      leader.apply(i + 1, log[i] as Uint8Array);
      follower.apply(i + 1, log[i] as Uint8Array);
    }
    const expected = fingerprint(follower);
    const snap = leader.snapshot();
    assert.equal(snap.appliedIndex, 500);
    const chunks: Uint8Array[] = [];
    let next = 500;
    for (const chunk of snap.chunks(512)) {
      chunks.push(chunk);
      if (next < log.length) leader.apply(next + 1, log[next++] as Uint8Array); // the leader keeps applying
    }
    snap.release();
    assert.ok(chunks.length > 10, `expected several chunks, got ${chunks.length}`);

    const backend = new LmdbBackend({ path: dir });
    const restored = KvStateMachine.restore({ backend }, chunks);
    assert.equal(restored.appliedIndex(), 500);
    assert.deepEqual(fingerprint(restored), expected);
    for (let i = 500; i < log.length; i++) restored.apply(i + 1, log[i] as Uint8Array);
    for (; next < log.length; next++) leader.apply(next + 1, log[next] as Uint8Array);
    assert.deepEqual(fingerprint(restored), fingerprint(leader));
    await backend.closeAndWait();
    await leaderBackend.closeAndWait();
  }));
});

test('a corrupt, reordered or truncated snapshot is refused', () => {
  const h = Harness.memory();
  for (const c of workload(4, 200)) h.apply(c);
  const snap = h.sm.snapshot();
  const chunks = [...snap.chunks(1024)];
  snap.release();
  const restore = (cs: Uint8Array[]): KvStateMachine => KvStateMachine.restore({ backend: new MemoryBackend() }, cs);
  const flipped = chunks.map((c) => Uint8Array.from(c));
  const victim = flipped[1] as Uint8Array;
  victim[20] = (victim[20] as number) ^ 1;
  assert.throws(() => restore(flipped), (e: unknown) => e instanceof BadSnapshotError && /checksum/.test(e.message));
  assert.throws(() => restore([chunks[1] as Uint8Array, chunks[0] as Uint8Array]), /where 0 was expected/);
  assert.throws(() => restore(chunks.slice(0, -1)), /without its end frame/);
  assert.throws(() => restore([...chunks, chunks[0] as Uint8Array]), /after the end frame/);
  // A restore that died halfway leaves a marker, so the member cannot start on half a state.
  const backend = new MemoryBackend();
  assert.throws(() => KvStateMachine.restore({ backend }, chunks.slice(0, 2)));
  assert.throws(() => KvStateMachine.open({ backend }), /incomplete snapshot restore/);
  assert.deepEqual(fingerprint(restore(chunks)), fingerprint(h.sm));
});

test('NOSPACE: over the quota the store turns read-only until space is freed and the alarm disarmed', () => {
  const h = Harness.memory({ quotaBytes: 20_000 });
  const big = (k: string): Command => ({ type: 'put', put: putRequest({ key: bytes(k), value: new Uint8Array(1000) }) });
  let i = 0;
  while (h.apply(big(`k${i}`)).ok) i++;
  assert.ok(i > 5 && i < 20, `filled ${i} keys`);
  assert.deepEqual(h.sm.alarms(), [{ memberId: 0, alarm: AlarmType.NoSpace }]);
  const r = h.apply({ type: 'put', put: putRequest({ key: bytes('tiny') }) });
  assert.ok(!r.ok && r.error.message === 'etcdserver: mvcc: database space exceeded');
  const txnPut: Command = { type: 'txn', txn: { compare: [], success: [{ type: 'put', put: putRequest({ key: bytes('t') }) }], failure: [] } };
  assert.equal(h.fail(txnPut), 'ErrNoSpace');
  h.ok({ type: 'txn', txn: { compare: [], success: [{ type: 'range', range: rangeRequest({ key: bytes('k0') }) }], failure: [] } });
  assert.equal(h.fail({ type: 'leaseGrant', id: 1 as LeaseId, ttlSeconds: 10 }), 'ErrNoSpace');
  assert.equal(h.sm.quotaAvailable(big('x')), false);
  // Reads, deletes and compaction still work; they free space.
  assert.equal(h.sm.range(rangeRequest({ key: FROM_KEY, rangeEnd: FROM_KEY, countOnly: true })).count, i);
  h.ok({ type: 'deleteRange', deleteRange: deleteRangeRequest({ key: FROM_KEY, rangeEnd: FROM_KEY }) });
  h.ok({ type: 'compact', revision: h.sm.currentRevision(), physical: true });
  assert.equal(h.fail(big('still')), 'ErrNoSpace', 'the alarm stays until disarmed');
  const disarm = h.ok({ type: 'alarm', action: AlarmAction.Deactivate, memberId: 0, alarm: AlarmType.NoSpace });
  assert.ok(disarm.type === 'alarm' && disarm.alarms.length === 0);
  h.ok(big('again'));
  assert.ok(h.sm.status().sizeBytes < 2000);
});

test('empty entries only advance the index; undecodable entries fail the same way on every member', () => {
  const h = Harness.memory();
  const r = h.sm.apply(1, new Uint8Array(0));
  assert.ok(r.ok && r.response.type === 'noop' && h.sm.appliedIndex() === 1);
  const bad = h.sm.apply(5, Uint8Array.from([1, 99, 0]));
  assert.ok(!bad.ok && bad.error.code === 'ErrBadCommand' && h.sm.appliedIndex() === 5);
  assert.throws(() => h.sm.apply(5, new Uint8Array(0)), /entries must increase/);
});

test('watch history: the in-memory tail and the index give the same changes, in bounded batches', () => {
  const h = Harness.memory();
  for (const c of workload(5, 3000)) h.apply(c);
  const cur = h.sm.currentRevision();
  const from = revision(h.sm.compactRevision() + 1);
  const viaIndex = h.sm.changes(from, cur, bytes('key/1'), bytes('key/2'), 10_000);
  // Same history from a member that restarted (its in-memory tail is empty, so it reads the index).
  const snap = h.sm.snapshot();
  const other = KvStateMachine.restore({ backend: new MemoryBackend() }, snap.chunks());
  snap.release();
  const fromOther = other.changes(from, cur, bytes('key/1'), bytes('key/2'), 10_000);
  const norm = (rcs: typeof viaIndex): unknown => rcs.map((rc) => [rc.revision, rc.events.map((e) => [e.type, str(e.kv.key), e.kv.modRevision, e.prevKv?.modRevision ?? null])]);
  assert.deepEqual(norm(fromOther), norm(viaIndex));
  assert.ok(viaIndex.length > 10);
  const capped = h.sm.changes(from, cur, FROM_KEY, FROM_KEY, 5);
  assert.ok(capped.reduce((n, rc) => n + rc.events.length, 0) <= 5 || capped.length === 1);
});
