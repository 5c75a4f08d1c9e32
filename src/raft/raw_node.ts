// RawNode: the application's handle on the Raft core. Input through tick/step/propose/readIndex; output as a
// numbered Ready that the application persists, sends and applies, then acknowledges with advance().

import { assert } from '../util/assert.js';
import { logIndex, type LogIndex, type NodeId, type Term } from '../util/branded.js';
import { encodeConfChange } from './confchange_codec.js';
import { newMessage, Raft, type ProposalResult, type RaftConfig, type Role } from './raft.js';
import type { ProgressState } from './progress.js';
import { describeConfig } from './tracker.js';
import {
  EntryType,
  MessageType,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type ReadState,
  type Snapshot,
} from './types.js';

export interface SoftState {
  readonly lead: NodeId;
  readonly role: Role;
}

/**
 * One batch of work for the application, to be carried out in this order:
 *  1. persist `snapshot` (if any), then `entries` and `hardState`, durably (one write, one fsync when
 *     `mustSync`); `messages` may be sent at any time, even before or during this step;
 *  2. send `messagesAfterPersist`, only once step 1 is durable (they acknowledge what was persisted);
 *  3. apply `snapshot` then `committedEntries` to the state machine, in order (conf change entries
 *     through RawNode.applyConfChange); serve reads waiting on `readStates` once applied reaches them;
 *  4. call advance(ready). No other Ready is produced until then.
 */
export interface Ready {
  /** Sequence number: advance() must be called with the Ready of the same number. */
  readonly number: number;
  /** Leader or role changed since the previous Ready; null if unchanged. Never persisted. */
  readonly softState: SoftState | null;
  /** Term, vote or commit changed; null if unchanged. Persist before sending messagesAfterPersist. */
  readonly hardState: HardState | null;
  /** Log entries to append to stable storage (they may replace a conflicting suffix). */
  readonly entries: readonly Entry[];
  /** A snapshot from the leader to persist and restore the state machine from; null if none. */
  readonly snapshot: Snapshot | null;
  /** Committed entries to apply, in order; all of them are in storage once step 1 is done. */
  readonly committedEntries: readonly Entry[];
  /** Messages that depend on nothing unpersisted; may be sent while step 1 is in progress. */
  readonly messages: readonly Message[];
  /** Messages that may be sent only after step 1 completed (votes, append acknowledgements). */
  readonly messagesAfterPersist: readonly Message[];
  /** Answers to readIndex(): a read with that context may be served once `index` is applied. */
  readonly readStates: readonly ReadState[];
  /** Whether step 1 needs an fsync (entries, term or vote changed; a commit-only change does not). */
  readonly mustSync: boolean;
}

export interface ProgressStatus {
  readonly match: LogIndex;
  readonly next: LogIndex;
  readonly state: ProgressState;
  readonly isLearner: boolean;
  readonly recentActive: boolean;
}

export interface Status {
  readonly id: NodeId;
  readonly hardState: HardState;
  readonly softState: SoftState;
  readonly applied: LogIndex;
  readonly lastIndex: LogIndex;
  readonly config: string;
  /** Leader only: every member's replication progress. */
  readonly progress: ReadonlyMap<NodeId, ProgressStatus>;
  readonly leadTransferee: NodeId;
}

export type SnapshotStatus = 'finish' | 'failure';

const isLocalType = (t: number): boolean =>
  t === MessageType.Hup || t === MessageType.Beat || t === MessageType.Unreachable ||
  t === MessageType.SnapStatus || t === MessageType.CheckQuorum;

export class RawNode {
  readonly raft: Raft;
  private prevSoft: SoftState;
  private prevHard: HardState;
  private readyNumber = 0;
  private outstanding: Ready | null = null;

  constructor(cfg: RaftConfig) {
    this.raft = new Raft(cfg);
    this.prevSoft = this.softState();
    this.prevHard = this.raft.hardState();
  }

  tick(): void {
    this.raft.tick();
  }

  /** Starts an election now (tests, and a member that knows it should lead). */
  campaign(): void {
    this.raft.step(newMessage({ type: MessageType.Hup, to: this.raft.id, from: this.raft.id }));
  }

  propose(data: Uint8Array): ProposalResult {
    return this.raft.step(newMessage({
      type: MessageType.Prop,
      to: this.raft.id,
      from: this.raft.id,
      entries: [{ term: 0 as Term, index: logIndex(0), type: EntryType.Normal, data }],
    }));
  }

  proposeConfChange(cc: ConfChange): ProposalResult {
    return this.raft.step(newMessage({
      type: MessageType.Prop,
      to: this.raft.id,
      from: this.raft.id,
      entries: [{ term: 0 as Term, index: logIndex(0), type: EntryType.ConfChange, data: encodeConfChange(cc) }],
    }));
  }

  /** Feeds a message from a peer. Local message types are refused: they come only from this node. */
  step(m: Message): ProposalResult {
    if (isLocalType(m.type)) return { kind: 'dropped', reason: `message type ${m.type} is local-only` };
    if (m.from !== this.raft.id && !this.raft.tracker.progress.has(m.from) && isResponse(m.type)) {
      return { kind: 'dropped', reason: `response from unknown member ${m.from}` };
    }
    return this.raft.step(m);
  }

