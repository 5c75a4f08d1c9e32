// `npm run bench:multidc`: a three-DC cluster on loopback with emulated WAN round trips, Meridian (5 voters via
// --emulate-wan, plus a learner in ap-south) against etcd 3.4 (5 voters, peer links through bench/delay_proxy.ts),
// leader in us-east; per DC p50/p99 of writes and of every read path, the time to elect after us-east goes dark,
// and the time for leadership to return to us-east, side by side with the Meridian/etcd ratios.
// Run: node dist/bench/multidc_bench.js [--seconds N] [--trials N] [--only etcd|meridian] [--rtt MATRIX]

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { etcdMethod } from '../src/wire/etcd_proto.js';
import { freePorts } from '../src/server/process_cluster.js';
import { formatRttMatrix, pairLink, parseRttMatrix, type RttMatrix } from '../src/server/wan_emulation.js';
import { percentile } from './etcd_load.js';
import { DelayProxy, type LinkDelay } from './delay_proxy.js';
import { pollUntil } from '../src/util/poll.js';

const DEFAULT_RTT = 'us-east:eu-west=80ms,us-east:ap-south=200ms,eu-west:ap-south=150ms';
const DCS = ['us-east', 'eu-west', 'ap-south'] as const;
/** Voters in start order (one per DC first), then Meridian's learner. */
const VOTER_DCS = ['us-east', 'eu-west', 'ap-south', 'us-east', 'eu-west'] as const;
const LEARNER_DC = 'ap-south';
const PREFERRED_DC = 'us-east';
const ETCD_BINARY = '/usr/bin/etcd';
const MERIDIAN_CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
/** Raft timing for both sides, etcd's defaults (heartbeat ≈ the largest one-way delay, election 10×). */
const HEARTBEAT_MS = 100;
const ELECTION_MS = 1000;
const DEFAULT_SECONDS = 3;
const DEFAULT_TRIALS = 3;
/** Requests per row whose latency is discarded (connection set-up, first forwards). */
const WARMUP_REQUESTS = 5;
/** Every row gets at least this many samples (slow rows run longer), within MAX_ROW_FACTOR × --seconds. */
const MIN_SAMPLES = 20;
const MAX_ROW_FACTOR = 4;
const REQUEST_DEADLINE_MS = 10_000;
const READY_TIMEOUT_MS = 60_000;
const POLL_MS = 20;
/** Bound of one election or leadership-return measurement. */
const ELECTION_WAIT_MS = 30_000;
/** The staleness bound the bounded-staleness rows ask for. */
const MAX_STALENESS_MS = 5_000;
const VALUE = Buffer.alloc(256, 0x61);
const STOP_GRACE_MS = 5_000;

type Side = 'etcd' | 'meridian';

interface BenchMember {
  readonly name: string;
  readonly dc: string;
  readonly learner: boolean;
  readonly clientPort: number;
  child: ChildProcess | null;
  readonly logPath: string;
}

interface Cluster {
  readonly side: Side;
  readonly members: BenchMember[];
  readonly proxies: DelayProxy[];
  readonly dir: string;
  /** Decimal member id (as the API reports it) by member name. */
  readonly ids: Map<string, string>;
  readonly leaderPreference: boolean;
}

/** One measured row: latencies in ms, or why it was not measured. */
type RowResult = { readonly p50: number; readonly p99: number; readonly n: number; readonly paths: string } | { readonly skipped: string };

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

// -------------------------------------------------------------------------------------------------------------
// gRPC helpers

const clients = new Map<number, grpc.Client>();
function clientFor(port: number): grpc.Client {
  let c = clients.get(port);
  if (c === undefined) {
    c = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    clients.set(port, c);
  }
  return c;
}

function closeClients(): void {
  for (const c of clients.values()) c.close();
  clients.clear();
}

