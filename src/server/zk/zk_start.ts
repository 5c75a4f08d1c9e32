// Starts a member's ZooKeeper port (server.ts calls this): joins the ZooKeeper server to the Member and to the
// etcd backend that forwards session keep-alives from followers to the leader.

import type { LeaseId } from '../../util/branded.js';
import type { Member } from '../node/member.js';
import { startZkServer, type RunningZkServer } from './zk_server.js';

export interface ZkListen {
  readonly url: URL;
  /** When true (the port was derived, not asked for), a port in use is no error: the member runs without it. */
  readonly optional: boolean;
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
      },
    });
  } catch (err) {
    if (!listen.optional) throw err;
    warn('ZooKeeper port not served', { url: listen.url.origin, err: err instanceof Error ? err.message : String(err) });
    return null;
  }
}
