// Membership changes as pure functions: each returns a new configuration and progress map, never mutating.
// Joint consensus (Raft thesis §4.3): enter a joint config of old and new voters, then leave it.

import { assert } from '../util/assert.js';
import { logIndex, type LogIndex, type NodeId } from '../util/branded.js';
import { Progress } from './progress.js';
import { isJoint, type ProgressMap, type ProgressTracker, type TrackerConfig } from './tracker.js';
import { ConfChangeType, type ConfChange, type ConfChangeSingle, type ConfState } from './types.js';

export interface ChangeResult {
  readonly config: TrackerConfig;
  readonly progress: ProgressMap;
}

export class ConfChangeError extends Error {
  override readonly name = 'ConfChangeError';
}

interface Draft {
  incoming: Set<NodeId>;
  outgoing: Set<NodeId>;
  learners: Set<NodeId>;
  learnersNext: Set<NodeId>;
  autoLeave: boolean;
  progress: ProgressMap;
}

/** Applies changes to a copy of the tracker's state. `lastIndex` seeds the progress of new members. */
export class Changer {
  constructor(
    private readonly tracker: ProgressTracker,
    private readonly lastIndex: LogIndex,
  ) {}

  /** Enters a joint config: outgoing := current voters, incoming := current voters with the changes applied. */
  enterJoint(autoLeave: boolean, changes: readonly ConfChangeSingle[]): ChangeResult {
    const d = this.draft();
    if (isJoint(this.tracker.config)) throw new ConfChangeError('config is already joint');
    if (d.incoming.size === 0) throw new ConfChangeError("can't make a zero-voter config joint");
    d.outgoing = new Set(d.incoming);
    this.apply(d, changes);
    d.autoLeave = autoLeave;
    return this.finish(d);
  }

  /** Leaves the joint config: outgoing voters not in incoming are dropped, learnersNext become learners. */
  leaveJoint(): ChangeResult {
    const d = this.draft();
    if (!isJoint(this.tracker.config)) throw new ConfChangeError("can't leave a non-joint config");
    for (const id of d.learnersNext) {
      d.learners.add(id);
      const pr = d.progress.get(id);
      assert(pr !== undefined, `leaveJoint: no progress for ${id}`);
      pr.isLearner = true;
    }
    d.learnersNext.clear();
    for (const id of d.outgoing) {
      if (!d.incoming.has(id) && !d.learners.has(id)) d.progress.delete(id);
    }
    d.outgoing = new Set();
    d.autoLeave = false;
    return this.finish(d);
  }

  /** Applies changes directly; allowed only when they change at most one voter (no joint config needed). */
  simple(changes: readonly ConfChangeSingle[]): ChangeResult {
    if (isJoint(this.tracker.config)) throw new ConfChangeError("can't apply simple config change in joint config");
    const d = this.draft();
    this.apply(d, changes);
    const before = this.tracker.config.incoming;
    let diff = 0;
    for (const id of before) if (!d.incoming.has(id)) diff++;
    for (const id of d.incoming) if (!before.has(id)) diff++;
    if (diff > 1) throw new ConfChangeError('more than one voter changed without entering joint config');
    return this.finish(d);
  }

  private draft(): Draft {
    const c = this.tracker.config;
    const progress: ProgressMap = new Map();
    // Progress objects are shallow-copied so the tracker's own map is never mutated.
    for (const [id, pr] of this.tracker.progress) {
      const copy = Object.assign(Object.create(Object.getPrototypeOf(pr) as object) as Progress, pr);
      progress.set(id, copy);
    }
    return {
      incoming: new Set(c.incoming),
      outgoing: new Set(c.outgoing),
      learners: new Set(c.learners),
      learnersNext: new Set(c.learnersNext),
      autoLeave: c.autoLeave,
      progress,
    };
  }

  private apply(d: Draft, changes: readonly ConfChangeSingle[]): void {
    for (const cc of changes) {
      if (cc.nodeId === 0) continue; // etcd ignores changes for node 0
      switch (cc.type) {
        case ConfChangeType.AddNode:
          this.makeVoter(d, cc.nodeId);
          break;
        case ConfChangeType.AddLearnerNode:
          this.makeLearner(d, cc.nodeId);
          break;
        case ConfChangeType.RemoveNode:
          this.remove(d, cc.nodeId);
          break;
        default:
          throw new ConfChangeError(`unknown conf change type ${String((cc as ConfChangeSingle).type)}`);
      }
    }
    if (d.incoming.size === 0) throw new ConfChangeError('removed all voters');
  }

  private makeVoter(d: Draft, id: NodeId): void {
    const pr = d.progress.get(id);
    if (pr === undefined) {
      this.initProgress(d, id, false);
      d.incoming.add(id);
      return;
    }
    pr.isLearner = false;
    d.learners.delete(id);
    d.learnersNext.delete(id);
    d.incoming.add(id);
  }

  private makeLearner(d: Draft, id: NodeId): void {
    const pr = d.progress.get(id);
    if (pr === undefined) {
      this.initProgress(d, id, true);
      d.learners.add(id);
      return;
    }
    if (pr.isLearner) return;
    // Removing first keeps the config invariants; a voter in the outgoing config must stay a voter until
    // the joint config is left, so it becomes a learner only then (learnersNext).
    this.remove(d, id);
    d.progress.set(id, pr);
    if (d.outgoing.has(id)) {
      d.learnersNext.add(id);
    } else {
      pr.isLearner = true;
      d.learners.add(id);
    }
  }

