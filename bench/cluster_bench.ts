// `npm run bench`: one etcd v3 workload against a 3-member etcd cluster and a 3-member Meridian cluster on loopback
// in one run (both up, rows alternating between them); throughput, p50/p90/p99, CPU and peak memory of each side
// and the Meridian/etcd ratios.
// Run: npm run bench [-- --only etcd|meridian] [--rows put64,range,...] [--seconds N]   (see USAGE)

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { etcdMethod } from '../src/wire/etcd_proto.js';
import { EtcdLoad, formatErrors, KEY_COUNT, VALUE_BYTES, type Workload } from './etcd_load.js';
import {
  type ClusterCommand, cpuSeconds, KILL_WAIT_MS, killEverythingNow, LocalCluster, peakRssBytes, registerTempDir,
  removeTempDir, resetPeakRss, STOP_GRACE_MS,
} from './cluster_bench_procs.js';
import { printSummary, printTables, type RowSpec, type Side, type SideRow, type SideStatus, SIDES } from './cluster_bench_report.js';

/** Measured seconds per row unless --seconds says otherwise: 7 rows × 2 sides stay well under 6 minutes. */
const DEFAULT_MEASURE_SECONDS = 10;
const MAX_MEASURE_SECONDS = 600;
/** Requests run unmeasured this long at the start of each row (at most the measured time). */
const WARMUP_SECONDS = 2;
/** Pause between rows, so one row's tail (fsyncs, GC) does not land in the next. */
const ROW_PAUSE_MS = 500;
const ETCD_BINARY = '/usr/bin/etcd';
const ETCD_PACKAGE = 'etcd-server';
const APT_TIMEOUT_MS = 300_000;
const STATUS_PROBE_MS = 2_000;
/** The Meridian member CLI, from dist/bench/ up to dist/src/cli/. */
const MERIDIAN_CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const EXIT_USAGE = 2;
const EXIT_INTERRUPTED = 130;

type BenchRow = RowSpec & { readonly workload: Workload };

const ROWS: readonly BenchRow[] = [
  { name: 'put1', kind: 'put', clients: 1, label: 'put, 1 client', workload: { kind: 'put' } },
  { name: 'put16', kind: 'put', clients: 16, label: 'put, 16 clients', workload: { kind: 'put' } },
  { name: 'put64', kind: 'put', clients: 64, label: 'put, 64 clients', workload: { kind: 'put' } },
  { name: 'put256', kind: 'put', clients: 256, label: 'put, 256 clients', workload: { kind: 'put' } },
  { name: 'range-l64', kind: 'range', clients: 64, label: 'range linearizable, 64 clients', workload: { kind: 'range', serializable: false } },
  { name: 'range-s64', kind: 'range', clients: 64, label: 'range serializable, 64 clients', workload: { kind: 'range', serializable: true } },
  { name: 'txn16', kind: 'txn', clients: 16, label: 'txn CAS (mod_revision), 16 clients', workload: { kind: 'txn-cas' } },
];

const USAGE = `Usage: node dist/bench/cluster_bench.js [--only etcd|meridian] [--rows ROWS] [--seconds N]
  --only      run one side only (default: etcd, then Meridian)
  --rows      comma-separated rows or kinds (default: all): ${ROWS.map((r) => r.name).join(', ')}; kinds: put, range, txn
  --seconds   measured seconds per row (default ${DEFAULT_MEASURE_SECONDS}), after up to ${WARMUP_SECONDS} s of warm-up`;

class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly code = 'ERR_BENCH_USAGE';
}

interface Options {
  readonly sides: readonly Side[];
  readonly rows: readonly BenchRow[];
  readonly measureSeconds: number;
}

