import { test } from 'node:test';
import assert from 'node:assert/strict';
import { logIndex, nodeId, term, type NodeId } from '../util/branded.js';
import { newMessage } from './raft.js';
import { ReadOnly } from './read_only.js';
import { EntryType, MessageType } from './types.js';

const LEADER = nodeId(1);
const ctx = (s: string): Uint8Array => new TextEncoder().encode(s);

function request(from: number, context: string): ReturnType<typeof newMessage> {
  return newMessage({
    type: MessageType.ReadIndex, to: LEADER, from: nodeId(from),
    entries: [{ type: EntryType.Normal, term: term(0), index: logIndex(0), data: ctx(context) }],
  });
}

/** A simple majority of five voters, 1..5. */
const quorumOf5 = (v: ReadonlyMap<NodeId, boolean>): boolean => [...v.keys()].filter((id) => id >= 1 && id <= 5).length >= 3;

test('a witness counts for its own request, with the leader and the heartbeat answers', () => {
  const ro = new ReadOnly('safe');
  ro.addRequest(logIndex(7), request(2, 'a'), nodeId(2));
  assert.equal(quorumOf5(ro.recvAck(LEADER, ctx('a')) ?? new Map()), false, 'leader and witness are two of five');
  assert.equal(quorumOf5(ro.recvAck(nodeId(3), ctx('a')) ?? new Map()), true);
  assert.deepEqual(ro.advance(ctx('a'), quorumOf5).map((r) => r.index), [7]);
  assert.equal(ro.pendingCount(), 0);
});

test('a later request\'s witness does not vouch for an earlier request: that one waits for its own quorum', () => {
  const ro = new ReadOnly('safe');
  ro.addRequest(logIndex(5), request(4, 'early'), nodeId(4));
  ro.addRequest(logIndex(6), request(2, 'late'), nodeId(2));
  ro.recvAck(LEADER, ctx('early'));
  ro.recvAck(LEADER, ctx('late'));
  // Node 3 answers the heartbeat that carries the later context: leader + 3 + witness 2 confirm "late" ...
  assert.equal(quorumOf5(ro.recvAck(nodeId(3), ctx('late')) ?? new Map()), true);
  // ... and "early" only with its own witness 4 (leader, 3, 4): it is answered too.
  assert.deepEqual(ro.advance(ctx('late'), quorumOf5).map((r) => r.index), [5, 6]);

  const ro2 = new ReadOnly('safe');
  ro2.addRequest(logIndex(5), request(1, 'early'), null); // the leader's own read: no witness
  ro2.addRequest(logIndex(6), request(2, 'late'), nodeId(2));
  ro2.recvAck(LEADER, ctx('late'));
  assert.equal(quorumOf5(ro2.recvAck(nodeId(3), ctx('late')) ?? new Map()), true);
  // Leader and 3 alone are not a quorum for "early": it stays queued for the next round.
  assert.deepEqual(ro2.advance(ctx('late'), quorumOf5).map((r) => r.index), [6]);
  assert.equal(ro2.pendingCount(), 1);
  ro2.recvAck(LEADER, ctx('early'));
  ro2.recvAck(nodeId(3), ctx('early'));
  assert.equal(quorumOf5(ro2.recvAck(nodeId(5), ctx('early')) ?? new Map()), true);
  assert.deepEqual(ro2.advance(ctx('early'), quorumOf5).map((r) => r.index), [5]);
  assert.equal(ro2.pendingCount(), 0);
});
