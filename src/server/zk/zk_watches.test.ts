// The member's watch registry: ZooKeeper's trigger rules from applied store changes, one-shot watches firing once,
// persistent and recursive watches staying, one notification per event per connection, session expiry.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness } from '../../kv/testing.js';
import { encodeZkCommand, type ZkOp } from '../../kv/zk/zk_command.js';
import { OPEN_ACL } from '../../kv/zk/zk_node.js';
import { leaseId } from '../../util/branded.js';
import { EventType } from '../../wire/jute/zk_codes.js';
import { type WatchTarget, ZkWatches } from './zk_watches.js';

class Target implements WatchTarget {
  readonly seen: string[] = [];
  notify(type: EventType, path: string): void {
    this.seen.push(`${type} ${path}`);
  }
}

function setup(): { h: Harness; w: ZkWatches; gone: number[]; run: (ops: ZkOp[], session?: number) => void } {
  const h = Harness.memory();
  const gone: number[] = [];
  const w = new ZkWatches((id) => gone.push(id));
  h.sm.onChanges((c) => w.onChanges(c));
  const run = (ops: ZkOp[], session = 0): void => {
    const r = h.ok({ type: 'zk', payload: encodeZkCommand({ ops, multi: ops.length > 1, time: 1, session, auth: [] }) });
    assert.ok(r.type === 'zk' && r.zk.results.every((x) => x.ok));
  };
  return { h, w, gone, run };
}

const create = (path: string, mode: 'persistent' | 'ephemeral' = 'persistent'): ZkOp => ({ op: 'create', path, data: new Uint8Array(0), acl: OPEN_ACL, mode, sequential: false, ttlMs: 0 });

test('one-shot data and child watches fire once with ZooKeeper\'s event types', () => {
  const { w, run } = setup();
  const t = new Target();
  run([create('/a')]);
  w.add('data', '/a', t);
  w.add('child', '/a', t);
  w.add('data', '/a/b', t); // an exists watch on a missing node
  run([create('/a/b')]);
  assert.deepEqual(t.seen, [`${EventType.NodeCreated} /a/b`, `${EventType.NodeChildrenChanged} /a`], 'a child create is no data change of its parent');
  run([{ op: 'setData', path: '/a', data: new Uint8Array([1]), version: -1 }]);
  run([create('/a/c')]);
  assert.deepEqual(t.seen.slice(2), [`${EventType.NodeDataChanged} /a`]);
  assert.equal(w.size(), 0);
});

test('persistent and recursive watches stay; a connection hears each event once', () => {
  const { w, run } = setup();
  const t = new Target();
  run([create('/p')]);
  w.add('persistent', '/p', t);
  w.add('recursive', '/p', t);
  w.add('data', '/p', t);
  run([{ op: 'setData', path: '/p', data: new Uint8Array([1]), version: -1 }]);
  run([create('/p/x'), create('/p/x/y')]);
  run([{ op: 'delete', path: '/p/x/y', version: -1 }]);
  assert.deepEqual(t.seen, [
    `${EventType.NodeDataChanged} /p`,
    `${EventType.NodeCreated} /p/x`, `${EventType.NodeChildrenChanged} /p`, `${EventType.NodeCreated} /p/x/y`,
    `${EventType.NodeDeleted} /p/x/y`,
  ]);
  w.removeTarget(t);
  assert.equal(w.size(), 0);
});

test('a session\'s end is reported, and its ephemerals\' deletion fires their watches', () => {
  const { h, w, gone, run } = setup();
  const r = h.ok({ type: 'zk', payload: encodeZkCommand({ ops: [{ op: 'createSession', timeoutMs: 2000, passwd: new Uint8Array(16) }], multi: false, time: 1, session: 0, auth: [] }) });
  assert.ok(r.type === 'zk');
  const id = r.zk.results[0]?.ok === true ? (r.zk.results[0].sessionId ?? 0) : 0;
  run([create('/e', 'ephemeral')], id);
  const t = new Target();
  w.add('data', '/e', t);
  w.add('child', '/', t);
  h.ok({ type: 'leaseRevoke', id: leaseId(id) });
  assert.deepEqual(gone, [id]);
  assert.deepEqual(t.seen, [`${EventType.NodeDeleted} /e`, `${EventType.NodeChildrenChanged} /`]);
});
