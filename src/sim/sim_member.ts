// One simulated member: the real Member (Raft core, Ready loop, RaftLog, MVCC state machine, watch hub) on
// the simulator's virtual clock, network and a simulated disk that loses whatever was not synced when the
// member crashes.

import { assert } from '../util/assert.js';
import { logIndex, nodeId, term, type LeaseId, type LogIndex, type NodeId } from '../util/branded.js';
import type { Prng } from '../util/prng.js';
import { encodeConfChange } from '../raft/confchange_codec.js';
import type { PlantedBugs } from '../raft/raft.js';
import type { RawNode } from '../raft/raw_node.js';
import { ConfChangeType, EntryType, MessageType, type ConfChangeSingle, type ConfState, type Entry, type Message } from '../raft/types.js';
import { MemoryBackend } from '../storage/backend/memory_backend.js';
import { SimFileSystem } from '../storage/sim_file_system.js';
import { StorageFailedError } from '../storage/errors.js';
import type { RevisionChanges } from '../kv/types.js';
import { compare, CompareResult, CompareTarget, deleteRangeRequest, putRequest, rangeRequest, type Command, type CommandResponse } from '../kv/rpc.js';
import { Member, type Bootstrap, type MemberClock, type MemberObserver as MemberEventObserver, type MemberPoint, type RaftSettings } from '../server/node/member.js';
import type { MultiDcOptions } from '../server/node/multi_dc.js';
import type { ReadOptions, ReadServed } from '../server/node/read_paths.js';
import { encodeMemberContext } from '../server/node/membership.js';
import type { KvInput, KvOutput } from './checker/model.js';
import type { EventQueue } from './event_queue.js';
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
  applied(member: SimMember, entry: Entry): void;
  /** The member's store applied a revision. */
  changes(member: SimMember, changes: RevisionChanges): void;
  /** A member applied the conf change at `index`, giving configuration `cs`. */
  confChanged(member: SimMember, cs: ConfState, index: LogIndex): void;
  /** The member's disk failed (an injected fault): it stopped, as it must. */
  storageFailed(member: SimMember, err: unknown): void;
  /** The member's data directory could not be recovered at start. */
  refusedToStart(member: SimMember, err: unknown): void;
  /** Member code threw (an assertion failed): the process died. */
  failed(member: SimMember, err: unknown): void;
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
  /** How long a client request waits at the member before it times out. */
  readonly requestTimeoutMs: number;
  /** Multi-DC behaviour of each member (absent: none, as before). */
  readonly multiDc?: (member: SimMember) => MultiDcOptions;
}

/** Named points in the Ready loop where a member can be made to crash (TESTING.md, process faults). */
export const CRASH_POINTS: readonly MemberPoint[] = ['before-persist', 'after-persist', 'after-apply'];
export type CrashPoint = MemberPoint;

/** A client request as the simulator's clients make it (one key, one operation): what the checker models. */
export type KvOp = KvInput;
/** What the client learns: the checker's output, with the revision the store answered at. */
export type KvResult = KvOutput;

const enc = new TextEncoder();
const dec = new TextDecoder();

/** The etcd command for a client operation; a compare-and-set is a txn, as etcd clients write it. */
export function kvCommand(key: string, op: KvOp): Command {
  const k = enc.encode(key);
  switch (op.kind) {
    case 'get':
      return { type: 'range', range: rangeRequest({ key: k }) };
    case 'put':
      return { type: 'put', put: putRequest({ key: k, value: enc.encode(op.value) }) };
    case 'delete':
      return { type: 'deleteRange', deleteRange: deleteRangeRequest({ key: k }) };
    case 'cas': {
      // "the key does not exist" is create_revision == 0, as etcd's lock recipes write it.
      const cmp = op.expected === null
        ? compare({ key: k, target: CompareTarget.Create, result: CompareResult.Equal, targetNumber: 0 })
        : compare({ key: k, target: CompareTarget.Value, result: CompareResult.Equal, targetValue: enc.encode(op.expected) });
      return { type: 'txn', txn: { compare: [cmp], success: [{ type: 'put', put: putRequest({ key: k, value: enc.encode(op.value) }) }], failure: [] } };
    }
  }
}

