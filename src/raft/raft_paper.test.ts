// One test per safety claim of the Raft paper (Figure 3), each checked over seeded random schedules of
// ticks, proposals, reordered and dropped messages and crash-restarts; plus targeted tests of §5.4.1 and
// §5.4.2 (Figure 8). SEED=<n> replays one schedule.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { logIndex, nodeId, type LogIndex, type NodeId, type Term } from '../util/branded.js';
import { Prng } from '../util/prng.js';
import { MemoryStorage } from './memory_storage.js';
import type { PlantedBugs } from './raft.js';
import { RawNode } from './raw_node.js';
import { defaultRaftConfig, TestCluster } from './test_cluster.js';
import { MessageType, type Entry, type Message } from './types.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

interface Observations {
  leaders: Map<Term, Set<NodeId>>;
  appendOnlyViolations: string[];
  logMatchingViolations: string[];
  completenessViolations: string[];
  stateMachineViolations: string[];
}

interface ChaosNode {
  id: NodeId;
  storage: MemoryStorage;
  rawNode: RawNode;
  applied: Entry[];
}

/** Runs one random schedule against a five-member cluster and records what each claim needs. */
function runChaos(seed: number, steps: number, bugs: PlantedBugs = {}): Observations {
  const p = new Prng(seed);
  const ids = [1, 2, 3, 4, 5].map(nodeId);
  const opts = { preVote: p.chance(0.5), checkQuorum: p.chance(0.5), electionTicks: 10, heartbeatTicks: 2, plantedBugs: bugs };
  const nodes = new Map<NodeId, ChaosNode>();
  const make = (id: NodeId, storage: MemoryStorage): RawNode => {
    const applied = storage.snapshot()?.metadata.index ?? logIndex(0);
    return new RawNode(defaultRaftConfig(id, storage, p.fork(), { ...opts, applied }));
  };
  for (const id of ids) {
    const storage = MemoryStorage.withConfState({ voters: ids, learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false });
    nodes.set(id, { id, storage, rawNode: make(id, storage), applied: [] });
  }
  const obs: Observations = { leaders: new Map(), appendOnlyViolations: [], logMatchingViolations: [], completenessViolations: [], stateMachineViolations: [] };
  let pool: Message[] = [];
  const committed = new Map<LogIndex, Entry>();
  /** While a member leads a term, what its log looked like, to check it only appends. */
  const leaderLogs = new Map<NodeId, { term: Term; entries: Entry[] }>();

  const logOf = (n: ChaosNode): Entry[] => {
    const r = n.rawNode.raft;
    const first = r.log.firstIndex();
    const last = r.log.lastIndex();
    return last < first ? [] : r.log.slice(first, logIndex(last + 1), Number.MAX_SAFE_INTEGER);
  };

  const handleReadies = (): void => {
    for (const n of nodes.values()) {
      while (n.rawNode.hasReady()) {
        const rd = n.rawNode.ready();
        if (rd.snapshot !== null) n.storage.applySnapshot(rd.snapshot);
        n.storage.append(rd.entries);
        if (rd.hardState !== null) n.storage.setHardState(rd.hardState);
        for (const e of rd.committedEntries) {
          const seen = committed.get(e.index);
          if (seen === undefined) committed.set(e.index, e);
          else if (seen.term !== e.term) obs.stateMachineViolations.push(`seed ${seed}: ${n.id} applied term ${e.term} at ${e.index}, another applied term ${seen.term}`);
          n.applied.push(e);
        }
        pool.push(...rd.messages, ...rd.messagesAfterPersist);
        n.rawNode.advance(rd);
      }
    }
  };

  const check = (): void => {
    for (const n of nodes.values()) {
      const r = n.rawNode.raft;
      if (r.role !== 'leader') {
        leaderLogs.delete(n.id);
        continue;
      }
      const set = obs.leaders.get(r.term) ?? new Set<NodeId>();
      if (!set.has(n.id)) {
        // A new leader: it must hold every entry committed so far (Leader Completeness).
        for (const [i, e] of committed) {
          if (i < r.log.firstIndex()) continue;
          if (r.log.term(i) !== e.term) obs.completenessViolations.push(`seed ${seed}: leader ${n.id} of term ${r.term} lacks committed ${e.term}/${i}`);
        }
      }
      set.add(n.id);
      obs.leaders.set(r.term, set);
      const log = logOf(n);
      const prev = leaderLogs.get(n.id);
      if (prev !== undefined && prev.term === r.term) {
        for (const e of prev.entries) {
          if (e.index < r.log.firstIndex()) continue;
          if (r.log.term(e.index) !== e.term) obs.appendOnlyViolations.push(`seed ${seed}: leader ${n.id} lost ${e.term}/${e.index}`);
        }
      }
      leaderLogs.set(n.id, { term: r.term, entries: log });
    }
    // Log Matching: two logs with an entry of the same index and term agree on everything before it.
    const logs = [...nodes.values()].map((n) => new Map(logOf(n).map((e) => [e.index, e] as const)));
    for (let a = 0; a < logs.length; a++) {
      for (let b = a + 1; b < logs.length; b++) {
        const la = logs[a] as Map<LogIndex, Entry>;
        const lb = logs[b] as Map<LogIndex, Entry>;
        let agreeing = false;
        const indexes = [...la.keys()].filter((i) => lb.has(i)).sort((x, y) => y - x);
        for (const i of indexes) {
          const ea = la.get(i) as Entry;
          const eb = lb.get(i) as Entry;
          if (ea.term === eb.term) agreeing = true;
          else if (agreeing) obs.logMatchingViolations.push(`seed ${seed}: logs agree at a later index but differ at ${i}`);
        }
      }
    }
  };

  for (let step = 0; step < steps; step++) {
    const r = p.float();
    const live = [...nodes.values()];
    const n = p.pick(live);
    if (r < 0.35) {
      n.rawNode.tick();
    } else if (r < 0.45) {
      n.rawNode.propose(enc(`s${seed}-${step}`));
    } else if (r < 0.93) {
      // Deliver a random message (reordering), sometimes dropping or duplicating it.
      if (pool.length > 0) {
        const i = p.int(pool.length);
        const m = pool[i] as Message;
        if (!p.chance(0.1)) pool.splice(i, 1);
        if (!p.chance(0.1)) nodes.get(m.to)?.rawNode.step(m);
      }
    } else if (r < 0.96) {
      // Crash and restart: everything not persisted is lost; messages to it are dropped.
      n.rawNode = make(n.id, n.storage);
      n.applied = [];
      pool = pool.filter((m) => m.to !== n.id);
    } else if (r < 0.98) {
      const s = n.storage;
      const applied = n.rawNode.raft.log.applied;
      if (applied > s.firstIndex() + 3) {
        s.createSnapshot(applied, n.rawNode.raft.confState(), enc('snap'));
        s.compact(logIndex(applied - 2));
      }
    } else {
      n.rawNode.transferLeader(p.pick(ids));
    }
    handleReadies();
    check();
  }
  return obs;
}

