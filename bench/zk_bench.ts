// `npm run bench:zk`: the same ZooKeeper workload against a 3-member Meridian cluster and a 3-server Apache
// ZooKeeper 3.8 ensemble (Debian's `zookeeper` package) on loopback in one run, node-zookeeper-client as the
// load generator for both: creates/s, getData/s and ephemeral session churn/s, with the Meridian/ZooKeeper ratios.
// Run: npm run bench:zk [-- --seconds N] [--clients N] [--only meridian|zookeeper]

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import zookeeper, { type Client } from 'node-zookeeper-client';
import { freePorts, ProcessCluster } from '../src/server/process_cluster.js';

const ZK_JAR = '/usr/share/java/zookeeper.jar';
const ZK_CONF_DIR = '/etc/zookeeper/conf';
const APT_TIMEOUT_MS = 300_000;
const READY_TIMEOUT_MS = 60_000;
const DEFAULT_SECONDS = 5;
const MAX_SECONDS = 300;
const DEFAULT_CLIENTS = 8;
/** Requests each client keeps in flight (node-zookeeper-client pipelines them on its one connection). */
const PIPELINE_DEPTH = 8;
/** Sessions opened and closed at once in the churn row. */
const CHURN_CONCURRENCY = 8;
const VALUE_BYTES = 64;
const WARMUP_MS = 1000;
const SESSION_TIMEOUT_MS = 10_000;
/** How long a churning client waits for its close to be acknowledged. */
const CLOSE_WAIT_MS = 5000;

interface Row {
  readonly name: string;
  readonly opsPerSec: number;
  readonly errors: number;
}

function usage(): never {
  console.error('usage: npm run bench:zk [-- --seconds N] [--clients N] [--only meridian|zookeeper]');
  process.exit(2);
}

function connectClient(connect: string): Promise<Client> {
  return new Promise((resolve, reject) => {
    const c = zookeeper.createClient(connect, { sessionTimeout: SESSION_TIMEOUT_MS, spinDelay: 100, retries: 0 });
    const t = setTimeout(() => {
      c.close();
      reject(new Error(`connect to ${connect} timed out`));
    }, READY_TIMEOUT_MS / 4);
    c.once('connected', () => {
      clearTimeout(t);
      resolve(c);
    });
    c.connect();
  });
}

function call<T>(fn: (cb: (err: Error | null, v: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, v) => (err !== null ? reject(err) : resolve(v))));
}

async function waitReady(endpoints: readonly string[]): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (const ep of endpoints) {
    for (;;) {
      try {
        const c = await connectClient(ep);
        await call<unknown>((cb) => c.exists('/', undefined, (e, s) => cb(e, s)));
        c.close();
        break;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`${ep} never became ready`, { cause: err });
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }
}

/** Runs `op` from every client with PIPELINE_DEPTH in flight for `seconds`, after a warm-up; ops/s measured. */
async function closedLoop(clients: Client[], seconds: number, op: (c: Client, n: number) => Promise<void>): Promise<{ opsPerSec: number; errors: number }> {
  let counting = false;
  let ops = 0;
  let errors = 0;
  let seq = 0;
  const stopAt = Date.now() + WARMUP_MS + seconds * 1000;
  const worker = async (c: Client): Promise<void> => {
    while (Date.now() < stopAt) {
      try {
        await op(c, seq++);
        if (counting) ops++;
      } catch {
        if (counting) errors++;
      }
    }
  };
  const runs = clients.flatMap((c) => Array.from({ length: PIPELINE_DEPTH }, () => worker(c)));
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  counting = true;
  const started = performance.now();
  await Promise.all(runs);
  return { opsPerSec: ops / ((performance.now() - started) / 1000), errors };
}

