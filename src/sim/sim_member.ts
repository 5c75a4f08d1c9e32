// One simulated member: the real Raft core driven by the Ready loop of ARCHITECTURE.md on a virtual clock,
// persisting through the real storage layer (RaftLog: WAL and snapshot files) on a simulated disk that
// loses whatever was not synced when the member crashes.

import { assert } from '../util/assert.js';
import { logIndex, nodeId, term, type LogIndex, type NodeId } from '../util/branded.js';
import type { Prng } from '../util/prng.js';
import { decodeConfChange, encodeConfChange } from '../raft/confchange_codec.js';
import { RaftLog } from '../storage/raft_log.js';
import { SimFileSystem } from '../storage/sim_file_system.js';
import { contextKey } from '../raft/read_only.js';
import type { PlantedBugs, RaftConfig } from '../raft/raft.js';
import { RawNode, type Ready } from '../raft/raw_node.js';
import { ConfChangeType, EntryType, MessageType, type ConfState, type Entry, type HardState, type Message } from '../raft/types.js';
import type { EventQueue } from './event_queue.js';
import { decodeCommand, KvModelStore, type KvCommand, type KvResult } from './kv_model_store.js';
import type { SimNetwork } from './network.js';

export interface RaftTiming {
  readonly tickMs: number;
  readonly heartbeatTicks: number;
  readonly electionTicks: number;
}

/** Observers the cluster uses to check invariants as they happen. */
export interface MemberObserver {
  becameLeader(member: SimMember): void;
  /** The leader's commit index advanced; its Ready (with the news) is about to go out. */
  leaderCommitted(member: SimMember): void;
  /** The member's disk failed (an injected fault): it stopped, as it must. */
  storageFailed(member: SimMember, err: unknown): void;
  /** The member's data directory could not be recovered at start. */
  refusedToStart(member: SimMember, err: unknown): void;
  /** Member code threw (an assertion failed): the process died. */
  failed(member: SimMember, err: unknown): void;
  applied(member: SimMember, entry: Entry): void;
  /** A member applied the conf change at `index`, giving configuration `cs`. */
  confChanged(member: SimMember, cs: ConfState, index: LogIndex): void;
}

export interface MemberEnv {
  readonly queue: EventQueue;
  readonly network: SimNetwork;
  readonly timing: RaftTiming;
  readonly members: ReadonlyMap<NodeId, SimMember>;
  readonly observer: MemberObserver;
  readonly plantedBugs: PlantedBugs;
  /** Raft options drawn per seed: both settings of each must be safe. */
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  /** Bytes of entries per append message: small values make followers acknowledge partial batches. */
  readonly maxSizePerMsg: number;
  /** Take a snapshot and compact the log every this many applied entries. */
  readonly snapshotEveryEntries: number;
  /** Entries kept in the log behind a snapshot, so slightly slow followers need no snapshot. */
  readonly compactionLagEntries: number;
}

type Waiter = (result: KvResult | null) => void;

/** Named points in the Ready loop where a member can be made to crash (TESTING.md, process faults). */
export const CRASH_POINTS = ['before-persist', 'after-persist', 'after-apply'] as const;
export type CrashPoint = (typeof CRASH_POINTS)[number];

export class SimMember {
  readonly id: NodeId;
  readonly dc: string;
  /** The member's own disk: what survives a crash is what was synced to it. */
  readonly fs: SimFileSystem;
  /** The open durable log, while the member runs. */
  log: RaftLog | null = null;
  /** Opening the log after a (re)start; messages that arrive meanwhile are lost. */
  starting = false;
  /** The member's data directory cannot be recovered (a planted corruption): it stays down. */
  unrecoverable = false;
  /** A corruption was planted on purpose, so a refusal to start is expected. */
  corruptionPlanted = false;
  up = false;
  paused = false;
  removed = false;
  /** Multiplies the tick interval: a drifting clock. */
  clockRate = 1;
  diskLatencyMs: number;
  rawNode: RawNode | null = null;
  store = new KvModelStore();
  private epoch = 0;
  private persisting = false;
  private snapshotting = false;
  private backlog: (() => void)[] = [];
  private readonly waitingWrites = new Map<string, Waiter>();
  private readonly waitingReads = new Map<string, { key: string; index: LogIndex | null; done: Waiter }>();
  private readSeq = 0;
  /** When set, the member crashes the next time its Ready loop reaches this point. */
  crashPoint: CrashPoint | null = null;
  /** Counters for the summary. */
  readiesHandled = 0;
  fsyncs = 0;

  constructor(
    id: number,
    dc: string,
    /** For a member of the initial cluster: the bootstrap written on its first start. */
    private readonly bootstrap: Bootstrap | null,
    private readonly env: MemberEnv,
    private readonly prng: Prng,
  ) {
    this.id = nodeId(id);
    this.dc = dc;
    this.fs = new SimFileSystem(prng.fork());
    this.diskLatencyMs = 0.2 + prng.float() * 2;
  }

