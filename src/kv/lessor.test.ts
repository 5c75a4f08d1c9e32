// Leases: replicated grant/revoke/checkpoint, and the local expiry that survives leader changes.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type LeaseId, leaseId } from '../util/branded.js';
import { MemoryBackend } from '../storage/backend/memory_backend.js';
import { LEASE_CHECKPOINT_INTERVAL_MS, LEASE_REVOKE_RETRY_MS, MAX_LEASE_CHECKPOINTS_PER_COMMAND, MAX_LEASE_REVOKES_PER_CALL } from './limits.js';
import { decodeCommand, encodeCommand } from './command.js';
import { Lessor } from './lessor.js';
import { putRequest, rangeRequest } from './rpc.js';
import { KvStateMachine } from './state_machine.js';
import { bytes, FROM_KEY, Harness, str } from './testing.js';

/** A clock the test moves by hand. */
class Clock {
  now = 1000;
  read = (): number => this.now;
}

test('only the primary expires leases, oldest first, and offers each again only after the retry delay', () => {
  const clock = new Clock();
  const l = new Lessor(clock.read, 1);
  l.grant(leaseId(1), 10);
  l.grant(leaseId(2), 5);
  clock.now += 20_000;
  assert.deepEqual(l.expiredLeases(clock.now), [], 'a follower proposes nothing');
  l.promote(0);
  assert.deepEqual(l.expiredLeases(clock.now), [2, 1]);
  assert.deepEqual(l.expiredLeases(clock.now + 1), [], 'revokes already proposed');
  assert.deepEqual(l.expiredLeases(clock.now + LEASE_REVOKE_RETRY_MS), [2, 1]);
});

test('a keep-alive renews on the leader and asks for a checkpoint', () => {
  const clock = new Clock();
  const l = new Lessor(clock.read, 1);
  l.grant(leaseId(1), 10);
  l.promote(0);
  clock.now += 9_000;
  assert.equal(l.renew(leaseId(1), clock.now), 10);
  assert.deepEqual(l.checkpointsDue(clock.now), [{ id: 1, remainingTtlMs: 10_000 }]);
  assert.deepEqual(l.checkpointsDue(clock.now), [], 'checkpointed already');
  clock.now += 9_999;
  assert.deepEqual(l.expiredLeases(clock.now), []);
  assert.equal(l.timeToLive(leaseId(1), clock.now)?.ttlSeconds, 0);
  clock.now += 1;
  assert.deepEqual(l.expiredLeases(clock.now), [1]);
  assert.throws(() => l.renew(leaseId(5), clock.now), /requested lease not found/);
});

test('leases are checkpointed periodically so their remaining TTL shrinks across restarts', () => {
  const clock = new Clock();
  const l = new Lessor(clock.read, 1);
  l.grant(leaseId(1), 3600);
  l.promote(0);
  assert.deepEqual(l.checkpointsDue(clock.now), []);
  clock.now += LEASE_CHECKPOINT_INTERVAL_MS;
  assert.deepEqual(l.checkpointsDue(clock.now), [{ id: 1, remainingTtlMs: 3_600_000 - LEASE_CHECKPOINT_INTERVAL_MS }]);
});

/** Three members applying the same log, each with its own clock; the test moves the clocks. */
function cluster(): { members: Harness[]; clocks: Clock[]; applyAll: (c: Parameters<Harness['apply']>[0]) => void } {
  const clocks = [new Clock(), new Clock(), new Clock()];
  const members = clocks.map((c) => new Harness(KvStateMachine.open({ backend: new MemoryBackend(), clock: c.read })));
  return { members, clocks, applyAll: (c) => members.forEach((m) => m.ok(c)) };
}

test('a lease keeps its TTL from the last acknowledged keep-alive across a leader change (etcd 13294, 17132)', () => {
  const { members, clocks, applyAll } = cluster();
  const [m0, m1] = members as [Harness, Harness];
  const [c0, c1] = clocks as [Clock, Clock];
  m0.sm.lessor.promote(0);
  applyAll({ type: 'leaseGrant', id: 7 as LeaseId, ttlSeconds: 60 });
  applyAll({ type: 'put', put: putRequest({ key: bytes('session'), lease: 7 as LeaseId }) });
  // 50 s later the client keeps the lease alive; the leader checkpoints it and acks once that applied.
  for (const c of clocks) c.now += 50_000;
  m0.sm.lessor.renew(7 as LeaseId, c0.now);
  applyAll({ type: 'leaseCheckpoint', checkpoints: m0.sm.lessor.checkpointsDue(c0.now) });
  // 30 s later the leader dies; member 1 takes over (extension 0 to show the bare guarantee).
  for (const c of clocks) c.now += 30_000;
  m0.sm.lessor.demote();
  m1.sm.lessor.promote(0);
  assert.deepEqual(m1.sm.lessor.expiredLeases(c1.now), [], 'etcd would expire it here: 80 s after grant');
  assert.equal(m1.sm.leaseTimeToLive(7 as LeaseId, c1.now)?.ttlSeconds, 30);
  c1.now += 30_000;
  assert.deepEqual(m1.sm.lessor.expiredLeases(c1.now), [7], 'but not forever: 60 s after the keep-alive');
  applyAll({ type: 'leaseRevoke', id: 7 as LeaseId });
  assert.ok(members.every((m) => !m.sm.exists(bytes('session'))));
});

