// `meridian server`: one member, with etcd's flag names so existing scripts and tooling carry over.

import pino from 'pino';
import { startServer, type ServerConfig, type ServerLog } from '../server/server.js';
import { parseRttMatrix, WanEmulationSyntaxError, type RttMatrix } from '../server/wan_emulation.js';
import type { ZkListen } from '../server/zk/zk_start.js';
import type { ReadOptions } from '../server/etcd/read_options.js';
import { helpText, parseFlags, parseUrl, splitList, UsageError, type FlagSpecs } from './flags.js';
import { parseLeaderPreference, SurvivalGoalError } from '../server/node/placement.js';
import { LEASE_READ_MARGIN_MS_DEFAULT } from '../server/node/read_paths.js';

export const SERVER_FLAGS: FlagSpecs = {
  'name': { kind: 'string', default: 'default', help: 'human-readable name of this member' },
  'data-dir': { kind: 'string', default: '', help: 'path to the data directory (default: <name>.meridian)' },
  'listen-client-urls': { kind: 'urls', default: 'http://127.0.0.1:2379', help: 'where to serve the etcd v3 API' },
  'advertise-client-urls': { kind: 'urls', default: '', help: 'client URLs to tell the cluster (default: listen-client-urls)' },
  'listen-peer-urls': { kind: 'urls', default: 'http://127.0.0.1:2380', help: 'where to listen for other members' },
  'initial-advertise-peer-urls': { kind: 'urls', default: '', help: 'peer URLs to tell the cluster (default: listen-peer-urls)' },
  'initial-cluster': { kind: 'string', default: '', help: 'name=peerURL,... of the initial members (default: just this one)' },
  'initial-cluster-state': { kind: 'string', default: 'new', help: "'new' to start a cluster, 'existing' to join one" },
  'initial-cluster-token': { kind: 'string', default: 'meridian-cluster', help: 'cluster token: members and ids derive from it' },
  'listen-metrics-urls': { kind: 'urls', default: '', help: 'where to serve /health, /metrics, /version, /v1/status (default: client port + 2)' },
  'listen-zk-urls': { kind: 'string', default: '', help: "where to serve the ZooKeeper protocol (default: client port - 198, 2181 for 2379; 'none': off)" },
  'zk-read-consistency': { kind: 'string', default: 'serializable', help: 'freshness of ZooKeeper reads on this member: serializable (ZooKeeper\'s), linearizable, bounded:<ms>, lease' },
  'dc': { kind: 'string', default: '', help: 'data center this member runs in' },
  'zone': { kind: 'string', default: '', help: 'zone within the data center' },
  'emulate-wan': { kind: 'string', default: '', help: 'development: delay peer links by DC pair, DC_A:DC_B=RTT[/JITTER][/LOSS%],... (e.g. us-east:eu-west=80ms); needs --dc' },
  'heartbeat-interval': { kind: 'duration-ms', default: '100', help: 'heartbeat interval in ms' },
  'election-timeout': { kind: 'duration-ms', default: '1000', help: 'election timeout in ms' },
  'snapshot-count': { kind: 'int', default: '100000', help: 'applied entries between snapshots (etcd 3.4: 100000)' },
  'quota-backend-bytes': { kind: 'int', default: String(2 * 1024 * 1024 * 1024), help: 'store size before the NOSPACE alarm' },
  // Multi-DC (issue #6): placement, affinity, timing and read paths.
  'leader-preference': { kind: 'string', default: '', help: 'DCs in order of preference for the leader, e.g. us-east,eu-west (the same on every member)' },
  'survive': { kind: 'string', default: '', help: "survival goal: 'dc' (lose any one DC) or 'member' (default: dc with 3 or more DCs)" },
  'auto-promote': { kind: 'bool', default: 'false', help: 'the leader promotes caught-up learners while the survival goal holds' },
  'adaptive-timing': { kind: 'bool', default: 'true', help: 'heartbeat and election timeout follow measured round trips (never below the configured ones)' },
  'leader-lease-reads': { kind: 'bool', default: 'false', help: 'a leader serves lease reads without a round trip (assumes clock drift within --lease-read-margin-ms)' },
  'lease-read-margin-ms': { kind: 'duration-ms', default: String(LEASE_READ_MARGIN_MS_DEFAULT), help: 'safety margin subtracted from the leader lease, ms' },
  'log-level': { kind: 'string', default: 'info', help: 'debug, info, warn or error' },
  'help': { kind: 'bool', default: 'false', help: 'print this help' },
};

