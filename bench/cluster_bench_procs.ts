// The processes of the side-by-side benchmark: a 3-member cluster on loopback started with etcd's flags (etcd
// itself or Meridian's CLI), bounded waits for health and for exit, CPU and peak RSS from /proc, and a registry
// that kills every started process group and removes every temp dir on any exit path.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { freePorts } from '../src/server/process_cluster.js';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { etcdMethod } from '../src/wire/etcd_proto.js';

export const CLUSTER_SIZE = 3;
export const LOOPBACK = '127.0.0.1';
/** Bound of the wait for every member to serve a linearizable read. */
export const READY_TIMEOUT_MS = 30_000;
export const READY_POLL_MS = 250;
/** Deadline of one readiness probe. */
export const READY_PROBE_MS = 2_000;
/** After SIGTERM a member gets this long to exit before SIGKILL. */
export const STOP_GRACE_MS = 10_000;
/** Bound of the wait for exit after SIGKILL. */
export const KILL_WAIT_MS = 5_000;
/** Lines of a member's log printed when it fails. */
export const LOG_TAIL_LINES = 25;
/** Clock ticks per second of /proc/<pid>/stat when `getconf CLK_TCK` cannot tell. */
const CLK_TCK_DEFAULT = 100;
const GETCONF_TIMEOUT_MS = 2_000;

// ---------------------------------------------------------------------------------------------------------------
// Cleanup registry: process groups and temp dirs of this run, removed on every exit path.

const liveGroups = new Set<number>();
const tempDirs = new Set<string>();

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the group is gone already.
  }
}

/** Last resort, synchronous (for process 'exit'): SIGKILL every group still registered, remove the temp dirs. */
export function killEverythingNow(): void {
  for (const pgid of liveGroups) signalGroup(pgid, 'SIGKILL');
  liveGroups.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

export function registerTempDir(dir: string): void {
  tempDirs.add(dir);
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

// ---------------------------------------------------------------------------------------------------------------
// /proc sampling

let clkTck: number | undefined;

function clockTicksPerSecond(): number {
  if (clkTck !== undefined) return clkTck;
  try {
    const n = Number.parseInt(execFileSync('getconf', ['CLK_TCK'], { timeout: GETCONF_TIMEOUT_MS, encoding: 'utf8' }).trim(), 10);
    clkTck = Number.isFinite(n) && n > 0 ? n : CLK_TCK_DEFAULT;
  } catch {
    clkTck = CLK_TCK_DEFAULT;
  }
  return clkTck;
}

interface ProcStat {
  readonly pgrp: number;
  /** utime + stime, plus cutime + cstime (children already reaped), in ticks. */
  readonly cpuTicks: number;
}

function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined; // exited between listing and reading
  }
  // Fields after the command name (which may contain spaces) start at field 3 (state).
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const num = (field: number): number => Number(rest[field - 3] ?? Number.NaN);
  return { pgrp: num(5), cpuTicks: num(14) + num(15) + num(16) + num(17) };
}

/** The pids of every live process in the given process groups (members run in their own groups). */
export function groupPids(pgids: readonly number[]): number[] {
  const wanted = new Set(pgids);
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const stat = readStat(pid);
    if (stat !== undefined && wanted.has(stat.pgrp)) pids.push(pid);
  }
  return pids;
}

/** CPU seconds used so far by every process of the groups. */
export function cpuSeconds(pgids: readonly number[]): number {
  let ticks = 0;
  for (const pid of groupPids(pgids)) ticks += readStat(pid)?.cpuTicks ?? 0;
  return ticks / clockTicksPerSecond();
}

function statusKib(pid: number, field: string): number {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match?.[1] === undefined ? 0 : Number(match[1]);
  } catch {
    return 0;
  }
}

/** Sum of the processes' peak resident set (VmHWM), in bytes. */
export function peakRssBytes(pgids: readonly number[]): number {
  let kib = 0;
  for (const pid of groupPids(pgids)) kib += statusKib(pid, 'VmHWM');
  return kib * 1024;
}

