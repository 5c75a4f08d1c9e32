// Smoke tests of the RawNode API through a synchronous in-memory cluster.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TestCluster } from './test_cluster.js';
import { nodeId } from '../util/branded.js';
import { ConfChangeType } from './types.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

test('a three-member cluster elects a leader and replicates proposals in order', () => {
  const c = new TestCluster([1, 2, 3]);
  c.node(1).rawNode.campaign();
  c.stabilize();
  assert.equal(c.leader()?.id, 1);
  for (let i = 0; i < 10; i++) c.node(1).rawNode.propose(enc(`v${i}`));
  c.stabilize();
  for (const n of c.nodes.values()) {
    assert.deepEqual(n.applied.map((e) => dec(e.data)), Array.from({ length: 10 }, (_, i) => `v${i}`));
  }
});

test('a follower forwards proposals to the leader', () => {
  const c = new TestCluster([1, 2, 3]);
  c.node(1).rawNode.campaign();
  c.stabilize();
  assert.equal(c.node(3).rawNode.propose(enc('from-3')).kind, 'accepted');
  c.stabilize();
  assert.deepEqual(c.node(2).applied.map((e) => dec(e.data)), ['from-3']);
});

test('a single-member cluster commits only after its own persistence', () => {
  const c = new TestCluster([1]);
  const n = c.node(1).rawNode;
  n.campaign();
  assert.equal(n.raft.role, 'leader');
  n.propose(enc('x'));
  const rd = n.ready();
  assert.equal(rd.committedEntries.length, 0, 'nothing may commit before the leader persisted');
  c.handleReady(c.node(1), rd);
  c.stabilize();
  assert.deepEqual(c.node(1).applied.map((e) => dec(e.data)), ['x']);
});

test('ReadIndex from a follower returns the leader commit index', () => {
  const c = new TestCluster([1, 2, 3]);
  c.node(1).rawNode.campaign();
  c.stabilize();
  c.node(1).rawNode.propose(enc('a'));
  c.stabilize();
  const f = c.node(2).rawNode;
  f.readIndex(enc('ctx1'));
  let seen: number | undefined;
  for (let i = 0; i < 10 && seen === undefined; i++) {
    const outbox = [];
    for (const n of c.nodes.values()) {
      while (n.rawNode.hasReady()) {
        const rd = n.rawNode.ready();
        for (const rs of rd.readStates) if (n.id === 2 && dec(rs.requestContext) === 'ctx1') seen = rs.index;
        outbox.push(...c.handleReady(n, rd));
      }
    }
    for (const m of outbox) c.nodes.get(m.to)?.rawNode.step(m);
  }
  assert.equal(seen, c.node(1).rawNode.raft.log.committed);
});

test('adding and promoting a learner, then removing a voter', () => {
  const c = new TestCluster([1, 2, 3], { learners: [4] });
  c.node(1).rawNode.campaign();
  c.stabilize();
  c.node(1).rawNode.propose(enc('a'));
  c.stabilize();
  assert.deepEqual(c.node(4).applied.map((e) => dec(e.data)), ['a']);
  c.node(1).rawNode.proposeConfChange({ transition: 'auto', changes: [{ type: ConfChangeType.AddNode, nodeId: nodeId(4) }], context: new Uint8Array() });
  c.stabilize();
  assert.equal(c.node(1).rawNode.status().config, 'voters=(1 2 3 4)');
  c.node(1).rawNode.proposeConfChange({
    transition: 'auto',
    changes: [{ type: ConfChangeType.RemoveNode, nodeId: nodeId(2) }, { type: ConfChangeType.AddLearnerNode, nodeId: nodeId(3) }],
    context: new Uint8Array(),
  });
  c.stabilize();
  assert.equal(c.node(1).rawNode.status().config, 'voters=(1 4) learners=(3)');
});

test('leadership transfer to a caught-up follower', () => {
  const c = new TestCluster([1, 2, 3]);
  c.node(1).rawNode.campaign();
  c.stabilize();
  c.node(1).rawNode.transferLeader(nodeId(3));
  c.stabilize();
  assert.equal(c.leader()?.id, 3);
});
