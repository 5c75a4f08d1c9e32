// The member server process: opens the data directory, starts the Member with real clock, disk (WAL + LMDB) and
// peer transport, serves the etcd v3 API over gRPC, and shuts down in order on request.

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { logIndex, nodeId, term, type NodeId } from '../util/branded.js';
import { Prng } from '../util/prng.js';
import { encodeConfChange } from '../raft/confchange_codec.js';
import { ConfChangeType, EntryType, type ConfState, type Entry } from '../raft/types.js';
import { LmdbBackend } from '../storage/backend/lmdb_backend.js';
import { NodeFileSystem } from '../storage/node_file_system.js';
import { startEtcdGrpcServer, type EtcdGrpcServer } from './etcd/grpc_server.js';
import { DEFAULT_RAFT_SETTINGS, Member, type Bootstrap, type MemberClock } from './node/member.js';
import { createMemberMetrics } from './http/metrics.js';
import { startHttpServer } from './http/http_server.js';
import { ETCD_API_VERSION, MemberBackend } from './node/member_backend.js';
import { memberStatusJson, updateGauges } from './status_json.js';
import { encodeMemberContext } from './node/membership.js';
import { transportChannel, type TransportEvent } from './transport/diagnostics.js';
import { PeerTransport, type PeerTransportOptions } from './transport/peer_transport.js';
import { emulationFor, formatRttMatrix, type RttMatrix } from './wan_emulation.js';
import type { MultiDcOptions } from './node/multi_dc.js';
import { startMemberZk, type ZkListen } from './zk/zk_start.js';

export interface ServerConfig {
  readonly name: string;
  readonly dataDir: string;
  readonly listenClientUrls: readonly URL[];
  readonly advertiseClientUrls: readonly URL[];
  readonly listenPeerUrls: readonly URL[];
  readonly initialAdvertisePeerUrls: readonly URL[];
  /** name → peer URLs of every member of the initial cluster. */
  readonly initialCluster: ReadonlyMap<string, readonly URL[]>;
  readonly initialClusterState: 'new' | 'existing';
  readonly initialClusterToken: string;
  readonly dc: string;
  readonly zone: string;
  readonly heartbeatIntervalMs: number;
  readonly electionTimeoutMs: number;
  readonly snapshotCount: number;
  readonly snapshotCatchUpEntries: number;
  readonly quotaBackendBytes: number;
  /** Where to serve /health, /metrics, /version and /v1/status (etcd's --listen-metrics-urls). */
  readonly listenMetricsUrls: readonly URL[];
  /** Development and tests: emulated round trips by DC pair on this member's peer links (`--emulate-wan`). */
  readonly emulateWan?: RttMatrix;
  /** Multi-DC behaviour (--leader-preference, --survive, --auto-promote, --adaptive-timing, lease reads). */
  readonly multiDc?: Omit<MultiDcOptions, 'dc' | 'rttMs'>;
  /** Where to serve the ZooKeeper protocol; absent: not served. */
  readonly listenZk?: ZkListen;
}

