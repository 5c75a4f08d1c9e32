// One Meridian member: the driver loop of ARCHITECTURE.md around the pure Raft core, the durable log (RaftLog),
// the MVCC state machine with its watch hub and leases, and the read paths. Clock, network and disk are
// injected, so the same code runs in the real server and in the deterministic simulator.


import { logIndex, type LeaseId, type LogIndex, type NodeId } from '../../util/branded.js';
import type { Prng } from '../../util/prng.js';
import { decodeConfChange } from '../../raft/confchange_codec.js';
import { contextKey } from '../../raft/read_only.js';
import type { PlantedBugs, RaftConfig } from '../../raft/raft.js';
import { RawNode, type Ready } from '../../raft/raw_node.js';
import { EntryType, MessageType, type ConfChange, type ConfState, type Entry, type HardState, type Message } from '../../raft/types.js';
import type { Backend } from '../../storage/backend/backend.js';
import type { FileSystem } from '../../storage/file_system.js';
import { RaftLog } from '../../storage/raft_log.js';
import { encodeCommand } from '../../kv/command.js';
import type { Command, CommandResponse, RangeRequest, RangeResponse } from '../../kv/rpc.js';
import { LeaseNotFoundError } from '../../kv/errors.js';
import { KvStateMachine, validateCommand, type KvStateMachineOptions } from '../../kv/state_machine.js';
import type { RevisionChanges, WatchableHistory } from '../../kv/types.js';
import { WatchHub } from '../../kv/watch_hub.js';
import { WATCH_PROGRESS_INTERVAL_MS_DEFAULT, type WatchLimits } from '../../kv/watch_limits.js';
import { COMMIT_NOTICE_HOLD_MS, CommitNoticeHold } from './commit_notices.js';
import { MemberStoppedError, NoLeaderError, NotLeaderError, RequestTimeoutError, TooManyRequestsError } from './errors.js';
import { Membership } from './membership.js';
import { decodeSnapshotData, encodeSnapshotData } from './snapshot_codec.js';
import { ReadPaths, LEASE_READ_MARGIN_MS_DEFAULT, STALENESS_MARGIN_MS_DEFAULT, type ReadOptions, type ReadServed } from './read_paths.js';
import { affinityDelayTicks, MultiDc, type MultiDcOptions } from './multi_dc.js';

/** The member's view of time: a monotonic clock and one-shot timers. */
export interface MemberClock {
  /** Monotonic milliseconds. */
  now(): number;
  /** Runs fn once after ms; returns a function that cancels it. */
  setTimer(ms: number, fn: () => void): () => void;
}

/** The member's links to the outside, injected. */
export interface MemberIo {
  /** Hands Raft messages to the peer transport. */
  send(messages: readonly Message[]): void;
  /**
   * Runs the member's asynchronous disk work. Production passes it through; the simulator uses it to let
   * simulated I/O settle before its clock moves.
   */
  track<T>(work: Promise<T>): Promise<T>;
  /** Delays a Ready's write: the simulator's disk latency. Production: absent, the write starts at once. */
  beforePersist?(go: () => void): void;
}

/** Named points of the Ready loop, where the simulator may crash a member. */
export type MemberPoint = 'before-persist' | 'after-persist' | 'after-apply';

/** What the member reports as it runs: the simulator checks invariants on it, the server counts metrics. */
export interface MemberObserver {
  becameLeader?(term: number): void;
  /** The leader's commit index advanced; the Ready with the news is about to go out. */
  leaderCommitted?(): void;
  applied?(entry: Entry): void;
  /** A snapshot from the leader replaced this member's state. */
  snapshotInstalled?(index: LogIndex): void;
  /** The store applied a revision (what watchers receive). */
  changes?(changes: RevisionChanges): void;
  confChanged?(cs: ConfState, index: LogIndex): void;
  /** Reached a named point; the observer may stop the member here (it then goes no further). */
  point?(point: MemberPoint): void;
  /** The member stopped for good: a disk failure or a failed assertion. The process must exit. */
  fatal(err: unknown): void;
}

export interface RaftSettings {
  readonly tickMs: number;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly maxSizePerMsg: number;
  readonly maxInflightMsgs: number;
  readonly maxCommittedSizePerReady: number;
  readonly maxUncommittedEntriesSize: number;
}