function parseOptions(argv: readonly string[]): Options {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv], strict: true, allowPositionals: false,
      options: { only: { type: 'string' }, rows: { type: 'string' }, seconds: { type: 'string' }, help: { type: 'boolean' } },
    }).values;
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  if (parsed.help === true) throw new UsageError('');
  const only = parsed.only;
  if (only !== undefined && !SIDES.some((s) => s === only)) throw new UsageError(`--only must be etcd or meridian, got "${only}"`);
  const sides = SIDES.filter((s) => only === undefined || s === only);
  const rows = parsed.rows === undefined ? ROWS : selectRows(parsed.rows);
  const measureSeconds = parsed.seconds === undefined ? DEFAULT_MEASURE_SECONDS : Number(parsed.seconds);
  if (!Number.isFinite(measureSeconds) || measureSeconds <= 0 || measureSeconds > MAX_MEASURE_SECONDS) {
    throw new UsageError(`--seconds must be a number in (0, ${MAX_MEASURE_SECONDS}], got "${parsed.seconds}"`);
  }
  return { sides, rows, measureSeconds };
}

function selectRows(list: string): BenchRow[] {
  const wanted = list.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const w of wanted) {
    if (!ROWS.some((r) => r.name === w || r.kind === w)) {
      throw new UsageError(`--rows: unknown row "${w}"; rows are ${ROWS.map((r) => r.name).join(', ')} and kinds put, range, txn`);
    }
  }
  if (wanted.length === 0) throw new UsageError('--rows names no row');
  return ROWS.filter((r) => wanted.includes(r.name) || wanted.includes(r.kind));
}

// ---------------------------------------------------------------------------------------------------------------
// Exit paths: every cluster started is stopped, whatever happens.

const activeClusters = new Set<LocalCluster>();
let aborting = false;

async function abort(why: string, exitCode: number): Promise<void> {
  if (aborting) {
    killEverythingNow();
    process.exit(exitCode);
  }
  aborting = true;
  console.error(`\n${why}: stopping every cluster this run started (SIGTERM, SIGKILL after ${STOP_GRACE_MS} ms)`);
  const stops = Promise.all([...activeClusters].map((c) => c.stop()));
  await Promise.race([stops, new Promise((resolve) => setTimeout(resolve, STOP_GRACE_MS + KILL_WAIT_MS))]);
  killEverythingNow();
  process.exit(exitCode);
}

function installExitHandlers(): void {
  process.on('SIGINT', () => void abort('Interrupted (SIGINT)', EXIT_INTERRUPTED));
  process.on('SIGTERM', () => void abort('Terminated (SIGTERM)', EXIT_INTERRUPTED));
  process.on('SIGHUP', () => void abort('Hung up (SIGHUP)', EXIT_INTERRUPTED));
  process.on('uncaughtException', (err) => void abort(`Unexpected error: ${err.stack ?? err.message}`, 1));
  process.on('unhandledRejection', (err) => void abort(`Unhandled rejection: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`, 1));
  process.on('exit', killEverythingNow);
}

// ---------------------------------------------------------------------------------------------------------------
// The two sides

type Prepared = { readonly ok: true; readonly command: ClusterCommand } | { readonly ok: false; readonly reason: string };

