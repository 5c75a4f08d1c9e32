// The ZooKeeper data model on the state machine: every rule with its error, multi atomicity, sequential
// numbering, Stat fields, sessions whose expiry deletes their ephemerals in one revision, snapshot/restore.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBackend } from '../../storage/backend/memory_backend.js';
import { Harness } from '../testing.js';
import { KvStateMachine } from '../state_machine.js';
import type { CommandResponse } from '../rpc.js';
import { encodeZkCommand, type ZkApplyResult, type ZkOp, type ZkOpResult } from './zk_command.js';
import { OPEN_ACL } from './zk_node.js';
import { leaseId } from '../../util/branded.js';

const T0 = 1_700_000_000_000;

function zk(h: Harness, ops: ZkOp[], opts: { multi?: boolean; session?: number; time?: number; auth?: { scheme: string; id: string }[] } = {}): ZkApplyResult {
  const payload = encodeZkCommand({ ops, multi: opts.multi ?? false, time: opts.time ?? T0, session: opts.session ?? 0, auth: opts.auth ?? [] });
  const res: CommandResponse = h.ok({ type: 'zk', payload });
  assert.equal(res.type, 'zk');
  return res.zk;
}

function one(h: Harness, op: ZkOp, opts: Parameters<typeof zk>[2] = {}): ZkOpResult {
  const r = zk(h, [op], opts).results[0];
  assert.ok(r !== undefined);
  return r;
}

const create = (path: string, fields: Partial<Extract<ZkOp, { op: 'create' }>> = {}): ZkOp => ({
  op: 'create', path, data: Buffer.from('d'), acl: OPEN_ACL, mode: 'persistent', sequential: false, ttlMs: 0, ...fields,
});

function session(h: Harness, timeoutMs = 4000): number {
  const r = one(h, { op: 'createSession', timeoutMs, passwd: Buffer.alloc(16, 7) });
  assert.ok(r.ok && r.sessionId !== undefined);
  return r.sessionId;
}

const err = (r: ZkOpResult): string => (r.ok ? 'OK' : r.error);

test('each rule fails with ZooKeeper\'s error', () => {
  const h = Harness.memory();
  const s = session(h);
  assert.equal(err(one(h, create('/a'))), 'OK');
  assert.equal(err(one(h, create('/e', { mode: 'ephemeral' }), { session: s })), 'OK');
  const table: [string, ZkOp, string, number?][] = [
    ['exists', create('/a'), 'NodeExists'],
    ['root', create('/'), 'NodeExists'],
    ['no parent', create('/x/y'), 'NoNode'],
    ['child of ephemeral', create('/e/c'), 'NoChildrenForEphemerals'],
    ['bad path', create('a'), 'BadArguments'],
    ['dot path', create('/a/..'), 'BadArguments'],
    ['double slash', create('/a//b'), 'BadArguments'],
    ['trailing slash', create('/a/'), 'BadArguments'],
    ['nul in path', create('/a\u0000b'), 'BadArguments'],
    ['single dot', create('/a/.'), 'BadArguments'],
    ['empty acl', create('/b', { acl: [] }), 'InvalidACL'],
    ['ttl on persistent', create('/b', { ttlMs: 5 }), 'BadArguments'],
    ['ttl zero', create('/b', { mode: 'ttl' }), 'BadArguments'],
    ['ephemeral without session', create('/b', { mode: 'ephemeral' }), 'SessionExpired'],
    ['delete missing', { op: 'delete', path: '/zz', version: -1 }, 'NoNode'],
    ['delete bad version', { op: 'delete', path: '/a', version: 3 }, 'BadVersion'],
    ['set missing', { op: 'setData', path: '/zz', data: Buffer.alloc(0), version: -1 }, 'NoNode'],
    ['set bad version', { op: 'setData', path: '/a', data: Buffer.alloc(0), version: 9 }, 'BadVersion'],
    ['check missing', { op: 'check', path: '/zz', version: -1 }, 'NoNode'],
    ['check bad version', { op: 'check', path: '/a', version: 1 }, 'BadVersion'],
  ];
  for (const [name, op, want] of table) {
    const before = h.sm.currentRevision();
    assert.equal(err(one(h, op)), want, name);
    assert.equal(h.sm.currentRevision(), before, `${name}: a failed op changes nothing`);
  }
  assert.equal(err(one(h, create('/a/b'))), 'OK');
  assert.equal(err(one(h, { op: 'delete', path: '/a', version: -1 })), 'NotEmpty');
});

