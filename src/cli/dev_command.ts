// `meridian dev`: a local multi-DC cluster in one command: members labelled by DC, peer links delayed by an
// emulated round-trip matrix, the first three members on etcd's Procfile ports; Ctrl-C stops them all.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Etcd3 } from 'etcd3';
import { checkDcName, formatRttMatrix, missingPairs, parseRttMatrix, WanEmulationSyntaxError, type RttMatrix } from '../server/wan_emulation.js';
import { helpText, parseFlags, splitList, UsageError, type FlagSpecs } from './flags.js';
import { SERVER_FLAGS, ZK_PORT_BELOW_CLIENT } from './server_command.js';

/** `npm start`'s cluster: three DCs, one member of each on the Procfile ports 2379/22379/32379 first. */
export const DEFAULT_TOPOLOGY = 'us-east=2,eu-west=2,ap-south=1';
export const DEFAULT_RTT = 'us-east:eu-west=80ms,us-east:ap-south=200ms,eu-west:ap-south=150ms';

export const DEV_FLAGS: FlagSpecs = {
  'topology': { kind: 'string', default: DEFAULT_TOPOLOGY, help: 'DCs and members: NAME=VOTERS[:LEARNERS],... (first DC is the preferred leader DC)' },
  'rtt': { kind: 'string', default: DEFAULT_RTT, help: "emulated round trips: A:B=RTT[/JITTER][/LOSS%],... ('none' for plain loopback)" },
  'base-dir': { kind: 'string', default: '.meridian-dev', help: 'where the members keep their data directories' },
  'client-port': { kind: 'int', default: '2379', help: "first member's client port; then +20000, +30000, ... (HTTP status on client port + 2)" },
  'peer-port': { kind: 'int', default: '2380', help: "first member's peer port; then +20000, +30000, ..." },
  'log-level': { kind: 'string', default: 'info', help: 'members\' log level' },
  'help': { kind: 'bool', default: 'false', help: 'print this help' },
};

/** Members at most, voters and learners (ports: six on the Procfile layout, then base + 100, + 200, ...). */
export const DEV_MEMBERS_MAX = 9;
/** Procfile-layout members (2379, 22379, ..., 62379); later ones step by DEV_PORT_STEP_LATE. */
const DEV_PROCFILE_MEMBERS = 6;
const DEV_PORT_STEP_LATE = 100;
/** Voters at most (a Raft group beyond 7 voters only slows commits). */
const DEV_VOTERS_MAX = 7;
/** How long members get to stop after SIGTERM before they are killed. */
const DEV_STOP_TIMEOUT_MS = 10_000;
/** Bound of the wait for a leader that accepts a learner's MemberAdd. */
const DEV_LEARNER_ADD_TIMEOUT_MS = 60_000;
const DEV_LEARNER_ADD_RETRY_MS = 500;
/** The server flag (from the leader-affinity work) that names the preferred leader DCs, in order. */
export const LEADER_PREFERENCE_FLAG = 'leader-preference';

/** One DC of a dev topology: its voters and learners. */
export interface DevDc {
  readonly dc: string;
  readonly voters: number;
  readonly learners: number;
}

/** One member `meridian dev` starts. */
export interface DevMember {
  readonly name: string;
  readonly dc: string;
  readonly learner: boolean;
  readonly clientPort: number;
  readonly peerPort: number;
}

/** Ports by member index: etcd's Procfile layout (2379, 22379, 32379, ...), then base + 100, + 200, ... */
export function devPort(base: number, i: number): number {
  if (i === 0) return base;
  if (i < DEV_PROCFILE_MEMBERS) return base + (i + 1) * 10_000;
  return base + (i - DEV_PROCFILE_MEMBERS + 1) * DEV_PORT_STEP_LATE;
}

