// Crash at every write and sync point of a scenario that appends, truncates, rolls segments, saves
// and receives snapshots and compacts; after each restart, nothing acknowledged may be missing and
// the log must equal the state before or after the operation in flight, and go on working.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { logIndex, nodeId, term } from '../util/branded.js';
import { Prng } from '../util/prng.js';
import type { Entry } from '../raft/types.js';
import { RaftLog, type RaftLogOptions } from './raft_log.js';
import { SimFileSystem } from './sim_file_system.js';
import { hardState, MEMBER, testSeed, voters } from './test_helpers.js';

const DIR = '/data/m1';
const OPTIONS: RaftLogOptions = { ...MEMBER, segmentBytes: 4096, bootstrapConfState: voters(1, 2, 3), snapshotsRetained: 2 };
const SCENARIO_STEPS = 28;
const SEEDS_PER_RUN = 2;

interface Model {
  readonly snapIndex: number;
  readonly snapTerm: number;
  readonly entries: readonly Entry[];
  readonly term: number;
  readonly vote: number;
  readonly commit: number;
  /** The commit index in the newest synced WAL batch (a commit-only change is not synced). */
  readonly durableCommit: number;
}

const INITIAL: Model = { snapIndex: 0, snapTerm: 0, entries: [], term: 0, vote: 0, commit: 0, durableCommit: 0 };

function lastOf(m: Model): number {
  return m.entries[m.entries.length - 1]?.index ?? m.snapIndex;
}

function makeEntries(from: number, count: number, t: number, prng: Prng): Entry[] {
  const out: Entry[] = [];
  for (let i = 0; i < count; i++) {
    const data = new Uint8Array(prng.int(600)).fill(prng.int(256));
    out.push({ index: logIndex(from + i), term: term(t), type: 0, data });
  }
  return out;
}

/** One random operation, applied to the log; returns the model after it succeeds. */
async function step(log: RaftLog, m: Model, prng: Prng): Promise<Model> {
  const last = lastOf(m);
  const kind = prng.int(10);
  if (kind < 4 || last === m.snapIndex) {
    const es = makeEntries(last + 1, prng.range(1, 8), m.term === 0 ? 1 : m.term, prng);
    const t = Math.max(m.term, 1);
    const commit = prng.range(m.commit, last);
    await log.save({ hardState: hardState(t, m.vote === 0 ? 1 : m.vote, commit), entries: es });
    return { ...m, entries: [...m.entries, ...es], term: t, vote: m.vote === 0 ? 1 : m.vote, commit, durableCommit: commit };
  }
  if (kind < 6) {
    // A new leader overwrites the uncommitted suffix.
    const from = prng.range(Math.max(m.commit, m.snapIndex) + 1, last + 1);
    const t = m.term + 1;
    const es = makeEntries(from, prng.range(1, 4), t, prng);
    const vote = prng.range(1, 3);
    await log.save({ hardState: hardState(t, vote, m.commit), entries: es });
    const kept = m.entries.filter((e) => e.index < from);
    return { ...m, entries: [...kept, ...es], term: t, vote, durableCommit: m.commit };
  }
  if (kind === 6) {
    const commit = prng.range(m.commit, last);
    await log.save({ hardState: hardState(m.term, m.vote, commit), entries: [] });
    return { ...m, commit };
  }
  if (kind === 7 && m.commit > m.snapIndex) {
    const index = prng.range(m.snapIndex + 1, m.commit);
    const t = (m.entries.find((e) => e.index === index) as Entry).term;
    await log.saveSnapshot({ metadata: { index: logIndex(index), term: term(t), confState: voters(1, 2, 3) }, data: new Uint8Array([index & 0xff]) });
    return { ...m, snapIndex: index, snapTerm: t, entries: m.entries.filter((e) => e.index > index), durableCommit: m.commit };
  }
  if (kind === 8) {
    await log.compact(logIndex(m.snapIndex));
    return m;
  }
  // A snapshot from the leader, beyond everything this member has.
  const index = last + prng.range(1, 20);
  const t = m.term + 1;
  const es = makeEntries(index + 1, prng.range(0, 3), t, prng);
  const snapshot = { metadata: { index: logIndex(index), term: term(t), confState: voters(1, 2, 3) }, data: new Uint8Array(300).fill(7) };
  await log.save({ hardState: hardState(t, 2, index), entries: es, snapshot });
  return { snapIndex: index, snapTerm: t, entries: es, term: t, vote: 2, commit: index, durableCommit: index };
}

/** Runs the scenario until it ends or the machine crashes; returns the models after each acknowledged step. */
async function runScenario(fs: SimFileSystem, seed: number): Promise<{ models: Model[]; log: RaftLog | null }> {
  const prng = new Prng(seed);
  const models: Model[] = [INITIAL];
  let log: RaftLog | null = null;
  try {
    log = await RaftLog.open(fs, DIR, OPTIONS);
    for (let i = 0; i < SCENARIO_STEPS; i++) models.push(await step(log, models[models.length - 1] as Model, prng));
  } catch (e) {
    if (!fs.crashed) throw e;
  }
  return { models, log };
}

