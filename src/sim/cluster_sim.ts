// One deterministic simulation run: a seed draws a multi-DC topology, clients and a schedule of many faults;
// a safety phase with faults, then a liveness phase with none. Invariants are checked as the run goes and
// the client history is checked for linearizability at the end.

import { assert } from '../util/assert.js';
import { type LogIndex, type NodeId, type Term } from '../util/branded.js';
import { Prng } from '../util/prng.js';
import type { PlantedBugs } from '../raft/raft.js';
import type { ConfChangeSingle, ConfState, Entry } from '../raft/types.js';
import { HistoryRecorder, type PendingOperation } from './checker/history.js';
import { checkLinearizability, checkRevisionsRespectRealTime } from './checker/linearizability.js';
import { kvModel, type KvInput, type KvOutput } from './checker/model.js';
import { EventQueue } from './event_queue.js';
import { FAULT_KINDS, startFault, type FaultKind, type FaultTarget, type Heal } from './faults.js';
import type { KvOp, KvResult } from './sim_member.js';
import { SimNetwork } from './network.js';
import { SimLeases } from './sim_leases.js';
import { SimSessions } from './sim_sessions.js';
import { SimWatchers } from './sim_watchers.js';
import type { Bootstrap } from '../server/node/member.js';
import { bootstrapPlan, SimMember, type MemberEnv, type RaftTiming } from './sim_member.js';
import type { MultiDcOptions } from '../server/node/multi_dc.js';
import { maxScale } from '../server/node/adaptive_timing.js';
import { checkBoundedStaleness, type BoundedRead, type StalenessReport } from './sim_staleness.js';

export interface SimOptions {
  readonly seed: number;
  /** Faults drawn for the safety phase, at least. */
  readonly faultsMin?: number;
  readonly faultsMax?: number;
  /** Length of the safety phase in election timeouts. */
  readonly safetyElectionTimeouts?: number;
  readonly plantedBugs?: PlantedBugs;
  /** A scripted adversary to run instead of random faults (see scenarios.ts). */
  readonly scenario?: (sim: ClusterSim) => void;
  /** Bytes of entries per append message (default: drawn). */
  readonly maxSizePerMsg?: number;
  /** Voters and learners of the initial cluster (default: drawn). */
  readonly voters?: number;
  readonly learners?: number;
  /** Draw faults only of these kinds (default: the whole catalogue). */
  readonly faultKinds?: readonly FaultKind[];
  /** Narrates the run (elections, faults, phases) as it happens. */
  readonly log?: (line: string) => void;
  /** Stop at the first invariant violation (the rest of the run would only add noise). */
  readonly stopOnViolation?: boolean;
  /** A fixed multi-DC layout with the members' multi-DC behaviour and its checks (sim_multidc.ts). */
  readonly multiDc?: SimMultiDc;
}

/** A fixed multi-DC cluster: where members sit, how they behave, and which multi-DC reads clients make. */
export interface SimMultiDc {
  readonly dcs: readonly string[];
  /** One-way latency between two DCs, ms. */
  readonly oneWayMs: (a: string, b: string) => number;
  /** The DC of each initial member: voters first, then learners. */
  readonly placement: readonly string[];
  readonly member: Omit<MultiDcOptions, 'dc' | 'rttMs'>;
  /** Share of reads made as bounded-staleness reads (checked by sim_staleness.ts), and the bounds drawn. */
  readonly boundedReadShare?: number;
  readonly maxStalenessMs?: readonly number[];
  /** Share of linearizable reads made as leader lease reads (checked for linearizability like the others). */
  readonly leaseReadShare?: number;
  /** Members' monotonic clocks drift by up to this rate (slow or fast) during the faults. */
  readonly nowDriftRate?: number;
  /** After healing, leadership must reach the first preferred DC within this many election timeouts. */
  readonly preferredReturnTimeouts?: number;
  /** Members start with this (LAN) timing instead of timing fitted to the links: adaptive timing must fit it. */
  readonly lanTiming?: RaftTiming;
}

export interface SimReport {
  readonly seed: number;
  readonly topology: string;
  readonly faults: Readonly<Partial<Record<FaultKind, number>>>;
  readonly faultCount: number;
  readonly simulatedMs: number;
  readonly events: number;
  readonly operations: number;
  readonly unknownOperations: number;
  readonly committedEntries: number;
  readonly leaderElections: number;
  readonly violations: readonly string[];
  readonly linearizability: 'ok' | 'illegal' | 'unknown';
  /** Multi-DC runs: bounded-staleness reads made and served locally. */
  readonly boundedReads?: { readonly reads: number; readonly servedLocally: number };
  readonly leaseReadsServed?: number;
}