test('repeated leader changes do not keep a dead client\'s lease alive', () => {
  const { members, clocks, applyAll } = cluster();
  applyAll({ type: 'leaseGrant', id: 3 as LeaseId, ttlSeconds: 10 });
  let expiredAt = -1;
  for (let step = 0; step < 20 && expiredAt < 0; step++) {
    for (const c of clocks) c.now += 1000;
    const leader = members[step % 3] as Harness;
    for (const m of members) m.sm.lessor.demote();
    leader.sm.lessor.promote(2000);
    if (leader.sm.lessor.expiredLeases((clocks[step % 3] as Clock).now).length > 0) expiredAt = step + 1;
  }
  assert.equal(expiredAt, 12, 'expires TTL + extension after the grant despite a new leader every second');
});

test('grant picks a deterministic id when none is given, raises short TTLs, refuses duplicates', () => {
  const a = Harness.memory({ minLeaseTtlSeconds: 5 });
  const b = Harness.memory({ minLeaseTtlSeconds: 5 });
  const ga = a.ok({ type: 'leaseGrant', id: 0 as LeaseId, ttlSeconds: 1 });
  const gb = b.ok({ type: 'leaseGrant', id: 0 as LeaseId, ttlSeconds: 1 });
  assert.ok(ga.type === 'leaseGrant' && gb.type === 'leaseGrant');
  assert.equal(ga.id, gb.id);
  assert.ok(ga.id > 0 && Number.isSafeInteger(ga.id));
  assert.equal(ga.ttlSeconds, 5);
  assert.equal(a.fail({ type: 'leaseGrant', id: ga.id, ttlSeconds: 10 }), 'ErrLeaseExist');
  assert.equal(a.fail({ type: 'leaseRevoke', id: 12345 as LeaseId }), 'ErrLeaseNotFound');
  assert.deepEqual(a.sm.leases(), [ga.id]);
});

test('revoke deletes every attached key at one revision; leases and attachments survive a restart', () => {
  const backend = new MemoryBackend();
  const clock = new Clock();
  let h = new Harness(KvStateMachine.open({ backend, clock: clock.read }));
  h.ok({ type: 'leaseGrant', id: 1 as LeaseId, ttlSeconds: 30 });
  h.ok({ type: 'leaseGrant', id: 2 as LeaseId, ttlSeconds: 30 });
  for (const k of ['c', 'a', 'b']) h.ok({ type: 'put', put: putRequest({ key: bytes(k), lease: 1 as LeaseId }) });
  h.ok({ type: 'put', put: putRequest({ key: bytes('b'), lease: 2 as LeaseId }) }); // moves b to lease 2
  h.ok({ type: 'put', put: putRequest({ key: bytes('z') }) });
  h.ok({ type: 'leaseCheckpoint', checkpoints: [{ id: 1 as LeaseId, remainingTtlMs: 20_000 }] });
  h.sm.commit();
  h = new Harness(KvStateMachine.open({ backend: backend.reopen(), clock: clock.read }));
  h.index = h.sm.appliedIndex();
  const ttl = h.sm.leaseTimeToLive(1 as LeaseId, clock.now);
  assert.deepEqual(ttl && [ttl.ttlSeconds, ttl.grantedTtlSeconds, ttl.keys.map(str)], [20, 30, ['a', 'c']]);
  const rev = h.sm.currentRevision();
  h.ok({ type: 'leaseRevoke', id: 1 as LeaseId });
  assert.equal(h.sm.currentRevision(), rev + 1);
  const events = h.sm.changes((rev + 1) as never, (rev + 1) as never, FROM_KEY, FROM_KEY, 10)[0]?.events ?? [];
  assert.deepEqual(events.map((e) => [e.type, str(e.kv.key)]), [[1, 'a'], [1, 'c']]);
  assert.deepEqual(h.sm.range(rangeRequest({ key: FROM_KEY, rangeEnd: FROM_KEY })).kvs.map((kv) => str(kv.key)), ['b', 'z']);
  assert.deepEqual(h.sm.leases(), [2]);
});

test('revokes per call and checkpoints per command are bounded by their limits', () => {
  const clock = new Clock();
  const l = new Lessor(clock.read, 1);
  const n = Math.max(MAX_LEASE_REVOKES_PER_CALL, MAX_LEASE_CHECKPOINTS_PER_COMMAND) + 5;
  for (let i = 1; i <= n; i++) l.grant(leaseId(i), 10);
  l.promote(0);
  for (let i = 1; i <= n; i++) l.renew(leaseId(i), clock.now);
  assert.equal(l.checkpointsDue(clock.now).length, MAX_LEASE_CHECKPOINTS_PER_COMMAND);
  assert.equal(l.expiredLeases(clock.now + 60_000).length, MAX_LEASE_REVOKES_PER_CALL);
  const tooMany = Array.from({ length: MAX_LEASE_CHECKPOINTS_PER_COMMAND + 1 }, (_, i) => ({ id: leaseId(i + 1), remainingTtlMs: 1 }));
  assert.throws(() => decodeCommand(encodeCommand({ type: 'leaseCheckpoint', checkpoints: tooMany })), /checkpoint count/);
});
