// The ZooKeeper client port of a member (default 2181): accepts connections, keeps the watch registry fed from
// the member's applied changes, answers the four-letter words, and, on the leader, reaps empty containers and
// expired TTL nodes with proposed commands (session expiry itself is the lease expiry loop of the member).

import { createServer, type Server, type Socket } from 'node:net';
import type { RevisionChanges } from '../../kv/types.js';
import { encodeZkCommand } from '../../kv/zk/zk_command.js';
import { newZkServerStats, ZkConnection, type ZkConnectionContext, type ZkServerStats } from './zk_connection.js';
import type { ZkHost } from './zk_session_host.js';
import { ZkWatches } from './zk_watches.js';

export const ZK_DEFAULT_PORT = 2181;
/** Most client connections one member accepts (ZooKeeper's maxClientCnxns is per client IP; this is per member). */
export const ZK_CONNECTIONS_MAX = 10_000;
/** How often the leader looks for containers and TTL nodes to reap (ZooKeeper: znode.container.checkIntervalMs, 60 s). */
export const ZK_REAP_INTERVAL_MS = 1000;
/** Candidates examined per reap round. */
export const ZK_REAP_BATCH = 1000;
/** The version string the four-letter words report: ZooKeeper's protocol level, then ours. */
export const ZK_COMPAT_VERSION = '3.8.0-meridian-0.1.0';

export interface ZkServerOptions {
  readonly host: ZkHost;
  readonly listenHost: string;
  readonly port: number;
  /** Registers a listener for every applied revision's changes; returns its removal. */
  readonly subscribe: (listener: (changes: RevisionChanges) => void) => () => void;
}

export interface RunningZkServer {
  readonly port: number;
  connections(): number;
  close(): Promise<void>;
}

export async function startZkServer(opts: ZkServerOptions): Promise<RunningZkServer> {
  const conns = new Set<ZkConnection>();
  const bySession = new Map<number, Set<ZkConnection>>();
  const stats = newZkServerStats();
  const watches = new ZkWatches((sessionId) => {
    for (const c of bySession.get(sessionId) ?? []) c.expire();
  });
  const ctx: ZkConnectionContext = {
    host: opts.host,
    watches,
    stats,
    attach: (id, c) => {
      let set = bySession.get(id);
      if (set === undefined) bySession.set(id, (set = new Set()));
      set.add(c);
    },
    detach: (id, c) => {
      const set = bySession.get(id);
      set?.delete(c);
      if (set?.size === 0) bySession.delete(id);
      conns.delete(c);
    },
    fourLetterWord: (word) => fourLetterWord(word, opts.host, conns.size, stats, watches.size()),
  };
  const unsubscribe = opts.subscribe((c) => watches.onChanges(c));
  const server: Server = createServer((socket: Socket) => {
    if (conns.size >= ZK_CONNECTIONS_MAX) {
      socket.destroy();
      return;
    }
    const c = new ZkConnection(socket, ctx);
    conns.add(c);
    socket.on('close', () => conns.delete(c));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.listenHost, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : opts.port;
  const reaping = new Map<string, number>();
  const reaper = setInterval(() => reap(opts.host, reaping), ZK_REAP_INTERVAL_MS);
  reaper.unref();
  return {
    port,
    connections: () => conns.size,
    close: async () => {
      clearInterval(reaper);
      unsubscribe();
      for (const c of [...conns]) c.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** On the leader: proposes the removal of due containers and TTL nodes (apply checks again, so a race is harmless). */
function reap(host: ZkHost, proposed: Map<string, number>): void {
  if (!host.isLeader()) {
    proposed.clear();
    return;
  }
  const now = host.wallNow();
  for (const { path, node } of host.kv().zkView().reapCandidates(ZK_REAP_BATCH)) {
    if (node.numChildren > 0) continue;
    const due = node.kind === 1 ? node.cversion > 0 : node.kind === 2 && now > node.mtime + node.ttlMs;
    const last = proposed.get(path);
    if (!due || (last !== undefined && now - last < ZK_REAP_INTERVAL_MS * 5)) continue;
    proposed.set(path, now);
    const payload = encodeZkCommand({ ops: [{ op: 'reap', path }], multi: false, time: now, session: 0, auth: [] });
    host.propose({ type: 'zk', payload }).catch(() => undefined);
  }
}

function fourLetterWord(word: string, host: ZkHost, connections: number, stats: ZkServerStats, watchCount: number): string | null {
  const kv = host.kv();
  const mode = host.isLeader() ? 'leader' : 'follower';
  const zxid = `0x${kv.currentRevision().toString(16)}`;
  const n = stats.latencyCount;
  const latency = n === 0 ? '0/0.0/0' : `${Math.round(stats.latencyMinMs)}/${(stats.latencySumMs / n).toFixed(1)}/${Math.round(stats.latencyMaxMs)}`;
  switch (word) {
    case 'ruok': return 'imok';
    case 'isro': return 'rw';
    case 'srvr': {
      const nodes = kv.zkView().descendantCount('/') + 1;
      return [
        `Zookeeper version: ${ZK_COMPAT_VERSION}`, `Latency min/avg/max: ${latency}`, `Received: ${stats.received}`,
        `Sent: ${stats.sent}`, `Connections: ${connections}`, `Outstanding: ${stats.outstanding}`, `Zxid: ${zxid}`, `Mode: ${mode}`,
        `Node count: ${nodes}`, `Read consistency: ${host.readConsistency ?? 'serializable'}`, '',
      ].join('\n');
    }
    case 'mntr': {
      const view = kv.zkView();
      const sessions = view.sessionIds();
      const ephemerals = sessions.reduce((n, id) => n + view.ephemerals(id).length, 0);
      const rows: [string, string | number][] = [
        ['zk_version', ZK_COMPAT_VERSION], ['zk_server_state', mode], ['zk_packets_received', stats.received],
        ['zk_packets_sent', stats.sent], ['zk_num_alive_connections', connections], ['zk_outstanding_requests', stats.outstanding],
        ['zk_avg_latency', n === 0 ? 0 : (stats.latencySumMs / n).toFixed(1)], ['zk_max_latency', Math.round(stats.latencyMaxMs)],
        ['zk_znode_count', view.descendantCount('/') + 1], ['zk_watch_count', watchCount],
        ['zk_ephemerals_count', ephemerals], ['zk_global_sessions', sessions.length], ['zk_zxid', zxid],
      ];
      return rows.map(([k, v]) => `${k}\t${v}`).join('\n') + '\n';
    }
    default: return null;
  }
}