function aptGet(args: readonly string[]): boolean {
  console.log(`etcd: running apt-get ${args.join(' ')}`);
  const r = spawnSync('apt-get', [...args], { stdio: 'inherit', timeout: APT_TIMEOUT_MS, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.error !== undefined) console.log(`etcd: apt-get ${args.join(' ')} failed: ${r.error.message}`);
  return r.status === 0;
}

/** etcd from Debian's package, installed with apt-get when missing (we are root in this environment). */
function prepareEtcd(): Prepared {
  const command: ClusterCommand = { side: 'etcd', executable: ETCD_BINARY, argsBefore: [] };
  if (existsSync(ETCD_BINARY)) return { ok: true, command };
  console.log(`etcd: ${ETCD_BINARY} not found; installing Debian's ${ETCD_PACKAGE} package`);
  if (process.getuid?.() !== 0) {
    return { ok: false, reason: `${ETCD_BINARY} is missing and this is not root; install it with \`sudo apt-get install -y ${ETCD_PACKAGE}\` and run again` };
  }
  if (!aptGet(['install', '-y', ETCD_PACKAGE])) {
    console.log('etcd: install failed; refreshing the package lists once and retrying');
    if (aptGet(['update'])) aptGet(['install', '-y', ETCD_PACKAGE]);
  }
  if (existsSync(ETCD_BINARY)) return { ok: true, command };
  return { ok: false, reason: `could not install ${ETCD_PACKAGE} with apt-get (see its output above); install it by hand (\`apt-get install -y ${ETCD_PACKAGE}\`) and run again` };
}

function prepareMeridian(): Prepared {
  if (!existsSync(MERIDIAN_CLI)) {
    return { ok: false, reason: `Meridian server not built yet (${MERIDIAN_CLI} is missing; \`npm run build\` once src/cli/main.ts exists)` };
  }
  return { ok: true, command: { side: 'meridian', executable: process.execPath, argsBefore: [MERIDIAN_CLI, 'server'] } };
}

/** The `version` of Maintenance.Status from the first member, or '?' when it does not answer. */
function serverVersion(endpoint: string): Promise<string> {
  const status = etcdMethod('maintenance', 'Status');
  const client = new grpc.Client(endpoint, grpc.credentials.createInsecure());
  return new Promise<string>((resolve) => {
    client.makeUnaryRequest(status.path, status.requestSerialize, status.responseDeserialize, {}, { deadline: Date.now() + STATUS_PROBE_MS }, (err, value) => {
      const version = err === null && typeof value === 'object' && value !== null ? (value as { version?: unknown }).version : undefined;
      resolve(typeof version === 'string' && version !== '' ? version : '?');
    });
  }).finally(() => client.close());
}

function loadAverage(): string {
  return loadavg().map((l) => l.toFixed(2)).join(' ');
}

async function measureRow(load: EtcdLoad, cluster: LocalCluster, row: BenchRow, measureSeconds: number): Promise<SideRow> {
  const pgids = cluster.pgids;
  resetPeakRss(pgids);
  let cpuStart = Number.NaN;
  let cpuEnd = Number.NaN;
  let genStart: NodeJS.CpuUsage | undefined;
  let genCpuSeconds = Number.NaN;
  const result = await load.run({
    workload: row.workload, clients: row.clients,
    warmupMs: Math.min(WARMUP_SECONDS, measureSeconds) * 1000, measureMs: measureSeconds * 1000,
    onWindowStart: () => {
      cpuStart = cpuSeconds(pgids);
      genStart = process.cpuUsage();
    },
    onWindowEnd: () => {
      cpuEnd = cpuSeconds(pgids);
      const gen = process.cpuUsage(genStart);
      genCpuSeconds = (gen.user + gen.system) / 1e6;
    },
  });
  return { load: result, cpuSeconds: cpuEnd - cpuStart, peakRssBytes: peakRssBytes(pgids), generatorCpuSeconds: genCpuSeconds };
}

interface RunningSide {
  readonly side: Side;
  readonly command: ClusterCommand;
  readonly cluster: LocalCluster;
  readonly load: EtcdLoad;
  readonly note: string;
  readonly rows: Map<string, SideRow>;
}

async function startSide(side: Side, command: ClusterCommand, dir: string): Promise<RunningSide> {
  console.log(`\n${command.side}: starting 3 members on 127.0.0.1 (data under ${dir})`);
  const startedAt = performance.now();
  const cluster = await LocalCluster.start(command, dir);
  activeClusters.add(cluster);
  try {
    const version = await serverVersion(cluster.endpoints[0] ?? '');
    const peakPerRow = resetPeakRss(cluster.pgids);
    console.log(`${command.side}: ${version} ready in ${((performance.now() - startedAt) / 1000).toFixed(1)} s at ${cluster.endpoints.join(', ')}`);
    const load = new EtcdLoad(cluster.endpoints);
    // Writing every key first is also the side's warm-up: first-write costs (WAL and database files growing,
    // JIT, GC sizing) land here instead of in the first row, and puts then overwrite existing keys.
    const t0 = performance.now();
    const p = await load.prefill();
    console.log(`${command.side}: wrote all ${KEY_COUNT} keys in ${((performance.now() - t0) / 1000).toFixed(1)} s (unmeasured warm-up; errors: ${formatErrors(p.errors)}); load average ${loadAverage()}`);
    return { side, command, cluster, load, note: `${version}${peakPerRow ? '' : '; peak memory is since start (clear_refs refused)'}`, rows: new Map() };
  } catch (err) {
    await stopSide(side, cluster);
    throw err;
  }
}

async function measureSideRow(side: RunningSide, row: BenchRow, measureSeconds: number): Promise<void> {
  const r = await measureRow(side.load, side.cluster, row, measureSeconds);
  side.rows.set(row.name, r);
  console.log(`${side.command.side}: ${row.name.padEnd(9)} ${Math.round(r.load.opsPerSecond).toLocaleString('en-US').padStart(7)} ops/s  p99 ${r.load.p99Ms.toFixed(2)} ms  errors ${r.load.errorCount}  (load average ${loadAverage()})`);
  const exited = side.cluster.exitedMembers();
  if (exited.length > 0) throw new Error(`${side.command.side} member(s) ${exited.join(', ')} exited during ${row.name}; logs:\n${side.cluster.logTails()}`);
  await new Promise((resolve) => setTimeout(resolve, ROW_PAUSE_MS));
}

async function stopSide(side: Side, cluster: LocalCluster): Promise<void> {
  const stopAt = performance.now();
  await cluster.stop();
  activeClusters.delete(cluster);
  console.log(`${side}: stopped in ${((performance.now() - stopAt) / 1000).toFixed(1)} s`);
}

// ---------------------------------------------------------------------------------------------------------------

function recordFailure(status: Map<Side, SideStatus>, side: Side, err: unknown): void {
  const message = err instanceof Error ? err.message : String(err);
  console.log(`\n${side}: FAILED: ${message}`);
  status.set(side, { state: 'failed', note: message.split('\n')[0] ?? message });
}

async function main(): Promise<number> {
  let options: Options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    if (err.message !== '') console.error(err.message);
    console.error(USAGE);
    return err.message === '' ? 0 : EXIT_USAGE;
  }
  installExitHandlers();
  const root = mkdtempSync(join(tmpdir(), 'meridian-bench-'));
  registerTempDir(root);
  console.log(`Meridian vs etcd, 3 members each on 127.0.0.1, both running, rows alternating between them. ${VALUE_BYTES}-byte values, keys uniform over ${KEY_COUNT.toLocaleString('en-US')}.`);
  console.log(`Rows: ${options.rows.map((r) => r.name).join(', ')}; ${options.measureSeconds} s measured per row after up to ${WARMUP_SECONDS} s warm-up.`);
  console.log(`Machine: ${cpus().length} CPUs, load average ${loadAverage()} (shared and noisy: only the ratios within one run count).`);
  console.log('CPU s = CPU seconds of the 3 members in the window; peak MB = sum of the members\' VmHWM in the row; gen CPU s = this load generator.');

  const results = new Map<Side, Map<string, SideRow>>();
  const status = new Map<Side, SideStatus>();
  // Both clusters run at once and the rows alternate between them (the first side swaps every row), so the
  // drift of a shared, noisy machine falls on both sides of each ratio alike; the idle cluster only heartbeats.
  const running: RunningSide[] = [];
  for (const side of options.sides) {
    const prepared = side === 'etcd' ? prepareEtcd() : prepareMeridian();
    if (!prepared.ok) {
      console.log(`\n${side}: skipped: ${prepared.reason}`);
      status.set(side, { state: 'skipped', note: prepared.reason });
      continue;
    }
    try {
      running.push(await startSide(side, prepared.command, join(root, side)));
    } catch (err) {
      recordFailure(status, side, err);
    }
  }
  console.log('');
  for (const [i, row] of options.rows.entries()) {
    const order = i % 2 === 0 ? running : [...running].reverse();
    for (const side of order) {
      if (status.has(side.side)) continue;
      try {
        await measureSideRow(side, row, options.measureSeconds);
      } catch (err) {
        recordFailure(status, side.side, err);
      }
    }
  }
  for (const side of running) {
    await stopSide(side.side, side.cluster);
    results.set(side.side, side.rows);
    if (!status.has(side.side)) status.set(side.side, { state: 'ran', note: side.note });
  }
  removeTempDir(root);
  printTables(options.rows, results);
  printSummary(options.rows, results, status);
  const failed = [...status.values()].some((s) => s.state === 'failed');
  if (results.size === 0) console.log('Nothing was measured: every side was skipped or failed (see above).');
  return failed || results.size === 0 ? 1 : 0;
}

main().then((code) => {
  process.exitCode = code;
}, (err: unknown) => {
  void abort(`Benchmark failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`, 1);
});