  private raftConfig(log: RaftLog, applied: LogIndex): RaftConfig {
    const t = this.env.timing;
    return {
      id: this.id,
      electionTicks: t.electionTicks,
      heartbeatTicks: t.heartbeatTicks,
      storage: log.storage,
      applied,
      maxSizePerMsg: this.env.maxSizePerMsg,
      maxCommittedSizePerReady: 1024 * 1024,
      maxUncommittedEntriesSize: 1024 * 1024,
      maxInflightMsgs: 64,
      maxInflightBytes: 0,
      checkQuorum: this.env.checkQuorum,
      preVote: this.env.preVote,
      readOnlyOption: 'safe',
      disableProposalForwarding: false,
      prng: this.prng.fork(),
      plantedBugs: this.env.plantedBugs,
    };
  }

  /**
   * Starts (or restarts) the member: opens its data directory, recovering the log, restores the state
   * machine from the newest snapshot and lets raft replay the entries after it. Asynchronous, like a process
   * starting; a directory that cannot be recovered leaves the member down.
   */
  start(): void {
    assert(!this.up && !this.starting, `member ${this.id} is already running`);
    this.starting = true;
    if (this.fs.crashed) this.fs.restart();
    const epoch = ++this.epoch;
    this.env.queue.track(this.openLog()).then(
      (log) => {
        if (epoch !== this.epoch) return;
        this.starting = false;
        this.log = log;
        this.store = new KvModelStore();
        this.store.restore(log.snapshot.data);
        this.rawNode = new RawNode(this.raftConfig(log, log.snapshot.metadata.index));
        this.up = true;
        this.paused = false;
        this.persisting = false;
        this.snapshotting = false;
        this.backlog = [];
        this.scheduleTick(epoch);
      },
      (err: unknown) => {
        if (epoch !== this.epoch) return;
        this.starting = false;
        this.unrecoverable = true;
        this.env.observer.refusedToStart(this, err);
      },
    );
  }

  private async openLog(): Promise<RaftLog> {
    const bootstrap = this.bootstrap;
    const log = await RaftLog.open(this.fs, DATA_DIR, {
      clusterId: CLUSTER_ID,
      memberId: this.id,
      bootstrapConfState: bootstrap?.confState,
      segmentBytes: SIM_WAL_SEGMENT_BYTES,
    });
    // A new member of the initial cluster writes the conf changes that name the first members, committed.
    if (bootstrap !== null && log.storage.lastIndex() === 0 && log.hardState.term === 0) {
      await log.save({ entries: bootstrap.entries, hardState: bootstrap.hardState });
    }
    return log;
  }

  /** Loses everything volatile: the raft state, the unpersisted Ready, waiting clients. */
  crash(): void {
    if (!this.up && !this.starting) return;
    this.up = false;
    this.starting = false;
    this.epoch++;
    this.rawNode = null;
    // The machine loses power: unsynced writes are gone, open files with them.
    this.fs.crash();
    this.log = null;
    this.persisting = false;
    this.backlog = [];
    // Waiting clients see their connection break: the outcome is unknown to them.
    for (const w of this.waitingWrites.values()) w(null);
    for (const r of this.waitingReads.values()) r.done(null);
    this.waitingWrites.clear();
    this.waitingReads.clear();
  }

  pause(): void {
    if (this.up) this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const work = this.backlog;
    this.backlog = [];
    for (const fn of work) {
      if (!this.up) break;
      this.guard(fn);
    }
    if (this.up) this.guard(() => this.processReady());
  }

  private whenRunning(epoch: number, fn: () => void): void {
    if (!this.up || epoch !== this.epoch) return;
    if (this.paused) this.backlog.push(fn);
    else this.guard(fn);
  }

  /** Runs member code; an exception (a failed assertion) kills the process, as it would in production. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.env.observer.failed(this, err);
      this.removed = true;
      this.crash();
    }
  }

  private scheduleTick(epoch: number): void {
    this.env.queue.schedule(this.env.timing.tickMs * this.clockRate, () => {
      if (!this.up || epoch !== this.epoch) return;
      this.scheduleTick(epoch);
      // A paused process misses its ticks (timers fire late, once), like SIGSTOP.
      if (this.paused) return;
      this.guard(() => {
        this.node().tick();
        this.processReady();
      });
    });
  }

  node(): RawNode {
    assert(this.rawNode !== null, `member ${this.id} is down`);
    return this.rawNode;
  }

  /** A message arrives from the network. */
  receive(m: Message): void {
    const epoch = this.epoch;
    this.whenRunning(epoch, () => {
      this.node().step(m);
      this.processReady();
    });
  }