const seeds = process.env['SEED'] !== undefined ? [Number(process.env['SEED'])] : Array.from({ length: 12 }, (_, i) => i + 1);
const STEPS = 3000;
const runs = new Map<number, Observations>();
const observe = (seed: number): Observations => {
  let o = runs.get(seed);
  if (o === undefined) {
    o = runChaos(seed, STEPS);
    runs.set(seed, o);
  }
  return o;
};

test('the random schedules elect leaders in many terms (the claims below are not vacuous)', () => {
  let terms = 0;
  for (const s of seeds) terms += observe(s).leaders.size;
  assert.ok(terms >= seeds.length * 3, `only ${terms} terms with a leader over ${seeds.length} seeds`);
});

test('§5.2 Election Safety: at most one leader per term', () => {
  for (const s of seeds) {
    for (const [t, ls] of observe(s).leaders) assert.equal(ls.size, 1, `seed ${s}: term ${t} had leaders ${[...ls].join(',')}`);
  }
});

test('§5.3 Leader Append-Only: a leader never overwrites or deletes entries in its log', () => {
  for (const s of seeds) assert.deepEqual(observe(s).appendOnlyViolations, []);
});

test('§5.3 Log Matching: logs with an entry of the same index and term are identical up to it', () => {
  for (const s of seeds) assert.deepEqual(observe(s).logMatchingViolations, []);
});

