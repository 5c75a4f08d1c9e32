// The Lease service (etcd's v3rpc lease.go): grant and revoke are proposed; keep-alives renew on the leader
// through the backend, one stream answering its requests in order; time-to-live and the list are local reads.

import type * as grpc from '@grpc/grpc-js';
import { type LeaseId, leaseId } from '../../util/branded.js';
import { LeaseNotFoundError } from '../../kv/errors.js';
import {
  clampedInt64Field, boolField, headerToPb, int64Field, type PbMessage, type PbOut, safeIdField,
} from './convert.js';
import { EtcdServerError } from './errors.js';
import { asMessage, expectResponse, proposeChecked, serviceError, type ServiceContext, unary } from './rpc_util.js';

/** LeaseTimeToLive's TTL for a lease that does not exist (etcd answers -1 rather than an error). */
const TTL_LEASE_NOT_FOUND = -1;
/** A keep-alive of a lease that does not exist is answered with TTL 0 (the client then knows it is gone). */
const TTL_KEEPALIVE_NOT_FOUND = 0;

export function leaseService(ctx: ServiceContext): grpc.UntypedServiceImplementation {
  const { backend } = ctx;
  const LeaseKeepAlive: grpc.handleBidiStreamingCall<unknown, PbOut> = (call) => serveKeepAlive(ctx, call);
  return {
    LeaseGrant: unary(async (req) => {
      const res = await proposeChecked(ctx, req, {
        type: 'leaseGrant', id: requestedLeaseId(req), ttlSeconds: clampedInt64Field(req, 'TTL'),
      });
      const grant = expectResponse(res, 'leaseGrant');
      return { header: headerToPb(backend.header(), grant.revision), ID: grant.id, TTL: grant.ttlSeconds, error: '' };
    }),
    LeaseRevoke: unary(async (req) => {
      const id = safeIdField(req, 'ID');
      if (id === null) throw new LeaseNotFoundError();
      const res = await proposeChecked(ctx, req, { type: 'leaseRevoke', id: leaseId(id) });
      return { header: headerToPb(backend.header(), expectResponse(res, 'leaseRevoke').revision) };
    }),
    LeaseTimeToLive: unary(async (req) => {
      const header = headerToPb(backend.header());
      const id = safeIdField(req, 'ID');
      const ttl = id === null ? null : await backend.leaseTimeToLive(leaseId(id));
      // The request's id echoed exactly, even one the store cannot hold.
      if (ttl === null) return { header, ID: int64Field(req, 'ID').toString(), TTL: TTL_LEASE_NOT_FOUND };
      const keys = boolField(req, 'keys') ? ttl.keys : [];
      return { header, ID: ttl.id, TTL: ttl.ttlSeconds, grantedTTL: ttl.grantedTtlSeconds, keys };
    }),
    LeaseLeases: unary(async () => {
      const header = headerToPb(backend.header());
      const ids = await backend.leaseLeases();
      return { header, leases: ids.map((ID) => ({ ID })) };
    }),
    LeaseKeepAlive,
  };
}

/** A grant's requested id: 0 lets the store choose; others must be ids the store can hold. */
function requestedLeaseId(req: PbMessage): LeaseId {
  if (int64Field(req, 'ID') === 0n) return leaseId(0);
  const id = safeIdField(req, 'ID');
  if (id === null || id === 0) throw new EtcdServerError('ErrLeaseIdOutOfRange');
  return leaseId(id);
}

/**
 * One LeaseKeepAlive stream: renewals run one after another so answers keep request order. Reading pauses
 * while `leaseKeepAliveInflightMax` renewals are queued or the client is not reading its answers, so neither
 * side can grow the server's memory; the client closing its side ends the stream once every queued renewal
 * is answered (etcd returns on EOF).
 */
function serveKeepAlive(ctx: ServiceContext, call: grpc.ServerDuplexStream<unknown, PbOut>): void {
  const { backend, limits } = ctx;
  let chain: Promise<void> = Promise.resolve();
  let queued = 0;
  let writable = true;
  let finished = false;
  const finish = (): void => {
    finished = true;
  };
  const maybeResume = (): void => {
    if (!finished && writable && queued < limits.leaseKeepAliveInflightMax && call.isPaused()) call.resume();
  };
  const renew = async (request: PbMessage): Promise<void> => {
    // The header is taken before renewing (as etcd), so a revoke can never look older than the renewal.
    const header = headerToPb(backend.header());
    const id = safeIdField(request, 'ID');
    let ttl = TTL_KEEPALIVE_NOT_FOUND;
    if (id !== null) {
      try {
        ttl = (await backend.leaseKeepAlive(leaseId(id))).ttlSeconds;
      } catch (err) {
        if (!(err instanceof LeaseNotFoundError)) throw err;
      }
    }
    if (finished) return;
    writable = call.write({ header, ID: int64Field(request, 'ID').toString(), TTL: ttl });
    if (!writable) call.pause();
  };
  call.on('drain', () => {
    writable = true;
    maybeResume();
  });
  call.on('data', (request: unknown) => {
    if (finished) return;
    queued++;
    if (queued >= limits.leaseKeepAliveInflightMax) call.pause();
    chain = chain.then(() => (finished ? undefined : renew(asMessage(request)))).then(
      () => {
        queued--;
        maybeResume();
      },
      (err: unknown) => {
        // Any error but "not found" ends the stream with its status (etcd returns togRPCError(err)).
        if (finished) return;
        finish();
        call.emit('error', serviceError(err));
      },
    );
  });
  call.on('end', () => {
    void chain.then(() => {
      if (finished) return;
      finish();
      call.end();
    });
  });
  call.on('cancelled', finish);
  call.on('close', finish);
  call.on('error', finish);
}
