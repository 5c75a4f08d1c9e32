// Coded errors of the key-value state machine: `code` names etcd's error, the message is etcd's exactly,
// and `grpcStatus` is the gRPC status etcd answers with (api/v3rpc/rpctypes/error.go), so the server maps 1:1.

import { MeridianError } from '../util/errors.js';

/** gRPC status codes used by these errors (numeric values of google.golang.org/grpc/codes). */
export const GrpcStatus = {
  InvalidArgument: 3,
  NotFound: 5,
  FailedPrecondition: 9,
  ResourceExhausted: 8,
  OutOfRange: 11,
  DataLoss: 15,
} as const;
export type GrpcStatus = (typeof GrpcStatus)[keyof typeof GrpcStatus];

/** The base of every error the store returns or throws at its edge. */
export class KvError extends MeridianError {
  readonly grpcStatus: GrpcStatus;
  constructor(code: string, grpcStatus: GrpcStatus, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'KvError';
    this.grpcStatus = grpcStatus;
  }
}

export class EmptyKeyError extends KvError {
  constructor() {
    super('ErrEmptyKey', GrpcStatus.InvalidArgument, 'etcdserver: key is not provided');
  }
}
export class KeyNotFoundError extends KvError {
  constructor() {
    super('ErrKeyNotFound', GrpcStatus.InvalidArgument, 'etcdserver: key not found');
  }
}
export class ValueProvidedError extends KvError {
  constructor() {
    super('ErrValueProvided', GrpcStatus.InvalidArgument, 'etcdserver: value is provided');
  }
}
export class LeaseProvidedError extends KvError {
  constructor() {
    super('ErrLeaseProvided', GrpcStatus.InvalidArgument, 'etcdserver: lease is provided');
  }
}
export class TooManyOpsError extends KvError {
  constructor() {
    super('ErrTooManyOps', GrpcStatus.InvalidArgument, 'etcdserver: too many operations in txn request');
  }
}
export class DuplicateKeyError extends KvError {
  constructor() {
    super('ErrDuplicateKey', GrpcStatus.InvalidArgument, 'etcdserver: duplicate key given in txn request');
  }
}
export class CompactedError extends KvError {
  constructor() {
    super('ErrCompacted', GrpcStatus.OutOfRange, 'etcdserver: mvcc: required revision has been compacted');
  }
}
export class FutureRevError extends KvError {
  constructor() {
    super('ErrFutureRev', GrpcStatus.OutOfRange, 'etcdserver: mvcc: required revision is a future revision');
  }
}
export class NoSpaceError extends KvError {
  constructor() {
    super('ErrNoSpace', GrpcStatus.ResourceExhausted, 'etcdserver: mvcc: database space exceeded');
  }
}
export class LeaseNotFoundError extends KvError {
  constructor() {
    super('ErrLeaseNotFound', GrpcStatus.NotFound, 'etcdserver: requested lease not found');
  }
}
export class LeaseExistError extends KvError {
  constructor() {
    super('ErrLeaseExist', GrpcStatus.FailedPrecondition, 'etcdserver: lease already exists');
  }
}
export class LeaseTtlTooLargeError extends KvError {
  constructor() {
    super('ErrLeaseTTLTooLarge', GrpcStatus.OutOfRange, 'etcdserver: too large lease TTL');
  }
}
export class RequestTooLargeError extends KvError {
  constructor() {
    super('ErrRequestTooLarge', GrpcStatus.InvalidArgument, 'etcdserver: request is too large');
  }
}
/** etcd has no own error for this; gRPC refuses to send the message with this status and text. */
export class ResponseTooLargeError extends KvError {
  constructor(bytes: number, maxBytes: number) {
    super('ErrResponseTooLarge', GrpcStatus.ResourceExhausted, `grpc: trying to send message larger than max (${bytes} vs. ${maxBytes})`);
  }
}
/** A committed command that does not decode: every member rejects it the same way. */
export class BadCommandError extends KvError {
  constructor(detail: string) {
    super('ErrBadCommand', GrpcStatus.InvalidArgument, `Cannot decode kv command: ${detail}`);
  }
}
/** A snapshot stream that is truncated, reordered or corrupt. */
export class BadSnapshotError extends KvError {
  constructor(detail: string) {
    super('ErrBadSnapshot', GrpcStatus.DataLoss, `Cannot restore kv snapshot: ${detail}`);
  }
}