  /** Requests a linearizable read point; the answer arrives as a ReadState with the same context. */
  readIndex(context: Uint8Array): ProposalResult {
    return this.raft.step(newMessage({
      type: MessageType.ReadIndex,
      to: this.raft.id,
      from: this.raft.id,
      entries: [{ term: 0 as Term, index: logIndex(0), type: EntryType.Normal, data: context }],
    }));
  }

  /** Asks the leader to hand leadership to `target` (which must be a caught-up voter). */
  transferLeader(target: NodeId): void {
    this.raft.step(newMessage({ type: MessageType.TransferLeader, to: this.raft.id, from: target }));
  }

  applyConfChange(cc: ConfChange): ConfState {
    return this.raft.applyConfChange(cc);
  }

  reportUnreachable(id: NodeId): void {
    this.raft.step(newMessage({ type: MessageType.Unreachable, to: this.raft.id, from: id }));
  }

  reportSnapshot(id: NodeId, status: SnapshotStatus): void {
    this.raft.step(newMessage({ type: MessageType.SnapStatus, to: this.raft.id, from: id, reject: status === 'failure' }));
  }

  setCampaignDelayTicks(ticks: number): void {
    assert(ticks >= 0, `campaign delay must be non-negative, got ${ticks}`);
    this.raft.campaignDelayTicks = ticks;
  }

  private softState(): SoftState {
    return { lead: this.raft.lead, role: this.raft.role };
  }

  hasReady(): boolean {
    if (this.outstanding !== null) return false;
    const r = this.raft;
    r.flushBroadcast();
    const soft = this.softState();
    if (soft.lead !== this.prevSoft.lead || soft.role !== this.prevSoft.role) return true;
    const hs = r.hardState();
    if (hs.term !== this.prevHard.term || hs.vote !== this.prevHard.vote || hs.commit !== this.prevHard.commit) return true;
    return (
      r.log.unstable.snapshot !== null ||
      r.log.unstable.entries.length > 0 ||
      r.msgs.length > 0 ||
      r.msgsAfterPersist.length > 0 ||
      r.readStates.length > 0 ||
      r.log.hasNextCommittedEnts()
    );
  }

  /** The next batch of work; call only when hasReady(). */
  ready(): Ready {
    assert(this.outstanding === null, `Ready #${this.readyNumber} has not been advanced`);
    const r = this.raft;
    r.flushBroadcast();
    const soft = this.softState();
    const hs = r.hardState();
    const softChanged = soft.lead !== this.prevSoft.lead || soft.role !== this.prevSoft.role;
    const hardChanged = hs.term !== this.prevHard.term || hs.vote !== this.prevHard.vote || hs.commit !== this.prevHard.commit;
    const entries = r.log.unstableEntries().slice();
    const rd: Ready = {
      number: ++this.readyNumber,
      softState: softChanged ? soft : null,
      hardState: hardChanged ? hs : null,
      entries,
      snapshot: r.log.unstable.snapshot,
      committedEntries: r.log.nextCommittedEnts(),
      messages: r.msgs,
      messagesAfterPersist: r.msgsAfterPersist,
      readStates: r.readStates,
      mustSync: entries.length > 0 || hs.term !== this.prevHard.term || hs.vote !== this.prevHard.vote,
    };
    r.msgs = [];
    r.msgsAfterPersist = [];
    r.readStates = [];
    this.prevSoft = soft;
    this.prevHard = hs;
    this.outstanding = rd;
    return rd;
  }

  /** The application finished the Ready: its entries are durable and its committed entries applied. */
  advance(rd: Ready): void {
    assert(this.outstanding !== null && this.outstanding.number === rd.number,
      `advance(#${rd.number}) does not match the outstanding Ready #${this.outstanding?.number ?? 'none'}`);
    this.outstanding = null;
    const r = this.raft;
    if (rd.snapshot !== null) {
      r.log.stableSnapTo(rd.snapshot.metadata.index);
      r.log.appliedTo(rd.snapshot.metadata.index);
    }
    const last = rd.entries[rd.entries.length - 1];
    if (last !== undefined) r.stableTo(last.index, last.term);
    const lastCommitted = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastCommitted !== undefined) {
      r.reduceUncommittedSize(rd.committedEntries);
      r.appliedTo(lastCommitted.index);
    }
  }

  status(): Status {
    const r = this.raft;
    const progress = new Map<NodeId, ProgressStatus>();
    if (r.role === 'leader') {
      r.tracker.visit((id, pr) => {
        progress.set(id, { match: pr.match, next: pr.next, state: pr.state, isLearner: pr.isLearner, recentActive: pr.recentActive });
      });
    }
    return {
      id: r.id,
      hardState: r.hardState(),
      softState: this.softState(),
      applied: r.log.applied,
      lastIndex: r.log.lastIndex(),
      config: describeConfig(r.tracker.config),
      progress,
      leadTransferee: r.leadTransferee,
    };
  }
}

function isResponse(t: number): boolean {
  return t === MessageType.AppResp || t === MessageType.HeartbeatResp || t === MessageType.VoteResp ||
    t === MessageType.PreVoteResp || t === MessageType.ReadIndexResp;
}
