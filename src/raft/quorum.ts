// Pure quorum arithmetic: commit indexes and vote outcomes for majority and joint configurations.

import type { LogIndex, NodeId } from '../util/branded.js';

export type VoteResult = 'pending' | 'lost' | 'won';

/** Returns the index a voter has acknowledged, or undefined when nothing is known. */
export type AckedIndexer = (id: NodeId) => LogIndex | undefined;

/** Stands for "no constraint": the committed index of an empty majority, so a joint min ignores it. */
export const INDEX_UNBOUNDED = Number.MAX_SAFE_INTEGER as LogIndex;

/** The largest index acknowledged by a majority of `voters`. */
export function majorityCommitted(voters: ReadonlySet<NodeId>, acked: AckedIndexer): LogIndex {
  const n = voters.size;
  if (n === 0) return INDEX_UNBOUNDED;
  if (n === 1) {
    for (const id of voters) return acked(id) ?? (0 as LogIndex);
  }
  const indexes: number[] = [];
  for (const id of voters) indexes.push(acked(id) ?? 0);
  indexes.sort((a, b) => b - a);
  // Sorted descending, the entry at position floor(n/2) is acknowledged by floor(n/2)+1 voters: a majority.
  return indexes[Math.floor(n / 2)] as LogIndex;
}

/** The largest index acknowledged by majorities of both halves of a joint configuration. */
export function jointCommitted(
  incoming: ReadonlySet<NodeId>,
  outgoing: ReadonlySet<NodeId>,
  acked: AckedIndexer,
): LogIndex {
  return Math.min(majorityCommitted(incoming, acked), majorityCommitted(outgoing, acked)) as LogIndex;
}

/** The outcome of an election in one majority configuration; an empty config wins (it imposes nothing). */
export function majorityVoteResult(voters: ReadonlySet<NodeId>, votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  if (voters.size === 0) return 'won';
  let yes = 0;
  let missing = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === undefined) missing++;
    else if (v) yes++;
  }
  const quorum = Math.floor(voters.size / 2) + 1;
  if (yes >= quorum) return 'won';
  if (yes + missing >= quorum) return 'pending';
  return 'lost';
}

export function jointVoteResult(
  incoming: ReadonlySet<NodeId>,
  outgoing: ReadonlySet<NodeId>,
  votes: ReadonlyMap<NodeId, boolean>,
): VoteResult {
  const a = majorityVoteResult(incoming, votes);
  const b = majorityVoteResult(outgoing, votes);
  if (a === b) return a;
  if (a === 'lost' || b === 'lost') return 'lost';
  return 'pending';
}
