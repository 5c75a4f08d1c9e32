import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeId } from '../../util/branded.js';
import { ConfChangeType } from '../../raft/types.js';
import type { MemberInfo } from '../etcd/backend.js';
import { predictMembers } from './multi_dc.js';
import { checkMembershipChange } from './placement.js';

const m = (id: number, dc: string, isLearner = false): MemberInfo => ({ id: nodeId(id), name: `m${id}`, peerUrls: [], clientUrls: [], isLearner, dc, zone: '' });
const cluster = [m(1, 'a'), m(2, 'a'), m(3, 'b'), m(4, 'b'), m(5, 'c'), m(6, 'a', true)];

test('an attribute update (same role) changes no placement and is never checked', () => {
  assert.equal(predictMembers(cluster, [{ type: ConfChangeType.AddNode, nodeId: nodeId(1) }], { dc: 'z' }), null);
  assert.equal(predictMembers(cluster, [{ type: ConfChangeType.AddLearnerNode, nodeId: nodeId(6) }], {}), null);
});

test('promoting, adding and removing are predicted with the DC of the member or of the context', () => {
  const promoted = predictMembers(cluster, [{ type: ConfChangeType.AddNode, nodeId: nodeId(6) }], {});
  assert.deepEqual(promoted?.find((x) => x.id === nodeId(6)), { id: nodeId(6), dc: 'a', isLearner: false });
  assert.throws(() => checkMembershipChange('dc', cluster, promoted ?? [], false), /refused/);
  const added = predictMembers(cluster, [{ type: ConfChangeType.AddNode, nodeId: nodeId(9) }], { dc: 'c' });
  assert.deepEqual(added?.find((x) => x.id === nodeId(9)), { id: nodeId(9), dc: 'c', isLearner: false });
  checkMembershipChange('dc', cluster, added ?? [], false);
  const removed = predictMembers(cluster, [{ type: ConfChangeType.RemoveNode, nodeId: nodeId(5) }], {});
  assert.equal(removed?.length, 5);
  assert.throws(() => checkMembershipChange('dc', cluster, removed ?? [], false), /does not survive the loss of a or b/);
});
