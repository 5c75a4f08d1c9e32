// The member list applied from conf changes, and the snapshot data codec that carries it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeId } from '../../util/branded.js';
import { Prng } from '../../util/prng.js';
import { ConfChangeType, type ConfState } from '../../raft/types.js';
import { encodeMemberContext, Membership } from './membership.js';
import { BadSnapshotDataError, decodeSnapshotData, encodeSnapshotData } from './snapshot_codec.js';

const cs = (voters: number[], learners: number[] = []): ConfState => ({
  voters: voters.map(nodeId), learners: learners.map(nodeId), votersOutgoing: [], learnersNext: [], autoLeave: false,
});
const ctx = (name: string, dc = ''): Uint8Array => encodeMemberContext({ name, peerUrls: [`http://127.0.0.1:${name.length}`], clientUrls: [], dc, zone: '' });

test('members appear one by one as the log replays, and only a RemoveNode marks one removed', () => {
  const m = new Membership();
  m.apply({ transition: 'auto', changes: [{ type: ConfChangeType.AddNode, nodeId: nodeId(1) }], context: ctx('a') }, cs([1]));
  assert.equal(m.wasRemoved(nodeId(2)), false, 'a member not yet replayed is not removed');
  m.apply({ transition: 'auto', changes: [{ type: ConfChangeType.AddLearnerNode, nodeId: nodeId(2) }], context: ctx('b', 'eu') }, cs([1], [2]));
  assert.deepEqual(m.list().map((x) => [x.id, x.name, x.isLearner, x.dc]), [[1, 'a', false, ''], [2, 'b', true, 'eu']]);
  // Promotion without a context keeps the attributes.
  m.apply({ transition: 'auto', changes: [{ type: ConfChangeType.AddNode, nodeId: nodeId(2) }], context: new Uint8Array() }, cs([1, 2]));
  assert.deepEqual(m.get(nodeId(2))?.isLearner, false);
  assert.equal(m.get(nodeId(2))?.dc, 'eu');
  m.apply({ transition: 'auto', changes: [{ type: ConfChangeType.RemoveNode, nodeId: nodeId(1) }], context: new Uint8Array() }, cs([2]));
  assert.equal(m.wasRemoved(nodeId(1)), true);
  assert.deepEqual(m.list().map((x) => x.id), [2]);
  m.apply({ transition: 'auto', changes: [{ type: ConfChangeType.AddNode, nodeId: nodeId(1) }], context: ctx('a') }, cs([1, 2]));
  assert.equal(m.wasRemoved(nodeId(1)), false, 'added back');
});

test('snapshot data round-trips the member list and the store chunks', () => {
  const members = [{ id: nodeId(7), name: 'x', peerUrls: ['http://h:1'], clientUrls: [], isLearner: true, dc: 'us', zone: 'a' }];
  const chunks = [new Uint8Array([1, 2, 3]), new Uint8Array(0), new Uint8Array([9])];
  const back = decodeSnapshotData(encodeSnapshotData(members, chunks));
  assert.deepEqual(back.members, members);
  assert.deepEqual(back.kvChunks.map((c) => [...c]), chunks.map((c) => [...c]));
  assert.deepEqual(decodeSnapshotData(new Uint8Array(0)), { members: [], kvChunks: [] });
});

test('the snapshot data decoder never trusts a length: truncated and mutated bytes fail cleanly', () => {
  const seed = Number(process.env['SEED'] ?? 1234);
  const p = new Prng(seed);
  const good = encodeSnapshotData([{ id: nodeId(1), name: 'a', peerUrls: [], clientUrls: [], isLearner: false, dc: '', zone: '' }], [new Uint8Array(100).fill(5)]);
  for (let i = 0; i < 2000; i++) {
    const bad = good.slice(0, p.int(good.length + 1));
    if (p.chance(0.7)) for (let k = 0; k < 3; k++) bad[p.int(Math.max(1, bad.length))] = p.int(256);
    try {
      decodeSnapshotData(bad);
    } catch (err) {
      assert.ok(err instanceof BadSnapshotDataError, `seed ${seed} case ${i}: ${String(err)}`);
    }
  }
});