const TICK_MS = 10;
const SNAPSHOT_EVERY_ENTRIES = 64;
const COMPACTION_LAG_ENTRIES = 16;
const MEMBER_IDS_MAX = 12;
const LOG_MATCHING_CHECK_EVERY_CHUNKS = 4;
const WATCHERS_PER_RUN = 6;
const LEASES_PER_RUN = 4;
const LEASE_TTL_SECONDS_MIN = 2;
/** Once the cluster converged, a lease must end within its TTL plus this many election timeouts. */
const LEASE_END_SLACK_TIMEOUTS = 4;
const LEASE_END_POLLS_MAX = 100_000;
/** Virtual time for watchers to catch up after convergence. */
const WATCH_DRAIN_MS = 2000;
/** Election timeouts after a member stops on a disk failure before its supervisor restarts it. */
const SUPERVISOR_RESTART_TIMEOUTS = 2;
/** After healing, a leader must exist within this many election timeouts. */
const LEADER_BOUND_TIMEOUTS = 10;
const LEADER_BOUND_TIMEOUTS_NO_PREVOTE = 30;
/** Multi-DC runs: leadership returns to the preferred DC within this many election timeouts of a leader existing. */
const PREFERRED_RETURN_TIMEOUTS = 20;
/** Multi-DC runs: monotonic-clock drifts per run. */
const NOW_DRIFTS_PER_RUN = 4;
/** Multi-DC runs: one-way latency inside a DC, ms. */
const FIXED_INTRA_DC_MS = 0.5;

interface Topology {
  readonly dcs: string[];
  /** One-way latency between two DCs in ms (same DC: sub-millisecond). */
  readonly latency: (a: string, b: string) => number;
  readonly describe: string;
  readonly maxOneWayMs: number;
}

function drawTopology(p: Prng): Topology {
  const names = ['us-east', 'eu-west', 'ap-south'];
  const n = p.chance(0.7) ? 3 : p.chance(0.5) ? 2 : 1;
  const dcs = names.slice(0, n);
  const pair = new Map<string, number>();
  let maxOneWayMs = 1;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const ms = p.chance(0.3) ? 1 + p.float() * 10 : 10 + p.float() * 190;
      pair.set(`${dcs[i]}|${dcs[j]}`, ms);
      pair.set(`${dcs[j]}|${dcs[i]}`, ms);
      maxOneWayMs = Math.max(maxOneWayMs, ms);
    }
  }
  const intra = 0.1 + p.float() * 0.9;
  const describe = n === 1 ? '1 DC' : `${n} DCs, one-way ${[...new Set(pair.values())].map((v) => v.toFixed(0)).join('/')} ms`;
  return { dcs, latency: (a, b) => (a === b ? intra : (pair.get(`${a}|${b}`) ?? intra)), describe, maxOneWayMs };
}

export class ClusterSim implements FaultTarget {
  readonly prng: Prng;
  readonly queue = new EventQueue();
  readonly network: SimNetwork;
  readonly timing: RaftTiming;
  readonly electionTimeoutMs: number;
  private readonly topology: Topology;
  private readonly all = new Map<NodeId, SimMember>();
  private readonly env: MemberEnv;
  private nextId = 1;
  private readonly violations: string[] = [];
  private readonly leaderOfTerm = new Map<Term, NodeId>();
  /** The first entry applied at each index anywhere: every later apply must match it. */
  private readonly committed = new Map<LogIndex, Entry>();
  /**
   * For each committed index, the highest term any leader had reached when it was first seen applied: it was
   * committed in that term or earlier, so every leader of a higher term must hold it (§5.4). A leader of an
   * older term elected late (a paused candidate counting its votes) need not.
   */
  private readonly committedByTerm = new Map<LogIndex, number>();
  private highestLeaderTerm = 0;
  private maxCommitted = 0;
  private latestConfIndex = 0;
  private chunks = 0;
  /** Members that some applied configuration has named. */
  private readonly everNamed = new Set<NodeId>();
  private elections = 0;
  private readonly faultCounts: Partial<Record<FaultKind, number>> = {};
  private faultCount = 0;
  private readonly heals: Heal[] = [];
  private readonly recorder = new HistoryRecorder<KvInput, KvOutput>();
  private clientsRunning = false;
  private readonly keys: string[];
  private readonly watchers: SimWatchers;
  private readonly leases: SimLeases;
  /** ZooKeeper sessions and their ephemerals (sim_sessions.ts). */
  readonly sessions: SimSessions;