  // ---- the Ready loop ----

  processReady(): void {
    if (!this.up || this.paused || this.persisting) return;
    const rn = this.node();
    if (!rn.hasReady()) return;
    const rd = rn.ready();
    this.readiesHandled++;
    if (rd.softState?.role === 'leader') this.env.observer.becameLeader(this);
    if (rd.hardState !== null && rd.committedEntries.length > 0 && this.node().raft.role === 'leader') {
      this.env.observer.leaderCommitted(this);
    }
    // Step 2 of the loop, early part: these messages depend on nothing unpersisted.
    this.sendAll(rd.messages);
    const needsDisk = rd.entries.length > 0 || rd.hardState !== null || rd.snapshot !== null;
    if (!needsDisk) {
      this.finishReady(rd);
      return;
    }
    this.persisting = true;
    const epoch = this.epoch;
    const latency = rd.mustSync ? this.diskLatencyMs : this.diskLatencyMs / 10;
    // The write reaches the disk after the disk's latency; a crash before then loses the whole Ready.
    this.env.queue.schedule(latency, () => this.whenRunning(epoch, () => this.persist(rd, epoch)));
  }

  /** 1. persist: one WAL write and one fdatasync for the whole Ready. */
  private persist(rd: Ready, epoch: number): void {
    if (this.hitCrashPoint('before-persist')) return;
    const log = this.log;
    assert(log !== null, `member ${this.id} persists without a log`);
    this.env.queue.track(log.save({ hardState: rd.hardState, entries: rd.entries, snapshot: rd.snapshot })).then(
      () => this.whenRunning(epoch, () => this.finishReady(rd)),
      (err: unknown) => this.whenRunning(epoch, () => this.storageFailed(err)),
    );
  }

  /** A failed write or fsync stops the member at once, as a real one must: never retry and carry on. */
  private storageFailed(err: unknown): void {
    this.env.observer.storageFailed(this, err);
    this.crash();
  }

  private finishReady(rd: Ready): void {
    if (rd.mustSync) this.fsyncs++;
    this.persisting = false;
    if (this.hitCrashPoint('after-persist')) return;
    // 2. send what acknowledges the persisted state
    this.sendAll(rd.messagesAfterPersist);
    // 3. apply
    if (rd.snapshot !== null) this.store.restore(rd.snapshot.data);
    for (const e of rd.committedEntries) this.applyEntry(e);
    if (rd.committedEntries.length > 0 && this.hitCrashPoint('after-apply')) return;
    for (const rs of rd.readStates) {
      const waiting = this.waitingReads.get(contextKey(rs.requestContext));
      if (waiting !== undefined && waiting.index === null) waiting.index = rs.index;
    }
    // 5. advance
    this.node().advance(rd);
    // 4. answer reads whose index is now applied
    this.serveReads();
    this.maybeSnapshot();
    this.processReady();
  }

  private hitCrashPoint(point: CrashPoint): boolean {
    if (this.crashPoint !== point) return false;
    this.crashPoint = null;
    this.crash();
    return true;
  }

  private applyEntry(e: Entry): void {
    this.env.observer.applied(this, e);
    if (e.type === EntryType.ConfChange) {
      const cs = this.node().applyConfChange(decodeConfChange(e.data));
      this.env.observer.confChanged(this, cs, e.index);
      return;
    }
    if (e.data.byteLength === 0) return;
    const cmd = decodeCommand(e.data);
    const result = this.store.apply(cmd);
    const key = `${cmd.client}:${cmd.request}`;
    const waiter = this.waitingWrites.get(key);
    if (waiter !== undefined) {
      this.waitingWrites.delete(key);
      waiter(result);
    }
  }

  private appliedIndex(): LogIndex {
    return this.node().raft.log.applied;
  }

  private serveReads(): void {
    const applied = this.appliedIndex();
    for (const [ctx, r] of this.waitingReads) {
      if (r.index !== null && r.index <= applied) {
        this.waitingReads.delete(ctx);
        r.done(this.store.read(r.key));
      }
    }
  }

  /** Snapshots the state machine every so many entries, then releases the log before it (kept with a lag). */
  private maybeSnapshot(): void {
    const log = this.log;
    if (log === null || this.snapshotting) return;
    const applied = this.appliedIndex();
    if (applied - log.snapshot.metadata.index < this.env.snapshotEveryEntries) return;
    const raft = this.node().raft;
    // A snapshot from the leader is on its way to replace this state: snapshotting the old one is pointless.
    if (raft.log.unstable.snapshot !== null) return;
    const t = log.storage.term(applied);
    assert(typeof t === 'number', `no durable term for applied index ${applied}`);
    const snapshot = { metadata: { index: applied, term: t, confState: raft.confState() }, data: this.store.snapshot() };
    const compactTo = logIndex(Math.max(0, applied - this.env.compactionLagEntries));
    const epoch = this.epoch;
    this.snapshotting = true;
    const work = async (): Promise<void> => {
      await log.saveSnapshot(snapshot);
      await log.compact(compactTo);
    };
    this.env.queue.track(work()).then(
      () => this.whenRunning(epoch, () => { this.snapshotting = false; }),
      (err: unknown) => this.whenRunning(epoch, () => this.storageFailed(err)),
    );
  }