test('stat fields follow ZooKeeper: czxid, mzxid, pzxid, versions, child counts, times', () => {
  const h = Harness.memory();
  const c = one(h, create('/p'), { time: T0 });
  assert.ok(c.ok && c.stat !== null);
  const rev = h.sm.currentRevision();
  assert.deepEqual(c.stat, { czxid: rev, mzxid: rev, ctime: T0, mtime: T0, version: 0, cversion: 0, aversion: 0, ephemeralOwner: 0, dataLength: 1, numChildren: 0, pzxid: rev });
  one(h, create('/p/c'));
  const childRev = h.sm.currentRevision();
  const s = one(h, { op: 'setData', path: '/p', data: Buffer.from('xyz'), version: 0 }, { time: T0 + 5 });
  assert.ok(s.ok && s.stat !== null);
  assert.equal(s.stat.version, 1);
  assert.equal(s.stat.mzxid, h.sm.currentRevision());
  assert.equal(s.stat.czxid, rev);
  assert.equal(s.stat.mtime, T0 + 5);
  assert.equal(s.stat.ctime, T0);
  assert.equal(s.stat.pzxid, childRev);
  assert.equal(s.stat.cversion, 1);
  assert.equal(s.stat.numChildren, 1);
  assert.equal(s.stat.dataLength, 3);
  one(h, { op: 'delete', path: '/p/c', version: 0 });
  const p = h.sm.zkView().node('/p');
  assert.ok(p !== null);
  assert.equal(p.cversion, 2);
  assert.equal(p.numChildren, 0);
  assert.equal(p.pzxid, h.sm.currentRevision());
  assert.deepEqual(h.sm.zkView().children('/'), ['p']);
});

test('sequential names come from the parent\'s cversion, %010d', () => {
  const h = Harness.memory();
  one(h, create('/q'));
  const names: string[] = [];
  for (let i = 0; i < 3; i++) {
    const r = one(h, create('/q/n-', { sequential: true }));
    assert.ok(r.ok);
    names.push(r.path);
  }
  one(h, { op: 'delete', path: '/q/n-0000000001', version: -1 });
  const r = one(h, create('/q/n-', { sequential: true }));
  assert.ok(r.ok);
  assert.deepEqual(names, ['/q/n-0000000000', '/q/n-0000000001', '/q/n-0000000002']);
  assert.equal(r.path, '/q/n-0000000004');
  assert.deepEqual(h.sm.zkView().children('/q'), ['n-0000000000', 'n-0000000002', 'n-0000000004']);
});

test('multi is all or nothing, with ZooKeeper\'s per-op report', () => {
  const h = Harness.memory();
  one(h, create('/m'));
  const before = h.sm.currentRevision();
  const bad = zk(h, [create('/m/a'), { op: 'check', path: '/m', version: 5 }, create('/m/b')], { multi: true });
  assert.deepEqual(bad.results.map(err), ['OK', 'BadVersion', 'RuntimeInconsistency']);
  assert.equal(h.sm.currentRevision(), before);
  assert.equal(h.sm.zkView().node('/m/a'), null);
  const good = zk(h, [create('/m/a'), { op: 'setData', path: '/m/a', data: Buffer.from('2'), version: 0 }, create('/m/a/x'), { op: 'delete', path: '/m/a/x', version: -1 }], { multi: true });
  assert.deepEqual(good.results.map(err), ['OK', 'OK', 'OK', 'OK']);
  assert.equal(h.sm.currentRevision(), before + 1, 'one revision for the whole multi');
  const a = h.sm.zkView().node('/m/a');
  assert.ok(a !== null);
  assert.equal(a.version, 1);
  assert.equal(a.cversion, 2);
});