  constructor(private readonly options: SimOptions) {
    this.prng = new Prng(options.seed);
    this.topology = options.multiDc === undefined ? drawTopology(this.prng.fork()) : fixedTopology(options.multiDc);
    const heartbeatTicks = Math.max(5, Math.ceil((2 * this.topology.maxOneWayMs) / TICK_MS));
    this.timing = options.multiDc?.lanTiming ?? { tickMs: TICK_MS, heartbeatTicks, electionTicks: heartbeatTicks * 10 };
    // With LAN timing over WAN links, adaptive timing may stretch the election timeout up to maxScale: the
    // simulator's bounds (fault lengths, liveness) follow that worst case.
    const stretch = options.multiDc?.lanTiming === undefined ? 1 : maxScale(this.timing);
    this.electionTimeoutMs = this.timing.electionTicks * this.timing.tickMs * stretch;
    this.network = new SimNetwork(this.queue, this.prng.fork(), (a, b) =>
      this.topology.latency(this.all.get(a)?.dc ?? '', this.all.get(b)?.dc ?? ''));
    this.env = {
      queue: this.queue,
      network: this.network,
      timing: this.timing,
      members: this.all,
      observer: {
        becameLeader: (m) => this.checkNewLeader(m),
        leaderCommitted: (m) => {
          const watchers = this.commitWatchers;
          this.commitWatchers = [];
          for (const fn of watchers) fn(m);
        },
        storageFailed: (m, err) => {
          this.say(`member ${m.id} stopped: its disk failed (${errorText(err)})`);
          // A supervisor (systemd's Restart=on-failure) starts it again later; a still-faulty disk stops it again.
          this.queue.schedule(SUPERVISOR_RESTART_TIMEOUTS * this.electionTimeoutMs, () => m.restartIfDown());
        },
        refusedToStart: (m, err) => {
          if (m.corruptionPlanted) this.say(`member ${m.id} refused to start on its corrupted data directory, as it must (${errorText(err)})`);
          else this.violation(`member ${m.id} could not recover its data directory after a crash: ${errorText(err)}`);
        },
        failed: (m, err) => this.violation(`member ${m.id} died: ${err instanceof Error ? err.message : String(err)}`),
        applied: (m, e) => this.checkApplied(m, e),
        changes: (m, c) => {
          this.watchers.record(m, c);
          this.leases.observe(c);
          this.sessions.observe(m, c);
        },
        confChanged: (_m, cs, index) => this.retireRemoved(cs, index),
      },
      plantedBugs: options.plantedBugs ?? {},
      maxSizePerMsg: options.maxSizePerMsg ?? this.prng.pick([128, 1024, 64 * 1024]),
      preVote: this.prng.chance(0.6),
      checkQuorum: this.prng.chance(0.6),
      snapshotEveryEntries: SNAPSHOT_EVERY_ENTRIES,
      requestTimeoutMs: 4 * this.electionTimeoutMs,
      compactionLagEntries: COMPACTION_LAG_ENTRIES,
      ...(options.multiDc === undefined ? {} : { multiDc: (m: SimMember) => this.memberMultiDc(m) }),
    };
    this.keys = Array.from({ length: 8 + this.prng.int(8) }, (_, i) => `k${i}`);
    this.watchers = new SimWatchers(this.queue, this.prng.fork(), this.keys);
    this.leases = new SimLeases(
      { queue: this.queue, prng: this.prng.fork(), live: () => this.members().filter((m) => m.up), leader: () => this.leader() },
      Math.max(LEASE_TTL_SECONDS_MIN, Math.ceil((3 * this.electionTimeoutMs) / 1000)),
    );
    this.sessions = new SimSessions(
      { queue: this.queue, prng: this.prng, live: () => this.members().filter((m) => m.up), leader: () => this.leader() },
      1000 * Math.max(LEASE_TTL_SECONDS_MIN, Math.ceil((3 * this.electionTimeoutMs) / 1000)), options.seed,
    );
    const voters = options.voters ?? (this.prng.chance(0.6) ? 5 : 3);
    const learners = options.learners ?? this.prng.int(3);
    const ids = Array.from({ length: voters + learners }, () => this.nextId++);
    const placed = options.multiDc?.placement;
    const dcOfIndex = (i: number): string => placed?.[i] ?? (this.topology.dcs[i % this.topology.dcs.length] as string);
    const dcOf = placed === undefined ? undefined : (id: number): string => dcOfIndex(ids.indexOf(id));
    for (const [i, id] of ids.entries()) {
      this.addMember(id, dcOfIndex(i), bootstrapPlan(ids.slice(0, voters), ids.slice(voters), dcOf)).start();
    }
  }

  /** A member's multi-DC options; its round trips are the simulated links' (an exact measurement). */
  private memberMultiDc(m: SimMember): MultiDcOptions {
    const md = this.options.multiDc;
    assert(md !== undefined, 'memberMultiDc without a multi-DC layout');
    return {
      ...md.member,
      dc: m.dc,
      rttMs: (peer) => {
        const other = this.all.get(peer);
        return other === undefined ? null : 2 * this.topology.latency(m.dc, other.dc);
      },
    };
  }

  // ---- multi-DC (sim_multidc.ts) ----

  /** Writes acknowledged to clients so far (a DC outage must not stop them). */
  acknowledgedWrites = 0;
  /** Reads a leader answered on its lease (zero round trips). */
  leaseReadsServed = 0;
  private readonly boundedReads: BoundedRead[] = [];
  private staleness: StalenessReport | null = null;

