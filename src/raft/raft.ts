// The Raft consensus algorithm as a pure state machine (Raft thesis; shaped after etcd-io/raft's raft.go).
// Messages and ticks go in through step() and tick(); messages, entries to persist and entries to apply come
// out through the fields RawNode turns into a Ready. No I/O, no clock, no randomness but the injected PRNG.

import { assert } from '../util/assert.js';
import { logIndex, NONE, term, type LogIndex, type NodeId, type Term } from '../util/branded.js';
import type { Prng } from '../util/prng.js';
import { applyConfChange, ConfChangeError, restoreConfState } from './confchange.js';
import { decodeConfChange, encodeConfChange } from './confchange_codec.js';
import { majorityVoteResult } from './quorum.js';
import { ReadOnly, type ReadOnlyOption } from './read_only.js';
import { RaftLog } from './raft_log.js';
import { configToConfState, isJoint, ProgressTracker } from './tracker.js';
import {
  EntryType,
  MessageType,
  entrySizeBytes,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type ReadState,
  type Snapshot,
  type Storage,
} from './types.js';

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

export type CampaignType = 'preElection' | 'election' | 'transfer';

/** Deliberate bugs for proving that the simulator and checkers catch them. Never set outside tests. */
export interface PlantedBugs {
  /** Grant votes without checking that the candidate's log is at least as up to date (breaks §5.4.1). */
  readonly voteWithoutUpToDateCheck?: boolean;
  /** Commit an entry of a previous term by counting replicas (the Figure 8 bug of the Raft paper). */
  readonly commitPreviousTermByCounting?: boolean;
  /** Acknowledge appended entries before they are persisted. */
  readonly ackBeforePersist?: boolean;
}

export interface RaftConfig {
  readonly id: NodeId;
  /** Ticks without hearing from a leader before campaigning (randomized in [n, 2n) per term). */
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly storage: Storage;
  /** The last index the application has applied (on restart); entries after it are handed out again. */
  readonly applied?: LogIndex;
  /** Bytes of entries per MsgApp, at most (at least one entry is always sent). */
  readonly maxSizePerMsg: number;
  /** Bytes of committed entries per Ready, at most. */
  readonly maxCommittedSizePerReady: number;
  /** Bytes of proposed but uncommitted entries the leader accepts before dropping proposals; 0 = no limit. */
  readonly maxUncommittedEntriesSize: number;
  /** MsgApp messages in flight to one follower, at most. */
  readonly maxInflightMsgs: number;
  /** Bytes in flight to one follower, at most; 0 = no limit. */
  readonly maxInflightBytes: number;
  readonly checkQuorum: boolean;
  readonly preVote: boolean;
  readonly readOnlyOption: ReadOnlyOption;
  /** Followers drop proposals instead of forwarding them to the leader. */
  readonly disableProposalForwarding: boolean;
  readonly prng: Prng;
  /** Extra ticks before this member campaigns: how a less preferred member defers to preferred ones. */
  readonly campaignDelayTicks?: number;
  readonly plantedBugs?: PlantedBugs;
}

export const CAMPAIGN_TRANSFER_CONTEXT = new Uint8Array([0x54, 0x52]); // "TR"

/** Result of a proposal: accepted into the log (not yet committed), or dropped with a reason. */
export type ProposalResult =
  | { readonly kind: 'accepted' }
  | { readonly kind: 'dropped'; readonly reason: string };

const ACCEPTED: ProposalResult = Object.freeze({ kind: 'accepted' });
const dropped = (reason: string): ProposalResult => ({ kind: 'dropped', reason });

const EMPTY = new Uint8Array(0);

/** Message types a leader sends that depend on nothing durable; they may leave while its own fsync runs. */
function sendableBeforePersist(t: MessageType): boolean {
  return (
    t === MessageType.App ||
    t === MessageType.Heartbeat ||
    t === MessageType.HeartbeatResp ||
    t === MessageType.Snap ||
    t === MessageType.TimeoutNow ||
    t === MessageType.ReadIndex ||
    t === MessageType.ReadIndexResp ||
    t === MessageType.Prop ||
    t === MessageType.TransferLeader
  );
}

export function newMessage(fields: Partial<Message> & Pick<Message, 'type' | 'to' | 'from'>): Message {
  return {
    term: term(0),
    logTerm: term(0),
    index: logIndex(0),
    entries: [],
    commit: logIndex(0),
    snapshot: null,
    reject: false,
    rejectHint: logIndex(0),
    context: EMPTY,
    ...fields,
  };
}

export class Raft {
  readonly id: NodeId;
  term: Term = term(0);
  vote: NodeId = NONE;
  role: Role = 'follower';
  lead: NodeId = NONE;
  readonly log: RaftLog;
  readonly tracker: ProgressTracker;
  readonly readOnly: ReadOnly;