/**
 * Resets VmHWM to the current RSS (`5` into /proc/<pid>/clear_refs, Linux ≥ 4.0, needs owner or root), so
 * the next reading is the peak of one row; false when the kernel refused, and the peak is then since start.
 */
export function resetPeakRss(pgids: readonly number[]): boolean {
  let ok = true;
  for (const pid of groupPids(pgids)) {
    try {
      writeFileSync(`/proc/${pid}/clear_refs`, '5');
    } catch {
      ok = false;
    }
  }
  return ok;
}

// ---------------------------------------------------------------------------------------------------------------
// A local cluster

export interface ClusterCommand {
  /** 'etcd' or 'meridian', for messages and directory names. */
  readonly side: string;
  readonly executable: string;
  /** Arguments before etcd's flags (Meridian: the CLI script and `server`). */
  readonly argsBefore: readonly string[];
}

interface Member {
  readonly name: string;
  readonly clientPort: number;
  readonly logPath: string;
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  exitStatus: string | undefined;
}

export class ClusterStartError extends Error {
  override readonly name = 'ClusterStartError';
  readonly code = 'ERR_BENCH_CLUSTER_START';
}

function tail(path: string, lines: number): string {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-lines - 1).join('\n');
  } catch {
    return '(no log)';
  }
}

/** etcd's flags for member `i` of a loopback cluster (Meridian takes exactly the same). */
export function etcdFlags(o: {
  readonly name: string; readonly dataDir: string; readonly clientPort: number; readonly peerPort: number;
  readonly initialCluster: string; readonly token: string;
}): string[] {
  const client = `http://${LOOPBACK}:${o.clientPort}`;
  const peer = `http://${LOOPBACK}:${o.peerPort}`;
  return [
    '--name', o.name, '--data-dir', o.dataDir,
    '--listen-client-urls', client, '--advertise-client-urls', client,
    '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
    '--initial-cluster', o.initialCluster, '--initial-cluster-state', 'new', '--initial-cluster-token', o.token,
  ];
}

export class LocalCluster {
  private constructor(private readonly command: ClusterCommand, private readonly members: readonly Member[]) {}

  /** host:port of each member's client URL. */
  get endpoints(): string[] {
    return this.members.map((m) => `${LOOPBACK}:${m.clientPort}`);
  }

  /** The process group ids (each member leads its own group). */
  get pgids(): number[] {
    return this.members.flatMap((m) => (m.child.pid === undefined ? [] : [m.child.pid]));
  }