  /** Scenarios report what they find wrong here. */
  flag(msg: string): void {
    this.violation(msg);
  }

  private issueBounded(client: number, key: string): void {
    const md = this.options.multiDc;
    const live = this.members().filter((m) => m.up);
    const next = (): void => this.queue.schedule(this.prng.float() * 10, () => this.runClient(client));
    if (md === undefined || live.length === 0) return next();
    const member = this.prng.pick(live);
    const maxStalenessMs = this.prng.pick(md.maxStalenessMs ?? [200]);
    const arrivedAt = this.queue.now;
    let settled = false;
    const settle = (): void => {
      if (settled) return;
      settled = true;
      next();
    };
    const accepted = member.readWith(key, { mode: 'bounded', maxStalenessMs }, (res, served) => {
      if (!settled && res !== null && served !== undefined) {
        this.boundedReads.push({ member: member.id, key, arrivedAt, maxStalenessMs, appliedRevision: served.appliedRevision, path: served.path });
      }
      settle();
    });
    if (accepted === 'refused') {
      this.queue.schedule(TICK_MS * 5, settle);
      return;
    }
    this.queue.schedule(this.electionTimeoutMs * 3, settle);
  }

  /** Drifts one member's monotonic clock within the configured rate, for a while. */
  private driftNow(rate: number): void {
    const live = this.members().filter((m) => m.up);
    if (live.length === 0) return;
    const m = this.prng.pick(live);
    const r = this.prng.chance(0.5) ? 1 / (1 + rate * this.prng.float()) : 1 + rate * this.prng.float();
    this.say(`member ${m.id}'s clock runs at ${r.toFixed(5)} × real time`);
    m.setNowRate(r);
    this.schedule(this.electionTimeoutMs * (1 + this.prng.float() * 5), () => m.setNowRate(1));
  }

  /** With a preferred DC healthy after healing, leadership must move there within the bound. */
  private async awaitPreferredLeader(): Promise<void> {
    const md = this.options.multiDc;
    const preferred = md?.member.leaderPreference?.[0];
    if (md === undefined || preferred === undefined) return;
    const voters = new Set(this.voters());
    const candidates = this.members().filter((m) => m.dc === preferred && voters.has(m.id) && m.up && m.id <= md.placement.length);
    if (candidates.length === 0) {
      this.say(`no voter of the preferred DC ${preferred} left in the configuration; leadership stays where it is`);
      return;
    }
    const timeouts = md.preferredReturnTimeouts ?? PREFERRED_RETURN_TIMEOUTS;
    const bound = this.queue.now + timeouts * this.electionTimeoutMs;
    while (this.leader()?.dc !== preferred && this.queue.now < bound) await this.runFor(TICK_MS * 10);
    const l = this.leader();
    if (l?.dc !== preferred) this.violation(`affinity: leadership did not return to the preferred DC ${preferred} within ${timeouts} election timeouts after healing (leader ${l?.id ?? 'none'} in ${l?.dc ?? '-'})`);
    else this.say(`leadership is back in the preferred DC ${preferred} (member ${l.id})`);
  }

  private addMember(id: number, dc: string, bootstrap: Bootstrap | null): SimMember {
    const m = new SimMember(id, dc, bootstrap, this.env, this.prng.fork());
    this.all.set(m.id, m);
    return m;
  }

  // ---- FaultTarget ----

  members(): SimMember[] {
    return [...this.all.values()].filter((m) => !m.removed).sort((a, b) => a.id - b.id);
  }

  leader(): SimMember | undefined {
    let best: SimMember | undefined;
    for (const m of this.members()) {
      if (m.isLeader() && (best === undefined || m.node().raft.term > best.node().raft.term)) best = m;
    }
    return best;
  }

  diskFaultMember: SimMember | null = null;

  runAsync(work: () => Promise<void>): void {
    void this.queue.track(work());
  }

  /** Set when the liveness phase begins: every fault is healed and no new one starts. */
  private faultsOver = false;
  private nextLeaderWatchers: ((m: SimMember) => void)[] = [];
  private commitWatchers: ((m: SimMember) => void)[] = [];

  /** Calls fn (once) the next time a leader's commit index advances, before that Ready's messages leave. */
  onNextLeaderCommit(fn: (m: SimMember) => void): void {
    this.commitWatchers.push(fn);
  }

  onNextLeader(fn: (m: SimMember) => void): void {
    this.nextLeaderWatchers.push(fn);
  }

  /** Faults and scenarios schedule their later steps here; none run once the liveness phase began. */
  schedule(delayMs: number, fn: () => void): void {
    this.queue.schedule(delayMs, () => {
      if (!this.faultsOver) fn();
    });
  }

  dcs(): string[] {
    return this.topology.dcs;
  }

