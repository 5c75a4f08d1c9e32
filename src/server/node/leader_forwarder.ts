// Forwards what only the leader can do (lease keep-alives: the leader alone tracks when leases expire) from a
// follower to the leader's client URL over the etcd v3 API itself, as etcd forwards them to its leader.

import * as grpc from '@grpc/grpc-js';
import type { LeaseId } from '../../util/branded.js';
import { etcdServices } from '../../wire/etcd_proto.js';
import { NoLeaderError, RequestTimeoutError } from './errors.js';

/** How long a forwarded keep-alive may take. */
export const FORWARD_TIMEOUT_MS = 5000;

interface KeepAliveResponse {
  readonly ID?: string | number;
  readonly TTL?: string | number;
}

type StreamClient = grpc.Client & {
  LeaseKeepAlive(options?: grpc.CallOptions): grpc.ClientDuplexStream<{ ID: number }, KeepAliveResponse>;
};

export class LeaderForwarder {
  private client: { url: string; client: StreamClient } | null = null;

  /** Renews a lease on the leader at `leaderUrl` (an http:// client URL); resolves with the TTL (0: gone). */
  keepAlive(leaderUrl: string | undefined, id: LeaseId): Promise<number> {
    if (leaderUrl === undefined) return Promise.reject(new NoLeaderError());
    const client = this.clientFor(leaderUrl);
    return new Promise<number>((resolve, reject) => {
      const call = client.LeaseKeepAlive({ deadline: Date.now() + FORWARD_TIMEOUT_MS });
      let done = false;
      const finish = (fn: () => void): void => {
        if (done) return;
        done = true;
        call.end();
        fn();
      };
      call.on('data', (r: KeepAliveResponse) => finish(() => resolve(Number(r.TTL ?? 0))));
      call.on('error', (err: grpc.ServiceError) => finish(() => reject(err.code === grpc.status.DEADLINE_EXCEEDED ? new RequestTimeoutError() : err)));
      call.on('end', () => finish(() => reject(new NoLeaderError())));
      call.write({ ID: id });
    });
  }

  private clientFor(url: string): StreamClient {
    if (this.client !== null && this.client.url === url) return this.client.client;
    this.client?.client.close();
    const Ctor = grpc.makeGenericClientConstructor(etcdServices().lease, 'Lease');
    // The generic client has the methods of the service definition; this names the one used here.
    const client = new Ctor(new URL(url).host, grpc.credentials.createInsecure()) as unknown as StreamClient;
    this.client = { url, client };
    return client;
  }

  close(): void {
    this.client?.client.close();
    this.client = null;
  }
}