export const DEFAULT_RAFT_SETTINGS: RaftSettings = {
  tickMs: 100,
  electionTicks: 10,
  heartbeatTicks: 1,
  preVote: true,
  checkQuorum: true,
  maxSizePerMsg: 1024 * 1024,
  maxInflightMsgs: 256,
  maxCommittedSizePerReady: 64 * 1024 * 1024,
  maxUncommittedEntriesSize: 256 * 1024 * 1024,
};

/** What a member of a new cluster writes on its first start (etcd's bootstrap). */
export interface Bootstrap {
  readonly confState: ConfState;
  readonly entries: readonly Entry[];
  readonly hardState: HardState;
}

export interface MemberOptions {
  readonly id: NodeId;
  readonly clusterId: string;
  readonly fs: FileSystem;
  readonly dataDir: string;
  /** The MVCC store's storage engine (LMDB in the server, in memory in the simulator). */
  readonly kvBackend: Backend;
  readonly clock: MemberClock;
  readonly io: MemberIo;
  readonly prng: Prng;
  readonly raft: RaftSettings;
  /** For a member of a new cluster; null when joining an existing one or restarting. */
  readonly bootstrap: Bootstrap | null;
  readonly walSegmentBytes?: number;
  /** Take a snapshot every this many applied entries (etcd's --snapshot-count). */
  readonly snapshotEveryEntries: number;
  /** Entries kept behind a snapshot so a slightly slow follower needs no snapshot (etcd's catch-up entries). */
  readonly compactionLagEntries: number;
  readonly quotaBytes?: number;
  /** Leases shorter than this are granted this TTL (default MIN_LEASE_TTL_SECONDS_DEFAULT, as etcd's minimum). */
  readonly minLeaseTtlSeconds?: number;
  /** Bounds of the watch streams (defaults from kv/watch_limits.ts). */
  readonly watchLimits?: Partial<WatchLimits>;
  /** How long a client request may wait for its proposal or read to complete. */
  readonly requestTimeoutMs: number;
  /** Progress notifications to watchers that asked for them (etcd: 10 minutes). */
  readonly watchProgressIntervalMs?: number;
  readonly observer: MemberObserver;
  readonly plantedBugs?: PlantedBugs;
  /** Multi-DC behaviour: read paths, leader affinity, survival goal, adaptive timing, auto-promotion. */
  readonly multiDc?: MultiDcOptions;
}

/** Proposals and reads waiting at once, at most; more are refused with "too many requests". */
export const PENDING_REQUESTS_MAX = 100_000;
/** How often the leader looks for expired leases and due checkpoints. */
export const LEASE_TICK_MS = 500;
/** How often watchers that fell behind catch up from history (etcd: 100 ms). */
export const WATCH_SYNC_MS = 100;
const READ_CONTEXT_BYTES = 8;

interface Waiter<T> {
  resolve(v: T): void;
  reject(err: Error): void;
  cancelTimer(): void;
}

interface PendingRead extends Waiter<void> {
  index: LogIndex | null;
  /** Local time just before the read index was asked for: the answer proves freshness as of then. */
  readonly askedAtMs: number;
}

/** The watch hub reads history through this, so a snapshot restore can swap the store underneath. */
class CurrentHistory implements WatchableHistory {
  constructor(private readonly member: { readonly kv: KvStateMachine }) {}
  currentRevision(): ReturnType<WatchableHistory['currentRevision']> {
    return this.member.kv.currentRevision();
  }
  compactRevision(): ReturnType<WatchableHistory['compactRevision']> {
    return this.member.kv.compactRevision();
  }
  changes(...args: Parameters<WatchableHistory['changes']>): RevisionChanges[] {
    return this.member.kv.changes(...args);
  }
}

export class Member {
  readonly id: NodeId;
  readonly rawNode: RawNode;
  kv: KvStateMachine;
  readonly watchHub: WatchHub;
  readonly membership = new Membership();
  private stopped = false;
  private persisting = false;
  private snapshotting = false;
  private readonly proposals = new Map<number, Waiter<CommandResponse>>();
  private readonly reads = new Map<string, PendingRead>();
  /** Membership changes waiting to be applied, by the nonce their context carries. */
  private readonly confWaiters = new Map<string, Waiter<ConfState>>();
  /** The periodic loops (ticks, leases, watch catch-up), each with the cancel of its pending timer. */
  private readonly loops: { cancel: () => void }[] = [];
  private unsubscribeKv: () => void = () => undefined;
  /** While leader: the index this member must apply before its lessor acts (null once it does, or when not leader). */
  private lessorGate: LogIndex | null = null;
  /** Keep-alives that reached this leader before its lessor was promoted; run again at promotion or step-down. */
  private readonly renewalsBeforePromotion: (() => void)[] = [];
  /** Outgoing messages pass here: a leader's commit-only appends wait briefly for an append to carry them. */
  private readonly commitNotices: CommitNoticeHold;
  /** The read paths (read_paths.ts) and the multi-DC behaviour (multi_dc.ts), kept out of this file. */
  readonly readPaths: ReadPaths;
  readonly multiDc: MultiDc;
  /** Told every applied revision's changes, synchronously, after the watch hub (the ZooKeeper server's watches). */
  readonly changeListeners = new Set<(changes: RevisionChanges) => void>();

