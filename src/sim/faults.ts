// The fault catalogue the simulator draws from (../shared/TESTING.md): network, process, clock and membership
// faults. Each fault starts now and returns the function that heals it.

import { nodeId, type NodeId } from '../util/branded.js';
import type { Prng } from '../util/prng.js';
import { ConfChangeType, type ConfChangeSingle } from '../raft/types.js';
import { CRASH_POINTS, type SimMember } from './sim_member.js';
import type { SimNetwork } from './network.js';

export const FAULT_KINDS = [
  'isolate-leader',
  'split',
  'isolate-dc',
  'one-way',
  'ring',
  'drop',
  'delay',
  'duplicate',
  'crash',
  'crash-leader',
  'crash-all',
  'pause',
  'clock-drift',
  'add-learner',
  'promote-learner',
  'add-voter',
  'remove-voter',
  'replace-voter',
  'transfer-leader',
  'leader-churn',
  'crash-point',
  'isolate-new-leader',
  'disk-sync-error',
  'disk-write-error',
  'disk-full',
  'torn-write-crash',
  'wal-bit-flip',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** What a fault may touch: the running cluster, as the simulator exposes it. */
export interface FaultTarget {
  readonly prng: Prng;
  readonly network: SimNetwork;
  /** Live (not removed) members, in id order. */
  members(): SimMember[];
  leader(): SimMember | undefined;
  dcs(): string[];
  /** Creates and starts a new, empty member that will join through a conf change. */
  spawnMember(): SimMember | undefined;
  voters(): NodeId[];
  learners(): NodeId[];
  /** Proposes a conf change at the leader; false if there is none or it refused. */
  proposeConfChange(changes: ConfChangeSingle[]): boolean;
  electionTimeoutMs: number;
  /** Runs fn after a virtual delay (for faults that unfold in steps). */
  schedule(delayMs: number, fn: () => void): void;
  /** Runs simulated asynchronous work (disk inspection) to completion within the current event. */
  runAsync(work: () => Promise<void>): void;
  /** The member whose disk is faulty now: storage faults hit one member at a time. */
  diskFaultMember: SimMember | null;
  /** Calls fn (once) with the next member to become leader. */
  onNextLeader(fn: (m: SimMember) => void): void;
}

export type Heal = () => void;
const nothing: Heal = () => undefined;

function cutBetween(net: SimNetwork, a: readonly SimMember[], b: readonly SimMember[], oneWay = false): Heal {
  const links: [NodeId, NodeId][] = [];
  for (const x of a) {
    for (const y of b) {
      if (x.id === y.id) continue;
      links.push([x.id, y.id]);
      if (!oneWay) links.push([y.id, x.id]);
    }
  }
  return net.cutLinks(links);
}

/** Starts one fault of the given kind; returns how to heal it (a no-op for one-shot faults). */
export function startFault(kind: FaultKind, t: FaultTarget): Heal {
  const p = t.prng;
  const all = t.members();
  const up = all.filter((m) => m.up);
  switch (kind) {
    case 'isolate-leader': {
      const l = t.leader();
      return l === undefined ? nothing : cutBetween(t.network, [l], all);
    }
    case 'split': {
      const shuffled = p.shuffle([...all]);
      const minority = shuffled.slice(0, Math.max(1, Math.floor(all.length / 2)));
      return cutBetween(t.network, minority, shuffled.slice(minority.length));
    }
    case 'isolate-dc': {
      const dc = p.pick(t.dcs());
      return cutBetween(t.network, all.filter((m) => m.dc === dc), all.filter((m) => m.dc !== dc));
    }
    case 'one-way': {
      // Often the leader's outbound (or inbound) links: the classic asymmetric partition.
      const l = t.leader() ?? p.pick(all);
      const others = all.filter((m) => m.id !== l.id);
      return p.chance(0.5) ? cutBetween(t.network, [l], others, true) : cutBetween(t.network, others, [l], true);
    }
    case 'ring': {
      // Each member hears only its ring neighbours: with five, everyone sees a majority, no two the same one.
      const ring = p.shuffle([...all]);
      const links: [NodeId, NodeId][] = [];
      for (let i = 0; i < ring.length; i++) {
        for (let j = 0; j < ring.length; j++) {
          const d = Math.min(Math.abs(i - j), ring.length - Math.abs(i - j));
          if (d > 1) links.push([(ring[i] as SimMember).id, (ring[j] as SimMember).id]);
        }
      }
      return t.network.cutLinks(links);
    }
    case 'drop': {
      t.network.faults.dropRate = 0.05 + p.float() * 0.25;
      return () => { t.network.faults.dropRate = 0; };
    }
    case 'delay': {
      t.network.faults.extraDelayMs = 50 + p.float() * 350;
      t.network.faults.jitterMs = p.float() * 200;
      return () => { t.network.faults.extraDelayMs = 0; t.network.faults.jitterMs = 0; };
    }
    case 'duplicate': {
      t.network.faults.duplicateRate = 0.05 + p.float() * 0.2;
      return () => { t.network.faults.duplicateRate = 0; };
    }
    case 'crash':
      return crash(up.length === 0 ? undefined : p.pick(up));
    case 'crash-leader':
      return crash(t.leader());
    case 'crash-all': {
      const heals = up.map((m) => crash(m));
      return () => { for (const h of heals) h(); };
    }
    case 'pause': {
      if (up.length === 0) return nothing;
      const m = p.pick(up);
      m.pause();
      return () => m.resume();
    }
    case 'clock-drift': {
      if (up.length === 0) return nothing;
      const m = p.pick(up);
      m.clockRate = p.chance(0.5) ? 0.5 + p.float() * 0.4 : 1.2 + p.float() * 0.8;
      return () => { m.clockRate = 1; };
    }
    case 'add-learner': {
      const m = t.spawnMember();
      if (m !== undefined) t.proposeConfChange([{ type: ConfChangeType.AddLearnerNode, nodeId: m.id }]);
      return nothing;
    }
    case 'promote-learner': {
      const learners = t.learners();
      if (learners.length > 0) t.proposeConfChange([{ type: ConfChangeType.AddNode, nodeId: p.pick(learners) }]);
      return nothing;
    }
    case 'add-voter': {
      if (t.voters().length >= 7) return nothing;
      const m = t.spawnMember();
      if (m !== undefined) t.proposeConfChange([{ type: ConfChangeType.AddNode, nodeId: m.id }]);
      return nothing;
    }
    case 'remove-voter': {
      const voters = t.voters();
      if (voters.length <= 3) return nothing;
      t.proposeConfChange([{ type: ConfChangeType.RemoveNode, nodeId: p.pick(voters) }]);
      return nothing;
    }
    case 'replace-voter': {
      // Joint consensus: one voter out, a new one in, in one change.
      const voters = t.voters();
      const m = t.spawnMember();
      if (m === undefined || voters.length === 0) return nothing;
      t.proposeConfChange([
        { type: ConfChangeType.RemoveNode, nodeId: p.pick(voters) },
        { type: ConfChangeType.AddNode, nodeId: m.id },
      ]);
      return nothing;
    }
    case 'leader-churn':
      return leaderChurn(t);
    case 'crash-point': {
      // Arm a crash at a named point of the Ready loop, usually on the leader; it restarts on healing.
      const m = p.chance(0.7) ? t.leader() : up.length > 0 ? p.pick(up) : undefined;
      if (m === undefined) return nothing;
      m.crashPoint = p.pick(CRASH_POINTS);
      return () => {
        m.crashPoint = null;
        m.restartIfDown();
      };
    }
    case 'isolate-new-leader': {
      // Whoever wins the next election is cut off at once: its entries of that term stay local.
      let heal: Heal = nothing;
      let healed = false;
      t.onNextLeader((l) => {
        if (!healed) heal = cutBetween(t.network, [l], t.members());
      });
      return () => {
        healed = true;
        heal();
      };
    }
    case 'disk-sync-error':
      return diskFault(t, (m) => {
        m.fs.faults.syncErrorProbability = 1;
        return () => { m.fs.faults.syncErrorProbability = 0; };
      });
    case 'disk-write-error':
      return diskFault(t, (m) => {
        m.fs.faults.writeErrorProbability = 1;
        return () => { m.fs.faults.writeErrorProbability = 0; };
      });
    case 'disk-full':
      return diskFault(t, (m) => {
        m.fs.faults.capacityBytes = m.fs.usedBytes() + p.int(64 * 1024);
        return () => { m.fs.faults.capacityBytes = Number.POSITIVE_INFINITY; };
      });
    case 'torn-write-crash':
      // Power fails while writes are in flight: a prefix of them survives, the last one torn.
      return diskFault(t, (m) => {
        m.fs.faults.tornWrites = true;
        m.crash();
        return () => { m.fs.faults.tornWrites = false; };
      });
    case 'wal-bit-flip':
      return flipWalBit(t);
    case 'transfer-leader': {
      const l = t.leader();
      const others = t.voters().filter((id) => id !== l?.id);
      if (l !== undefined && others.length > 0) l.transferLeader(nodeId(p.pick(others)));
      return nothing;
    }
  }
}

function crash(m: SimMember | undefined): Heal {
  if (m === undefined || !m.up) return nothing;
  m.crash();
  return () => {
    m.restartIfDown();
  };
}

/**
 * Cuts off each new leader soon after it is elected, several times over: short-lived leaders leave
 * divergent, uncommitted tails of different terms behind, the ground on which Figure 8 of the Raft paper
 * (committing a previous term's entry by counting replicas) loses committed entries.
 */
function leaderChurn(t: FaultTarget): Heal {
  const rounds = t.prng.range(3, 6);
  const heals: Heal[] = [];
  let stopped = false;
  const round = (left: number): void => {
    if (stopped || left === 0) return;
    const l = t.leader();
    if (l === undefined) {
      t.schedule(t.electionTimeoutMs / 4, () => round(left));
      return;
    }
    const heal = cutBetween(t.network, [l], t.members());
    heals.push(heal);
    t.schedule(t.electionTimeoutMs * (0.5 + t.prng.float()), heal);
    t.schedule(t.electionTimeoutMs * t.prng.float(), () => round(left - 1));
  };
  round(rounds);
  return () => {
    stopped = true;
    for (const h of heals) h();
  };
}

/** Starts a storage fault on one running member, if no other member's disk is faulty; heals and restarts it. */
function diskFault(t: FaultTarget, start: (m: SimMember) => Heal): Heal {
  const candidates = t.members().filter((m) => m.up);
  if (t.diskFaultMember !== null || candidates.length === 0) return nothing;
  const m = t.prng.pick(candidates);
  t.diskFaultMember = m;
  const undo = start(m);
  return () => {
    undo();
    if (t.diskFaultMember === m) t.diskFaultMember = null;
    m.restartIfDown();
  };
}

/**
 * Rots one bit inside an older WAL segment (never the tail, where damage reads as a torn write) of one
 * member and restarts it: it must refuse to start, naming the file and offset, and stays down.
 */
function flipWalBit(t: FaultTarget): Heal {
  const running = t.members().filter((m) => m.up && !m.corruptionPlanted);
  const alreadyPlanted = t.members().some((m) => m.corruptionPlanted);
  if (t.diskFaultMember !== null || alreadyPlanted || running.length === 0) return nothing;
  const m = t.prng.pick(running);
  t.runAsync(async () => {
    const segments = (await m.fs.readdir('/data/wal')).filter((n) => n.endsWith('.wal')).sort();
    const oldest = segments[0];
    if (segments.length < 2 || oldest === undefined || !m.up) return;
    m.fs.flipBit(`/data/wal/${oldest}`, t.prng.int(64), t.prng.int(8));
    m.corruptionPlanted = true;
    m.crash();
    m.start();
  });
  return nothing;
}