  private remove(d: Draft, id: NodeId): void {
    if (!d.progress.has(id)) return;
    d.incoming.delete(id);
    d.learners.delete(id);
    d.learnersNext.delete(id);
    // A member still in the outgoing config keeps its progress until the joint config is left.
    if (!d.outgoing.has(id)) d.progress.delete(id);
  }

  private initProgress(d: Draft, id: NodeId, isLearner: boolean): void {
    const pr = new Progress(
      logIndex(Math.max(this.lastIndex, 1)),
      this.tracker.maxInflight,
      this.tracker.maxInflightBytes,
      isLearner,
    );
    // A new member counts as active so that adding it cannot make CheckQuorum step the leader down at once.
    pr.recentActive = true;
    d.progress.set(id, pr);
  }

  private finish(d: Draft): ChangeResult {
    const config: TrackerConfig = {
      incoming: d.incoming,
      outgoing: d.outgoing,
      learners: d.learners,
      learnersNext: d.learnersNext,
      autoLeave: d.autoLeave,
    };
    checkInvariants(config, d.progress);
    return { config, progress: d.progress };
  }
}

/** Asserts the configuration's invariants (etcd confchange.checkInvariants). */
export function checkInvariants(c: TrackerConfig, progress: ProgressMap): void {
  for (const ids of [c.incoming, c.outgoing, c.learners, c.learnersNext]) {
    for (const id of ids) assert(progress.has(id), `no progress for member ${id}`);
  }
  for (const id of c.learnersNext) {
    assert(c.outgoing.has(id), `${id} is in learnersNext but not an outgoing voter`);
    assert(!(progress.get(id) as Progress).isLearner, `${id} is in learnersNext but already a learner`);
  }
  for (const id of c.learners) {
    assert(!c.outgoing.has(id) && !c.incoming.has(id), `${id} is both learner and voter`);
    assert((progress.get(id) as Progress).isLearner, `${id} is a learner but its progress says voter`);
  }
  if (!isJoint(c)) {
    assert(c.learnersNext.size === 0, 'learnersNext outside a joint config');
    assert(!c.autoLeave, 'autoLeave outside a joint config');
  }
}

/** Which of the three ways to carry out a ConfChange applies, and whether the joint config auto-leaves. */
export function planConfChange(cc: ConfChange): { kind: 'leave' } | { kind: 'simple' } | { kind: 'joint'; autoLeave: boolean } {
  if (cc.changes.length === 0) return { kind: 'leave' };
  if (cc.transition === 'auto' && cc.changes.length === 1) return { kind: 'simple' };
  return { kind: 'joint', autoLeave: cc.transition !== 'explicit' };
}

/** Applies a ConfChange to a tracker's state and returns the new config and progress. */
export function applyConfChange(tracker: ProgressTracker, lastIndex: LogIndex, cc: ConfChange): ChangeResult {
  const changer = new Changer(tracker, lastIndex);
  const plan = planConfChange(cc);
  switch (plan.kind) {
    case 'leave':
      return changer.leaveJoint();
    case 'simple':
      return changer.simple(cc.changes);
    case 'joint':
      return changer.enterJoint(plan.autoLeave, cc.changes);
  }
}

/**
 * Rebuilds a tracker's configuration from a ConfState (on restart or snapshot restore) by replaying it as
 * changes from an empty config: voters and learners one at a time, and for a joint state, the outgoing
 * voters first and then one joint change that yields the incoming side.
 */
export function restoreConfState(tracker: ProgressTracker, lastIndex: LogIndex, cs: ConfState): ChangeResult {
  const as = (ids: readonly NodeId[], type: ConfChangeType): ConfChangeSingle[] => ids.map((nodeId) => ({ type, nodeId }));
  const step = (fn: (c: Changer) => ChangeResult): void => {
    const r = fn(new Changer(tracker, lastIndex));
    tracker.config = r.config;
    tracker.progress = r.progress;
  };
  tracker.config = { incoming: new Set(), outgoing: new Set(), learners: new Set(), learnersNext: new Set(), autoLeave: false };
  tracker.progress = new Map();
  if (cs.votersOutgoing.length === 0) {
    for (const cc of [...as(cs.voters, ConfChangeType.AddNode), ...as(cs.learners, ConfChangeType.AddLearnerNode)]) {
      step((c) => c.simple([cc]));
    }
  } else {
    for (const cc of as(cs.votersOutgoing, ConfChangeType.AddNode)) step((c) => c.simple([cc]));
    const changes: ConfChangeSingle[] = [
      ...as(cs.votersOutgoing, ConfChangeType.RemoveNode),
      ...as(cs.voters, ConfChangeType.AddNode),
      ...as(cs.learners, ConfChangeType.AddLearnerNode),
      ...as(cs.learnersNext, ConfChangeType.AddLearnerNode),
    ];
    step((c) => c.enterJoint(cs.autoLeave, changes));
  }
  return { config: tracker.config, progress: tracker.progress };
}