/** What the client learns from the store's response. */
export function kvResult(op: KvOp, res: CommandResponse): KvResult {
  if (op.kind === 'get' && res.type === 'range') {
    const kv = res.range.kvs[0];
    return { kind: 'get', value: kv === undefined ? null : dec.decode(kv.value), revision: res.range.revision };
  }
  if (op.kind === 'put' && res.type === 'put') return { kind: 'put', revision: res.put.revision };
  if (op.kind === 'delete' && res.type === 'deleteRange') return { kind: 'delete', deleted: res.deleteRange.deleted > 0, revision: res.deleteRange.revision };
  if (op.kind === 'cas' && res.type === 'txn') return { kind: 'cas', ok: res.txn.succeeded, revision: res.txn.revision };
  assert(false, `response ${res.type} does not answer ${op.kind}`);
}

/** Where each simulated member keeps its data, on its own simulated disk. */
const DATA_DIR = '/data';
const CLUSTER_ID = 'sim';
/** Small segments: the simulated disk holds every byte, preallocation included, in memory. */
const SIM_WAL_SEGMENT_BYTES = 16 * 1024;

export class SimMember {
  readonly id: NodeId;
  readonly dc: string;
  /** The member's own disk: what survives a crash is what was synced to it. */
  readonly fs: SimFileSystem;
  /** The MVCC store's engine; a crash drops what it had not committed. */
  private kvBackend = new MemoryBackend();
  member: Member | null = null;
  /** Opening the data directory after a (re)start; messages that arrive meanwhile are lost. */
  starting = false;
  /** The member's data directory cannot be recovered (a planted corruption): it stays down. */
  unrecoverable = false;
  /** A corruption was planted on purpose, so a refusal to start is expected. */
  corruptionPlanted = false;
  paused = false;
  removed = false;
  /** Multiplies timer intervals: a drifting clock. */
  clockRate = 1;
  /**
   * How fast the member's monotonic clock reads run against real time (1: exact). The multi-DC scenarios
   * drift it within the staleness margin; timers keep following clockRate.
   */
  private nowRate = 1;
  private nowBaseReal = 0;
  private nowBaseLocal = 0;
  diskLatencyMs: number;
  /** When set, the member crashes the next time its Ready loop reaches this point. */
  crashPoint: CrashPoint | null = null;
  private epoch = 0;
  private backlog: (() => void)[] = [];

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

  get up(): boolean {
    return this.member !== null;
  }

  /** The Raft node of a running member (tests and invariant checks). */
  node(): RawNode {
    assert(this.member !== null, `member ${this.id} is down`);
    return this.member.rawNode;
  }

  /** Starts (or restarts) the member, asynchronously like a process: recovery from its disk first. */
  start(): void {
    assert(!this.up && !this.starting, `member ${this.id} is already running`);
    this.starting = true;
    this.paused = false;
    this.backlog = [];
    if (this.fs.crashed) this.fs.restart();
    this.kvBackend = this.kvBackend.reopen();
    const epoch = ++this.epoch;
    const t = this.env.timing;
    const raft: RaftSettings = {
      tickMs: t.tickMs,
      electionTicks: t.electionTicks,
      heartbeatTicks: t.heartbeatTicks,
      preVote: this.env.preVote,
      checkQuorum: this.env.checkQuorum,
      maxSizePerMsg: this.env.maxSizePerMsg,
      maxInflightMsgs: 64,
      maxCommittedSizePerReady: 1024 * 1024,
      maxUncommittedEntriesSize: 1024 * 1024,
    };
    const opened = Member.open({
      id: this.id,
      clusterId: CLUSTER_ID,
      fs: this.fs,
      dataDir: DATA_DIR,
      kvBackend: this.kvBackend,
      clock: this.clock(epoch),
      io: {
        send: (msgs) => this.sendAll(msgs, epoch),
        track: (work) => this.env.queue.track(work),
        beforePersist: (go) => this.env.queue.schedule(this.diskLatencyMs, () => this.whenRunning(epoch, go)),
      },
      prng: this.prng.fork(),
      raft,
      bootstrap: this.bootstrap,
      walSegmentBytes: SIM_WAL_SEGMENT_BYTES,
      snapshotEveryEntries: this.env.snapshotEveryEntries,
      compactionLagEntries: this.env.compactionLagEntries,
      requestTimeoutMs: this.env.requestTimeoutMs,
      watchProgressIntervalMs: this.env.requestTimeoutMs,
      observer: this.observerFor(epoch),
      plantedBugs: this.env.plantedBugs,
      ...(this.env.multiDc === undefined ? {} : { multiDc: this.env.multiDc(this) }),
    });
    this.env.queue.track(opened).then(
      (m) => {
        if (epoch !== this.epoch) {
          m.kill();
          return;
        }
        this.starting = false;
        this.member = m;
      },
      (err: unknown) => {
        if (epoch !== this.epoch) return;
        this.starting = false;
        this.unrecoverable = true;
        this.env.observer.refusedToStart(this, err);
      },
    );
  }