function describe(log: RaftLog): string {
  const s = log.storage;
  return `snapshot ${log.snapshot.metadata.index}, entries ${s.firstIndex()}..${s.lastIndex()}, hard state ${JSON.stringify(log.hardState)}`;
}

/** Why the recovered log differs from the model, or null if it matches. */
function mismatch(log: RaftLog, m: Model): string | null {
  const s = log.storage;
  if (log.snapshot.metadata.index !== m.snapIndex || log.snapshot.metadata.term !== m.snapTerm) return `snapshot ${m.snapIndex}@${m.snapTerm}`;
  if (s.firstIndex() !== m.snapIndex + 1 || s.lastIndex() !== lastOf(m)) return `entries ${m.snapIndex + 1}..${lastOf(m)}`;
  const hs = log.hardState;
  if (hs.term !== m.term || hs.vote !== m.vote) return `term ${m.term} vote ${m.vote}`;
  if (hs.commit !== Math.max(m.durableCommit, m.snapIndex)) return `commit ${Math.max(m.durableCommit, m.snapIndex)}`;
  const got = m.entries.length === 0 ? [] : s.entries(logIndex(m.snapIndex + 1), logIndex(lastOf(m) + 1), Number.MAX_SAFE_INTEGER);
  if (!Array.isArray(got)) return `entries unreadable: ${String(got)}`;
  for (let i = 0; i < m.entries.length; i++) {
    const want = m.entries[i] as Entry;
    const have = got[i];
    if (have === undefined || have.term !== want.term || Buffer.compare(have.data, want.data) !== 0) return `entry ${want.index}`;
  }
  return null;
}

/** A machine with the parent of the data directory in place (the member's caller provides it). */
async function machine(seed: number): Promise<SimFileSystem> {
  const fs = new SimFileSystem(new Prng(seed));
  await fs.mkdir('/data');
  await fs.syncDir('/');
  return fs;
}

async function checkCrashPoint(seed: number, crashAt: number, torn: boolean): Promise<void> {
  const fs = await machine(seed ^ crashAt);
  fs.faults.tornWrites = torn;
  fs.crashAt(fs.opCount + crashAt);
  const { models, log } = await runScenario(fs, seed);
  if (!fs.crashed) fs.crash(); // the point after the last operation
  await log?.close().catch(() => undefined);
  fs.restart();
  const where = `seed ${seed}, crash before op ${crashAt}${torn ? ' with torn writes' : ''}`;
  const recovered = await RaftLog.open(fs, DIR, OPTIONS).catch((e: unknown) => {
    assert.fail(`${where}: recovery failed: ${String(e)}`);
  });
  const acked = models[models.length - 1] as Model;
  const candidates = [acked];
  // The operation in flight may have become durable, but only as a whole.
  const next = await nextModel(seed, models.length - 1);
  if (next !== null) candidates.push(next);
  const problems = candidates.map((m) => mismatch(recovered, m));
  if (problems.every((p) => p !== null)) {
    assert.fail(`${where}: recovered ${describe(recovered)}; expected ${problems.join(' or ')} (after ${models.length - 1} acknowledged steps)`);
  }
  // The log goes on: one more batch, another power cut, and it is there.
  const last = recovered.storage.lastIndex();
  const hs = recovered.hardState;
  await recovered.save({ hardState: hardState(hs.term + 1, 3, hs.commit), entries: [{ index: logIndex(last + 1), term: term(hs.term + 1), type: 0, data: new Uint8Array(5) }] });
  fs.crash();
  await recovered.close().catch(() => undefined);
  fs.restart();
  const again = await RaftLog.open(fs, DIR, OPTIONS);
  assert.equal(again.storage.lastIndex(), last + 1, `${where}: the batch after recovery was lost`);
  assert.equal(again.hardState.vote, nodeId(3));
  await again.close();
}

const modelCache = new Map<number, Model[]>();

/** The model after `acked + 1` steps of the uncrashed scenario, or null if there is no such step. */
async function nextModel(seed: number, acked: number): Promise<Model | null> {
  let models = modelCache.get(seed);
  if (models === undefined) {
    models = (await runScenario(await machine(seed), seed)).models;
    modelCache.set(seed, models);
  }
  return models[acked + 1] ?? null;
}

test('after a crash at any write or sync point, nothing acknowledged is lost and the log is consistent', async (t) => {
  const base = testSeed((l) => t.diagnostic(l));
  let points = 0;
  for (let s = 0; s < SEEDS_PER_RUN; s++) {
    const seed = (base + s) >>> 0;
    const counter = await machine(seed);
    const setupOps = counter.opCount;
    const { log, models } = await runScenario(counter, seed);
    const segments = (await counter.readdir(`${DIR}/wal`)).filter((n) => n.endsWith('.wal')).length;
    t.diagnostic(`seed ${seed}: ${models.length - 1} steps, ${log?.stats.segmentsCut ?? 0} segments cut, ${segments} left`);
    await log?.close();
    const total = counter.opCount - setupOps;
    const torn = new Prng(seed);
    for (let crashAt = 0; crashAt <= total; crashAt++) {
      await checkCrashPoint(seed, crashAt, torn.chance(0.5));
      points++;
    }
  }
  t.diagnostic(`${points} crash points checked`);
});