  spawnMember(): SimMember | undefined {
    if (this.nextId > MEMBER_IDS_MAX) return undefined;
    const m = this.addMember(this.nextId++, this.prng.pick(this.topology.dcs), null);
    m.start();
    return m;
  }

  private configOfLeader(): ConfState | undefined {
    return this.leader()?.node().raft.confState();
  }

  voters(): NodeId[] {
    return [...(this.configOfLeader()?.voters ?? [])];
  }

  learners(): NodeId[] {
    return [...(this.configOfLeader()?.learners ?? [])];
  }

  proposeConfChange(changes: ConfChangeSingle[]): boolean {
    const l = this.leader();
    if (l === undefined) return false;
    return l.proposeConfChange(changes);
  }

  // ---- invariants ----

  private say(line: string): void {
    this.options.log?.(`${(this.queue.now / 1000).toFixed(3).padStart(8)}s  ${line}`);
  }

  /** Each member's state in one line, for a liveness failure: up or not, role, term, log and the voters it knows. */
  private describeMembers(): string {
    return this.members().map((m) => {
      if (!m.up) return `${m.id} down`;
      const r = m.node().raft;
      const cs = r.confState();
      return `${m.id} ${r.role} t${r.term} last ${r.log.lastIndex()} commit ${r.log.committed} voters [${cs.voters.join(',')}]${cs.votersOutgoing.length > 0 ? ` outgoing [${cs.votersOutgoing.join(',')}]` : ''}`;
    }).join('; ');
  }

  private violation(msg: string): void {
    this.say(`VIOLATION ${msg}`);
    this.violations.push(`t=${this.queue.now.toFixed(1)}ms ${msg}`);
  }

  /** Election safety (at most one leader per term) and leader completeness (§5.4). */
  private checkNewLeader(m: SimMember): void {
    this.elections++;
    this.say(`member ${m.id} (${m.dc}) is leader of term ${m.node().raft.term}`);
    const watchers = this.nextLeaderWatchers;
    this.nextLeaderWatchers = [];
    for (const fn of watchers) fn(m);
    const raft = m.node().raft;
    this.highestLeaderTerm = Math.max(this.highestLeaderTerm, raft.term);
    const prev = this.leaderOfTerm.get(raft.term);
    if (prev !== undefined && prev !== m.id) {
      this.violation(`election safety: members ${prev} and ${m.id} both lead term ${raft.term}`);
    }
    this.leaderOfTerm.set(raft.term, m.id);
    const from = raft.log.firstIndex();
    for (let i = from; i <= this.maxCommitted; i++) {
      const e = this.committed.get(i as LogIndex);
      if (e === undefined || raft.term <= (this.committedByTerm.get(i as LogIndex) ?? Infinity)) continue;
      const t = raft.log.term(i as LogIndex);
      if (t !== e.term) {
        this.violation(`leader completeness: new leader ${m.id} (term ${raft.term}) has term ${t ?? 'none'} at committed index ${i} (term ${e.term})`);
        return;
      }
    }
  }

  /**
   * Log Matching (§5.3), checked across every pair of running members: where two logs hold an entry of
   * the same index and term, they hold the same entries before it.
   */
  private checkLogMatching(): void {
    const logs = this.members().filter((m) => m.up).map((m) => ({ id: m.id, log: m.node().raft.log }));
    for (let a = 0; a < logs.length; a++) {
      for (let b = a + 1; b < logs.length; b++) {
        const x = logs[a] as (typeof logs)[number];
        const y = logs[b] as (typeof logs)[number];
        const lo = Math.max(x.log.firstIndex(), y.log.firstIndex());
        let agreed = false;
        for (let i = Math.min(x.log.lastIndex(), y.log.lastIndex()); i >= lo; i--) {
          const same = x.log.term(i as LogIndex) === y.log.term(i as LogIndex);
          if (same) agreed = true;
          else if (agreed) {
            this.violation(`log matching: members ${x.id} and ${y.id} agree at a later index but differ at ${i}`);
            return;
          }
        }
      }
    }
  }

  /** State machine safety: every member applies the same entry at each index. */
  private checkApplied(m: SimMember, e: Entry): void {
    const seen = this.committed.get(e.index);
    if (seen === undefined) {
      this.committed.set(e.index, e);
      this.committedByTerm.set(e.index, this.highestLeaderTerm);
      this.maxCommitted = Math.max(this.maxCommitted, e.index);
      return;
    }
    if (seen.term !== e.term || !equalBytes(seen.data, e.data)) {
      this.violation(`state machine safety: member ${m.id} applied (term ${e.term}) at index ${e.index}, another member applied (term ${seen.term})`);
    }
  }