/** Parses `us-east=2,eu-west=2:1,ap-south=1` (NAME=VOTERS[:LEARNERS]). */
export function parseTopology(text: string): DevDc[] {
  const dcs: DevDc[] = [];
  for (const part of splitList(text)) {
    const m = /^([^=]+)=(\d+)(?::(\d+))?$/.exec(part);
    if (m === null) throw new UsageError(`--topology: "${part}" is not NAME=VOTERS[:LEARNERS] (e.g. us-east=2 or ap-south=1:1)`);
    const dc = dcName(m[1] as string);
    if (dcs.some((d) => d.dc === dc)) throw new UsageError(`--topology: DC ${dc} is given twice`);
    dcs.push({ dc, voters: Number(m[2]), learners: Number(m[3] ?? '0') });
  }
  const voters = dcs.reduce((n, d) => n + d.voters, 0);
  const total = dcs.reduce((n, d) => n + d.voters + d.learners, 0);
  if (voters < 1 || voters > DEV_VOTERS_MAX) throw new UsageError(`--topology: ${voters} voters; between 1 and ${DEV_VOTERS_MAX}`);
  if (total > DEV_MEMBERS_MAX) throw new UsageError(`--topology: ${total} members; at most ${DEV_MEMBERS_MAX}`);
  return dcs;
}

function dcName(text: string): string {
  try {
    return checkDcName(text.trim(), '--topology');
  } catch (err) {
    if (err instanceof WanEmulationSyntaxError) throw new UsageError(err.message);
    throw err;
  }
}

/**
 * The members in start order: voters round-robin over the DCs (so the first three ports go to three DCs),
 * then the learners, which join once the voters elected a leader.
 */
export function devMembers(dcs: readonly DevDc[], clientBase: number, peerBase: number): DevMember[] {
  const order: { dc: string; learner: boolean }[] = [];
  const most = Math.max(...dcs.map((d) => Math.max(d.voters, d.learners)));
  for (let round = 0; round < most; round++) for (const d of dcs) if (round < d.voters) order.push({ dc: d.dc, learner: false });
  for (let round = 0; round < most; round++) for (const d of dcs) if (round < d.learners) order.push({ dc: d.dc, learner: true });
  return order.map((o, i) => ({ name: `m${i + 1}`, ...o, clientPort: devPort(clientBase, i), peerPort: devPort(peerBase, i) }));
}

/** The --rtt matrix, checked to cover every pair of DCs in the topology; null for 'none'. */
export function devRttMatrix(text: string, dcs: readonly DevDc[]): RttMatrix | null {
  if (text === 'none' || text === '') return null;
  let matrix: RttMatrix;
  try {
    matrix = parseRttMatrix(text);
  } catch (err) {
    if (err instanceof WanEmulationSyntaxError) throw new UsageError(err.message.replace('--emulate-wan', '--rtt'));
    throw err;
  }
  const missing = missingPairs(matrix, dcs.map((d) => d.dc));
  if (missing.length > 0) throw new UsageError(`--rtt gives no round trip for ${missing.join(', ')}; add e.g. ${missing[0] ?? ''}=100ms`);
  return matrix;
}

/**
 * `--leader-preference` for the members, the topology's DCs in order (the first preferred), when this build's
 * server has the flag (it comes with the leader-affinity work); otherwise nothing, and dev says so.
 */
export function leaderPreferenceArgs(dcs: readonly DevDc[]): string[] {
  if (SERVER_FLAGS[LEADER_PREFERENCE_FLAG] === undefined) return [];
  return [`--${LEADER_PREFERENCE_FLAG}`, dcs.map((d) => d.dc).join(',')];
}