/** The derived ZooKeeper port sits this far below the client port (2379 → 2181). */
export const ZK_PORT_BELOW_CLIENT = 198;

/** Entries kept behind a snapshot for slow followers (etcd's default). */
const SNAPSHOT_CATCH_UP_ENTRIES = 5000;

export function parseServerConfig(argv: readonly string[]): { config: ServerConfig; logLevel: string } | 'help' {
  const { values: v, rest } = parseFlags(argv, SERVER_FLAGS);
  if (v.get('help') === 'true') return 'help';
  if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
  const get = (k: string): string => v.get(k) ?? '';
  const urls = (k: string, fallback: string): URL[] => splitList(get(k) === '' ? get(fallback) : get(k)).map((u) => parseUrl(k, u));
  const name = get('name');
  const peerUrls = urls('initial-advertise-peer-urls', 'listen-peer-urls');
  const initialCluster = new Map<string, URL[]>();
  const spec = get('initial-cluster') === '' ? `${name}=${peerUrls.map((u) => u.origin).join(',')}` : get('initial-cluster');
  for (const part of splitList(spec)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new UsageError(`flag --initial-cluster: "${part}" is not name=URL`);
    const list = initialCluster.get(part.slice(0, eq)) ?? [];
    list.push(parseUrl('initial-cluster', part.slice(eq + 1)));
    initialCluster.set(part.slice(0, eq), list);
  }
  const mine = initialCluster.get(name);
  if (mine === undefined) throw new UsageError(`flag --initial-cluster does not name this member ("${name}"); add ${name}=${peerUrls[0]?.origin ?? 'URL'}`);
  if (mine.map((u) => u.origin).sort().join() !== peerUrls.map((u) => u.origin).sort().join()) {
    throw new UsageError(`--initial-cluster gives ${name} the peer URLs ${mine.map((u) => u.origin).join(',')} but --initial-advertise-peer-urls says ${peerUrls.map((u) => u.origin).join(',')}`);
  }
  const state = get('initial-cluster-state');
  if (state !== 'new' && state !== 'existing') throw new UsageError(`flag --initial-cluster-state must be 'new' or 'existing', got "${state}"`);
  const heartbeat = Number(get('heartbeat-interval'));
  const election = Number(get('election-timeout'));
  if (heartbeat < 1 || election < 5 * heartbeat) {
    throw new UsageError(`--election-timeout (${election} ms) must be at least 5 times --heartbeat-interval (${heartbeat} ms)`);
  }
  const config: ServerConfig = {
    name,
    dataDir: get('data-dir') === '' ? `${name}.meridian` : get('data-dir'),
    listenClientUrls: urls('listen-client-urls', 'listen-client-urls'),
    advertiseClientUrls: urls('advertise-client-urls', 'listen-client-urls'),
    listenPeerUrls: urls('listen-peer-urls', 'listen-peer-urls'),
    initialAdvertisePeerUrls: peerUrls,
    initialCluster,
    initialClusterState: state,
    initialClusterToken: get('initial-cluster-token'),
    dc: get('dc'),
    zone: get('zone'),
    heartbeatIntervalMs: heartbeat,
    electionTimeoutMs: election,
    snapshotCount: Number(get('snapshot-count')),
    snapshotCatchUpEntries: Math.min(SNAPSHOT_CATCH_UP_ENTRIES, Number(get('snapshot-count'))),
    quotaBackendBytes: Number(get('quota-backend-bytes')),
    listenMetricsUrls: metricsUrls(get('listen-metrics-urls'), urls('listen-client-urls', 'listen-client-urls')),
    ...wanEmulation(get('emulate-wan'), get('dc')),
    multiDc: multiDcConfig(get, election),
    ...zkListen(get('listen-zk-urls'), urls('listen-client-urls', 'listen-client-urls'), parseZkReadConsistency(get('zk-read-consistency'))),
  };
  return { config, logLevel: get('log-level') };
}