  /** A member that the configuration no longer names is shut down for good, as etcd does. */
  private retireRemoved(cs: ConfState, index: LogIndex): void {
    // Only the newest configuration counts: a lagging member replays old ones.
    if (index <= this.latestConfIndex) return;
    this.latestConfIndex = index;
    const named = new Set<NodeId>([...cs.voters, ...cs.learners, ...cs.votersOutgoing, ...cs.learnersNext]);
    for (const id of named) this.everNamed.add(id);
    for (const m of this.all.values()) {
      if (named.has(m.id) || m.removed) continue;
      // A spawned member whose addition is not yet committed is still joining, not removed.
      if (!this.everNamed.has(m.id)) continue;
      m.removed = true;
      // Not from inside the apply loop of the member that noticed: let its Ready finish first.
      this.queue.schedule(0, () => m.crash());
    }
  }

  // ---- clients ----

  private startClients(): void {
    this.clientsRunning = true;
    const n = 3 + this.prng.int(4);
    for (let c = 1; c <= n; c++) this.runClient(c);
  }

  private readonly requestSeq = new Map<number, number>();

  /** Each client's requests are numbered, so values written are unique per client. */
  private nextRequest(client: number): number {
    const r = (this.requestSeq.get(client) ?? 0) + 1;
    this.requestSeq.set(client, r);
    return r;
  }

  private runClient(client: number): void {
    if (!this.clientsRunning) return;
    const p = this.prng;
    const key = p.pick(this.keys);
    const request = this.nextRequest(client);
    const r = p.float();
    const op: KvOp =
      r < 0.45 ? { kind: 'get' } :
      r < 0.75 ? { kind: 'put', value: `c${client}-${request}` } :
      r < 0.93 ? { kind: 'cas', expected: p.chance(0.3) ? null : `c${p.range(1, 6)}-${p.int(Math.max(1, request))}`, value: `c${client}-${request}` } :
      { kind: 'delete' };
    const md = this.options.multiDc;
    if (md !== undefined && op.kind === 'get' && p.chance(md.boundedReadShare ?? 0)) {
      this.issueBounded(client, key);
      return;
    }
    this.issue(client, key, op, op.kind === 'get' && p.chance(0.7), 0);
  }

  private issue(client: number, key: string, kvOp: KvOp, viaReadIndex: boolean, attempt: number): void {
    if (!this.clientsRunning) return;
    const live = this.members().filter((m) => m.up);
    const next = (): void => this.queue.schedule(this.prng.float() * 10, () => this.runClient(client));
    if (live.length === 0) {
      this.queue.schedule(TICK_MS * 5, () => this.issue(client, key, kvOp, viaReadIndex, attempt + 1));
      return;
    }
    const member = this.prng.pick(live);
    let settled = false;
    const op: PendingOperation = this.recorder.call(client, key, kvOp, this.queue.now);
    const settle = (result: KvResult | null): void => {
      if (settled) return;
      settled = true;
      if (result === null) this.recorder.unknown(op);
      else this.recorder.ret(op, result, this.queue.now);
      if (result !== null && kvOp.kind !== 'get') this.acknowledgedWrites++;
      next();
    };
    const leaseShare = this.options.multiDc?.leaseReadShare ?? 0;
    const lease = viaReadIndex && leaseShare > 0 && this.prng.chance(leaseShare);
    // Lease reads go to a member that believes it leads, a deposed one included: that is where a lease could lie.
    const leaders = lease ? live.filter((m) => m.isLeader()) : [];
    const reader = leaders.length > 0 ? this.prng.pick(leaders) : member;
    const accepted = lease
      ? reader.readWith(key, { mode: 'leaseRead' }, (res, served) => {
        if (served?.path === 'lease') this.leaseReadsServed++;
        settle(res);
      })
      : viaReadIndex ? member.readLinearizable(key, settle) : member.submit(key, kvOp, settle);
    if (accepted === 'refused') {
      // Refused up front, so it never took effect; an unknown outcome allows exactly that. Retry elsewhere
      // after a pause, as a new operation.
      if (!settled) {
        settled = true;
        this.recorder.unknown(op);
      }
      this.queue.schedule(TICK_MS * Math.min(10, 1 + attempt), () => this.issue(client, key, kvOp, viaReadIndex, attempt + 1));
      return;
    }
    // The client gives up waiting (its outcome stays unknown); the member times the request out on its own.
    this.queue.schedule(this.electionTimeoutMs * 3, () => settle(null));
  }

  // ---- the run ----