  private sendAll(msgs: readonly Message[]): void {
    for (const m of msgs) this.sendOne(m);
  }

  private sendOne(m: Message): void {
    const to = this.env.members.get(m.to);
    const isSnap = m.type === MessageType.Snap;
    const epoch = this.epoch;
    const report = (status: 'finish' | 'failure'): void => {
      this.whenRunning(epoch, () => {
        this.node().reportSnapshot(m.to, status);
        this.processReady();
      });
    };
    if (to === undefined) {
      if (isSnap) this.env.queue.schedule(1, () => report('failure'));
      return;
    }
    this.env.network.send(
      this.id,
      m.to,
      () => {
        if (isSnap) {
          const ok = to.up && !to.paused;
          this.env.network.send(m.to, this.id, () => report(ok ? 'finish' : 'failure'), () => report('failure'));
        }
        to.receive(m);
      },
      isSnap ? () => report('failure') : undefined,
    );
  }

  // ---- client entry points ----

  /** Proposes a write (or a read through the log); `done(null)` means the outcome is unknown. */
  submit(cmd: KvCommand, encoded: Uint8Array, done: Waiter): 'accepted' | 'refused' {
    if (!this.up || this.paused) return 'refused';
    let outcome: 'accepted' | 'refused' = 'refused';
    this.guard(() => {
      if (this.node().propose(encoded).kind === 'dropped') return;
      this.waitingWrites.set(`${cmd.client}:${cmd.request}`, done);
      outcome = 'accepted';
      this.processReady();
    });
    return outcome;
  }

  /** A linearizable read through ReadIndex, served from local state once applied reaches the read index. */
  readLinearizable(key: string, done: Waiter): 'accepted' | 'refused' {
    if (!this.up || this.paused) return 'refused';
    const ctx = new TextEncoder().encode(`${this.id}:${++this.readSeq}`);
    let outcome: 'accepted' | 'refused' = 'refused';
    this.guard(() => {
      if (this.node().readIndex(ctx).kind === 'dropped') return;
      this.waitingReads.set(contextKey(ctx), { key, index: null, done });
      outcome = 'accepted';
      this.processReady();
    });
    return outcome;
  }

  /** Forgets a client's request (it gave up waiting); a late answer is then dropped. */
  abandon(cmd: KvCommand): void {
    this.waitingWrites.delete(`${cmd.client}:${cmd.request}`);
  }

  /** Starts a stopped member, unless it was removed, is already starting, or cannot recover. */
  restartIfDown(): void {
    if (!this.up && !this.starting && !this.removed && !this.unrecoverable) this.start();
  }

  isLeader(): boolean {
    return this.up && this.rawNode !== null && this.rawNode.raft.role === 'leader';
  }
}

/** Where each simulated member keeps its data, on its own simulated disk. */
const DATA_DIR = '/data';
const CLUSTER_ID = 'sim';
/** Small segments: the simulated disk holds every byte, preallocation included, in memory. */
const SIM_WAL_SEGMENT_BYTES = 16 * 1024;

/** What a member of the initial cluster writes on its first start. */
export interface Bootstrap {
  readonly confState: ConfState;
  readonly entries: readonly Entry[];
  readonly hardState: HardState;
}

/**
 * The start of a new cluster, as etcd does it: conf change entries 1..n naming the first members, committed
 * in term 1, so a member that joins later learns the first configuration from the log.
 */
export function bootstrapPlan(voters: readonly number[], learners: readonly number[]): Bootstrap {
  const confState: ConfState = {
    voters: voters.map(nodeId),
    learners: learners.map(nodeId),
    votersOutgoing: [],
    learnersNext: [],
    autoLeave: false,
  };
  const entries: Entry[] = [];
  const add = (id: number, type: ConfChangeType): void => {
    const data = encodeConfChange({ transition: 'auto', changes: [{ type, nodeId: nodeId(id) }], context: new Uint8Array(0) });
    entries.push({ term: term(1), index: logIndex(entries.length + 1), type: EntryType.ConfChange, data });
  };
  for (const id of voters) add(id, ConfChangeType.AddNode);
  for (const id of learners) add(id, ConfChangeType.AddLearnerNode);
  return { confState, entries, hardState: { term: term(1), vote: nodeId(0), commit: logIndex(entries.length) } };
}