  private constructor(
    private readonly opts: MemberOptions,
    readonly log: RaftLog,
    kv: KvStateMachine,
  ) {
    this.id = opts.id;
    this.kv = kv;
    this.watchHub = new WatchHub(new CurrentHistory(this), opts.watchLimits);
    this.rawNode = new RawNode(this.raftConfig(log.snapshot.metadata.index));
    this.commitNotices = new CommitNoticeHold(COMMIT_NOTICE_HOLD_MS, (ms, fn) => opts.clock.setTimer(ms, () => this.guard(fn)),
      (messages) => opts.io.send(messages));
    this.multiDc = new MultiDc(this, opts.raft, opts.multiDc ?? {});
    this.readPaths = this.newReadPaths();
  }

  /**
   * Opens (or creates) the member's data directory, recovers its log and state machine, and starts it.
   * The state machine keeps its own applied index; Raft replays every entry after the snapshot and the
   * state machine skips those it already holds.
   */
  static async open(opts: MemberOptions): Promise<Member> {
    const log = await RaftLog.open(opts.fs, opts.dataDir, {
      clusterId: opts.clusterId,
      memberId: opts.id,
      bootstrapConfState: opts.bootstrap?.confState,
      segmentBytes: opts.walSegmentBytes,
    });
    if (opts.bootstrap !== null && log.storage.lastIndex() === 0 && log.hardState.term === 0) {
      await log.save({ entries: opts.bootstrap.entries, hardState: opts.bootstrap.hardState });
    }
    const snap = log.snapshot;
    const contents = decodeSnapshotData(snap.data);
    const kvOptions = kvOptionsFor(opts);
    let kv = KvStateMachine.open(kvOptions);
    // The store is behind the snapshot (a snapshot from the leader was saved but not yet installed): install it.
    if (kv.appliedIndex() < snap.metadata.index) kv = KvStateMachine.restore(kvOptions, contents.kvChunks);
    const member = new Member(opts, log, kv);
    member.membership.restore(contents.members);
    member.start();
    return member;
  }

  private raftConfig(applied: LogIndex): RaftConfig {
    const r = this.opts.raft;
    return {
      id: this.opts.id,
      electionTicks: r.electionTicks,
      heartbeatTicks: r.heartbeatTicks,
      storage: this.log.storage,
      applied,
      maxSizePerMsg: r.maxSizePerMsg,
      maxCommittedSizePerReady: r.maxCommittedSizePerReady,
      maxUncommittedEntriesSize: r.maxUncommittedEntriesSize,
      maxInflightMsgs: r.maxInflightMsgs,
      maxInflightBytes: 0,
      checkQuorum: r.checkQuorum,
      preVote: r.preVote,
      readOnlyOption: 'safe',
      disableProposalForwarding: false,
      prng: this.opts.prng.fork(),
      // Leader affinity from the first election on (MultiDc keeps it current once the member list is known).
      campaignDelayTicks: affinityDelayTicks(this.opts.multiDc?.leaderPreference ?? [], this.opts.multiDc?.dc ?? '', r),
      ...(this.opts.plantedBugs === undefined ? {} : { plantedBugs: this.opts.plantedBugs }),
    };
  }

  private start(): void {
    this.subscribeKv();
    // The interval is read at every tick: adaptive timing may scale it (see adaptive_timing.ts).
    this.every(() => this.multiDc.tickMs(), () => {
      this.multiDc.beforeTick();
      this.rawNode.tick();
      this.processReady();
    });
    this.every(LEASE_TICK_MS, () => this.tendLeases());
    // Catch-up rounds for watchers behind the store (slow consumers, watches from the past), as etcd does.
    this.every(WATCH_SYNC_MS, () => {
      this.watchHub.syncWatchers();
    });
    this.every(this.opts.watchProgressIntervalMs ?? WATCH_PROGRESS_INTERVAL_MS_DEFAULT, () => this.watchHub.tickProgress());
  }