  async run(): Promise<SimReport> {
    const o = this.options;
    const p = this.prng;
    const safetyMs = (o.safetyElectionTimeouts ?? 20) * this.electionTimeoutMs;
    const faultsWanted = o.scenario !== undefined ? 0 : p.range(o.faultsMin ?? 10, o.faultsMax ?? 16);
    o.scenario?.(this);
    const warmupMs = 2 * this.electionTimeoutMs;
    this.startClients();
    const times = Array.from({ length: faultsWanted }, () => warmupMs + p.float() * (safetyMs - warmupMs)).sort((a, b) => a - b);
    for (const at of times) {
      this.queue.schedule(at, () => this.injectFault());
    }
    // Leases: some kept alive to the end of the faults, some let go earlier.
    for (let i = 0; i < LEASES_PER_RUN; i++) {
      const at = warmupMs + p.float() * (safetyMs - warmupMs);
      const stopAt = p.chance(0.5) ? safetyMs + this.electionTimeoutMs : at + p.float() * (safetyMs - at);
      this.queue.schedule(at, () => this.leases.grant(stopAt));
    }
    const drift = o.multiDc?.nowDriftRate;
    if (drift !== undefined) {
      for (let i = 0; i < NOW_DRIFTS_PER_RUN; i++) this.queue.schedule(warmupMs + p.float() * (safetyMs - warmupMs), () => this.driftNow(drift));
    }
    this.sessions.start(warmupMs, safetyMs, safetyMs + this.electionTimeoutMs);
    // Watchers on random members (learners too), opened from the start and during the faults.
    for (let i = 0; i < WATCHERS_PER_RUN; i++) {
      this.queue.schedule(warmupMs * (i === 0 ? 1 : 0) + p.float() * safetyMs, () => {
        const live = this.members().filter((m) => m.up);
        if (live.length > 0) this.watchers.open(this.prng.pick(live));
      });
    }
    await this.runFor(safetyMs + this.electionTimeoutMs);
    // Liveness phase: heal everything and require a leader and convergence within bounds.
    this.faultsOver = true;
    this.nextLeaderWatchers = [];
    this.commitWatchers = [];
    this.say('liveness phase: every fault healed, crashed members restarted');
    for (const h of this.heals.splice(0)) h();
    this.network.healAll();
    for (const m of this.members()) {
      m.clockRate = 1;
      if (o.multiDc?.nowDriftRate !== undefined) m.setNowRate(1);
      if (m.paused) m.resume();
      m.restartIfDown();
    }
    this.leases.stopAll();
    this.sessions.stopAll();
    const healedAt = this.queue.now;
    // Without PreVote a member with a stale log can disrupt election after election (it bumps everyone's
    // term and loses) until the randomized timeouts favour an up-to-date member, so it gets a longer bound.
    const timeouts = this.env.preVote ? LEADER_BOUND_TIMEOUTS : LEADER_BOUND_TIMEOUTS_NO_PREVOTE;
    const leaderBound = healedAt + timeouts * this.electionTimeoutMs;
    while (this.leader() === undefined && this.queue.now < leaderBound) await this.runFor(TICK_MS * 5);
    if (this.leader() === undefined) this.violation(`liveness: no leader within ${timeouts} election timeouts after healing; ${this.describeMembers()}`);
    await this.awaitPreferredLeader();
    await this.runFor(2 * this.electionTimeoutMs);
    this.clientsRunning = false;
    await this.awaitConvergence(healedAt + 40 * this.electionTimeoutMs);
    await this.awaitLeaseEnds();
    // Streams that stopped reading resume; everything up to the last revision must then arrive.
    this.watchers.drain();
    await this.runFor(WATCH_DRAIN_MS);
    for (const v of this.watchers.check(new Set<number>([...this.voters(), ...this.learners()]))) this.violation(v);
    return this.report();
  }

  private async runFor(ms: number): Promise<void> {
    const until = this.queue.now + ms;
    while (this.queue.now < until) {
      await this.queue.runUntil(Math.min(until, this.queue.now + 50 * TICK_MS));
      // Every few chunks of virtual time: the pairwise comparison is the costliest check.
      if (++this.chunks % LOG_MATCHING_CHECK_EVERY_CHUNKS === 0) this.checkLogMatching();
      if (this.options.stopOnViolation === true && this.violations.length > 0) return;
    }
  }

  private injectFault(): void {
    if (this.faultsOver || (this.options.stopOnViolation === true && this.violations.length > 0)) return;
    const kind = this.prng.pick(this.options.faultKinds ?? FAULT_KINDS);
    this.faultCounts[kind] = (this.faultCounts[kind] ?? 0) + 1;
    this.faultCount++;
    this.say(`fault: ${kind}`);
    const heal = startFault(kind, this);
    this.heals.push(heal);
    const duration = this.electionTimeoutMs * (0.5 + this.prng.float() * 3);
    this.queue.schedule(duration, () => {
      const i = this.heals.indexOf(heal);
      if (i >= 0) {
        this.heals.splice(i, 1);
        heal();
      }
    });
  }

