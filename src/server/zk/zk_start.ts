// Starts a member's ZooKeeper port (server.ts calls this): joins the ZooKeeper server to the Member and to the
// etcd backend that forwards session keep-alives from followers to the leader.

import type { LeaseId } from '../../util/branded.js';
import type { ReadOptions } from '../etcd/read_options.js';
import type { Member } from '../node/member.js';
import { startZkServer, type RunningZkServer } from './zk_server.js';

export interface ZkListen {
  readonly url: URL;
  /** When true (the port was derived, not asked for), a port in use is no error: the member runs without it. */
  readonly optional: boolean;
  /** How fresh reads must be (`--zk-read-consistency`); absent or serializable: ZooKeeper's local reads. */
  readonly readConsistency?: ReadOptions;
}

/** The text of a read consistency, as the flag takes it and `srvr` shows it. */
export function formatZkReadConsistency(o: ReadOptions | undefined): string {
  if (o === undefined) return 'serializable';
  if (o.mode === 'bounded') return `bounded:${o.maxStalenessMs ?? 0}ms`;
  return o.mode === 'leaseRead' ? 'lease' : o.mode;
}

export async function startMemberZk(
  member: Member,
  keepAlive: (id: LeaseId) => Promise<{ readonly ttlSeconds: number }>,
  listen: ZkListen,
  warn: (msg: string, fields?: Record<string, unknown>) => void,
): Promise<RunningZkServer | null> {
  try {
    return await startZkServer({
      listenHost: listen.url.hostname,
      port: Number(listen.url.port),
      subscribe: (listener) => {
        member.changeListeners.add(listener);
        return () => member.changeListeners.delete(listener);
      },
      host: {
        kv: () => member.kv,
        propose: (c) => member.propose(c),
        readBarrier: () => member.readBarrier(),
        keepAlive,
        isLeader: () => member.isLeader(),
        wallNow: () => Date.now(),
        readConsistency: formatZkReadConsistency(listen.readConsistency),
        ...readGate(member, listen.readConsistency),
      },
    });
  } catch (err) {
    if (!listen.optional) throw err;
    warn('ZooKeeper port not served', { url: listen.url.origin, err: err instanceof Error ? err.message : String(err) });
    return null;
  }
}

/** Reads wait on the member's read paths (read_paths.ts), the same ones the etcd API's metadata selects. */
function readGate(member: Member, o: ReadOptions | undefined): { readGate?: () => Promise<void> } {
  if (o === undefined || o.mode === 'serializable') return {};
  return {
    readGate: () => new Promise<void>((resolve, reject) => member.readPaths.read(o, (err) => (err === null ? resolve() : reject(err)))),
  };
}