async function runWorkload(side: string, endpoints: readonly string[], seconds: number, clientCount: number): Promise<Row[]> {
  const connect = endpoints.join(',');
  const clients = await Promise.all(Array.from({ length: clientCount }, (_, i) => connectClient(endpoints[i % endpoints.length] ?? connect)));
  const rows: Row[] = [];
  try {
    const root = `/bench-${process.pid}-${Date.now()}`;
    await call<string>((cb) => clients[0]?.create(root, null, zookeeper.CreateMode.PERSISTENT, cb));
    const value = Buffer.alloc(VALUE_BYTES, 0x61);
    let created = 0;
    const creates = await closedLoop(clients, seconds, async (c, n) => {
      await call<string>((cb) => c.create(`${root}/n${n}`, value, zookeeper.CreateMode.PERSISTENT, cb));
      created = Math.max(created, n + 1);
    });
    rows.push({ name: 'create (64 B, persistent)', ...creates });
    console.log(`  ${side}: create ${creates.opsPerSec.toFixed(0)}/s`);
    const span = Math.max(1, Math.min(created, 10_000));
    const reads = await closedLoop(clients, seconds, async (c, n) => {
      await call<Buffer>((cb) => c.getData(`${root}/n${(n * 7919) % span}`, undefined, (e, d) => cb(e?.getCode() === zookeeper.Exception.NO_NODE ? null : e, d)));
    });
    rows.push({ name: 'getData', ...reads });
    console.log(`  ${side}: getData ${reads.opsPerSec.toFixed(0)}/s`);
    rows.push({ name: 'ephemeral session churn (connect, create ephemeral, close)', ...(await sessionChurn(endpoints, root, seconds)) });
    console.log(`  ${side}: session churn ${rows[rows.length - 1]?.opsPerSec.toFixed(0) ?? '?'}/s`);
  } finally {
    for (const c of clients) c.close();
  }
  return rows;
}

async function sessionChurn(endpoints: readonly string[], root: string, seconds: number): Promise<{ opsPerSec: number; errors: number }> {
  let counting = false;
  let ops = 0;
  let errors = 0;
  let seq = 0;
  const stopAt = Date.now() + WARMUP_MS + seconds * 1000;
  const worker = async (): Promise<void> => {
    while (Date.now() < stopAt) {
      const n = seq++;
      try {
        const c = await connectClient(endpoints[n % endpoints.length] ?? '');
        let closed = false;
        try {
          await call<string>((cb) => c.create(`${root}/e${n}`, null, zookeeper.CreateMode.EPHEMERAL, cb));
        } finally {
          // close() sends closeSession; the server deletes the ephemeral, answers and drops the connection, which
          // node-zookeeper-client reports as 'disconnected'. A close not seen within the bound counts as an error.
          closed = await new Promise<boolean>((resolve) => {
            c.once('disconnected', () => resolve(true));
            c.close();
            setTimeout(() => resolve(false), CLOSE_WAIT_MS).unref();
          });
        }
        if (!closed) throw new Error('close not acknowledged');
        if (counting) ops++;
      } catch {
        if (counting) errors++;
      }
    }
  };
  const runs = Array.from({ length: CHURN_CONCURRENCY }, () => worker());
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  counting = true;
  const started = performance.now();
  await Promise.all(runs);
  return { opsPerSec: ops / ((performance.now() - started) / 1000), errors };
}

// ---------------------------------------------------------------- Apache ZooKeeper ensemble

function ensureZookeeper(): void {
  if (existsSync(ZK_JAR)) return;
  console.log('Apache ZooKeeper is missing: apt-get install -y zookeeper');
  const r = spawnSync('apt-get', ['install', '-y', 'zookeeper'], { stdio: 'inherit', timeout: APT_TIMEOUT_MS });
  if (r.status !== 0 || !existsSync(ZK_JAR)) throw new Error(`Cannot install zookeeper (apt-get exit ${r.status ?? 'signal'}); install it and run again`);
}

interface Ensemble {
  readonly endpoints: string[];
  stop(): Promise<void>;
}