  /** Once keep-alives stop, every lease must end: expired by the leader within its TTL plus a bound. */
  private async awaitLeaseEnds(): Promise<void> {
    const slackMs = LEASE_END_SLACK_TIMEOUTS * this.electionTimeoutMs;
    const stableSince = this.queue.now;
    for (let i = 0; i < LEASE_END_POLLS_MAX && !(this.leases.allEnded() && this.sessions.allEnded()); i++) {
      if (this.leases.overdue(this.queue.now, stableSince, slackMs).length > 0) break;
      if (this.sessions.overdue(this.queue.now, stableSince, slackMs).length > 0) break;
      await this.runFor(TICK_MS * 10);
    }
    for (const l of this.leases.overdue(this.queue.now, stableSince, slackMs)) {
      this.violation(`lease ${l.id} was kept alive: no keep-alive since ${l.lastAckSentMs.toFixed(0)} ms, TTL ${l.ttlMs} ms, cluster stable since ${stableSince.toFixed(0)} ms, still not expired at ${this.queue.now.toFixed(0)} ms`);
    }
    for (const v of this.leases.check(TICK_MS)) this.violation(v);
    for (const id of this.sessions.overdue(this.queue.now, stableSince, slackMs)) this.violation(`ZooKeeper session ${id} was kept alive after its pings stopped`);
    for (const v of this.sessions.check(TICK_MS)) this.violation(v);
    for (const m of this.members()) for (const v of this.sessions.orphans(m)) this.violation(v);
  }

  private async awaitConvergence(deadline: number): Promise<void> {
    for (;;) {
      // Members the configuration names; a spawned member whose addition never committed is not one.
      // A member whose data directory was corrupted on purpose stays down (an operator replaces it).
      const named = new Set(this.voters().concat(this.learners()));
      const live = this.members().filter((m) => named.has(m.id) && !m.unrecoverable);
      const l = this.leader();
      if (l !== undefined) {
        const commit = l.node().raft.log.committed;
        const hashes = new Set(live.map((m) => m.stateHash()));
        const caughtUp = live.every((m) => m.up && m.node().raft.log.applied === commit);
        if (caughtUp && hashes.size === 1) {
          this.say(`converged: ${live.length} members applied index ${commit}, state ${[...hashes][0] ?? ''}`);
          return;
        }
      }
      if (this.queue.now >= deadline) {
        const state = live.map((m) => (m.up ? `${m.id}:applied=${m.node().raft.log.applied}/${m.stateHash()}` : `${m.id}:down`)).join(' ');
        this.violation(`liveness: members did not converge after healing (${state})`);
        return;
      }
      await this.runFor(TICK_MS * 10);
    }
  }

  private report(): SimReport {
    const history = this.recorder.history();
    const lin = checkLinearizability(kvModel, history, { timeoutMs: 20_000 });
    if (lin.result === 'illegal') this.violation(`linearizability: ${lin.message}`);
    const revs = checkRevisionsRespectRealTime(history);
    if (!revs.ok) this.violation(`revisions: ${revs.violationCount} violations, first: ${revs.violations[0]?.message ?? ''}`);
    if (this.options.multiDc !== undefined) {
      this.staleness = checkBoundedStaleness(history, this.boundedReads);
      for (const v of this.staleness.violations) this.violation(v);
    }
    return {
      seed: this.options.seed,
      topology: `${this.topology.describe}; ${this.members().length} members`,
      faults: this.faultCounts,
      faultCount: this.faultCount,
      simulatedMs: this.queue.now,
      events: this.queue.executed,
      operations: history.length,
      unknownOperations: history.filter((op) => op.returnTime === Number.POSITIVE_INFINITY).length,
      committedEntries: this.maxCommitted,
      leaderElections: this.elections,
      violations: this.violations,
      linearizability: lin.result,
      ...(this.staleness === null ? {} : { boundedReads: { reads: this.staleness.reads, servedLocally: this.staleness.servedLocally }, leaseReadsServed: this.leaseReadsServed }),
    };
  }
}

/** A fixed layout's topology (the simulator's own is drawn per seed). */
function fixedTopology(md: SimMultiDc): Topology {
  const dcs = [...md.dcs];
  let maxOneWayMs = 1;
  const pairs: string[] = [];
  for (let i = 0; i < dcs.length; i++) {
    for (let j = i + 1; j < dcs.length; j++) {
      const ms = md.oneWayMs(dcs[i] as string, dcs[j] as string);
      maxOneWayMs = Math.max(maxOneWayMs, ms);
      pairs.push(ms.toFixed(0));
    }
  }
  const counts = dcs.map((dc) => md.placement.filter((p) => p === dc).length).join('-');
  return {
    dcs,
    latency: (a, b) => (a === b ? FIXED_INTRA_DC_MS : md.oneWayMs(a, b)),
    describe: `${dcs.length} DCs (members ${counts}), one-way ${pairs.join('/')} ms`,
    maxOneWayMs,
  };
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function runSeed(options: SimOptions): Promise<SimReport> {
  assert(Number.isInteger(options.seed), `seed must be an integer, got ${options.seed}`);
  return new ClusterSim(options).run();
}
