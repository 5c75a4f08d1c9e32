// TEST SUPPORT for the client's tests (not exported from index.ts): real `meridian server` processes on loopback,
// each with its own DC label, started from the built CLI by path (the client layer may not import the server's
// code), with kill -9, restart and cleanup.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../cli/main.js', import.meta.url));
/** Bound on picking free ports. */
const PORT_PICK_ATTEMPTS_MAX = 200;
/** Meridian serves HTTP on the client port + 2. */
const HTTP_PORT_OFFSET = 2;
/** Bound on waiting for a leader and published member attributes. */
export const CLUSTER_READY_MS = 30_000;
const POLL_MS = 100;
const STOP_GRACE_MS = 5_000;

export interface TestMember {
  readonly name: string;
  readonly dc: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly args: readonly string[];
  readonly endpoint: string;
  process: ChildProcess | null;
  output: string;
}

function listenOn(port: number): Promise<Server | null> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(null));
    srv.listen(port, '127.0.0.1', () => resolve(srv));
  });
}

/** `count` free loopback ports whose port + 2 is free too (held open until all are picked). */
async function freePorts(count: number): Promise<number[]> {
  const held: Server[] = [];
  try {
    const ports: number[] = [];
    for (let attempt = 0; ports.length < count; attempt++) {
      if (attempt >= PORT_PICK_ATTEMPTS_MAX) throw new Error(`Cannot find ${count} free ports on 127.0.0.1`);
      const srv = await listenOn(0);
      const addr = srv?.address();
      if (srv === null || srv === undefined || typeof addr !== 'object' || addr === null) continue;
      held.push(srv);
      const companion = await listenOn(addr.port + HTTP_PORT_OFFSET);
      if (companion === null) continue;
      held.push(companion);
      ports.push(addr.port);
    }
    return ports;
  } finally {
    await Promise.all(held.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

export async function freePort(): Promise<number> {
  return (await freePorts(1))[0] as number;
}

interface StatusJson {
  readonly hasLeader: boolean;
  readonly role: string;
  readonly members: readonly { readonly dc: string; readonly clientUrls: readonly string[] }[];
}

export class TestCluster {
  private constructor(readonly members: TestMember[], private readonly baseDir: string) {}

  /** One member per DC label given (e.g. ['east', 'west', 'west']); resolves once a leader serves. */
  static async start(dcs: readonly string[]): Promise<TestCluster> {
    const baseDir = mkdtempSync(join(tmpdir(), 'meridian-client-test-'));
    const picked = await freePorts(2 * dcs.length);
    const ports = dcs.map((_, i) => ({ client: picked[2 * i] as number, peer: picked[2 * i + 1] as number }));
    const initial = ports.map((p, i) => `m${i + 1}=http://127.0.0.1:${p.peer}`).join(',');
    const members = dcs.map((dc, i): TestMember => {
      const p = ports[i] as { client: number; peer: number };
      const name = `m${i + 1}`;
      const args = [
        MAIN, 'server', '--name', name, '--data-dir', join(baseDir, name), '--dc', dc,
        '--listen-client-urls', `http://127.0.0.1:${p.client}`, '--listen-peer-urls', `http://127.0.0.1:${p.peer}`,
        '--initial-cluster', initial, '--initial-cluster-token', 'client-test', '--log-level', 'warn',
        '--heartbeat-interval', '50', '--election-timeout', '500',
      ];
      return { name, dc, clientPort: p.client, peerPort: p.peer, args, endpoint: `127.0.0.1:${p.client}`, process: null, output: '' };
    });
    const c = new TestCluster(members, baseDir);
    for (const m of members) c.launch(m);
    try {
      await c.waitReady();
    } catch (err) {
      await c.destroy();
      throw err;
    }
    return c;
  }

  endpoints(): string[] {
    return this.members.map((m) => m.endpoint);
  }

  launch(m: TestMember): void {
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

  async status(m: TestMember): Promise<StatusJson | null> {
    try {
      const res = await fetch(`http://127.0.0.1:${m.clientPort + HTTP_PORT_OFFSET}/v1/status`, { signal: AbortSignal.timeout(1_000) });
      return res.ok ? ((await res.json()) as StatusJson) : null;
    } catch {
      return null;
    }
  }

  /** The member that leads now, or null. */
  async leader(): Promise<TestMember | null> {
    for (const m of this.members) {
      if (m.process === null) continue;
      if ((await this.status(m))?.role === 'leader') return m;
    }
    return null;
  }

  /**
   * Waits until every running member has a leader and knows every member's client URL and DC (members publish
   * them through the log after the election).
   */
  async waitReady(ms = CLUSTER_READY_MS): Promise<void> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      const running = this.members.filter((m) => m.process !== null);
      const all = await Promise.all(running.map((m) => this.status(m)));
      const ok = all.every((s) => s !== null && s.hasLeader && s.members.length === this.members.length &&
        s.members.every((x) => x.clientUrls.length > 0 && this.members.some((m) => x.clientUrls[0] === `http://${m.endpoint}` && x.dc === m.dc)));
      if (ok) return;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    const logs = this.members.map((m) => `--- ${m.name}\n${m.output.slice(-2000)}`).join('\n');
    throw new Error(`the test cluster was not ready within ${ms} ms\n${logs}`);
  }

  /** kill -9. */
  kill9(m: TestMember): Promise<void> {
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
        const t = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
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
