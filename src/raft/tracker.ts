// The membership configuration and every member's replication progress, as the leader tracks them.

import type { LogIndex, NodeId } from '../util/branded.js';
import { Progress } from './progress.js';
import {
  jointCommitted,
  jointVoteResult,
  type VoteResult,
} from './quorum.js';
import type { ConfState } from './types.js';

/** A membership configuration; joint while `outgoing` is non-empty. Treated as immutable once built. */
export interface TrackerConfig {
  readonly incoming: ReadonlySet<NodeId>;
  readonly outgoing: ReadonlySet<NodeId>;
  readonly learners: ReadonlySet<NodeId>;
  /** Outgoing voters to become learners when the joint config is left (they cannot be both at once). */
  readonly learnersNext: ReadonlySet<NodeId>;
  readonly autoLeave: boolean;
}

export const EMPTY_TRACKER_CONFIG: TrackerConfig = {
  incoming: new Set(),
  outgoing: new Set(),
  learners: new Set(),
  learnersNext: new Set(),
  autoLeave: false,
};

export function isJoint(c: TrackerConfig): boolean {
  return c.outgoing.size > 0;
}

const sorted = (s: ReadonlySet<NodeId>): NodeId[] => [...s].sort((a, b) => a - b);

export function configToConfState(c: TrackerConfig): ConfState {
  return {
    voters: sorted(c.incoming),
    learners: sorted(c.learners),
    votersOutgoing: sorted(c.outgoing),
    learnersNext: sorted(c.learnersNext),
    autoLeave: c.autoLeave,
  };
}

export function describeConfig(c: TrackerConfig): string {
  let s = `voters=(${sorted(c.incoming).join(' ')})`;
  if (isJoint(c)) s += `&&(${sorted(c.outgoing).join(' ')})`;
  if (c.learners.size > 0) s += ` learners=(${sorted(c.learners).join(' ')})`;
  if (c.learnersNext.size > 0) s += ` learners_next=(${sorted(c.learnersNext).join(' ')})`;
  if (c.autoLeave) s += ' autoleave';
  return s;
}

export type ProgressMap = Map<NodeId, Progress>;

export class ProgressTracker {
  config: TrackerConfig = EMPTY_TRACKER_CONFIG;
  progress: ProgressMap = new Map();
  readonly votes = new Map<NodeId, boolean>();

  constructor(
    readonly maxInflight: number,
    readonly maxInflightBytes: number,
  ) {}

  /** Every voter of the incoming and outgoing configs, deduplicated. */
  voterIds(): Set<NodeId> {
    const ids = new Set(this.config.incoming);
    for (const id of this.config.outgoing) ids.add(id);
    return ids;
  }

  isVoter(id: NodeId): boolean {
    return this.config.incoming.has(id) || this.config.outgoing.has(id);
  }

  /** True when this config has exactly one voter (which then commits and wins alone). */
  isSingleton(): boolean {
    return this.config.incoming.size === 1 && this.config.outgoing.size === 0;
  }

  /** The largest index acknowledged by a quorum of voters (their `match`). */
  committed(): LogIndex {
    return jointCommitted(this.config.incoming, this.config.outgoing, (id) => this.progress.get(id)?.match);
  }

  /** Calls fn for every member in id order, so iteration (and thus message order) is deterministic. */
  visit(fn: (id: NodeId, pr: Progress) => void): void {
    const ids = [...this.progress.keys()].sort((a, b) => a - b);
    for (const id of ids) fn(id, this.progress.get(id) as Progress);
  }

  /** Whether a quorum of voters has been recently active (CheckQuorum). */
  quorumActive(): boolean {
    const votes = new Map<NodeId, boolean>();
    for (const [id, pr] of this.progress) if (!pr.isLearner) votes.set(id, pr.recentActive);
    return jointVoteResult(this.config.incoming, this.config.outgoing, votes) === 'won';
  }

  resetVotes(): void {
    this.votes.clear();
  }

  /** Records a vote; only the first vote of each member counts. */
  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  tallyVotes(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0;
    let rejected = 0;
    for (const id of this.voterIds()) {
      const v = this.votes.get(id);
      if (v === true) granted++;
      else if (v === false) rejected++;
    }
    return { granted, rejected, result: jointVoteResult(this.config.incoming, this.config.outgoing, this.votes) };
  }
}