test('a session\'s expiry deletes its ephemerals in one revision and fixes their parents', () => {
  const h = Harness.memory();
  const s = session(h, 3000);
  assert.ok(h.sm.zkView().session(s) !== null);
  assert.equal(h.sm.zkView().session(s)?.timeoutMs, 3000);
  one(h, create('/l'));
  one(h, create('/l/e1', { mode: 'ephemeral' }), { session: s });
  one(h, create('/l/e2', { mode: 'ephemeral', sequential: true }), { session: s });
  one(h, create('/top', { mode: 'ephemeral' }), { session: s });
  assert.deepEqual(h.sm.zkView().ephemerals(s), ['/l/e1', '/l/e20000000001', '/top']);
  const before = h.sm.currentRevision();
  h.ok({ type: 'leaseRevoke', id: leaseId(s) });
  assert.equal(h.sm.currentRevision(), before + 1);
  assert.deepEqual(h.sm.zkView().children('/l'), []);
  assert.equal(h.sm.zkView().session(s), null);
  const l = h.sm.zkView().node('/l');
  assert.ok(l !== null);
  assert.equal(l.numChildren, 0);
  assert.equal(l.cversion, 4);
  assert.equal(l.pzxid, before + 1);
  assert.equal(err(one(h, create('/x', { mode: 'ephemeral' }), { session: s })), 'SessionExpired');
});

test('containers and TTL nodes are reaped only when due', () => {
  const h = Harness.memory();
  one(h, create('/c', { mode: 'container' }));
  one(h, create('/t', { mode: 'ttl', ttlMs: 1000 }), { time: T0 });
  assert.deepEqual(h.sm.zkView().reapCandidates(10).map((c) => c.path), ['/c', '/t']);
  assert.equal(err(one(h, { op: 'reap', path: '/c' })), 'NotEmpty', 'a container that never had a child stays');
  assert.equal(err(one(h, { op: 'reap', path: '/t' }, { time: T0 + 500 })), 'NotEmpty');
  one(h, create('/c/x'));
  one(h, { op: 'delete', path: '/c/x', version: -1 });
  assert.equal(err(one(h, { op: 'reap', path: '/c' })), 'OK');
  assert.equal(err(one(h, { op: 'reap', path: '/t' }, { time: T0 + 1001 })), 'OK');
  assert.deepEqual(h.sm.zkView().reapCandidates(10), []);
});

test('digest ACLs: NoAuth without the id, allowed with it', () => {
  const h = Harness.memory();
  const alice = { scheme: 'digest', id: 'alice:hash' };
  one(h, create('/s', { acl: [{ perms: 31, id: alice }] }));
  assert.equal(err(one(h, { op: 'setData', path: '/s', data: Buffer.alloc(0), version: -1 })), 'NoAuth');
  assert.equal(err(one(h, create('/s/c'))), 'NoAuth');
  assert.equal(err(one(h, { op: 'setData', path: '/s', data: Buffer.alloc(0), version: -1 }, { auth: [alice] })), 'OK');
  assert.equal(err(one(h, create('/s/c', { acl: [{ perms: 31, id: { scheme: 'auth', id: '' } }] }), { auth: [alice] })), 'OK');
  assert.equal(err(one(h, create('/s/d', { acl: [{ perms: 31, id: { scheme: 'auth', id: '' } }] }))), 'InvalidACL', 'auth scheme without ids');
});

test('snapshot and restore keep znodes and sessions', () => {
  const h = Harness.memory();
  const s = session(h);
  one(h, create('/r', { data: Buffer.from('hello') }));
  one(h, create('/r/e', { mode: 'ephemeral' }), { session: s });
  const snap = h.sm.snapshot();
  const chunks = [...snap.chunks()];
  snap.release();
  const restored = KvStateMachine.restore({ backend: new MemoryBackend() }, chunks);
  const view = restored.zkView();
  assert.equal(Buffer.from(view.node('/r')?.data ?? []).toString(), 'hello');
  assert.deepEqual(view.ephemerals(s), ['/r/e']);
  assert.equal(view.session(s)?.timeoutMs, 4000);
  assert.equal(view.descendantCount('/'), 2);
  assert.equal(view.descendantCount('/r'), 1);
});