export interface ServerLog {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export interface RunningServer {
  readonly member: Member;
  readonly memberId: NodeId;
  readonly clusterId: bigint;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly httpPort: number | null;
  /** The ZooKeeper client port, or null when not served. */
  readonly zkPort: number | null;
  /** Graceful stop: stop serving, persist what was applied, close the files. */
  close(): Promise<void>;
  /** Resolves when the member stopped on its own (a fatal error); the process should then exit non-zero. */
  readonly failed: Promise<Error>;
}

/** Bits of member and cluster ids: the store represents ids below 2^53. */
const ID_BITS_MASK = 0xfffffffffffffn;

/** A member's id from its peer URLs and the cluster token, as every member computes it (etcd does likewise). */
export function memberIdFor(peerUrls: readonly URL[], token: string): NodeId {
  const id = Number(fnv1a64(`${peerUrls.map((u) => u.origin).sort().join(',')}|${token}`) & ID_BITS_MASK);
  return nodeId(id === 0 ? 1 : id);
}

/**
 * The cluster's id, from its token alone: a member joining later (`--initial-cluster-state existing`) computes
 * the same id as the founders, with no call to them. The token must be unique per cluster (etcd's advice too).
 */
export function clusterIdFor(token: string): bigint {
  const id = fnv1a64(`cluster|${token}`) & ID_BITS_MASK;
  return id === 0n ? 1n : id;
}

function fnv1a64(text: string): bigint {
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < text.length; i++) {
    h ^= BigInt(text.charCodeAt(i));
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h;
}

/** The conf change entries that start a new cluster, identical on every member (their logs must match). */
export function bootstrapFor(members: readonly { id: NodeId; name: string; peerUrls: readonly URL[] }[]): Bootstrap {
  const sorted = [...members].sort((a, b) => a.id - b.id);
  const confState: ConfState = { voters: sorted.map((m) => m.id), learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
  const entries: Entry[] = sorted.map((m, i) => ({
    term: term(1),
    index: logIndex(i + 1),
    type: EntryType.ConfChange,
    data: encodeConfChange({
      transition: 'auto',
      changes: [{ type: ConfChangeType.AddNode, nodeId: m.id }],
      context: encodeMemberContext({ name: m.name, peerUrls: m.peerUrls.map((u) => u.origin), clientUrls: [], dc: '', zone: '' }),
    }),
  }));
  return { confState, entries, hardState: { term: term(1), vote: nodeId(0), commit: logIndex(entries.length) } };
}

const realClock: MemberClock = {
  now: () => performance.now(),
  setTimer: (ms, fn) => {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};

/** Meridian's own version, reported at /version. */
export const MERIDIAN_VERSION = '0.1.0';
/** How often the metrics gauges are refreshed from the member's state. */
const GAUGE_REFRESH_MS = 1000;

/** How long one publish attempt waits for its change to apply, in election timeouts. */
const PUBLISH_WAIT_ELECTIONS = 2;
/** How often a member retries publishing its attributes (client URLs, DC) until it succeeds. */
const PUBLISH_RETRY_MS = 1000;

export async function startServer(cfg: ServerConfig, log: ServerLog): Promise<RunningServer> {
  const peerUrls = cfg.initialAdvertisePeerUrls;
  const memberId = memberIdFor(peerUrls, cfg.initialClusterToken);
  const initial = [...cfg.initialCluster].map(([name, urls]) => ({ id: memberIdFor(urls, cfg.initialClusterToken), name, peerUrls: urls }));
  const clusterId = clusterIdFor(cfg.initialClusterToken);
  await mkdir(cfg.dataDir, { recursive: true });
  const kvBackend = new LmdbBackend({ path: join(cfg.dataDir, 'kv') });
  const listenPeer = cfg.listenPeerUrls[0];
  const listenClient = cfg.listenClientUrls[0];
  if (listenPeer === undefined || listenClient === undefined) throw new Error('Cannot start: a client and a peer listen URL are required');

  let member: Member | null = null;
  let failWith: (err: Error) => void = () => undefined;
  const failed = new Promise<Error>((resolve) => {
    failWith = resolve;
  });
  const transport = await PeerTransport.listen({
    clusterId: Number(clusterId),
    memberId,
    host: listenPeer.hostname,
    port: Number(listenPeer.port),
    onMessage: (m) => member?.receive(m),
    onUnreachable: (peer) => member?.reportUnreachable(peer),
    onSnapshotStatus: (peer, status) => member?.reportSnapshot(peer, status),
    ...wanEmulationOption(cfg, () => member),
  });
  const unsubscribeTransport = logTransportEvents(memberId, log);
  // Peers named on the command line, at once (so their first dials are not refused), then the applied list.
  for (const m of initial) {
    const u = m.peerUrls[0];
    if (m.id !== memberId && u !== undefined) transport.addPeer(m.id, u.hostname, Number(u.port));
  }
  const tickMs = cfg.heartbeatIntervalMs;
  const electionTicks = Math.max(2, Math.round(cfg.electionTimeoutMs / tickMs));
  const syncPeers = (): void => {
    // A joining member knows no membership until the leader's log reaches it: keep the command line's peers.
    if (member === null || member.membership.list().length === 0) return;
    const wanted = new Map<NodeId, URL>();
    for (const m of member.membership.list()) {
      const u = m.peerUrls[0];
      if (m.id !== memberId && u !== undefined) wanted.set(m.id, new URL(u));
    }
    // Only a member a conf change removed loses its connection: while the log replays, members appear one by one.
    for (const id of transport.peers()) if (!wanted.has(id) && member.membership.wasRemoved(id)) transport.removePeer(id);
    for (const [id, u] of wanted) if (!transport.peers().includes(id)) transport.addPeer(id, u.hostname, Number(u.port));
  };
  member = await Member.open({
    id: memberId,
    clusterId: String(clusterId),
    fs: new NodeFileSystem(),
    dataDir: join(cfg.dataDir, 'member'),
    kvBackend,
    clock: realClock,
    io: { send: (msgs) => transport.send(msgs), track: (work) => work },
    prng: new Prng(Number(BigInt(memberId) & 0xffffffffn) ^ Date.now()),
    raft: { ...DEFAULT_RAFT_SETTINGS, tickMs, heartbeatTicks: 1, electionTicks },
    bootstrap: cfg.initialClusterState === 'new' ? bootstrapFor(initial) : null,
    snapshotEveryEntries: cfg.snapshotCount,
    compactionLagEntries: cfg.snapshotCatchUpEntries,
    quotaBytes: cfg.quotaBackendBytes,
    requestTimeoutMs: 5000 + 2 * cfg.electionTimeoutMs,
    multiDc: { ...cfg.multiDc, dc: cfg.dc, rttMs: (peer) => transport.rttMs(peer) },
    observer: {
      becameLeader: (t) => log.info('became leader', { term: t }),
      confChanged: () => syncPeers(),
      snapshotInstalled: (index) => log.info('installed a snapshot from the leader', { index }),
      fatal: (err) => {
        log.error('member stopped', { err: err instanceof Error ? err.message : String(err) });
        failWith(err instanceof Error ? err : new Error(String(err)));
      },
    },
  });
  syncPeers();
  const backend = new MemberBackend(member, clusterId, realClock.now, (urls) => memberIdFor(urls.map((u) => new URL(u)), cfg.initialClusterToken));
  let grpc: EtcdGrpcServer;
  try {
    grpc = await startEtcdGrpcServer(backend, { host: listenClient.hostname, port: Number(listenClient.port), driveWatchHub: false });
  } catch (err) {
    await member.close();
    await transport.close();
    throw err;
  }
  const publish = publishAttributes(member, cfg, log);
  const m = member;
  const metrics = createMemberMetrics({ member: { id: memberId, name: cfg.name, dc: cfg.dc, zone: cfg.zone }, etcdVersion: ETCD_API_VERSION });
  const gauges = setInterval(() => updateGauges(metrics, m, transport), GAUGE_REFRESH_MS);
  gauges.unref();
  const listenMetrics = cfg.listenMetricsUrls[0];
  const http = listenMetrics === undefined ? null : await startHttpServer({
    host: listenMetrics.hostname,
    port: Number(listenMetrics.port),
    status: () => memberStatusJson(m, clusterId, transport),
    metrics,
    version: MERIDIAN_VERSION,
    etcdVersion: ETCD_API_VERSION,
  });
  if (cfg.emulateWan !== undefined) log.warn('emulating WAN latency on peer links (development only)', { dc: cfg.dc, matrix: formatRttMatrix(cfg.emulateWan) });
  const zk = cfg.listenZk === undefined ? null : await startMemberZk(m, (id) => backend.leaseKeepAlive(id), cfg.listenZk, log.warn.bind(log));
  log.info('serving', { member: memberId.toString(16), cluster: clusterId.toString(16), client: grpc.port, peer: transport.port, http: http?.port ?? null });
  return {
    member,
    memberId,
    clusterId,
    clientPort: grpc.port,
    peerPort: transport.port,
    httpPort: http?.port ?? null,
    zkPort: zk?.port ?? null,
    failed,
    close: async () => {
      publish.stop();
      clearInterval(gauges);
      await zk?.close();
      backend.close();
      await http?.close();
      await grpc.close();
      await member?.close();
      await transport.close();
      unsubscribeTransport();
    },
  };
}

/**
 * The transport's emulation hook for --emulate-wan: a peer's DC comes from the applied member list, so a
 * link is emulated once that peer published its attributes (until then, plain loopback).
 */
function wanEmulationOption(cfg: ServerConfig, member: () => Member | null): Pick<PeerTransportOptions, 'emulate'> {
  const matrix = cfg.emulateWan;
  if (matrix === undefined || matrix.size === 0) return {};
  return { emulate: (peer) => emulationFor(matrix, cfg.dc, member()?.membership.get(peer)?.dc ?? '') };
}

/** Connection trouble between members goes to the log; the routine events (rtt, drops) only to metrics. */
function logTransportEvents(memberId: NodeId, log: ServerLog): () => void {
  const onEvent = (message: unknown): void => {
    const e = message as TransportEvent;
    if (e.member !== memberId) return;
    if (e.kind === 'refused') log.warn('peer connection refused', { peer: e.peer?.toString(16) ?? null, reason: e.reason });
    else if (e.kind === 'frame-error') log.warn('bad frame from a peer', { peer: e.peer?.toString(16) ?? null, reason: e.reason });
    else if (e.kind === 'connected') log.info('peer connected', { peer: e.peer.toString(16), direction: e.direction });
    else if (e.kind === 'disconnected') log.info('peer disconnected', { peer: e.peer.toString(16), reason: e.reason });
  };
  transportChannel.subscribe(onEvent);
  return () => transportChannel.unsubscribe(onEvent);
}

/**
 * Records this member's client URLs, DC and zone in the replicated member list once a leader exists (etcd's
 * publish): the bootstrap entries carry only what every member knows alike.
 */
function publishAttributes(member: Member, cfg: ServerConfig, log: ServerLog): { stop(): void } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const attempt = (): void => {
    if (stopped || member.isStopped) return;
    const me = member.membership.get(member.id);
    const clientUrls = cfg.advertiseClientUrls.map((u) => u.origin);
    if (me !== undefined && me.dc === cfg.dc && me.zone === cfg.zone && me.name === cfg.name && me.clientUrls.join() === clientUrls.join()) return;
    if (me === undefined || member.leaderId() === 0) {
      timer = setTimeout(attempt, PUBLISH_RETRY_MS);
      return;
    }
    const type = me.isLearner ? ConfChangeType.AddLearnerNode : ConfChangeType.AddNode;
    // A short wait: when members publish at once, the leader takes one change at a time and replaces the
    // others with empty entries, which never answer; retrying soon beats waiting out a request timeout.
    const waitMs = PUBLISH_WAIT_ELECTIONS * cfg.electionTimeoutMs;
    member.changeMembership([{ type, nodeId: member.id }], { name: cfg.name, peerUrls: me.peerUrls, clientUrls, dc: cfg.dc, zone: cfg.zone }, waitMs).then(
      () => log.info('published member attributes', { clientUrls, dc: cfg.dc }),
      () => {
        timer = setTimeout(attempt, PUBLISH_RETRY_MS * Math.random());
      },
    );
  };
  timer = setTimeout(attempt, 0);
  return {
    stop: () => {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
    },
  };
}