export async function runDev(argv: readonly string[]): Promise<number> {
  const { values: v } = parseFlags(argv, DEV_FLAGS);
  if (v.get('help') === 'true') {
    console.log(`${helpText('dev', DEV_FLAGS)}\n\nExample: meridian dev --topology us-east=2,eu-west=2,ap-south=1:1 --rtt ${DEFAULT_RTT}`);
    return 0;
  }
  const dcs = parseTopology(v.get('topology') ?? '');
  const matrix = devRttMatrix(v.get('rtt') ?? '', dcs);
  const baseDir = resolve(v.get('base-dir') ?? '.meridian-dev');
  const members = devMembers(dcs, Number(v.get('client-port')), Number(v.get('peer-port')));
  for (const m of members) if (m.clientPort + 2 > 65535 || m.peerPort > 65535) throw new UsageError(`member ${m.name} would need port ${Math.max(m.clientPort + 2, m.peerPort)}: choose lower base ports`);
  const main = join(fileURLToPath(new URL('.', import.meta.url)), 'main.js');
  mkdirSync(baseDir, { recursive: true });
  const common = [
    '--initial-cluster-token', 'meridian-dev', '--log-level', v.get('log-level') ?? 'info',
    ...(matrix === null ? [] : ['--emulate-wan', formatRttMatrix(matrix)]), ...leaderPreferenceArgs(dcs),
  ];
  const voters = members.filter((m) => !m.learner);
  const cluster = voters.map((m) => `${m.name}=${peerUrl(m)}`).join(',');
  const width = Math.max(...members.map((m) => `${m.name} ${m.dc}`.length));
  const supervisor = new Supervisor();
  const spawnMember = (m: DevMember, initialCluster: string, state: 'new' | 'existing'): void => {
    const args = [main, 'server', '--name', m.name, '--data-dir', join(baseDir, m.name), '--dc', m.dc,
      '--listen-client-urls', clientUrl(m), '--advertise-client-urls', clientUrl(m),
      '--listen-peer-urls', peerUrl(m), '--initial-advertise-peer-urls', peerUrl(m),
      '--initial-cluster', initialCluster, '--initial-cluster-state', state, ...common];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    supervisor.add(child);
    prefixLines(child, `${m.name} ${m.dc}`.padEnd(width));
  };
  for (const m of voters) spawnMember(m, cluster, 'new');
  printTable(members, baseDir, matrix, dcs);
  let joined = cluster;
  for (const m of members.filter((x) => x.learner)) {
    joined += `,${m.name}=${peerUrl(m)}`;
    // A learner that ran before is a member already: it restarts from its data directory.
    if (!existsSync(join(baseDir, m.name, 'member'))) {
      const added = await addLearner(voters.map(clientUrl), peerUrl(m), supervisor);
      if (!added) break;
    }
    spawnMember(m, joined, 'existing');
  }
  return await supervisor.exit;
}

function clientUrl(m: DevMember): string {
  return `http://127.0.0.1:${m.clientPort}`;
}

function peerUrl(m: DevMember): string {
  return `http://127.0.0.1:${m.peerPort}`;
}

function printTable(members: readonly DevMember[], baseDir: string, matrix: RttMatrix | null, dcs: readonly DevDc[]): void {
  const rows = [['NAME', 'DC', 'ROLE', 'CLIENT (etcd v3)', 'ZOOKEEPER', 'PEER', 'STATUS (HTTP)'],
    ...members.map((m) => [m.name, m.dc, m.learner ? 'learner' : 'voter', clientUrl(m), `127.0.0.1:${m.clientPort - ZK_PORT_BELOW_CLIENT}`, peerUrl(m),
      `http://127.0.0.1:${m.clientPort + 2}/v1/status`])];
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length))) ?? [];
  const endpoints = members.slice(0, 3).map((m) => `127.0.0.1:${m.clientPort}`).join(',');
  console.log(`\nMeridian dev cluster: ${members.length} members in ${dcs.length} DCs, data in ${baseDir}`);
  for (const r of rows) console.log(`  ${r.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join('  ')}`);
  console.log(`  emulated round trips: ${matrix === null ? 'none (plain loopback)' : formatRttMatrix(matrix)}`);
  const pref = leaderPreferenceArgs(dcs);
  console.log(`  preferred leader DCs: ${pref.length > 0 ? pref[1] ?? '' : `not passed (this server has no --${LEADER_PREFERENCE_FLAG})`}`);
  console.log(`  try:       etcdctl --endpoints=${endpoints} put greeting hello`);
  console.log(`             etcdctl --endpoints=${endpoints} member list -w table`);
  console.log(`             node dist/src/cli/main.js status --endpoints ${endpoints}`);
  console.log(`             zkCli.sh -server ${members.slice(0, 3).map((m) => `127.0.0.1:${m.clientPort - ZK_PORT_BELOW_CLIENT}`).join(',')}`);
  console.log('  Ctrl-C stops every member.\n');
}