  /** Runs fn every ms on the member's clock until it stops. */
  private every(ms: number | (() => number), fn: () => void): void {
    const loop = { cancel: (): void => undefined };
    const arm = (): void => {
      loop.cancel = this.opts.clock.setTimer(typeof ms === 'number' ? ms : ms(), () => {
        if (this.stopped) return;
        arm();
        this.guard(fn);
      });
    };
    arm();
    this.loops.push(loop);
  }

  private subscribeKv(): void {
    this.unsubscribeKv = this.kv.onChanges((c) => {
      this.opts.observer.changes?.(c);
      this.watchHub.notify(c);
      for (const listener of this.changeListeners) listener(c);
    });
  }

  /** Stops at once, as a crash would: nothing more is written, waiting requests fail. */
  kill(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const loop of this.loops) loop.cancel();
    this.commitNotices.clear();
    this.unsubscribeKv();
    const err = new MemberStoppedError();
    for (const w of this.proposals.values()) w.reject(err);
    for (const r of this.reads.values()) r.reject(err);
    for (const w of this.confWaiters.values()) w.reject(err);
    this.readPaths.stop();
    this.proposals.clear();
    this.reads.clear();
    // They answer "member stopped" now that `stopped` is set.
    for (const retry of this.renewalsBeforePromotion.splice(0)) retry();
    this.confWaiters.clear();
  }

  /** Graceful stop: the state machine commits what it applied, files are closed. */
  async close(): Promise<void> {
    if (this.stopped) return;
    this.commitNotices.flush();
    this.kill();
    this.kv.commit();
    this.kv.close();
    await this.log.close();
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  /** Runs member code; a thrown error (a failed assertion) stops the member for good, as it must. */
  private guard(fn: () => void): void {
    if (this.stopped) return;
    try {
      fn();
    } catch (err) {
      this.fail(err);
    }
  }

  private fail(err: unknown): void {
    if (this.stopped) return;
    this.kill();
    this.opts.observer.fatal(err);
  }

  // ---- input ----

  /** A Raft message from a peer. */
  receive(m: Message): void {
    this.guard(() => {
      this.rawNode.step(m);
      // A follower's clients wait for what it forwarded: the commit of those entries is told at once.
      if (m.type === MessageType.Prop && this.rawNode.raft.role === 'leader') this.commitNotices.awaitCommit(m.from, this.rawNode.raft.log.lastIndex());
      this.processReady();
    });
  }

  reportUnreachable(id: NodeId): void {
    this.guard(() => {
      this.rawNode.reportUnreachable(id);
      this.processReady();
    });
  }

  reportSnapshot(id: NodeId, status: 'finish' | 'failure'): void {
    this.guard(() => {
      this.rawNode.reportSnapshot(id, status);
      this.processReady();
    });
  }

  // ---- the Ready loop ----

  private processReady(): void {
    if (this.stopped || this.persisting || !this.rawNode.hasReady()) return;
    const rd = this.rawNode.ready();
    const obs = this.opts.observer;
    if (rd.softState !== null) this.leadershipChanged(rd.softState.role === 'leader');
    if (rd.hardState !== null && rd.committedEntries.length > 0 && this.rawNode.raft.role === 'leader') obs.leaderCommitted?.();
    if (this.stopped) return;
    // Sent now: they depend on nothing this Ready persists (a leader replicates while its own write runs).
    this.commitNotices.dispatch(rd.messages);
    // A membership change may retire this member once applied (a removed leader stops): the followers must
    // hear that it committed first, as they would without the hold.
    if (rd.committedEntries.some((e) => e.type === EntryType.ConfChange)) this.commitNotices.flush();
    if (rd.entries.length === 0 && rd.hardState === null && rd.snapshot === null) {
      this.finishReady(rd);
      return;
    }
    this.persisting = true;
    const persist = (): void => this.guard(() => this.persist(rd));
    if (this.opts.io.beforePersist !== undefined) this.opts.io.beforePersist(persist);
    else persist();
  }

  /** 1. persist the Ready: one WAL write and one fdatasync. A failure stops the member: never retry and go on. */
  private persist(rd: Ready): void {
    this.opts.observer.point?.('before-persist');
    if (this.stopped) return;
    this.opts.io.track(this.log.save({ hardState: rd.hardState, entries: rd.entries, snapshot: rd.snapshot })).then(
      () => this.guard(() => this.finishReady(rd)),
      (err: unknown) => this.fail(err),
    );
  }

  private finishReady(rd: Ready): void {
    this.persisting = false;
    if (rd.entries.length > 0 || rd.hardState !== null) {
      this.opts.observer.point?.('after-persist');
      if (this.stopped) return;
    }
    // 2. what acknowledges the persisted state
    this.commitNotices.dispatch(rd.messagesAfterPersist);
    // 3. apply
    if (rd.snapshot !== null) {
      this.installSnapshot(rd.snapshot.data);
      this.opts.observer.snapshotInstalled?.(rd.snapshot.metadata.index);
    }
    for (const e of rd.committedEntries) this.applyEntry(e);
    const lastApplied = rd.committedEntries.at(-1);
    if (lastApplied !== undefined) this.maybePromoteLessor(lastApplied.index);
    if (rd.committedEntries.length > 0) {
      this.opts.observer.point?.('after-apply');
      if (this.stopped) return;
    }
    for (const rs of rd.readStates) {
      const r = this.reads.get(contextKey(rs.requestContext));
      if (r !== undefined && r.index === null) {
        r.index = rs.index;
        this.readPaths.proof.record(r.askedAtMs, rs.index, this.rawNode.raft.term, this.rawNode.raft.role === 'leader');
      }
    }
    // 5. advance, then 4. answer reads whose index is applied
    this.rawNode.advance(rd);
    this.serveReads();
    this.readPaths.onApplied();
    this.maybeSnapshot();
    this.processReady();
  }

  private installSnapshot(data: Uint8Array): void {
    const contents = decodeSnapshotData(data);
    this.unsubscribeKv();
    this.kv = KvStateMachine.restore(kvOptionsFor(this.opts), contents.kvChunks);
    this.subscribeKv();
    this.membership.restore(contents.members);
    this.watchHub.restored();
  }

  private applyEntry(e: Entry): void {
    this.opts.observer.applied?.(e);
    if (e.type === EntryType.ConfChange) {
      const cc = decodeConfChange(e.data);
      const cs = this.rawNode.applyConfChange(cc);
      this.membership.apply(cc, cs);
      this.readPaths.noteConfChange();
      this.opts.observer.confChanged?.(cs, e.index);
      const nonce = contextNonce(cc.context);
      const waiter = nonce === null ? undefined : this.confWaiters.get(nonce);
      if (nonce !== null && waiter !== undefined) {
        this.confWaiters.delete(nonce);
        waiter.cancelTimer();
        waiter.resolve(cs);
      }
      return;
    }
    // Entries the store already holds (it committed them before a restart) are skipped.
    if (e.index <= this.kv.appliedIndex()) return;
    const result = this.kv.apply(e.index, e.data);
    if (result.requestId === 0) return;
    const waiter = this.proposals.get(result.requestId);
    if (waiter === undefined) return;
    this.proposals.delete(result.requestId);
    waiter.cancelTimer();
    if (result.ok) waiter.resolve(result.response);
    else waiter.reject(result.error);
  }

  private serveReads(): void {
    const applied = this.rawNode.raft.log.applied;
    for (const [key, r] of this.reads) {
      if (r.index !== null && r.index <= applied) {
        this.reads.delete(key);
        r.cancelTimer();
        r.resolve();
      }
    }
  }

  private leadershipChanged(isLeader: boolean): void {
    if (isLeader) {
      // The lessor waits until this leader has applied its own first entry: before that, checkpoints of keep-alives
      // acknowledged by the old leader may still be unapplied here, and acting on older expiries would revoke
      // leases early (etcd's "not a primary lessor" window).
      this.lessorGate = this.rawNode.raft.log.lastIndex();
      this.opts.observer.becameLeader?.(this.rawNode.raft.term);
      this.maybePromoteLessor(this.rawNode.raft.log.applied);
    } else {
      this.lessorGate = null;
      this.kv.lessor.demote();
      const waiting = this.renewalsBeforePromotion.splice(0);
      for (const retry of waiting) retry();
    }
  }

  /** Makes the lessor primary once the leader applied its first entry; keep-alives that waited go on. */
  private maybePromoteLessor(applied: LogIndex): void {
    if (this.lessorGate === null || applied < this.lessorGate) return;
    this.lessorGate = null;
    // A lease never expires early on a new leader: it extends every deadline by the election timeout once.
    this.kv.lessor.promote(this.opts.raft.electionTicks * this.multiDc.tickMs());
    const waiting = this.renewalsBeforePromotion.splice(0);
    for (const retry of waiting) retry();
  }

  /** Snapshots the store every so many entries, then releases the log before it (keeping a lag). */
  private maybeSnapshot(): void {
    if (this.snapshotting) return;
    const applied = this.rawNode.raft.log.applied;
    if (applied - this.log.snapshot.metadata.index < this.opts.snapshotEveryEntries) return;
    // A snapshot from the leader is on its way to replace this state: snapshotting the old one is pointless.
    if (this.rawNode.raft.log.unstable.snapshot !== null || this.kv.appliedIndex() < applied) return;
    const t = this.log.storage.term(applied);
    if (typeof t !== 'number') return;
    const kvSnap = this.kv.snapshot();
    let chunks: Uint8Array[];
    try {
      chunks = [...kvSnap.chunks()];
    } finally {
      kvSnap.release();
    }
    const data = encodeSnapshotData(this.membership.list(), chunks);
    const snapshot = { metadata: { index: applied, term: t, confState: this.rawNode.raft.confState() }, data };
    // The store committed everything up to `applied` with the snapshot, so the log may be released up to it.
    const compactTo = logIndex(Math.max(0, applied - this.opts.compactionLagEntries));
    this.snapshotting = true;
    const work = async (): Promise<void> => {
      await this.log.saveSnapshot(snapshot);
      await this.log.compact(compactTo);
    };
    this.opts.io.track(work()).then(
      () => {
        this.snapshotting = false;
      },
      (err: unknown) => this.fail(err),
    );
  }

  // ---- leases (leader only) ----

  private tendLeases(): void {
    if (this.rawNode.raft.role !== 'leader') return;
    const now = this.opts.clock.now();
    for (const id of this.kv.lessor.expiredLeases(now)) {
      this.propose({ type: 'leaseRevoke', id }).catch(() => undefined);
    }
    const checkpoints = this.kv.lessor.checkpointsDue(now);
    if (checkpoints.length > 0) this.propose({ type: 'leaseCheckpoint', checkpoints }).catch(() => undefined);
  }

  /** Renews a lease on the leader and answers once the renewal is durable (a checkpoint applied). */
  leaseKeepAlive(id: LeaseId): Promise<{ ttlSeconds: number }> {
    return new Promise((resolve, reject) => this.renewLease(id, (err, ttlSeconds) => (err === null ? resolve({ ttlSeconds: ttlSeconds ?? 0 }) : reject(err))));
  }

  /** The callback form of leaseKeepAlive; `done` runs exactly once, inside the event that settles it. */
  renewLease(id: LeaseId, done: (err: Error | null, ttlSeconds?: number) => void): void {
    if (this.stopped) return done(new MemberStoppedError());
    if (this.rawNode.raft.role !== 'leader') return done(new NotLeaderError());
    if (!this.kv.lessor.isPrimary()) {
      if (this.renewalsBeforePromotion.length >= PENDING_REQUESTS_MAX) return done(new TooManyRequestsError());
      this.renewalsBeforePromotion.push(() => this.renewLease(id, done));
      return;
    }
    let ttlSeconds: number;
    try {
      ttlSeconds = this.kv.lessor.renew(id, this.opts.clock.now());
    } catch (err) {
      return done(err instanceof Error ? err : new Error(String(err)));
    }
    const checkpoints = this.kv.lessor.checkpointsDue(this.opts.clock.now());
    if (checkpoints.length === 0) return done(null, ttlSeconds);
    this.submit({ type: 'leaseCheckpoint', checkpoints }, (err) => {
      if (err !== null) return done(err);
      // A revoke ordered before the checkpoint wins: the renewal came too late.
      if (!this.kv.lessor.exists(id)) return done(new LeaseNotFoundError());
      done(null, ttlSeconds);
    });
  }

  // ---- client requests ----

  /** Replicates a command and resolves with its result once it is applied here. */
  propose(command: Command): Promise<CommandResponse> {
    return new Promise((resolve, reject) => this.submit(command, (err, res) => (err === null ? resolve(res as CommandResponse) : reject(err))));
  }

  /**
   * The callback form of propose: `done` runs exactly once, synchronously inside the event that settles it
   * (the simulator relies on that to time client answers exactly).
   */
  submit(command: Command, done: (err: Error | null, res?: CommandResponse) => void): void {
    if (this.stopped) return done(new MemberStoppedError());
    const invalid = validateCommand(command);
    if (invalid !== null) return done(invalid);
    if (this.proposals.size + this.reads.size >= PENDING_REQUESTS_MAX) return done(new TooManyRequestsError());
    const requestId = this.newRequestId();
    let data: Uint8Array;
    try {
      data = encodeCommand(command, requestId);
    } catch (err) {
      return done(err instanceof Error ? err : new Error(String(err)));
    }
    let settled = false;
    const once = (err: Error | null, res?: CommandResponse): void => {
      if (settled) return;
      settled = true;
      done(err, res);
    };
    this.guard(() => {
      if (this.rawNode.propose(data).kind === 'dropped') return once(new NoLeaderError());
      const cancelTimer = this.opts.clock.setTimer(this.opts.requestTimeoutMs, () => {
        if (this.proposals.delete(requestId)) once(new RequestTimeoutError());
      });
      this.proposals.set(requestId, { resolve: (r) => once(null, r), reject: (e) => once(e), cancelTimer });
      this.processReady();
    });
    if (this.stopped) once(new MemberStoppedError());
  }

  /** Waits until this member has applied everything committed when the call was made (ReadIndex). */
  readBarrier(): Promise<void> {
    return new Promise((resolve, reject) => this.awaitReadIndex((err) => (err === null ? resolve() : reject(err))));
  }

  /** The callback form of readBarrier; `done` runs exactly once, inside the event that settles it. */
  awaitReadIndex(done: (err: Error | null) => void): void {
    if (this.stopped) return done(new MemberStoppedError());
    if (this.proposals.size + this.reads.size >= PENDING_REQUESTS_MAX) return done(new TooManyRequestsError());
    const ctx = new Uint8Array(READ_CONTEXT_BYTES);
    for (let i = 0; i < ctx.length; i++) ctx[i] = this.opts.prng.int(256);
    const key = contextKey(ctx);
    let settled = false;
    const once = (err: Error | null): void => {
      if (settled) return;
      settled = true;
      done(err);
    };
    this.guard(() => {
      const askedAtMs = this.opts.clock.now();
      if (this.rawNode.readIndex(ctx).kind === 'dropped') return once(new NoLeaderError());
      const cancelTimer = this.opts.clock.setTimer(this.opts.requestTimeoutMs, () => {
        if (this.reads.delete(key)) once(new RequestTimeoutError());
      });
      this.reads.set(key, { index: null, askedAtMs, resolve: () => once(null), reject: (e) => once(e), cancelTimer });
      this.processReady();
    });
    if (this.stopped) once(new MemberStoppedError());
  }

  /** A Range: serializable ones from local state at once, linearizable ones after a ReadIndex barrier. */
  async range(req: RangeRequest): Promise<RangeResponse> {
    if (!req.serializable) await this.readBarrier();
    if (this.stopped) throw new MemberStoppedError();
    return this.kv.range(req);
  }

  /**
   * A Range by the chosen read path (read_paths.ts): resolves with the response and which path served it.
   * A linearizable read from a learner or follower is a ReadIndex round trip to the leader, served here.
   */
  read(req: RangeRequest, o: ReadOptions): Promise<{ response: RangeResponse; served: ReadServed }> {
    return new Promise((resolve, reject) => {
      this.readPaths.read(o, (err, path) => {
        if (err !== null || path === undefined) return reject(err ?? new MemberStoppedError());
        if (this.stopped) return reject(new MemberStoppedError());
        try {
          resolve({ response: this.kv.range({ ...req, serializable: true }), served: this.readPaths.served(path) });
        } catch (e) {
          reject(e instanceof Error ? e : new Error(String(e)));
        }
      });
    });
  }

  private newReadPaths(): ReadPaths {
    const md = this.opts.multiDc ?? {};
    const r = this.opts.raft;
    return new ReadPaths(
      {
        now: () => this.opts.clock.now(),
        setTimer: (ms, fn) => this.opts.clock.setTimer(ms, () => this.guard(fn)),
        appliedIndex: () => this.rawNode.raft.log.applied,
        appliedRevision: () => this.kv.currentRevision(),
        committedIndex: () => this.rawNode.raft.log.committed,
        term: () => this.rawNode.raft.term,
        isLeader: () => this.isLeader(),
        transferring: () => this.rawNode.raft.leadTransferee !== 0,
        readIndex: (done) => this.awaitReadIndex(done),
        stopped: () => this.stopped,
        requestTimeoutMs: this.opts.requestTimeoutMs,
      },
      {
        leaseReads: md.leaseReads ?? false,
        leaseReadMarginMs: md.leaseReadMarginMs ?? LEASE_READ_MARGIN_MS_DEFAULT,
        // A voter refuses other candidates for electionTicks of its own ticks after a heartbeat; the first may
        // come at once, and adaptive timing never makes a tick shorter than configured.
        minElectionTimeoutMs: () => (r.electionTicks - 1) * r.tickMs,
        checkQuorum: r.checkQuorum,
        stalenessMarginMs: md.stalenessMarginMs ?? STALENESS_MARGIN_MS_DEFAULT,
      },
    );
  }

  private newRequestId(): number {
    // Random 52-bit ids: unique across members, so no member resolves another's request.
    for (;;) {
      const id = this.opts.prng.nextU32() * 0x100000 + (this.opts.prng.nextU32() & 0xfffff);
      if (id !== 0 && !this.proposals.has(id)) return id;
    }
  }

  // ---- status ----

  isLeader(): boolean {
    return !this.stopped && this.rawNode.raft.role === 'leader';
  }

  /** Conf changes go through here (MemberAdd and friends, and the simulator). */
  proposeConfChange(cc: ConfChange): boolean {
    let accepted = false;
    this.guard(() => {
      accepted = this.rawNode.proposeConfChange(cc).kind === 'accepted';
      this.processReady();
    });
    return accepted;
  }

  /**
   * Proposes a membership change and resolves with the configuration once it is applied here. `context`
   * (member attributes, JSON) gains a nonce to recognise the entry; a change the leader replaces with an
   * empty entry (another change pending) times out.
   */
  changeMembership(changes: ConfChange['changes'], context: Record<string, unknown>, timeoutMs = this.opts.requestTimeoutMs, force = false): Promise<ConfState> {
    if (this.stopped) return Promise.reject(new MemberStoppedError());
    try {
      // A change that would break the survival goal met now is refused unless forced (placement.ts).
      this.multiDc.checkChange(changes, context, force);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    const nonce = `${this.opts.prng.nextU32().toString(16)}${this.opts.prng.nextU32().toString(16)}`;
    const data = new TextEncoder().encode(JSON.stringify({ ...context, nonce }));
    return new Promise((resolve, reject) => {
      this.guard(() => {
        if (this.rawNode.proposeConfChange({ transition: 'auto', changes, context: data }).kind === 'dropped') {
          reject(new NoLeaderError());
          return;
        }
        const cancelTimer = this.opts.clock.setTimer(timeoutMs, () => {
          if (this.confWaiters.delete(nonce)) reject(new RequestTimeoutError());
        });
        this.confWaiters.set(nonce, { resolve, reject, cancelTimer });
        this.processReady();
      });
      if (this.stopped && !this.confWaiters.has(nonce)) reject(new MemberStoppedError());
    });
  }

  /** The member's monotonic clock, ms. */
  now(): number {
    return this.opts.clock.now();
  }

  leaderId(): NodeId {
    return this.rawNode.raft.lead;
  }

  transferLeader(target: NodeId): void {
    this.guard(() => {
      if (this.isLeader()) this.readPaths.noteTransfer();
      this.rawNode.transferLeader(target);
      this.processReady();
    });
  }
}



/** The store's options, the same at open and at every snapshot install (the quota must not revert). */
function kvOptionsFor(opts: MemberOptions): KvStateMachineOptions {
  return {
    backend: opts.kvBackend,
    clock: () => opts.clock.now(),
    ...(opts.quotaBytes === undefined ? {} : { quotaBytes: opts.quotaBytes }),
    ...(opts.minLeaseTtlSeconds === undefined ? {} : { minLeaseTtlSeconds: opts.minLeaseTtlSeconds }),
  };
}

function contextNonce(context: Uint8Array): string | null {
  if (context.byteLength === 0) return null;
  try {
    const v = JSON.parse(new TextDecoder().decode(context)) as { nonce?: unknown };
    return typeof v.nonce === 'string' ? v.nonce : null;
  } catch {
    return null;
  }
}
