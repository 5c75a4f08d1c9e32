// The ZooKeeper session of `client.zk()`: `connect({ endpoints, zk: zkSessions() })` gives a Client whose zk() is a
// typed ZkSession on the members' ZooKeeper ports, in the client's order of preference (own DC first).

import type { ZkSessionFactory } from './client.js';
import { ZK_PORT_BELOW_CLIENT_DEFAULT } from './limits.js';
import { ZkSession } from './zk_session.js';

export interface ZkSessionsOptions {
  /** "host:port" of the ZooKeeper ports, when they are not at the members' client port - 198 (the server's default). */
  readonly endpoints?: readonly string[];
  readonly sessionTimeoutMs?: number;
}

/** A factory for Client's `zk` option. */
export function zkSessions(options: ZkSessionsOptions = {}): ZkSessionFactory<ZkSession> {
  return async (context) => {
    const endpoints = options.endpoints ?? context.members().map((m) => zkAddress(m.address));
    return ZkSession.connect({
      endpoints,
      connectTimeoutMs: context.dialTimeoutMs,
      ...(options.sessionTimeoutMs === undefined ? {} : { sessionTimeoutMs: options.sessionTimeoutMs }),
    });
  };
}

/** The default ZooKeeper address of a member from its gRPC address. */
function zkAddress(grpcAddress: string): string {
  const colon = grpcAddress.lastIndexOf(':');
  const port = Number(grpcAddress.slice(colon + 1)) - ZK_PORT_BELOW_CLIENT_DEFAULT;
  return `${grpcAddress.slice(0, colon)}:${port}`;
}