function call(port: number, service: 'kv' | 'maintenance' | 'cluster', method: string, req: object, md = new grpc.Metadata()): Promise<{ res: Record<string, unknown>; md: grpc.Metadata }> {
  const m = etcdMethod(service, method);
  return new Promise((resolve, reject) => {
    let responseMd = new grpc.Metadata();
    const c = clientFor(port).makeUnaryRequest(m.path, m.requestSerialize, m.responseDeserialize, req, md, { deadline: Date.now() + REQUEST_DEADLINE_MS }, (err, value) => {
      if (err !== null) reject(err);
      else resolve({ res: (value ?? {}) as Record<string, unknown>, md: responseMd });
    });
    c.on('metadata', (x: grpc.Metadata) => {
      responseMd = x;
    });
  });
}

async function leaderOf(port: number): Promise<string> {
  const { res } = await call(port, 'maintenance', 'Status', {});
  return String(res['leader'] ?? '0');
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const until = <T>(what: string, ms: number, fn: () => Promise<T | undefined>): Promise<T> => pollUntil(what, fn, { timeoutMs: ms, intervalMs: POLL_MS });

// -------------------------------------------------------------------------------------------------------------
// Starting the two clusters

function spawnMember(m: BenchMember, executable: string, args: readonly string[]): void {
  const log = openSync(m.logPath, 'a');
  try {
    m.child = spawn(executable, [...args], { stdio: ['ignore', log, log] });
  } finally {
    closeSync(log);
  }
  children.add(m.child);
  m.child.once('exit', () => {
    if (m.child !== null) children.delete(m.child);
  });
}

function memberFlags(m: BenchMember, dir: string, listenPeer: number, advertisePeer: number, initialCluster: string, token: string, state: 'new' | 'existing'): string[] {
  return [
    '--name', m.name, '--data-dir', join(dir, `${m.name}.data`),
    '--listen-client-urls', `http://127.0.0.1:${m.clientPort}`, '--advertise-client-urls', `http://127.0.0.1:${m.clientPort}`,
    '--listen-peer-urls', `http://127.0.0.1:${listenPeer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${advertisePeer}`,
    '--initial-cluster', initialCluster, '--initial-cluster-state', state, '--initial-cluster-token', token,
    '--heartbeat-interval', String(HEARTBEAT_MS), '--election-timeout', String(ELECTION_MS),
  ];
}

/** Whether this build's server has the leader-affinity flag (it comes with the placement work). */
function meridianHasLeaderPreference(): boolean {
  const help = execFileSync(process.execPath, [MERIDIAN_CLI, 'server', '--help'], { encoding: 'utf8' });
  return help.includes('--leader-preference');
}

/** etcd's member id: the first 8 bytes (big-endian) of sha1(sorted peer URLs joined, then the token). */
function etcdMemberId(peerUrl: string, token: string): bigint {
  return createHash('sha1').update(peerUrl + token).digest().readBigUInt64BE(0);
}

async function startMeridian(matrix: RttMatrix, dir: string): Promise<Cluster> {
  const ports = await freePorts(2 * (VOTER_DCS.length + 1), 2);
  const members: BenchMember[] = [...VOTER_DCS, LEARNER_DC].map((dc, i) => ({
    name: `n${i + 1}`, dc, learner: i === VOTER_DCS.length, clientPort: ports[2 * i] as number, child: null, logPath: join(dir, `n${i + 1}.log`),
  }));
  const peer = (i: number): number => ports[2 * i + 1] as number;
  const token = `mdc-meridian-${process.pid}`;
  const pref = meridianHasLeaderPreference();
  const extra = (m: BenchMember): string[] => ['--dc', m.dc, '--emulate-wan', formatRttMatrix(matrix), '--log-level', 'warn',
    ...(pref ? ['--leader-preference', [PREFERRED_DC, ...DCS.filter((d) => d !== PREFERRED_DC)].join(',')] : [])];
  const voters = members.filter((m) => !m.learner);
  const initial = voters.map((m, i) => `${m.name}=http://127.0.0.1:${peer(i)}`).join(',');
  for (const [i, m] of voters.entries()) spawnMember(m, process.execPath, [MERIDIAN_CLI, 'server', ...memberFlags(m, dir, peer(i), peer(i), initial, token, 'new'), ...extra(m)]);
  const cluster: Cluster = { side: 'meridian', members, proxies: [], dir, ids: new Map(), leaderPreference: pref };
  await waitReady(cluster, voters);
  // The emulation starts once every member published its DC (the peer's DC comes from the member list).
  await until('every voter to publish its DC', READY_TIMEOUT_MS, async () => {
    const { res } = await call(voters[0]?.clientPort ?? 0, 'cluster', 'MemberList', {});
    const list = res['members'] as { clientURLs: string[] }[];
    return list.length === voters.length && list.every((x) => x.clientURLs.length > 0) ? true : undefined;
  });
  const learner = members[VOTER_DCS.length] as BenchMember;
  const learnerPeer = peer(VOTER_DCS.length);
  await until('the learner added', READY_TIMEOUT_MS, () => call(voters[0]?.clientPort ?? 0, 'cluster', 'MemberAdd', { peerURLs: [`http://127.0.0.1:${learnerPeer}`], isLearner: true }).then(() => true));
  spawnMember(learner, process.execPath, [MERIDIAN_CLI, 'server', ...memberFlags(learner, dir, learnerPeer, learnerPeer, `${initial},${learner.name}=http://127.0.0.1:${learnerPeer}`, token, 'existing'), ...extra(learner)]);
  await until('the learner to serve reads', READY_TIMEOUT_MS, () => call(learner.clientPort, 'kv', 'Range', { key: Buffer.from('bench/ready'), serializable: true }).then(() => true));
  await recordIds(cluster);
  return cluster;
}

async function startEtcd(matrix: RttMatrix, dir: string): Promise<Cluster> {
  const ports = await freePorts(2 * VOTER_DCS.length);
  const members: BenchMember[] = VOTER_DCS.map((dc, i) => ({
    name: `n${i + 1}`, dc, learner: false, clientPort: ports[2 * i] as number, child: null, logPath: join(dir, `n${i + 1}.log`),
  }));
  const token = `mdc-etcd-${process.pid}`;
  // Each member's advertised peer URL is its proxy; the proxy tells senders apart by etcd's X-Server-From header.
  const dcById = new Map<string, string>();
  const proxies: DelayProxy[] = [];
  for (const [i, m] of members.entries()) {
    const proxy = await DelayProxy.start({
      listenHost: '127.0.0.1', listenPort: 0, targetHost: '127.0.0.1', targetPort: ports[2 * i + 1] as number,
      delayFor: (chunk) => etcdLinkDelay(chunk, m.dc, dcById, matrix),
    });
    proxies.push(proxy);
  }
  const advertised = (i: number): string => `http://127.0.0.1:${proxies[i]?.port ?? 0}`;
  for (const [i, m] of members.entries()) dcById.set(etcdMemberId(advertised(i), token).toString(16), m.dc);
  const initial = members.map((m, i) => `${m.name}=${advertised(i)}`).join(',');
  for (const [i, m] of members.entries()) {
    spawnMember(m, ETCD_BINARY, memberFlags(m, dir, ports[2 * i + 1] as number, proxies[i]?.port ?? 0, initial, token, 'new'));
  }
  const cluster: Cluster = { side: 'etcd', members, proxies, dir, ids: new Map(), leaderPreference: false };
  await waitReady(cluster, members);
  await recordIds(cluster);
  for (const [name, id] of cluster.ids) {
    const dc = dcById.get(BigInt(id).toString(16));
    if (dc === undefined) throw new Error(`etcd member ${name} has id ${BigInt(id).toString(16)}, not the one the proxies expect: the WAN emulation would not apply`);
  }
  return cluster;
}

/** The delay of one etcd peer connection from the sender named in its first HTTP request; null if none is named. */
function etcdLinkDelay(chunk: Buffer, toDc: string, dcById: ReadonlyMap<string, string>, matrix: RttMatrix): LinkDelay | null {
  const m = /\r\nX-Server-From: ([0-9a-f]+)\r\n/i.exec(chunk.toString('latin1'));
  const fromDc = m === null ? undefined : dcById.get(m[1] as string);
  if (fromDc === undefined) return null;
  const half = (pairLink(matrix, fromDc, toDc)?.rttMs ?? 0) / 2;
  return { forwardMs: half, backwardMs: half, tags: [fromDc, toDc] };
}

async function waitReady(c: Cluster, members: readonly BenchMember[]): Promise<void> {
  try {
    await until(`${c.side}: a linearizable read on every voter`, READY_TIMEOUT_MS, async () => {
      await Promise.all(members.map((m) => call(m.clientPort, 'kv', 'Range', { key: Buffer.from('bench/ready') })));
      return true;
    });
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${logTails(c)}`, { cause: err });
  }
}

async function recordIds(c: Cluster): Promise<void> {
  const { res } = await call(c.members[0]?.clientPort ?? 0, 'cluster', 'MemberList', {});
  for (const x of res['members'] as { ID: string; clientURLs: string[]; name: string }[]) {
    const m = c.members.find((y) => x.clientURLs.some((u) => u.endsWith(`:${y.clientPort}`)));
    if (m !== undefined) c.ids.set(m.name, x.ID);
  }
}

function logTails(c: Cluster): string {
  return c.members.map((m) => {
    let text: string;
    try {
      text = readFileSync(m.logPath, 'utf8').split('\n').slice(-15).join('\n');
    } catch {
      text = '(no log)';
    }
    return `--- ${c.side} ${m.name}\n${text}`;
  }).join('\n');
}

async function stopCluster(c: Cluster): Promise<void> {
  closeClients();
  await Promise.all(c.members.map((m) => {
    const child = m.child;
    if (child === null || child.exitCode !== null) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const t = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      child.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      child.kill('SIGCONT');
      child.kill('SIGTERM');
    });
  }));
  await Promise.all(c.proxies.map((p) => p.close()));
  rmSync(c.dir, { recursive: true, force: true });
}

// -------------------------------------------------------------------------------------------------------------
// Measurements

const byName = (c: Cluster, name: string): BenchMember => c.members.find((m) => m.name === name) as BenchMember;
const inDc = (c: Cluster, dc: string): BenchMember => c.members.find((m) => m.dc === dc && !m.learner) as BenchMember;

async function statusOf(port: number): Promise<{ leader: string; term: number }> {
  const { res } = await call(port, 'maintenance', 'Status', {});
  return { leader: String(res['leader'] ?? '0'), term: Number(res['raftTerm'] ?? 0) };
}

/**
 * Moves leadership to the first us-east voter (MoveLeader goes to the current leader), until every voter agrees:
 * a member just resumed from SIGSTOP still believes in its old term until it hears the new one.
 */
async function leaderToPreferred(c: Cluster): Promise<void> {
  const target = c.ids.get(inDc(c, PREFERRED_DC).name) as string;
  const voters = c.members.filter((m) => !m.learner);
  await until(`${c.side}: the leader in ${PREFERRED_DC}`, ELECTION_WAIT_MS, async () => {
    const views = await Promise.all(voters.map((m) => statusOf(m.clientPort)));
    if (views.every((v) => v.leader === target)) return true;
    const top = views.reduce((a, b) => (b.term > a.term ? b : a));
    const leader = c.members.find((m) => c.ids.get(m.name) === top.leader);
    if (leader !== undefined) await call(leader.clientPort, 'maintenance', 'MoveLeader', { targetID: target }).catch(() => undefined);
    await sleep(ELECTION_MS / 2);
    return undefined;
  });
}

type Op = (seq: number) => Promise<string | null>;

/** Runs `op` back to back for `seconds` (at least MIN_SAMPLES, at most MAX_ROW_FACTOR × seconds); p50/p99 in ms. */
async function measure(op: Op, seconds: number): Promise<RowResult> {
  const samples: number[] = [];
  const paths = new Map<string, number>();
  const start = performance.now();
  const hardStop = start + MAX_ROW_FACTOR * seconds * 1000;
  for (let seq = 0; ; seq++) {
    const now = performance.now();
    if (now >= hardStop || (now - start >= seconds * 1000 && samples.length >= MIN_SAMPLES)) break;
    const t0 = performance.now();
    const path = await op(seq);
    const took = performance.now() - t0;
    if (seq < WARMUP_REQUESTS) continue;
    samples.push(took);
    if (path !== null) paths.set(path, (paths.get(path) ?? 0) + 1);
  }
  const sorted = Float64Array.from(samples).sort();
  const pathText = [...paths].map(([p, n]) => `${p} ${Math.round((100 * n) / samples.length)}%`).join(', ');
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), n: samples.length, paths: pathText };
}

function readMetadata(consistency: string): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('meridian-read-consistency', consistency);
  if (consistency === 'bounded') md.set('meridian-max-staleness-ms', String(MAX_STALENESS_MS));
  return md;
}

function readOp(port: number, serializable: boolean, consistency: string | null): Op {
  return async (seq) => {
    const md = consistency === null ? new grpc.Metadata() : readMetadata(consistency);
    const { md: res } = await call(port, 'kv', 'Range', { key: Buffer.from(`bench/mdc/${seq % 100}`), serializable }, md);
    const path = res.get('meridian-read-path')[0];
    return path === undefined ? null : String(path);
  };
}

function writeOp(port: number, dc: string): Op {
  return async (seq) => {
    await call(port, 'kv', 'Put', { key: Buffer.from(`bench/mdc/${dc}/${seq % 100}`), value: VALUE });
    return null;
  };
}

/** Whether Meridian answers a Range with `meridian-read-path` (the read-path work); probed once per run. */
async function servesReadPaths(port: number): Promise<boolean> {
  const { md } = await call(port, 'kv', 'Range', { key: Buffer.from('bench/probe'), serializable: true }, readMetadata('bounded'));
  return md.get('meridian-read-path').length > 0;
}

async function measureReads(c: Cluster, seconds: number, results: Map<string, RowResult>): Promise<void> {
  const readPaths = c.side === 'meridian' && await servesReadPaths(inDc(c, PREFERRED_DC).clientPort);
  for (const dc of DCS) {
    const m = inDc(c, dc);
    results.set(`write|${dc}`, await measure(writeOp(m.clientPort, dc), seconds));
    results.set(`linearizable (voter)|${dc}`, await measure(readOp(m.clientPort, false, c.side === 'meridian' && readPaths ? 'linearizable' : null), seconds));
    results.set(`serializable|${dc}`, await measure(readOp(m.clientPort, true, null), seconds));
    if (c.side === 'etcd') results.set(`bounded staleness|${dc}`, { skipped: 'not served (etcd has no bounded-staleness reads)' });
    else if (!readPaths) results.set(`bounded staleness|${dc}`, { skipped: 'not served (server lacks read paths)' });
    else results.set(`bounded staleness|${dc}`, await measure(readOp(m.clientPort, true, 'bounded'), seconds));
  }
  for (const dc of DCS) {
    const learner = c.members.find((m) => m.learner && m.dc === dc);
    if (c.side === 'etcd') results.set(`linearizable (learner)|${dc}`, { skipped: dc === LEARNER_DC ? 'not served (etcd 3.4 learners refuse linearizable reads)' : 'no learner here' });
    else if (learner === undefined) results.set(`linearizable (learner)|${dc}`, { skipped: 'no learner here' });
    else results.set(`linearizable (learner)|${dc}`, await measure(readOp(learner.clientPort, false, readPaths ? 'linearizable' : null), seconds));
  }
}

/** SIGSTOPs every us-east member (the DC goes dark), times the election elsewhere, then the return after SIGCONT. */
async function measureFailover(c: Cluster, trials: number, results: Map<string, RowResult>): Promise<void> {
  const elect: number[] = [];
  const back: number[] = [];
  const dark = c.members.filter((m) => m.dc === PREFERRED_DC);
  const others = c.members.filter((m) => m.dc !== PREFERRED_DC && !m.learner);
  const darkIds = new Set(dark.map((m) => c.ids.get(m.name)));
  for (let t = 0; t < trials; t++) {
    await leaderToPreferred(c);
    const termBefore = (await statusOf(inDc(c, PREFERRED_DC).clientPort)).term;
    const t0 = performance.now();
    for (const m of dark) m.child?.kill('SIGSTOP');
    try {
      // A leader of a later term outside the dark DC, as its own status says.
      await until(`${c.side}: a leader outside ${PREFERRED_DC}`, ELECTION_WAIT_MS, async () => {
        const views = await Promise.all(others.map((m) => statusOf(m.clientPort).then((v) => ({ ...v, self: c.ids.get(m.name) })).catch(() => null)));
        return views.some((v) => v !== null && v.term > termBefore && v.leader === v.self) ? true : undefined;
      });
      elect.push(performance.now() - t0);
    } finally {
      for (const m of dark) m.child?.kill('SIGCONT');
    }
    if (c.leaderPreference) {
      const t1 = performance.now();
      await until(`${c.side}: leadership back in ${PREFERRED_DC}`, ELECTION_WAIT_MS, async () => (darkIds.has(await leaderOf(others[0]?.clientPort ?? 0)) ? true : undefined));
      back.push(performance.now() - t1);
    }
  }
  const summary = (xs: number[]): RowResult => {
    const sorted = Float64Array.from(xs).sort();
    return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), n: xs.length, paths: '' };
  };
  results.set(`elect after ${PREFERRED_DC} is cut off|all`, summary(elect));
  results.set(`leadership back to ${PREFERRED_DC}|all`, c.side === 'etcd' ? { skipped: 'not applicable (etcd has no leader preference)' }
    : c.leaderPreference ? summary(back) : { skipped: 'not measured (server lacks --leader-preference)' });
}

// -------------------------------------------------------------------------------------------------------------
// Report

function cell(r: RowResult | undefined): string {
  if (r === undefined) return '(not run)';
  if ('skipped' in r) return r.skipped;
  return `${r.p50.toFixed(1)} / ${r.p99.toFixed(1)}  (n=${r.n})`;
}

function ratio(m: RowResult | undefined, e: RowResult | undefined): string {
  if (m === undefined || e === undefined || 'skipped' in m || 'skipped' in e || e.p50 <= 0) return '-';
  return `${(m.p50 / e.p50).toFixed(2)} / ${(m.p99 / e.p99).toFixed(2)}`;
}

function printReport(results: ReadonlyMap<Side, Map<string, RowResult>>): void {
  const keys = [...new Set([...results.values()].flatMap((r) => [...r.keys()]))];
  const rows = [['metric', 'DC', 'etcd p50 / p99 ms', 'Meridian p50 / p99 ms', 'ratio M/etcd p50 / p99', 'Meridian read path']];
  for (const key of keys) {
    const [metric, dc] = key.split('|') as [string, string];
    const e = results.get('etcd')?.get(key);
    const m = results.get('meridian')?.get(key);
    rows.push([metric, dc, cell(e), cell(m), ratio(m, e), m !== undefined && !('skipped' in m) ? m.paths : '']);
  }
  const widths = (rows[0] ?? []).map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const r of rows) console.log(r.map((x, i) => x.padEnd(widths[i] ?? 0)).join('  ').trimEnd());
}

// -------------------------------------------------------------------------------------------------------------

async function runSide(side: Side, matrix: RttMatrix, seconds: number, trials: number): Promise<Map<string, RowResult>> {
  const dir = mkdtempSync(join(tmpdir(), `mdc-bench-${side}-`));
  const results = new Map<string, RowResult>();
  console.log(`\n${side}: starting 5 voters${side === 'meridian' ? ' and a learner' : ''} in ${DCS.join(', ')} (data in ${dir})`);
  const startedAt = performance.now();
  const c = side === 'etcd' ? await startEtcd(matrix, dir) : await startMeridian(matrix, dir);
  try {
    console.log(`${side}: ready in ${((performance.now() - startedAt) / 1000).toFixed(1)} s${side === 'meridian' && !c.leaderPreference ? '; this server has no --leader-preference' : ''}`);
    await leaderToPreferred(c);
    await measureReads(c, seconds, results);
    const lead = await leaderOf(inDc(c, PREFERRED_DC).clientPort);
    const leaderName = [...c.ids].find(([, id]) => id === lead)?.[0] ?? '?';
    console.log(`${side}: leader after the latency rows: ${leaderName} (${leaderName === '?' ? '?' : byName(c, leaderName).dc})`);
    await measureFailover(c, trials, results);
    if (side === 'etcd') {
      const classified = c.proxies.reduce((n, p) => n + p.classified, 0);
      const unclassified = c.proxies.reduce((n, p) => n + p.unclassified, 0);
      console.log(`etcd: proxied peer connections: ${classified} delayed by sender DC, ${unclassified} without X-Server-From (undelayed: probes, version checks)`);
    }
  } catch (err) {
    console.error(`${side}: ${(err as Error).message}\n${logTails(c)}`);
    throw err;
  } finally {
    await stopCluster(c);
  }
  return results;
}

async function main(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv], strict: true,
    options: { seconds: { type: 'string' }, trials: { type: 'string' }, only: { type: 'string' }, rtt: { type: 'string' }, help: { type: 'boolean' } },
  });
  if (values.help === true) {
    console.log('Usage: node dist/bench/multidc_bench.js [--seconds N (per row, default 3)] [--trials N (failovers, default 3)] [--only etcd|meridian] [--rtt MATRIX]');
    return 0;
  }
  const seconds = Number(values.seconds ?? DEFAULT_SECONDS);
  const trials = Number(values.trials ?? DEFAULT_TRIALS);
  if (!(seconds > 0) || !Number.isInteger(trials) || trials < 1) {
    console.error('--seconds must be > 0 and --trials a whole number >= 1');
    return 2;
  }
  const matrix = parseRttMatrix(values.rtt ?? DEFAULT_RTT);
  const sides: Side[] = values.only === undefined ? ['etcd', 'meridian'] : [values.only as Side];
  if (!sides.every((s) => s === 'etcd' || s === 'meridian')) {
    console.error('--only must be etcd or meridian');
    return 2;
  }
  if (sides.includes('etcd') && !existsSync(ETCD_BINARY)) {
    console.error(`${ETCD_BINARY} is missing (Debian's etcd-server 3.4)`);
    return 2;
  }
  console.log(`multi-DC benchmark: round trips ${formatRttMatrix(matrix)}; voters ${VOTER_DCS.join(', ')}; leader placed in ${PREFERRED_DC}; ${seconds} s per row, ${trials} failover trials`);
  const results = new Map<Side, Map<string, RowResult>>();
  for (const side of sides) results.set(side, await runSide(side, matrix, seconds, trials));
  console.log('');
  printReport(results);
  console.log(`\nTargets: writes from ${PREFERRED_DC} ≈ one round trip to the nearest other DC (${pairLink(matrix, 'us-east', 'eu-west')?.rttMs ?? '?'} ms) + one fsync;`);
  console.log('serializable and bounded-staleness reads < 2 ms in every DC; a linearizable read from a remote DC ≈ one round trip to the leader.');
  return 0;
}

process.exitCode = await main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(`multidc bench failed: ${err instanceof Error ? err.message : String(err)}`);
  return 1;
});
closeClients();
for (const c of children) c.kill('SIGKILL');