async function startZookeeper(base: string): Promise<Ensemble> {
  ensureZookeeper();
  const ports = await freePorts(9);
  const at = (i: number, k: number): number => ports[i * 3 + k] as number;
  const servers = [0, 1, 2].map((i) => `server.${i + 1}=127.0.0.1:${at(i, 1)}:${at(i, 2)}`).join('\n');
  const procs: ChildProcess[] = [];
  for (let i = 0; i < 3; i++) {
    const dir = join(base, `zk${i + 1}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'myid'), `${i + 1}\n`);
    const cfg = join(dir, 'zoo.cfg');
    // ZooKeeper's defaults (forceSync on: every transaction is fsynced, as Meridian's WAL is); 4lw for checks.
    writeFileSync(cfg, [
      'tickTime=2000', 'initLimit=10', 'syncLimit=5', `dataDir=${dir}`, `clientPort=${at(i, 0)}`, 'clientPortAddress=127.0.0.1',
      'maxClientCnxns=0', 'admin.enableServer=false', '4lw.commands.whitelist=*', servers, '',
    ].join('\n'));
    const child = spawn('java', ['-Xmx512m', `-Dzookeeper.log.dir=${dir}`, '-Dzookeeper.root.logger=WARN,CONSOLE', '-cp', `${ZK_CONF_DIR}:${ZK_JAR}`, 'org.apache.zookeeper.server.quorum.QuorumPeerMain', cfg], { stdio: 'ignore' });
    procs.push(child);
  }
  const endpoints = [0, 1, 2].map((i) => `127.0.0.1:${at(i, 0)}`);
  return {
    endpoints,
    stop: () => Promise.all(procs.map((p) => stopChild(p))).then(() => undefined),
  };
}

function stopChild(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => p.kill('SIGKILL'), 5000);
    p.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    p.kill('SIGTERM');
  });
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seconds: { type: 'string' }, clients: { type: 'string' }, only: { type: 'string' } } });
  const seconds = Number(values.seconds ?? DEFAULT_SECONDS);
  const clientCount = Number(values.clients ?? DEFAULT_CLIENTS);
  if (!(seconds > 0 && seconds <= MAX_SECONDS) || !(clientCount >= 1 && clientCount <= 256)) usage();
  const only = values.only;
  if (only !== undefined && only !== 'meridian' && only !== 'zookeeper') usage();
  console.log(`ZooKeeper workload: ${clientCount} clients × ${PIPELINE_DEPTH} in flight, ${CHURN_CONCURRENCY} churning sessions, ${seconds} s per row; ${cpus().length} CPUs`);
  const base = mkdtempSync(join(tmpdir(), 'meridian-zk-bench-'));
  const results = new Map<string, Row[]>();
  const stops: (() => Promise<void>)[] = [];
  const cleanup = async (): Promise<void> => {
    for (const s of stops.splice(0)) await s().catch(() => undefined);
    rmSync(base, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    if (only !== 'zookeeper') {
      console.log('Meridian: 3 members on loopback');
      const cluster = await ProcessCluster.start(3);
      stops.push(() => cluster.destroy());
      await waitReady(cluster.zkEndpoints());
      results.set('Meridian', await runWorkload('Meridian', cluster.zkEndpoints(), seconds, clientCount));
      await stops.pop()?.();
    }
    if (only !== 'meridian') {
      console.log('Apache ZooKeeper 3.8: 3 servers on loopback');
      const zk = await startZookeeper(join(base, 'zookeeper'));
      stops.push(() => zk.stop());
      await waitReady(zk.endpoints);
      results.set('ZooKeeper', await runWorkload('ZooKeeper', zk.endpoints, seconds, clientCount));
      await stops.pop()?.();
    }
  } finally {
    await cleanup();
  }
  printTable(results);
}

function printTable(results: Map<string, Row[]>): void {
  const m = results.get('Meridian') ?? [];
  const z = results.get('ZooKeeper') ?? [];
  const names = (m.length > 0 ? m : z).map((r) => r.name);
  console.log(`\n${'workload'.padEnd(60)} ${'Meridian/s'.padStart(11)} ${'ZooKeeper/s'.padStart(12)} ${'ratio'.padStart(7)}`);
  for (const [i, name] of names.entries()) {
    const a = m[i];
    const b = z[i];
    const ratio = a !== undefined && b !== undefined && b.opsPerSec > 0 ? (a.opsPerSec / b.opsPerSec).toFixed(2) : '-';
    const fmt = (r: Row | undefined): string => (r === undefined ? '-' : `${r.opsPerSec.toFixed(0)}${r.errors > 0 ? ` (${r.errors} err)` : ''}`);
    console.log(`${name.padEnd(60)} ${fmt(a).padStart(11)} ${fmt(b).padStart(12)} ${ratio.padStart(7)}`);
  }
}

await main();