  private clock(epoch: number): MemberClock {
    const q = this.env.queue;
    return {
      now: () => this.localNow(),
      setTimer: (ms, fn) => {
        let cancelled = false;
        q.schedule(ms * this.clockRate, () => {
          if (!cancelled) this.whenRunning(epoch, fn);
        });
        return () => {
          cancelled = true;
        };
      },
    };
  }

  /** The member's monotonic clock: real time unless a drift is set, continuous across rate changes. */
  localNow(): number {
    const q = this.env.queue;
    if (this.nowRate === 1 && this.nowBaseLocal === this.nowBaseReal) return q.now;
    return this.nowBaseLocal + (q.now - this.nowBaseReal) * this.nowRate;
  }

  /** Makes the monotonic clock run at `rate` × real time from now on. */
  setNowRate(rate: number): void {
    assert(rate > 0, `clock rate must be positive, got ${rate}`);
    this.nowBaseLocal = this.localNow();
    this.nowBaseReal = this.env.queue.now;
    this.nowRate = rate;
  }

  private observerFor(epoch: number): MemberEventObserver {
    const obs = this.env.observer;
    const current = (): boolean => epoch === this.epoch;
    return {
      becameLeader: () => {
        if (current()) obs.becameLeader(this);
      },
      leaderCommitted: () => {
        if (current()) obs.leaderCommitted(this);
      },
      applied: (e) => {
        if (current()) obs.applied(this, e);
      },
      changes: (c) => {
        if (current()) obs.changes(this, c);
      },
      confChanged: (cs, index) => {
        if (current()) obs.confChanged(this, cs, index);
      },
      point: (p) => {
        if (current() && this.crashPoint === p) {
          this.crashPoint = null;
          this.crash();
        }
      },
      fatal: (err) => {
        if (!current()) return;
        if (err instanceof StorageFailedError) obs.storageFailed(this, err);
        else obs.failed(this, err);
        // The process exits; what it had not synced is gone.
        if (!(err instanceof StorageFailedError)) this.removed = true;
        this.crash();
      },
    };
  }