  /** Messages that may be sent at once. */
  msgs: Message[] = [];
  /** Messages that may be sent only after the current unstable entries and hard state are durable. */
  msgsAfterPersist: Message[] = [];
  readStates: ReadState[] = [];

  /** Leader: the target of an ongoing leadership transfer, or NONE. */
  leadTransferee: NodeId = NONE;
  /** Leader: index of the last conf change proposed; a new one waits until it is applied. */
  pendingConfIndex: LogIndex = logIndex(0);
  /** Leader: bytes of uncommitted entries, for maxUncommittedEntriesSize. */
  private uncommittedSize = 0;
  /** Leader: read requests waiting for the first commit of its term. */
  private pendingReadIndexMessages: Message[] = [];

  electionElapsed = 0;
  private broadcastPending = false;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  campaignDelayTicks: number;

  private readonly cfg: RaftConfig;
  private readonly bugs: PlantedBugs;

  constructor(cfg: RaftConfig) {
    assert(cfg.id !== NONE, 'Raft: id must not be 0');
    assert(cfg.heartbeatTicks > 0, 'Raft: heartbeatTicks must be positive');
    assert(cfg.electionTicks > cfg.heartbeatTicks, 'Raft: electionTicks must exceed heartbeatTicks');
    assert(cfg.maxInflightMsgs > 0, 'Raft: maxInflightMsgs must be positive');
    assert(cfg.readOnlyOption !== 'leaseBased' || cfg.checkQuorum, 'Raft: lease-based reads require checkQuorum');
    this.cfg = cfg;
    this.id = cfg.id;
    this.bugs = cfg.plantedBugs ?? {};
    this.campaignDelayTicks = cfg.campaignDelayTicks ?? 0;
    this.log = new RaftLog(cfg.storage, cfg.maxCommittedSizePerReady);
    this.tracker = new ProgressTracker(cfg.maxInflightMsgs, cfg.maxInflightBytes);
    this.readOnly = new ReadOnly(cfg.readOnlyOption);
    const { hardState, confState } = cfg.storage.initialState();
    restoreConfState(this.tracker, this.log.lastIndex(), confState);
    if (hardState.term !== 0 || hardState.vote !== NONE || hardState.commit !== 0) this.loadState(hardState);
    if (cfg.applied !== undefined && cfg.applied > 0) this.log.appliedTo(cfg.applied);
    this.becomeFollower(this.term, NONE);
  }

  // ---- state accessors ----

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  confState(): ConfState {
    return configToConfState(this.tracker.config);
  }

  /** Whether this member may campaign: a voter that is not waiting on an unpersisted snapshot. */
  promotable(): boolean {
    const pr = this.tracker.progress.get(this.id);
    return pr !== undefined && !pr.isLearner && this.log.unstable.snapshot === null;
  }

  private loadState(hs: HardState): void {
    assert(hs.commit >= this.log.committed && hs.commit <= this.log.lastIndex(),
      `hard state commit ${hs.commit} is out of range [${this.log.committed}, ${this.log.lastIndex()}]`);
    this.log.committed = hs.commit;
    this.term = hs.term;
    this.vote = hs.vote;
  }

  /** The highest index known to be durable in this member's own log. */
  durableLastIndex(): LogIndex {
    if (this.log.unstable.snapshot !== null) return logIndex(0);
    return logIndex(Math.min(this.log.storage.lastIndex(), this.log.unstable.offset - 1));
  }

  // ---- sending ----

  send(m: Message): void {
    let msg = m;
    if (m.from === NONE) msg = { ...msg, from: this.id };
    const t = msg.type;
    if (t === MessageType.Vote || t === MessageType.VoteResp || t === MessageType.PreVote || t === MessageType.PreVoteResp) {
      // Vote messages carry an explicit term: the campaign's (PreVote: the future term).
      assert(msg.term !== 0, `term must be set on ${t}`);
    } else if (t === MessageType.Prop || t === MessageType.ReadIndex) {
      // Forwarded proposals and read requests are local-ish messages without a term.
      msg = { ...msg, term: term(0) };
    } else {
      msg = { ...msg, term: this.term };
    }
    const early = sendableBeforePersist(t) || (this.bugs.ackBeforePersist === true && t === MessageType.AppResp);
    if (early) this.msgs.push(msg);
    else this.msgsAfterPersist.push(msg);
  }