/** MemberAdd(isLearner) through the voters, retried until a leader takes it; false if dev is stopping or it timed out. */
async function addLearner(endpoints: readonly string[], peer: string, supervisor: Supervisor): Promise<boolean> {
  const client = new Etcd3({ hosts: [...endpoints], dialTimeout: 2000 });
  const deadline = Date.now() + DEV_LEARNER_ADD_TIMEOUT_MS;
  try {
    let last = '';
    while (Date.now() < deadline && !supervisor.stopping()) {
      try {
        await client.cluster.memberAdd({ peerURLs: [peer], isLearner: true });
        return true;
      } catch (err) {
        last = (err as Error).message;
        await new Promise((r) => setTimeout(r, DEV_LEARNER_ADD_RETRY_MS));
      }
    }
    if (!supervisor.stopping()) console.error(`could not add the learner at ${peer}: ${last}`);
    return false;
  } finally {
    client.close();
  }
}

/** Watches the members: Ctrl-C stops them all; a member that exits on its own stops the rest. */
class Supervisor {
  private readonly children: ChildProcess[] = [];
  private stopping_ = false;
  private exitCode = 0;
  private resolveExit: (code: number) => void = () => undefined;
  readonly exit = new Promise<number>((resolveExit) => {
    this.resolveExit = resolveExit;
  });

  constructor() {
    process.once('SIGINT', () => this.stopAll());
    process.once('SIGTERM', () => this.stopAll());
  }

  stopping(): boolean {
    return this.stopping_;
  }

  add(child: ChildProcess): void {
    this.children.push(child);
    child.on('exit', (code, signal) => {
      if (!this.stopping_) {
        console.error(`a member exited (${signal ?? `code ${code}`}); stopping the others`);
        this.exitCode = 1;
        this.stopAll();
      }
      if (this.children.every((c) => c.exitCode !== null || c.signalCode !== null)) this.resolveExit(this.exitCode);
    });
    if (this.stopping_) child.kill('SIGTERM');
  }

  private stopAll(): void {
    if (this.stopping_) return;
    this.stopping_ = true;
    for (const c of this.children) if (c.exitCode === null) c.kill('SIGTERM');
    setTimeout(() => {
      for (const c of this.children) if (c.exitCode === null) c.kill('SIGKILL');
    }, DEV_STOP_TIMEOUT_MS).unref();
  }
}

/** Prints each line of a member's JSON log as "name dc | LEVEL message key=value". */
function prefixLines(child: ChildProcess, prefix: string): void {
  const levels: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' };
  for (const stream of [child.stdout, child.stderr]) {
    if (stream === null) continue;
    createInterface({ input: stream }).on('line', (line) => {
      try {
        const o = JSON.parse(line) as Record<string, unknown>;
        const { level, msg, time: _t, pid: _p, hostname: _h, member: _m, ...rest } = o;
        const extra = Object.entries(rest).map(([k, val]) => `${k}=${typeof val === 'string' ? val : JSON.stringify(val)}`).join(' ');
        console.log(`${prefix} | ${levels[Number(level)] ?? 'INFO '} ${String(msg)}${extra === '' ? '' : ` ${extra}`}`);
      } catch {
        console.log(`${prefix} | ${line}`);
      }
    });
  }
}
