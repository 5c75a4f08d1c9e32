// TEST SUPPORT for the client's tests (not exported from index.ts): the real member processes of
// src/server/process_cluster.ts, each with its own DC label, and a wait until every member knows every other's
// client URL and DC (what the client learns the cluster from).

import { freePorts, ProcessCluster, type ProcessMember } from '../server/process_cluster.js';
import { pollUntil } from '../util/poll.js';

/** Meridian serves HTTP on the client port + 2. */
const HTTP_PORT_OFFSET = 2;
/** Bound on waiting for a leader and published member attributes. */
export const CLUSTER_READY_MS = 30_000;
const POLL_MS = 100;

export interface TestMember extends ProcessMember {
  readonly dc: string;
  /** host:port of its client (gRPC) listener. */
  readonly endpoint: string;
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
  private constructor(private readonly processes: ProcessCluster, readonly members: TestMember[]) {}

  /** One member per DC label given (e.g. ['east', 'west', 'west']); resolves once a leader serves. */
  static async start(dcs: readonly string[]): Promise<TestCluster> {
    const processes = await ProcessCluster.start(dcs.length, [], (i) => ['--dc', dcs[i] ?? '']);
    // The same objects ProcessCluster launches and kills, labelled with their DC and endpoint.
    const members = processes.members.map((m, i) => Object.assign(m, { dc: dcs[i] ?? '', endpoint: `127.0.0.1:${m.clientPort}` }));
    const c = new TestCluster(processes, members);
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
    this.processes.launch(m);
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
    await pollUntil('the test cluster to be ready', async () => {
      const running = this.members.filter((m) => m.process !== null);
      const all = await Promise.all(running.map((m) => this.status(m)));
      const ok = all.every((s) => s !== null && s.hasLeader && s.members.length === this.members.length &&
        s.members.every((x) => x.clientUrls.length > 0 && this.members.some((m) => x.clientUrls[0] === `http://${m.endpoint}` && x.dc === m.dc)));
      return ok ? true : undefined;
    }, { timeoutMs: ms, intervalMs: POLL_MS, context: () => this.processes.logTails() });
  }

  /** kill -9. */
  kill9(m: TestMember): Promise<void> {
    return this.processes.kill9(m);
  }

  /** Stops every member (SIGTERM, then SIGKILL after a bound) and deletes the data. */
  destroy(): Promise<void> {
    return this.processes.destroy();
  }
}
