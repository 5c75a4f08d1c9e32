// The client's one error class: a stable `code` a caller can switch on, the gRPC status when a server answered,
// and a message that says what happened and what to do next.

import { MeridianError } from '../util/errors.js';

/** What went wrong, as a caller decides what to do about it. */
export const ClientErrorCode = {
  /** No member answered (all down or unreachable); retry later or check the endpoints. */
  Unavailable: 'Unavailable',
  /** The cluster has no leader right now (an election, or the member is cut off); retry shortly. */
  NoLeader: 'NoLeader',
  /** The call ran past its deadline; for a write, the outcome is unknown. */
  Timeout: 'Timeout',
  /** The connection broke after a write was sent: it may or may not have been applied. */
  OutcomeUnknown: 'OutcomeUnknown',
  /** The revision asked for was compacted away; restart from `compactRevision` or later. */
  Compacted: 'Compacted',
  /** The revision asked for is in the future. */
  FutureRevision: 'FutureRevision',
  /** The lease does not exist (expired or revoked). */
  LeaseNotFound: 'LeaseNotFound',
  /** A lease the client kept alive was lost: its keys are gone or will go. */
  LeaseLost: 'LeaseLost',
  /** The request is malformed or too large; fix the request. */
  InvalidArgument: 'InvalidArgument',
  /** The cluster is out of space (NOSPACE alarm); compact and defragment, then disarm the alarm. */
  NoSpace: 'NoSpace',
  /** The member is overloaded; back off. */
  TooManyRequests: 'TooManyRequests',
  /** A watcher's consumer fell too far behind; read faster or watch less. */
  SlowConsumer: 'SlowConsumer',
  /** The client (or this object) was closed. */
  Closed: 'Closed',
  /** A recipe lost what it held (the lock's or candidate's key is gone). */
  NotHeld: 'NotHeld',
  /** A feature was used that the client was not set up for (e.g. zk() without a session factory). */
  NotConfigured: 'NotConfigured',
  /** The server refused the request for another reason; the gRPC status says which. */
  Server: 'Server',
} as const;
export type ClientErrorCode = (typeof ClientErrorCode)[keyof typeof ClientErrorCode];

/** gRPC status numbers the client looks at (google.golang.org/grpc/codes). */
export const GrpcStatus = {
  OK: 0,
  Cancelled: 1,
  Unknown: 2,
  InvalidArgument: 3,
  DeadlineExceeded: 4,
  NotFound: 5,
  FailedPrecondition: 9,
  ResourceExhausted: 8,
  OutOfRange: 11,
  Unimplemented: 12,
  Internal: 13,
  Unavailable: 14,
} as const;

export class MeridianClientError extends MeridianError {
  declare readonly code: ClientErrorCode;
  /** The gRPC status code, when a server or the transport answered with one. */
  readonly grpcCode: number | null;
  /** The status text as the server sent it (etcd's message), or null. */
  readonly grpcDetails: string | null;
  /** The endpoint (host:port) the failed attempt went to, or null. */
  readonly endpoint: string | null;
  /** For `Compacted`: the oldest revision still available. */
  readonly compactRevision: number | null;

  constructor(code: ClientErrorCode, message: string, options: {
    readonly cause?: unknown;
    readonly grpcCode?: number | null;
    readonly grpcDetails?: string | null;
    readonly endpoint?: string | null;
    readonly compactRevision?: number | null;
  } = {}) {
    super(code, message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MeridianClientError';
    this.grpcCode = options.grpcCode ?? null;
    this.grpcDetails = options.grpcDetails ?? null;
    this.endpoint = options.endpoint ?? null;
    this.compactRevision = options.compactRevision ?? null;
  }
}

/** The parts of a grpc-js ServiceError the client reads. */
export interface GrpcFailure {
  readonly code: number;
  readonly details: string;
}

export function asGrpcFailure(err: unknown): GrpcFailure | null {
  if (typeof err !== 'object' || err === null) return null;
  const e = err as { code?: unknown; details?: unknown };
  if (typeof e.code !== 'number') return null;
  return { code: e.code, details: typeof e.details === 'string' ? e.details : '' };
}

/** etcd's messages (api/v3rpc/rpctypes) the client tells apart; the server copies them exactly. */
export const EtcdMessage = {
  noLeader: 'etcdserver: no leader',
  tooManyRequests: 'etcdserver: too many requests',
  compacted: 'etcdserver: mvcc: required revision has been compacted',
  futureRevision: 'etcdserver: mvcc: required revision is a future revision',
  leaseNotFound: 'etcdserver: requested lease not found',
  noSpace: 'etcdserver: mvcc: database space exceeded',
  notSupportedForLearner: 'etcdserver: rpc not supported for learner',
} as const;

/** Turns a failed call into the client's error: the action that failed is named first. */
export function fromGrpc(action: string, err: unknown, endpoint: string | null): MeridianClientError {
  if (err instanceof MeridianClientError) return err;
  const f = asGrpcFailure(err);
  if (f === null) {
    return new MeridianClientError('Unavailable', `${action} failed: ${String(err)}`, { cause: err, endpoint });
  }
  const base = { cause: err, grpcCode: f.code, grpcDetails: f.details, endpoint };
  const at = endpoint === null ? '' : ` (at ${endpoint})`;
  switch (f.details) {
    case EtcdMessage.noLeader:
      return new MeridianClientError('NoLeader', `${action} failed${at}: the cluster has no leader; retry after an election`, base);
    case EtcdMessage.tooManyRequests:
      return new MeridianClientError('TooManyRequests', `${action} failed${at}: the member is overloaded; back off and retry`, base);
    case EtcdMessage.compacted:
      return new MeridianClientError('Compacted', `${action} failed: the revision was compacted; read at a newer revision`, base);
    case EtcdMessage.futureRevision:
      return new MeridianClientError('FutureRevision', `${action} failed: the revision is in the future`, base);
    case EtcdMessage.leaseNotFound:
      return new MeridianClientError('LeaseNotFound', `${action} failed: the lease does not exist (expired or revoked); grant a new one`, base);
    case EtcdMessage.noSpace:
      return new MeridianClientError('NoSpace', `${action} failed: the cluster is out of space; compact, defragment and disarm the NOSPACE alarm`, base);
    default:
      break;
  }
  if (f.code === GrpcStatus.DeadlineExceeded) {
    return new MeridianClientError('Timeout', `${action} timed out${at}; for a write the outcome is unknown, read before retrying`, base);
  }
  if (f.code === GrpcStatus.Unavailable) {
    return new MeridianClientError('Unavailable', `${action} failed${at}: ${f.details}; check that the members are running`, base);
  }
  if (f.code === GrpcStatus.InvalidArgument) {
    return new MeridianClientError('InvalidArgument', `${action} was refused: ${f.details}`, base);
  }
  if (f.code === GrpcStatus.Cancelled) {
    return new MeridianClientError('Closed', `${action} was cancelled: ${f.details}`, base);
  }
  return new MeridianClientError('Server', `${action} failed${at}: ${f.details} (gRPC status ${f.code})`, base);
}
