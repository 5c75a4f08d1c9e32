// Real member processes on loopback for integration and chaos tests: start a cluster of `meridian server`
// processes, find the leader, kill -9 and restart members, and clean everything up.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../cli/main.js', import.meta.url));

export interface ProcessMember {
  readonly name: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly dataDir: string;
  readonly args: readonly string[];
  process: ChildProcess | null;
  /** Everything the process printed, for failure messages. */
  output: string;
}

/** A free loopback port (the kernel picks it; a tiny race remains, acceptable in tests). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** A free port p whose p + 2 is free as well (a member's client and HTTP ports). */
async function freePortPair(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = await freePort();
    if (await isFree(p + 2)) return p;
  }
  throw new Error('no free pair of ports found on 127.0.0.1');
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

export class ProcessCluster {
  readonly members: ProcessMember[] = [];
  readonly baseDir: string;

  private constructor(baseDir: string) {
    this.baseDir = baseDir;
  }

  /** Starts `size` members as separate processes; resolves once every process is running (not yet a leader). */
  static async start(size: number, extraArgs: readonly string[] = []): Promise<ProcessCluster> {
    const c = new ProcessCluster(mkdtempSync(join(tmpdir(), 'meridian-cluster-')));
    const ports: { client: number; peer: number }[] = [];
    // The HTTP endpoints listen on the client port + 2: pick client ports whose +2 is free too.
    for (let i = 0; i < size; i++) ports.push({ client: await freePortPair(), peer: await freePort() });
    const initial = ports.map((p, i) => `m${i + 1}=http://127.0.0.1:${p.peer}`).join(',');
    for (const [i, p] of ports.entries()) {
      const name = `m${i + 1}`;
      const dataDir = join(c.baseDir, name);
      const args = [
        MAIN, 'server', '--name', name, '--data-dir', dataDir,
        '--listen-client-urls', `http://127.0.0.1:${p.client}`, '--listen-peer-urls', `http://127.0.0.1:${p.peer}`,
        '--initial-cluster', initial, '--initial-cluster-token', 'process-cluster', '--log-level', 'warn',
        '--heartbeat-interval', '50', '--election-timeout', '500', ...extraArgs,
      ];
      c.members.push({ name, clientPort: p.client, peerPort: p.peer, dataDir, args, process: null, output: '' });
    }
    for (const m of c.members) c.launch(m);
    return c;
  }

  /**
   * Prepares (without starting) a member that joins the running cluster (`--initial-cluster-state existing`);
   * add it with MemberAdd first, then launch() it.
   */
  async prepareJoiner(name: string): Promise<ProcessMember> {
    const client = await freePortPair();
    const peer = await freePort();
    const all = [...this.members.map((m) => `${m.name}=http://127.0.0.1:${m.peerPort}`), `${name}=http://127.0.0.1:${peer}`].join(',');
    const dataDir = join(this.baseDir, name);
    const args = [
      MAIN, 'server', '--name', name, '--data-dir', dataDir,
      '--listen-client-urls', `http://127.0.0.1:${client}`, '--listen-peer-urls', `http://127.0.0.1:${peer}`,
      '--initial-cluster', all, '--initial-cluster-state', 'existing', '--initial-cluster-token', 'process-cluster',
      '--log-level', 'warn', '--heartbeat-interval', '50', '--election-timeout', '500',
    ];
    const m: ProcessMember = { name, clientPort: client, peerPort: peer, dataDir, args, process: null, output: '' };
    this.members.push(m);
    return m;
  }

  endpoints(): string[] {
    return this.members.filter((m) => m.process !== null).map((m) => `127.0.0.1:${m.clientPort}`);
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