export async function runServer(argv: readonly string[]): Promise<number> {
  const parsed = parseServerConfig(argv);
  if (parsed === 'help') {
    console.log(helpText('server', SERVER_FLAGS));
    return 0;
  }
  const logger = pino({ level: parsed.logLevel, base: { member: parsed.config.name } });
  const log: ServerLog = {
    info: (msg, f) => logger.info(f ?? {}, msg),
    warn: (msg, f) => logger.warn(f ?? {}, msg),
    error: (msg, f) => logger.error(f ?? {}, msg),
  };
  let server;
  try {
    server = await startServer(parsed.config, log);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE') log.error(`Cannot listen: ${e.message}. Another process uses that port; stop it or pass other --listen-*-urls.`);
    else log.error(`Cannot start: ${e.message}`);
    return 1;
  }
  const stop = new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  const outcome = await Promise.race([stop, server.failed]);
  if (outcome instanceof Error) {
    log.error('member failed; exiting', { err: outcome.message });
    return 2;
  }
  log.info(`received ${outcome}, shutting down`);
  await server.close();
  log.info('stopped');
  return 0;
}

/** The --emulate-wan matrix as a config field (absent when the flag is not given). */
function wanEmulation(flag: string, dc: string): { emulateWan?: RttMatrix } {
  if (flag === '') return {};
  if (dc === '') throw new UsageError('flag --emulate-wan needs --dc: the matrix is applied by the DCs of this member and its peers');
  try {
    return { emulateWan: parseRttMatrix(flag) };
  } catch (err) {
    if (err instanceof WanEmulationSyntaxError) throw new UsageError(err.message);
    throw err;
  }
}

/** The multi-DC flags (issue #6). */
function multiDcConfig(get: (k: string) => string, electionMs: number): NonNullable<ServerConfig['multiDc']> {
  let leaderPreference: string[];
  try {
    leaderPreference = parseLeaderPreference(get('leader-preference'));
  } catch (err) {
    throw new UsageError(err instanceof SurvivalGoalError ? err.message : String(err));
  }
  const survive = get('survive');
  if (survive !== '' && survive !== 'dc' && survive !== 'member') throw new UsageError(`flag --survive must be 'dc' or 'member', got "${survive}"`);
  const margin = Number(get('lease-read-margin-ms'));
  if (get('leader-lease-reads') === 'true' && margin >= electionMs) {
    throw new UsageError(`--lease-read-margin-ms (${margin} ms) must be below --election-timeout (${electionMs} ms), or no lease is left`);
  }
  return {
    leaderPreference,
    survive: survive === '' ? null : survive,
    autoPromote: get('auto-promote') === 'true',
    adaptiveTiming: get('adaptive-timing') === 'true',
    leaseReads: get('leader-lease-reads') === 'true',
    leaseReadMarginMs: margin,
  };
}

/** ZooKeeper's port: as asked, or derived from the client port (2379 - 198 = 2181: 2181, 22181, 32181 under `dev`). */
function zkListen(flag: string, clientUrls: readonly URL[], readConsistency: ReadOptions | undefined): { listenZk?: ZkListen } {
  if (flag === 'none') return {};
  const reads = readConsistency === undefined ? {} : { readConsistency };
  if (flag !== '') return { listenZk: { url: parseUrl('listen-zk-urls', splitList(flag)[0] ?? ''), optional: false, ...reads } };
  const client = clientUrls[0];
  const port = client === undefined ? 0 : Number(client.port) - ZK_PORT_BELOW_CLIENT;
  if (client === undefined || port <= 0) return {};
  return { listenZk: { url: new URL(`http://${client.hostname}:${port}`), optional: true, ...reads } };
}

/**
 * --zk-read-consistency: serializable (ZooKeeper's local reads), linearizable, bounded:<ms> or lease. A ZooKeeper
 * request carries no options, so the member chooses for its clients; min-revision is not offered because a
 * session already reads its own writes.
 */
function parseZkReadConsistency(flag: string): ReadOptions | undefined {
  if (flag === '' || flag === 'serializable') return undefined;
  if (flag === 'linearizable') return { mode: 'linearizable' };
  if (flag === 'lease') return { mode: 'leaseRead' };
  const bounded = /^bounded:(\d+)(ms)?$/.exec(flag);
  if (bounded !== null) return { mode: 'bounded', maxStalenessMs: Number(bounded[1]) };
  throw new UsageError(`flag --zk-read-consistency must be serializable, linearizable, bounded:<ms> (e.g. bounded:500ms) or lease, got "${flag}"`);
}

/** etcd serves these on its client port; gRPC here owns that port, so the default is the client port + 2 (2381). */
function metricsUrls(flag: string, clientUrls: readonly URL[]): URL[] {
  if (flag !== '') return splitList(flag).map((u) => parseUrl('listen-metrics-urls', u));
  const client = clientUrls[0];
  if (client === undefined) return [];
  return [new URL(`http://${client.hostname}:${Number(client.port) + 2}`)];
}
