// Real member processes on loopback for integration and chaos tests: start a cluster of `meridian server`
// processes, find the leader, kill -9 and restart members, and clean everything up.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const MAIN = fileURLToPath(new URL('../cli/main.js', import.meta.url));

export interface ProcessMember {
  readonly name: string;
  readonly clientPort: number;
  readonly peerPort: number;
  /** The ZooKeeper client port. */
  readonly zkPort: number;
  readonly dataDir: string;
  readonly args: readonly string[];
  process: ChildProcess | null;
  /** Everything the process printed, for failure messages. */
  output: string;
}

/** Attempts at a port whose companion (port + offset) is taken, before giving up. */
const PORT_PICK_ATTEMPTS_MAX = 200;

function listenOn(port: number): Promise<Server | null> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(null));
    srv.listen(port, '127.0.0.1', () => resolve(srv));
  });
}

/**
 * `count` distinct free loopback ports, each with `port + reserveOffset` free as well when an offset is
 * given (a member's HTTP port is its client port + 2). Every listener stays open until all are chosen, so
 * no two picks collide; a small race with other processes remains, acceptable in tests and benchmarks.
 */
export async function freePorts(count: number, reserveOffset = 0): Promise<number[]> {
  const held: Server[] = [];
  try {
    const ports: number[] = [];
    for (let attempt = 0; ports.length < count; attempt++) {
      if (attempt >= PORT_PICK_ATTEMPTS_MAX) throw new Error(`Cannot find ${count} free ports on 127.0.0.1`);
      const srv = await listenOn(0);
      const addr = srv?.address();
      if (srv === null || srv === undefined || typeof addr !== 'object' || addr === null) continue;
      held.push(srv);
      if (reserveOffset !== 0) {
        const companion = await listenOn(addr.port + reserveOffset);
        if (companion === null) continue;
        held.push(companion);
      }
      ports.push(addr.port);
    }
    return ports;
  } finally {
    await Promise.all(held.map((srv) => new Promise<void>((resolve) => srv.close(() => resolve()))));
  }
}

/** Stock etcdctl (Debian's etcd-client), as the tests and the benchmarks run it. */
export const ETCDCTL = '/usr/bin/etcdctl';
const run = promisify(execFile);

/** Runs etcdctl against `endpoints` with the v3 API and a bounded time; resolves with its standard output. */
export async function etcdctl(endpoints: readonly string[], ...args: string[]): Promise<string> {
  if (!existsSync(ETCDCTL)) throw new Error(`${ETCDCTL} is missing: install Debian's etcd-client (apt-get install etcd-client)`);
  const { stdout } = await run(ETCDCTL, [`--endpoints=${endpoints.join(',')}`, '--command-timeout=5s', ...args], { env: { ...process.env, ETCDCTL_API: '3' }, timeout: 15_000 });
  return stdout;
}

export class ProcessCluster {
  readonly members: ProcessMember[] = [];
  readonly baseDir: string;

  private constructor(baseDir: string) {
    this.baseDir = baseDir;
  }

  /**
   * Starts `size` members as separate processes; resolves once every process is running (not yet a leader).
   * `memberArgs(i)` adds flags to member i alone (e.g. its `--dc`).
   */
  static async start(size: number, extraArgs: readonly string[] = [], memberArgs: (i: number) => readonly string[] = () => []): Promise<ProcessCluster> {
    const c = new ProcessCluster(mkdtempSync(join(tmpdir(), 'meridian-cluster-')));
    // The HTTP endpoints listen on the client port + 2: every port picked has its +2 free too.
    const picked = await freePorts(3 * size, 2);
    const ports = Array.from({ length: size }, (_, i) => ({ client: picked[3 * i] as number, peer: picked[3 * i + 1] as number, zk: picked[3 * i + 2] as number }));
    const initial = ports.map((p, i) => `m${i + 1}=http://127.0.0.1:${p.peer}`).join(',');
    for (const [i, p] of ports.entries()) {
      const name = `m${i + 1}`;
      const dataDir = join(c.baseDir, name);
      const args = [
        MAIN, 'server', '--name', name, '--data-dir', dataDir,
        '--listen-client-urls', `http://127.0.0.1:${p.client}`, '--listen-peer-urls', `http://127.0.0.1:${p.peer}`,
        '--initial-cluster', initial, '--initial-cluster-token', 'process-cluster', '--log-level', 'warn',
        '--heartbeat-interval', '50', '--election-timeout', '500', '--listen-zk-urls', `http://127.0.0.1:${p.zk}`, ...extraArgs, ...memberArgs(i),
      ];
      c.members.push({ name, clientPort: p.client, peerPort: p.peer, zkPort: p.zk, dataDir, args, process: null, output: '' });
    }
    for (const m of c.members) c.launch(m);
    return c;
  }

  /**
   * Prepares (without starting) a member that joins the running cluster (`--initial-cluster-state existing`);
   * add it with MemberAdd first, then launch() it.
   */
  async prepareJoiner(name: string, extraArgs: readonly string[] = []): Promise<ProcessMember> {
    const [client, peer, zk] = (await freePorts(3, 2)) as [number, number, number];
    const all = [...this.members.map((m) => `${m.name}=http://127.0.0.1:${m.peerPort}`), `${name}=http://127.0.0.1:${peer}`].join(',');
    const dataDir = join(this.baseDir, name);
    const args = [
      MAIN, 'server', '--name', name, '--data-dir', dataDir,
      '--listen-client-urls', `http://127.0.0.1:${client}`, '--listen-peer-urls', `http://127.0.0.1:${peer}`,
      '--initial-cluster', all, '--initial-cluster-state', 'existing', '--initial-cluster-token', 'process-cluster',
      '--log-level', 'warn', '--heartbeat-interval', '50', '--election-timeout', '500', '--listen-zk-urls', `http://127.0.0.1:${zk}`, ...extraArgs,
    ];
    const m: ProcessMember = { name, clientPort: client, peerPort: peer, zkPort: zk, dataDir, args, process: null, output: '' };
    this.members.push(m);
    return m;
  }

  /** The end of every member's output, for a failure message. */
  logTails(chars = 2000): string {
    return this.members.map((m) => `--- ${m.name}\n${m.output.slice(-chars)}`).join('\n');
  }

  endpoints(): string[] {
    return this.members.filter((m) => m.process !== null).map((m) => `127.0.0.1:${m.clientPort}`);
  }

  /** ZooKeeper connect string entries of the running members. */
  zkEndpoints(): string[] {
    return this.members.filter((m) => m.process !== null).map((m) => `127.0.0.1:${m.zkPort}`);
  }

  launch(m: ProcessMember): void {
    const child = spawn(process.execPath, m.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    m.process = child;
    const keep = (chunk: Buffer): void => {
      m.output = (m.output + chunk.toString()).slice(-20_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.on('exit', () => {
      if (m.process === child) m.process = null;
    });
  }

  /** kill -9: the member loses everything it had not synced. */
  kill9(m: ProcessMember): Promise<void> {
    const child = m.process;
    if (child === null) return Promise.resolve();
    return new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }

  /** Stops every member (SIGTERM, then SIGKILL after a bound) and deletes the data. */
  async destroy(): Promise<void> {
    await Promise.all(this.members.map((m) => {
      const child = m.process;
      if (child === null) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        child.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
        child.kill('SIGTERM');
      });
    }));
    rmSync(this.baseDir, { recursive: true, force: true });
  }
}