  /** Sends entries (or a snapshot) to a follower if flow control allows; returns whether a message went. */
  maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.tracker.progress.get(to);
    if (pr === undefined || pr.isPaused()) return false;
    const prevIndex = logIndex(pr.next - 1);
    const prevTerm = this.log.term(prevIndex);
    const ents = prevTerm === undefined ? null : this.log.entriesFrom(pr.next, this.cfg.maxSizePerMsg);
    if (prevTerm === undefined || ents === null) return this.maybeSendSnapshot(to);
    if (ents.length === 0 && !sendIfEmpty) return false;
    let bytes = 0;
    for (const e of ents) bytes += entrySizeBytes(e);
    const last = ents.length > 0 ? (ents[ents.length - 1] as Entry).index : prevIndex;
    this.send(newMessage({
      type: MessageType.App,
      to,
      from: this.id,
      index: prevIndex,
      logTerm: prevTerm,
      entries: ents,
      commit: this.log.committed,
    }));
    pr.sentEntries(last, ents.length, bytes);
    return true;
  }

  private maybeSendSnapshot(to: NodeId): boolean {
    const pr = this.tracker.progress.get(to);
    assert(pr !== undefined, `maybeSendSnapshot: no progress for ${to}`);
    // An unreachable follower would only waste the snapshot.
    if (!pr.recentActive) return false;
    const snap = this.log.snapshot();
    if (snap === null) return false; // being produced; try again later
    assert(snap.metadata.index !== 0, 'need a non-empty snapshot to send');
    this.send(newMessage({ type: MessageType.Snap, to, from: this.id, snapshot: snap }));
    pr.becomeSnapshot(snap.metadata.index);
    return true;
  }

  sendAppend(to: NodeId): void {
    this.maybeSendAppend(to, true);
  }

  private sendHeartbeat(to: NodeId, ctx: Uint8Array): void {
    const pr = this.tracker.progress.get(to);
    assert(pr !== undefined, `sendHeartbeat: no progress for ${to}`);
    // Never tell a follower to commit past what it is known to have: it could not check those entries.
    const commit = logIndex(Math.min(pr.match, this.log.committed));
    this.send(newMessage({ type: MessageType.Heartbeat, to, from: this.id, commit, context: ctx }));
  }

  bcastAppend(): void {
    this.broadcastPending = false;
    this.tracker.visit((id) => {
      if (id !== this.id) this.sendAppend(id);
    });
  }

  /**
   * Asks for a broadcast when the next Ready is built instead of now: every proposal and commit advance
   * between two Readies then shares one append message per follower.
   */
  private bcastAppendSoon(): void {
    this.broadcastPending = true;
  }

  /** Sends the deferred broadcast, if any; RawNode calls this before it builds a Ready. */
  flushBroadcast(): void {
    if (this.broadcastPending && this.role === 'leader') this.bcastAppend();
    this.broadcastPending = false;
  }

  private bcastHeartbeat(): void {
    const ctx = this.readOnly.lastPendingContext();
    this.bcastHeartbeatWithCtx(ctx ?? EMPTY);
  }

  private bcastHeartbeatWithCtx(ctx: Uint8Array): void {
    this.tracker.visit((id) => {
      if (id !== this.id) this.sendHeartbeat(id, ctx);
    });
  }

  // ---- commit ----

  /** Advances the commit index to what a quorum has acknowledged, if that entry is of the current term. */
  maybeCommit(): boolean {
    const mci = this.tracker.committed();
    if (this.bugs.commitPreviousTermByCounting === true) {
      if (mci > this.log.committed && mci <= this.log.lastIndex()) {
        this.log.commitTo(mci);
        return true;
      }
      return false;
    }
    return this.log.maybeCommit(mci, this.term);
  }

  private committedEntryInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  // ---- role changes ----

  private reset(t: Term): void {
    this.broadcastPending = false;
    if (this.term !== t) {
      this.term = t;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.abortLeaderTransfer();
    this.tracker.resetVotes();
    const durable = this.durableLastIndex();
    this.tracker.visit((id, pr) => {
      pr.match = logIndex(0);
      pr.next = logIndex(this.log.lastIndex() + 1);
      pr.state = 'probe';
      pr.probeSent = false;
      pr.pendingSnapshot = logIndex(0);
      pr.inflights.reset();
      pr.recentActive = false;
      // The leader counts only what it has itself made durable.
      if (id === this.id) pr.match = durable;
    });
    this.pendingConfIndex = logIndex(0);
    this.uncommittedSize = 0;
    this.pendingReadIndexMessages = [];
  }

  private resetRandomizedElectionTimeout(): void {
    this.randomizedElectionTimeout =
      this.cfg.electionTicks + this.cfg.prng.int(this.cfg.electionTicks) + this.campaignDelayTicks;
  }

  becomeFollower(t: Term, lead: NodeId): void {
    this.reset(t);
    this.lead = lead;
    this.role = 'follower';
  }

  becomeCandidate(): void {
    assert(this.role !== 'leader', 'invalid transition [leader -> candidate]');
    this.reset(term(this.term + 1));
    this.vote = this.id;
    this.role = 'candidate';
  }

  becomePreCandidate(): void {
    assert(this.role !== 'leader', 'invalid transition [leader -> pre-candidate]');
    // PreVote does not touch term or vote: a partitioned member must not bump everyone's term.
    this.tracker.resetVotes();
    this.lead = NONE;
    this.role = 'preCandidate';
  }

  becomeLeader(): void {
    assert(this.role !== 'follower', 'invalid transition [follower -> leader]');
    this.reset(this.term);
    this.lead = this.id;
    this.role = 'leader';
    const self = this.tracker.progress.get(this.id);
    assert(self !== undefined, 'leader has no progress for itself');
    self.becomeReplicate();
    self.match = this.durableLastIndex();
    self.recentActive = true;
    // Conf changes in the uncommitted tail may be pending; be conservative until this term commits.
    this.pendingConfIndex = this.log.lastIndex();
    // An empty entry of the new term lets the leader commit everything before it (§5.4.2).
    const appended = this.appendEntries([{ term: term(0), index: logIndex(0), type: EntryType.Normal, data: EMPTY }]);
    assert(appended, 'leader could not append its empty entry');
  }

  // ---- ticks ----

  tick(): void {
    if (this.role === 'leader') this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.step(newMessage({ type: MessageType.Hup, to: this.id, from: this.id }));
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.cfg.electionTicks) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum) this.step(newMessage({ type: MessageType.CheckQuorum, to: this.id, from: this.id }));
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.role === 'leader' && this.leadTransferee !== NONE) this.abortLeaderTransfer();
    }
    if (this.role !== 'leader') return;
    if (this.heartbeatElapsed >= this.cfg.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.step(newMessage({ type: MessageType.Beat, to: this.id, from: this.id }));
    }
  }

  // ---- elections ----

  private hup(t: CampaignType): void {
    if (this.role === 'leader') return;
    if (!this.promotable()) return;
    // A pending, committed-but-unapplied conf change could remove us; campaigning would be pointless.
    if (this.hasUnappliedConfChanges()) return;
    this.campaign(t);
  }

  private hasUnappliedConfChanges(): boolean {
    if (this.log.applied >= this.log.committed) return false;
    const lo = logIndex(Math.max(this.log.applied + 1, this.log.firstIndex()));
    const hi = logIndex(this.log.committed + 1);
    if (lo >= hi) return false;
    for (const e of this.log.slice(lo, hi, Number.MAX_SAFE_INTEGER)) {
      if (e.type === EntryType.ConfChange) return true;
    }
    return false;
  }

  campaign(t: CampaignType): void {
    let voteType: MessageType;
    let campaignTerm: Term;
    if (t === 'preElection') {
      this.becomePreCandidate();
      voteType = MessageType.PreVote;
      campaignTerm = term(this.term + 1); // the term we would use, not adopted yet
    } else {
      this.becomeCandidate();
      voteType = MessageType.Vote;
      campaignTerm = this.term;
    }
    const voters = [...this.tracker.voterIds()].sort((a, b) => a - b);
    // Vote for ourselves first: a singleton wins at once.
    if (this.poll(this.id, true) === 'won') {
      if (t === 'preElection') this.campaign('election');
      else this.becomeLeader();
      return;
    }
    for (const id of voters) {
      if (id === this.id) continue;
      this.send(newMessage({
        type: voteType,
        to: id,
        from: this.id,
        term: campaignTerm,
        index: this.log.lastIndex(),
        logTerm: this.log.lastTerm(),
        context: t === 'transfer' ? CAMPAIGN_TRANSFER_CONTEXT : EMPTY,
      }));
    }
  }

  private poll(id: NodeId, granted: boolean): 'won' | 'lost' | 'pending' {
    this.tracker.recordVote(id, granted);
    return this.tracker.tallyVotes().result;
  }

  // ---- step ----

  /** Feeds one message (from the network or local) into the state machine. */
  step(m: Message): ProposalResult {
    if (m.term === 0) {
      // local message
    } else if (m.term > this.term) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        const force = equalBytes(m.context, CAMPAIGN_TRANSFER_CONTEXT);
        const inLease = this.cfg.checkQuorum && this.lead !== NONE && this.electionElapsed < this.cfg.electionTicks;
        // We heard from a leader within the election timeout: do not let a partitioned member disrupt it.
        if (!force && inLease) return ACCEPTED;
      }
      if (m.type === MessageType.PreVote) {
        // Never change term in response to a PreVote.
      } else if (m.type === MessageType.PreVoteResp && !m.reject) {
        // The term in a granted PreVote response is the future term; adopt it only on winning.
      } else if (m.type === MessageType.App || m.type === MessageType.Heartbeat || m.type === MessageType.Snap) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term < this.term) {
      this.stepLowerTerm(m);
      return ACCEPTED;
    }

    switch (m.type) {
      case MessageType.Hup:
        this.hup(this.cfg.preVote ? 'preElection' : 'election');
        return ACCEPTED;
      case MessageType.Vote:
      case MessageType.PreVote:
        this.handleVoteRequest(m);
        return ACCEPTED;
      default:
        switch (this.role) {
          case 'leader':
            return this.stepLeader(m);
          case 'candidate':
          case 'preCandidate':
            return this.stepCandidate(m);
          case 'follower':
            return this.stepFollower(m);
        }
    }
  }

  private stepLowerTerm(m: Message): void {
    if ((this.cfg.checkQuorum || this.cfg.preVote) && (m.type === MessageType.Heartbeat || m.type === MessageType.App)) {
      // A stale leader (or one that was partitioned away) learns our term from this and steps down.
      this.send(newMessage({ type: MessageType.AppResp, to: m.from, from: this.id }));
    } else if (m.type === MessageType.PreVote) {
      // Reject so the pre-candidate learns our term and does not wait for a timeout.
      this.send(newMessage({ type: MessageType.PreVoteResp, to: m.from, from: this.id, term: this.term, reject: true }));
    }
    // Otherwise ignore the stale message.
  }

  private handleVoteRequest(m: Message): void {
    const isPre = m.type === MessageType.PreVote;
    const canVote =
      this.vote === m.from ||
      (this.vote === NONE && this.lead === NONE) ||
      (isPre && m.term > this.term);
    const upToDate = this.bugs.voteWithoutUpToDateCheck === true || this.log.isUpToDate(m.index, m.logTerm);
    const respType = isPre ? MessageType.PreVoteResp : MessageType.VoteResp;
    if (canVote && upToDate) {
      // A granted (pre)vote carries the candidate's term, so the candidate counts it.
      this.send(newMessage({ type: respType, to: m.from, from: this.id, term: m.term }));
      if (!isPre) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send(newMessage({ type: respType, to: m.from, from: this.id, term: this.term, reject: true }));
    }
  }

  private stepLeader(m: Message): ProposalResult {
    switch (m.type) {
      case MessageType.Beat:
        this.bcastHeartbeat();
        return ACCEPTED;
      case MessageType.CheckQuorum:
        if (!this.tracker.quorumActive()) this.becomeFollower(this.term, NONE);
        this.tracker.visit((id, pr) => {
          if (id !== this.id) pr.recentActive = false;
        });
        return ACCEPTED;
      case MessageType.Prop:
        return this.handleProposal(m);
      case MessageType.ReadIndex:
        this.handleLeaderReadIndex(m);
        return ACCEPTED;
      default:
        break;
    }
    const pr = this.tracker.progress.get(m.from);
    if (pr === undefined) return ACCEPTED; // from a removed member
    switch (m.type) {
      case MessageType.AppResp:
        this.handleAppendResponse(m);
        break;
      case MessageType.HeartbeatResp:
        this.handleHeartbeatResponse(m);
        break;
      case MessageType.SnapStatus:
        if (pr.state !== 'snapshot') break;
        if (m.reject) pr.pendingSnapshot = logIndex(0);
        pr.becomeProbe();
        // Wait for a heartbeat response (or an append response) before probing again.
        pr.probeSent = true;
        break;
      case MessageType.Unreachable:
        if (pr.state === 'replicate') pr.becomeProbe();
        break;
      case MessageType.TransferLeader:
        this.handleTransferLeader(m);
        break;
      default:
        break;
    }
    return ACCEPTED;
  }

  private handleProposal(m: Message): ProposalResult {
    assert(m.entries.length > 0, 'proposal with no entries');
    if (!this.tracker.progress.has(this.id)) return dropped('this member was removed from the configuration');
    if (this.leadTransferee !== NONE) return dropped(`leadership is being transferred to ${this.leadTransferee}`);
    const entries = m.entries.map((e) => (e.type === EntryType.ConfChange ? this.vetConfChange(e) : e));
    if (!this.appendEntries(entries)) return dropped('too many uncommitted entries');
    this.bcastAppendSoon();
    return ACCEPTED;
  }

  /** Replaces a conf change that may not be proposed now with an empty entry (so the proposal's slot stays). */
  private vetConfChange(e: Entry): Entry {
    const cc = decodeConfChange(e.data);
    const joint = isJoint(this.tracker.config);
    const leave = cc.changes.length === 0;
    let refused = '';
    if (this.pendingConfIndex > this.log.applied) refused = 'a previous configuration change is not yet applied';
    else if (joint && !leave) refused = 'the configuration is joint; leave it first';
    else if (!joint && leave) refused = 'the configuration is not joint';
    if (refused === '') {
      this.pendingConfIndex = logIndex(this.log.lastIndex() + 1);
      return e;
    }
    return { ...e, type: EntryType.Normal, data: EMPTY };
  }

  private handleLeaderReadIndex(m: Message): void {
    if (this.tracker.isSingleton()) {
      this.respondToReadIndex(m, this.log.committed);
      return;
    }
    // Until the leader commits an entry of its term it does not know the true commit index (§6.4).
    if (!this.committedEntryInCurrentTerm()) {
      this.pendingReadIndexMessages.push(m);
      return;
    }
    this.sendReadIndexConfirmation(m);
  }

  private sendReadIndexConfirmation(m: Message): void {
    if (this.readOnly.option === 'leaseBased') {
      this.respondToReadIndex(m, this.log.committed);
      return;
    }
    const ctx = m.entries[0]?.data ?? EMPTY;
    // A voter that forwarded the read vouches for it (see read_only.ts); a learner's word would not count anyway.
    const witness = m.from !== NONE && m.from !== this.id && this.tracker.isVoter(m.from) ? m.from : null;
    this.readOnly.addRequest(this.log.committed, m, witness);
    // The leader's own ack: with the witness it may already make a quorum; else a heartbeat round confirms it.
    const acks = this.readOnly.recvAck(this.id, ctx);
    if (acks !== undefined && this.readQuorumReached(acks)) {
      for (const { req, index } of this.readOnly.advance(ctx, (v) => this.readQuorumReached(v))) this.respondToReadIndex(req, index);
      return;
    }
    this.bcastHeartbeatWithCtx(ctx);
  }

  private respondToReadIndex(req: Message, index: LogIndex): void {
    const ctx = req.entries[0]?.data ?? EMPTY;
    if (req.from === NONE || req.from === this.id) {
      this.readStates.push({ index, requestContext: ctx });
      return;
    }
    this.send(newMessage({
      type: MessageType.ReadIndexResp,
      to: req.from,
      from: this.id,
      index,
      entries: req.entries,
    }));
  }

  private releasePendingReadIndexMessages(): void {
    if (this.pendingReadIndexMessages.length === 0 || !this.committedEntryInCurrentTerm()) return;
    const msgs = this.pendingReadIndexMessages;
    this.pendingReadIndexMessages = [];
    for (const m of msgs) this.sendReadIndexConfirmation(m);
  }

  private handleAppendResponse(m: Message): void {
    const pr = this.tracker.progress.get(m.from);
    assert(pr !== undefined, 'handleAppendResponse: no progress');
    pr.recentActive = true;
    if (m.reject) {
      // Fast back-off: skip every entry of terms the follower cannot have (§5.3, etcd's findConflictByTerm).
      let nextProbe = m.rejectHint;
      if (m.logTerm > 0) nextProbe = this.log.findConflictByTerm(m.rejectHint, m.logTerm).index;
      if (pr.maybeDecrTo(m.index, nextProbe)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index)) return;
    if (pr.state === 'probe') {
      pr.becomeReplicate();
    } else if (pr.state === 'snapshot' && pr.match + 1 >= this.log.firstIndex()) {
      // The follower caught up by snapshot and can take entries again.
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === 'replicate') {
      pr.inflights.freeLE(m.index);
    }
    if (this.maybeCommit()) {
      this.releasePendingReadIndexMessages();
      this.bcastAppendSoon();
    } else if (wasPaused && !this.broadcastPending) {
      // (A pending broadcast will reach this follower anyway.)
      this.sendAppend(m.from);
    }
    // Fill the window: keep sending while flow control allows and there is something new.
    while (this.maybeSendAppend(m.from, false)) {
      // each call sends one message
    }
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from);
  }

  private handleHeartbeatResponse(m: Message): void {
    const pr = this.tracker.progress.get(m.from);
    assert(pr !== undefined, 'handleHeartbeatResponse: no progress');
    pr.recentActive = true;
    pr.probeSent = false;
    // The follower is alive: let one more MsgApp through even if the window is full (etcd's FreeFirstOne).
    if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
    if (pr.match < this.log.lastIndex()) this.sendAppend(m.from);
    if (this.readOnly.option !== 'safe' || m.context.length === 0) return;
    const acks = this.readOnly.recvAck(m.from, m.context);
    if (acks === undefined) return;
    if (!this.readQuorumReached(acks)) return;
    for (const { req, index } of this.readOnly.advance(m.context, (v) => this.readQuorumReached(v))) this.respondToReadIndex(req, index);
  }

  private readQuorumReached(acks: ReadonlyMap<NodeId, boolean>): boolean {
    const c = this.tracker.config;
    return majorityVoteResult(c.incoming, acks) === 'won' && majorityVoteResult(c.outgoing, acks) === 'won';
  }

  private handleTransferLeader(m: Message): void {
    const pr = this.tracker.progress.get(m.from);
    assert(pr !== undefined, 'handleTransferLeader: no progress');
    if (pr.isLearner) return;
    const target = m.from;
    if (this.leadTransferee !== NONE) {
      if (this.leadTransferee === target) return; // already in progress
      this.abortLeaderTransfer();
    }
    if (target === this.id) return;
    // The transfer must finish within one election timeout.
    this.electionElapsed = 0;
    this.leadTransferee = target;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(target);
    else this.sendAppend(target);
  }

  private sendTimeoutNow(to: NodeId): void {
    this.send(newMessage({ type: MessageType.TimeoutNow, to, from: this.id }));
  }

  abortLeaderTransfer(): void {
    this.leadTransferee = NONE;
  }

  private stepCandidate(m: Message): ProposalResult {
    const myVoteResp = this.role === 'preCandidate' ? MessageType.PreVoteResp : MessageType.VoteResp;
    switch (m.type) {
      case MessageType.Prop:
        return dropped('no leader (election in progress)');
      case MessageType.App:
        this.becomeFollower(m.term, m.from);
        this.handleAppendEntries(m);
        break;
      case MessageType.Heartbeat:
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        break;
      case MessageType.Snap:
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        break;
      case MessageType.PreVoteResp:
      case MessageType.VoteResp:
        if (m.type !== myVoteResp) break;
        this.handleVoteResponse(m);
        break;
      case MessageType.ReadIndex:
        // No leader to ask; the caller retries.
        break;
      default:
        break;
    }
    return ACCEPTED;
  }

  private handleVoteResponse(m: Message): void {
    const result = this.poll(m.from, !m.reject);
    if (result === 'won') {
      if (this.role === 'preCandidate') {
        this.campaign('election');
      } else {
        this.becomeLeader();
        this.bcastAppend();
      }
    } else if (result === 'lost') {
      // A rejecting response may carry a higher term, which step() already adopted.
      this.becomeFollower(this.term, NONE);
    }
  }

  private stepFollower(m: Message): ProposalResult {
    switch (m.type) {
      case MessageType.Prop:
        if (this.lead === NONE) return dropped('no leader');
        if (this.cfg.disableProposalForwarding) return dropped('proposal forwarding is disabled');
        this.send({ ...m, to: this.lead });
        return ACCEPTED;
      case MessageType.App:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppendEntries(m);
        return ACCEPTED;
      case MessageType.Heartbeat:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return ACCEPTED;
      case MessageType.Snap:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return ACCEPTED;
      case MessageType.TransferLeader:
        if (this.lead === NONE) return dropped('no leader to transfer leadership');
        this.send({ ...m, to: this.lead });
        return ACCEPTED;
      case MessageType.TimeoutNow:
        // Leadership transfer: campaign at once, skipping PreVote and the lease check.
        this.hup('transfer');
        return ACCEPTED;
      case MessageType.ReadIndex:
        if (this.lead === NONE) return dropped('no leader to confirm a read index');
        this.send({ ...m, to: this.lead });
        return ACCEPTED;
      case MessageType.ReadIndexResp:
        assert(m.entries.length === 1, 'ReadIndexResp must carry exactly one context entry');
        this.readStates.push({ index: m.index, requestContext: (m.entries[0] as Entry).data });
        return ACCEPTED;
      default:
        return ACCEPTED;
    }
  }

  private handleAppendEntries(m: Message): void {
    if (m.index < this.log.committed) {
      this.send(newMessage({ type: MessageType.AppResp, to: m.from, from: this.id, index: this.log.committed }));
      return;
    }
    const last = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (last !== undefined) {
      this.send(newMessage({ type: MessageType.AppResp, to: m.from, from: this.id, index: last }));
      return;
    }
    // Mismatch: hint the largest index whose term is at most the leader's term at m.index.
    const hintIndex = logIndex(Math.min(m.index, this.log.lastIndex()));
    const hint = this.log.findConflictByTerm(hintIndex, m.logTerm);
    this.send(newMessage({
      type: MessageType.AppResp,
      to: m.from,
      from: this.id,
      index: m.index,
      reject: true,
      rejectHint: hint.index,
      logTerm: hint.term,
    }));
  }

  private handleHeartbeat(m: Message): void {
    this.log.commitTo(m.commit);
    this.send(newMessage({ type: MessageType.HeartbeatResp, to: m.from, from: this.id, context: m.context }));
  }

  private handleSnapshot(m: Message): void {
    const snap = m.snapshot;
    assert(snap !== null, 'MsgSnap without a snapshot');
    if (this.restore(snap)) {
      this.send(newMessage({ type: MessageType.AppResp, to: m.from, from: this.id, index: this.log.lastIndex() }));
    } else {
      this.send(newMessage({ type: MessageType.AppResp, to: m.from, from: this.id, index: this.log.committed }));
    }
  }

  /** Installs a snapshot from the leader; returns false when it is stale or our log already has it. */
  restore(s: Snapshot): boolean {
    if (s.metadata.index <= this.log.committed) return false;
    if (this.role !== 'follower') {
      // Defensive: only a follower may install a snapshot.
      this.becomeFollower(term(this.term + 1), NONE);
      return false;
    }
    // A snapshot whose configuration does not name us is still installed (unlike etcd-io/raft): a joining
    // member receives the snapshot taken before its own addition and learns of it from the entries after.
    const cs = s.metadata.confState;
    // Our log already contains the snapshot's last entry: just fast-forward the commit index.
    if (this.log.matchTerm(s.metadata.index, s.metadata.term)) {
      this.log.commitTo(s.metadata.index);
      return false;
    }
    this.log.restore(s);
    restoreConfState(this.tracker, this.log.lastIndex(), cs);
    return true;
  }

  // ---- proposals and config ----

  /** Assigns term and index to new entries and appends them; false if the uncommitted limit refuses them. */
  appendEntries(es: readonly Entry[]): boolean {
    const last = this.log.lastIndex();
    let bytes = 0;
    for (const e of es) bytes += e.data.byteLength;
    const limit = this.cfg.maxUncommittedEntriesSize;
    // An empty entry is always allowed (the leader's no-op), and one large proposal is allowed when none is pending.
    if (limit > 0 && bytes > 0 && this.uncommittedSize > 0 && this.uncommittedSize + bytes > limit) return false;
    this.uncommittedSize += bytes;
    const stamped = es.map((e, i) => ({ ...e, term: this.term, index: logIndex(last + 1 + i) }));
    this.log.append(stamped);
    return true;
  }

  /** Called as committed entries are handed out: they no longer count against the uncommitted limit. */
  reduceUncommittedSize(ents: readonly Entry[]): void {
    if (this.role !== 'leader') return;
    let bytes = 0;
    for (const e of ents) bytes += e.data.byteLength;
    this.uncommittedSize = Math.max(0, this.uncommittedSize - bytes);
  }

  /** Applies a committed conf change (the application calls this when it applies the entry). */
  applyConfChange(cc: ConfChange): ConfState {
    let result;
    try {
      result = applyConfChange(this.tracker, this.log.lastIndex(), cc);
    } catch (err) {
      // A committed change that cannot apply means the log is corrupt or raft has a bug.
      if (err instanceof ConfChangeError) assert(false, `cannot apply committed conf change: ${err.message}`);
      throw err;
    }
    this.tracker.config = result.config;
    this.tracker.progress = result.progress;
    this.switchToConfig();
    return this.confState();
  }

  private switchToConfig(): void {
    const self = this.tracker.progress.get(this.id);
    // A removed leader or one demoted to learner steps down (it keeps serving until then, §4.2.2).
    if (this.role === 'leader' && (self === undefined || self.isLearner)) {
      this.becomeFollower(this.term, NONE);
      return;
    }
    if (this.role !== 'leader' || this.tracker.progress.size === 0) return;
    // The quorum may have shrunk: we may be able to commit, and new members need entries.
    if (this.maybeCommit()) this.bcastAppend();
    else {
      this.tracker.visit((id) => {
        if (id !== this.id) this.maybeSendAppend(id, false);
      });
    }
    if (this.leadTransferee !== NONE && !this.tracker.isVoter(this.leadTransferee)) this.abortLeaderTransfer();
  }

  /** The application applied entries up to `index`; the leader may now leave a joint config automatically. */
  appliedTo(index: LogIndex): void {
    const old = this.log.applied;
    this.log.appliedTo(logIndex(Math.max(old, index)));
    const c = this.tracker.config;
    if (this.role === 'leader' && c.autoLeave && isJoint(c) && index >= this.pendingConfIndex) {
      const leave: ConfChange = { transition: 'auto', changes: [], context: EMPTY };
      const e: Entry = { term: term(0), index: logIndex(0), type: EntryType.ConfChange, data: encodeConfChange(leave) };
      // Bypass the pending-change check: this is the change the pending one asked for.
      if (this.appendEntries([e])) {
        this.pendingConfIndex = this.log.lastIndex();
        this.bcastAppend();
      }
    }
  }

  /** Marks entries up to (index, t) durable: the leader now counts its own copy. */
  stableTo(index: LogIndex, t: Term): void {
    this.log.stableTo(index, t);
    if (this.role !== 'leader' || this.log.term(index) !== t) return;
    const self = this.tracker.progress.get(this.id);
    if (self !== undefined && self.maybeUpdate(index) && this.maybeCommit()) {
      this.releasePendingReadIndexMessages();
      this.bcastAppendSoon();
    }
  }

  // For tests and status: the randomized timeout in force.
  electionTimeoutTicks(): number {
    return this.randomizedElectionTimeout;
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