  /** Loses everything volatile: the member's memory, unsynced writes, waiting clients. */
  crash(): void {
    if (!this.up && !this.starting) return;
    this.epoch++;
    const m = this.member;
    this.member = null;
    this.starting = false;
    this.backlog = [];
    m?.kill();
    this.fs.crash();
    this.kvBackend.crash();
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
      fn();
    }
  }

  /** Runs fn now, or when a paused member resumes (SIGSTOP: work waits); never after a crash. */
  private whenRunning(epoch: number, fn: () => void): void {
    if (epoch !== this.epoch) return;
    if (this.paused) this.backlog.push(fn);
    else fn();
  }

  /** A message arrives from the network; a member that is down or starting never sees it. */
  receive(m: Message): void {
    const member = this.member;
    if (member === null) return;
    this.whenRunning(this.epoch, () => member.receive(m));
  }

  private sendAll(msgs: readonly Message[], epoch: number): void {
    for (const m of msgs) this.sendOne(m, epoch);
  }

  private sendOne(m: Message, epoch: number): void {
    const to = this.env.members.get(m.to);
    const isSnap = m.type === MessageType.Snap;
    const report = (status: 'finish' | 'failure'): void => {
      this.whenRunning(epoch, () => this.member?.reportSnapshot(m.to, status));
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
      // Proposals travel between members over TCP, which never delivers one twice.
      m.type !== MessageType.Prop,
    );
  }

  // ---- client entry points ----

  /** A client request through the log (a write, or a read that goes through Raft); `done(null)`: unknown. */
  submit(key: string, op: KvOp, done: (result: KvResult | null) => void): 'accepted' | 'refused' {
    const member = this.member;
    if (member === null || this.paused) return 'refused';
    let refused = false;
    let sync = true;
    member.submit(kvCommand(key, op), (err, res) => {
      if (err === null && res !== undefined) done(kvResult(op, res));
      // An error before submit returns means the command never entered the log.
      else if (sync) refused = true;
      else done(null);
    });
    sync = false;
    return refused ? 'refused' : 'accepted';
  }

  /** Any command through the log, for the simulator's lease client. */
  submitCommand(command: Command, done: (err: Error | null, res?: CommandResponse) => void): boolean {
    const member = this.member;
    if (member === null || this.paused) return false;
    member.submit(command, done);
    return true;
  }

  /** A lease keep-alive, which only the leader answers. */
  keepAlive(id: LeaseId, done: (err: Error | null, ttlSeconds?: number) => void): boolean {
    const member = this.member;
    if (member === null || this.paused) return false;
    member.renewLease(id, done);
    return true;
  }

  /** A linearizable read through ReadIndex, served from this member's state once it caught up. */
  readLinearizable(key: string, done: (result: KvResult | null) => void): 'accepted' | 'refused' {
    const member = this.member;
    if (member === null || this.paused) return 'refused';
    let refused = false;
    let sync = true;
    member.awaitReadIndex((err) => {
      if (err !== null) {
        if (sync) refused = true;
        else done(null);
        return;
      }
      const m = this.member;
      if (m === null) return done(null);
      const res = m.kv.range(rangeRequest({ key: enc.encode(key), serializable: true }));
      const kv = res.kvs[0];
      done({ kind: 'get', value: kv === undefined ? null : dec.decode(kv.value), revision: res.revision });
    });
    sync = false;
    return refused ? 'refused' : 'accepted';
  }

  /** A read by a chosen read path (bounded, min revision, lease...); `done(null)`: unknown. */
  readWith(key: string, options: ReadOptions, done: (result: KvResult | null, served?: ReadServed) => void): 'accepted' | 'refused' {
    const member = this.member;
    if (member === null || this.paused) return 'refused';
    member.read(rangeRequest({ key: enc.encode(key) }), options).then(
      ({ response, served }) => {
        const kv = response.kvs[0];
        done({ kind: 'get', value: kv === undefined ? null : dec.decode(kv.value), revision: response.revision }, served);
      },
      () => done(null),
    );
    return 'accepted';
  }

  isLeader(): boolean {
    return this.member !== null && this.member.isLeader();
  }

  proposeConfChange(changes: ConfChangeSingle[]): boolean {
    return this.member !== null && this.member.proposeConfChange({ transition: 'auto', changes, context: new Uint8Array(0) });
  }

  transferLeader(target: NodeId): void {
    this.member?.transferLeader(target);
  }

  /** A digest of the applied state (HashKV), to compare members after convergence. */
  stateHash(): string {
    const m = this.member;
    if (m === null) return 'down';
    // HashKV, as etcd members compare themselves: the key-value history up to the current revision.
    const h = m.kv.hashKV(0);
    return `${h.revision}:${h.hash.toString(16)}`;
  }

  /** Starts a stopped member, unless it was removed, is already starting, or cannot recover. */
  restartIfDown(): void {
    if (!this.up && !this.starting && !this.removed && !this.unrecoverable) this.start();
  }
}

/**
 * The start of a new cluster, as etcd does it: conf change entries 1..n naming the first members, committed
 * in term 1, so a member that joins later learns the first configuration from the log.
 */
export function bootstrapPlan(voters: readonly number[], learners: readonly number[], dcOf?: (id: number) => string): Bootstrap {
  const confState: ConfState = {
    voters: voters.map(nodeId),
    learners: learners.map(nodeId),
    votersOutgoing: [],
    learnersNext: [],
    autoLeave: false,
  };
  const entries: Entry[] = [];
  const add = (id: number, type: ConfChangeType): void => {
    // With DCs given, the first configuration carries them, as a real member's published attributes would.
    const context = dcOf === undefined ? new Uint8Array(0) : encodeMemberContext({ name: `m${id}`, peerUrls: [], clientUrls: [], dc: dcOf(id), zone: '' });
    const data = encodeConfChange({ transition: 'auto', changes: [{ type, nodeId: nodeId(id) }], context });
    entries.push({ term: term(1), index: logIndex(entries.length + 1), type: EntryType.ConfChange, data });
  };
  for (const id of voters) add(id, ConfChangeType.AddNode);
  for (const id of learners) add(id, ConfChangeType.AddLearnerNode);
  return { confState, entries, hardState: { term: term(1), vote: nodeId(0), commit: logIndex(entries.length) } };
}