  /** Starts the members with data dirs and logs under `dir`; resolves once every member serves a linearizable read. */
  static async start(command: ClusterCommand, dir: string): Promise<LocalCluster> {
    // A Meridian member also serves HTTP on its client port + 2: keep those free too.
    const ports = await freePorts(2 * CLUSTER_SIZE, 2);
    const names = Array.from({ length: CLUSTER_SIZE }, (_, i) => `n${i + 1}`);
    const peerPort = (i: number): number => ports[CLUSTER_SIZE + i] ?? 0;
    const initialCluster = names.map((n, i) => `${n}=http://${LOOPBACK}:${peerPort(i)}`).join(',');
    const token = `bench-${command.side}-${process.pid}-${Date.now()}`;
    mkdirSync(dir, { recursive: true });
    const members = names.map((name, i) => spawnMember(command, {
      name, dataDir: join(dir, `${name}.data`), clientPort: ports[i] ?? 0, peerPort: peerPort(i), initialCluster, token,
    }, join(dir, `${name}.log`)));
    const cluster = new LocalCluster(command, members);
    try {
      await cluster.waitReady();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  private async waitReady(): Promise<void> {
    const clients = this.endpoints.map((e) => new grpc.Client(e, grpc.credentials.createInsecure()));
    const range = etcdMethod('kv', 'Range');
    const readyAt = Date.now() + READY_TIMEOUT_MS;
    const lastError = new Map<string, string>();
    try {
      for (;;) {
        const dead = this.members.find((m) => m.exitStatus !== undefined);
        if (dead !== undefined) {
          throw new ClusterStartError(`${this.command.side} member ${dead.name} exited (${dead.exitStatus}) before the cluster was ready; its log (${dead.name}.log) ended:\n${tail(dead.logPath, LOG_TAIL_LINES)}`);
        }
        const probes = await Promise.all(clients.map((c, i) => new Promise<boolean>((resolve) => {
          c.makeUnaryRequest(range.path, range.requestSerialize, range.responseDeserialize, { key: Buffer.from('bench/ready') },
            { deadline: Date.now() + READY_PROBE_MS }, (err) => {
              if (err !== null) lastError.set(this.members[i]?.name ?? '?', `${grpc.status[err.code]}: ${err.details}`);
              resolve(err === null);
            });
        })));
        if (probes.every(Boolean)) return;
        if (Date.now() >= readyAt) {
          const detail = [...lastError].map(([n, e]) => `${n}: ${e}`).join('; ');
          const logs = this.logTails();
          throw new ClusterStartError(`${this.command.side} cluster not ready after ${READY_TIMEOUT_MS} ms (a linearizable range on every member; last errors: ${detail}). Member logs:\n${logs}`);
        }
        await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
      }
    } finally {
      for (const c of clients) c.close();
    }
  }

  /** Tail of every member's log (for a failed row). */
  logTails(lines = LOG_TAIL_LINES): string {
    return this.members.map((m) => `--- ${m.name}.log${m.exitStatus === undefined ? '' : ` (exited: ${m.exitStatus})`}\n${tail(m.logPath, lines)}`).join('\n');
  }

  /** Names of members that exited, with how. */
  exitedMembers(): string[] {
    return this.members.flatMap((m) => (m.exitStatus === undefined ? [] : [`${m.name} (${m.exitStatus})`]));
  }

  /** SIGTERM to every member's group, SIGKILL after STOP_GRACE_MS; resolves once all exited or KILL_WAIT_MS more passed. */
  async stop(): Promise<void> {
    for (const m of this.members) if (m.child.pid !== undefined && m.exitStatus === undefined) signalGroup(m.child.pid, 'SIGTERM');
    const all = Promise.all(this.members.map((m) => m.exited));
    if (!(await settlesWithin(all, STOP_GRACE_MS))) {
      for (const m of this.members) {
        if (m.exitStatus !== undefined) continue;
        console.log(`  ${this.command.side} member ${m.name} did not exit within ${STOP_GRACE_MS} ms of SIGTERM; sending SIGKILL`);
      }
      for (const m of this.members) if (m.child.pid !== undefined) signalGroup(m.child.pid, 'SIGKILL');
      if (!(await settlesWithin(all, KILL_WAIT_MS))) console.log(`  ${this.command.side}: some member still alive ${KILL_WAIT_MS} ms after SIGKILL`);
    }
    // Whatever a member left behind in its group goes too.
    for (const m of this.members) {
      if (m.child.pid === undefined) continue;
      signalGroup(m.child.pid, 'SIGKILL');
      liveGroups.delete(m.child.pid);
    }
  }
}

function spawnMember(command: ClusterCommand, flags: Parameters<typeof etcdFlags>[0], logPath: string): Member {
  const log = openSync(logPath, 'a');
  let child: ChildProcess;
  try {
    // Own process group (detached), so a stop reaches anything the member starts; we handle Ctrl-C ourselves.
    child = spawn(command.executable, [...command.argsBefore, ...etcdFlags(flags)], { detached: true, stdio: ['ignore', log, log] });
  } finally {
    closeSync(log);
  }
  if (child.pid !== undefined) liveGroups.add(child.pid);
  const member: Member = {
    name: flags.name, clientPort: flags.clientPort, logPath, child, exitStatus: undefined,
    exited: new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        member.exitStatus = signal === null ? `code ${code}` : `signal ${signal}`;
        resolve();
      });
      child.once('error', (err) => {
        member.exitStatus = `spawn failed: ${err.message}`;
        resolve();
      });
    }),
  };
  return member;
}

async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([
    promise.then(() => true),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    }),
  ]);
  clearTimeout(timer);
  return result;
}