test('§5.4 Leader Completeness: a leader has every entry committed in earlier terms', () => {
  for (const s of seeds) assert.deepEqual(observe(s).completenessViolations, []);
});

test('§5.4.3 State Machine Safety: no two members apply different entries at one index', () => {
  for (const s of seeds) assert.deepEqual(observe(s).stateMachineViolations, []);
});

/** 3 misses an entry while cut off, then campaigns: 1 and 2 have not voted in the new term. */
function staleCandidate(bugs: PlantedBugs): TestCluster {
  const c = new TestCluster([1, 2, 3], { plantedBugs: bugs });
  c.node(1).rawNode.campaign();
  c.stabilize();
  c.isolate(3);
  c.node(1).rawNode.propose(enc('x'));
  c.stabilize();
  c.heal();
  c.node(3).rawNode.campaign();
  c.stabilize();
  return c;
}

test('§5.4.1 a voter refuses a candidate whose log is less up to date', () => {
  const c = staleCandidate({});
  assert.notEqual(c.node(3).rawNode.raft.role, 'leader');
  assert.notEqual(c.node(1).rawNode.raft.vote, 3);
  assert.notEqual(c.node(2).rawNode.raft.vote, 3);
});

test('§5.4.1 with the up-to-date check disabled (planted bug), the stale candidate wins', () => {
  assert.equal(staleCandidate({ voteWithoutUpToDateCheck: true }).node(3).rawNode.raft.role, 'leader', 'the planted bug should let the stale candidate win');
});

/**
 * Figure 8 of the Raft paper, steps (a)-(c): S1 leads term 4 and replicates its term-2 entry at index 2 to a
 * majority. It must not count that as committed: S5 (log term 3) could still win and overwrite it.
 */
function figure8(bugs: PlantedBugs): { commitAfterReplicatingOldEntry: number } {
  const c = new TestCluster([1, 2, 3, 4, 5], { maxSizePerMsg: 1, plantedBugs: bugs });
  const n = (i: number): RawNode => c.node(i).rawNode;
  // (a) S1 leads term 1... bump to a term with a first entry everywhere.
  n(1).campaign();
  c.stabilize();
  // S1 appends index 2 and replicates it only to S2.
  c.filter = (m) => !(m.type === MessageType.App && m.from === 1 && m.to !== 2);
  n(1).propose(enc('a'));
  c.stabilize();
  // (b) S1 is cut off; S5 wins with S3 and S4 and appends index 2 of its term locally only.
  c.filter = (m) => m.from !== 1 && m.to !== 1 && !(m.type === MessageType.App && m.from === 5);
  n(5).campaign();
  c.stabilize();
  assert.equal(n(5).raft.role, 'leader');
  n(5).propose(enc('b'));
  c.stabilize();
  // (c) S5 is cut off; S1 restarts, wins a later term with S2, S3 and S4, and brings them the old entry at
  // index 2 only: its appends lose every entry past index 2 on the way.
  c.filter = (m) => m.from !== 5 && m.to !== 5;
  c.transform = (m) => (m.type === MessageType.App && m.from === 1 ? { ...m, entries: m.entries.filter((e) => e.index <= 2) } : m);
  c.restart(1);
  // Its first campaign (term 2) loses: S3 and S4 voted for S5 in that term. The next one (term 3) wins.
  for (let i = 0; i < 3 && n(1).raft.role !== 'leader'; i++) {
    n(1).campaign();
    c.stabilize();
  }
  assert.equal(n(1).raft.role, 'leader');
  assert.equal(n(3).raft.log.term(logIndex(2)), 1, 'S3 now holds the old entry at index 2');
  return { commitAfterReplicatingOldEntry: n(1).raft.log.committed };
}

test('§5.4.2 a leader does not commit an entry of a previous term by counting replicas (Figure 8)', () => {
  const { commitAfterReplicatingOldEntry } = figure8({});
  assert.equal(commitAfterReplicatingOldEntry, 1, 'index 2 (term 1) is on a majority but must stay uncommitted');
});

test('§5.4.2 with counting allowed (planted bug), Figure 8 commits the old entry', () => {
  const { commitAfterReplicatingOldEntry } = figure8({ commitPreviousTermByCounting: true });
  assert.equal(commitAfterReplicatingOldEntry, 2);
});
