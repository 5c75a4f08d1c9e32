// The one table from Meridian's error codes (the kv's KvError codes and the server's own) to etcd's gRPC status
// codes and messages, copied exactly from etcd's api/v3rpc/rpctypes/error.go: etcd clients retry, fail over
// or give up by these, so they must match. Also the server's coded error class and the mapping of any thrown
// value to the status a call ends with.

import { AssertionError } from '../../util/assert.js';
import { MeridianError } from '../../util/errors.js';

/** gRPC status codes (google.golang.org/grpc/codes), the numbers on the wire. */
export const GrpcCode = {
  OK: 0,
  Canceled: 1,
  Unknown: 2,
  InvalidArgument: 3,
  DeadlineExceeded: 4,
  NotFound: 5,
  AlreadyExists: 6,
  PermissionDenied: 7,
  ResourceExhausted: 8,
  FailedPrecondition: 9,
  Aborted: 10,
  OutOfRange: 11,
  Unimplemented: 12,
  Internal: 13,
  Unavailable: 14,
  DataLoss: 15,
  Unauthenticated: 16,
} as const;
export type GrpcCode = (typeof GrpcCode)[keyof typeof GrpcCode];

interface ErrorRow<M extends string | null = string | null> {
  readonly status: GrpcCode;
  /** etcd's message; null where the error carries its own (it names a value). */
  readonly message: M;
}

const row = <M extends string | null>(status: GrpcCode, message: M): ErrorRow<M> => ({ status, message });
const { InvalidArgument, NotFound, FailedPrecondition, ResourceExhausted, OutOfRange, Unavailable, DataLoss, Unauthenticated, PermissionDenied, Unimplemented } = GrpcCode;

/** Error code → etcd's status and message. Codes are etcd's error names (ErrGRPCX becomes ErrX). */
export const ETCD_ERRORS = {
  // Requests (kv validation and apply).
  ErrEmptyKey: row(InvalidArgument, 'etcdserver: key is not provided'),
  ErrKeyNotFound: row(InvalidArgument, 'etcdserver: key not found'),
  ErrValueProvided: row(InvalidArgument, 'etcdserver: value is provided'),
  ErrLeaseProvided: row(InvalidArgument, 'etcdserver: lease is provided'),
  ErrTooManyOps: row(InvalidArgument, 'etcdserver: too many operations in txn request'),
  ErrDuplicateKey: row(InvalidArgument, 'etcdserver: duplicate key given in txn request'),
  ErrCompacted: row(OutOfRange, 'etcdserver: mvcc: required revision has been compacted'),
  ErrFutureRev: row(OutOfRange, 'etcdserver: mvcc: required revision is a future revision'),
  ErrNoSpace: row(ResourceExhausted, 'etcdserver: mvcc: database space exceeded'),
  ErrLeaseNotFound: row(NotFound, 'etcdserver: requested lease not found'),
  ErrLeaseExist: row(FailedPrecondition, 'etcdserver: lease already exists'),
  ErrLeaseTTLTooLarge: row(OutOfRange, 'etcdserver: too large lease TTL'),
  ErrRequestTooLarge: row(InvalidArgument, 'etcdserver: request is too large'),
  ErrTooManyRequests: row(ResourceExhausted, 'etcdserver: too many requests'),
  // kv errors etcd has no entry for; their text names the value.
  ErrResponseTooLarge: row(ResourceExhausted, null),
  ErrBadCommand: row(InvalidArgument, null),
  ErrBadSnapshot: row(DataLoss, null),

  // Membership.
  ErrMemberExist: row(FailedPrecondition, 'etcdserver: member ID already exist'),
  ErrPeerURLExist: row(FailedPrecondition, 'etcdserver: Peer URLs already exists'),
  ErrMemberNotEnoughStarted: row(FailedPrecondition, 'etcdserver: re-configuration failed due to not enough started members'),
  ErrMemberBadURLs: row(InvalidArgument, 'etcdserver: given member URLs are invalid'),
  ErrMemberNotFound: row(NotFound, 'etcdserver: member not found'),
  ErrMemberNotLearner: row(FailedPrecondition, 'etcdserver: can only promote a learner member'),
  ErrLearnerNotReady: row(FailedPrecondition, 'etcdserver: can only promote a learner member which is in sync with leader'),
  ErrTooManyLearners: row(FailedPrecondition, 'etcdserver: too many learner members in cluster'),

  // Auth.
  ErrRootUserNotExist: row(FailedPrecondition, 'etcdserver: root user does not exist'),
  ErrRootRoleNotExist: row(FailedPrecondition, 'etcdserver: root user does not have root role'),
  ErrUserAlreadyExist: row(FailedPrecondition, 'etcdserver: user name already exists'),
  ErrUserEmpty: row(InvalidArgument, 'etcdserver: user name is empty'),
  ErrUserNotFound: row(FailedPrecondition, 'etcdserver: user name not found'),
  ErrRoleAlreadyExist: row(FailedPrecondition, 'etcdserver: role name already exists'),
  ErrRoleNotFound: row(FailedPrecondition, 'etcdserver: role name not found'),
  ErrRoleEmpty: row(InvalidArgument, 'etcdserver: role name is empty'),
  ErrAuthFailed: row(InvalidArgument, 'etcdserver: authentication failed, invalid user ID or password'),
  ErrPermissionDenied: row(PermissionDenied, 'etcdserver: permission denied'),
  ErrRoleNotGranted: row(FailedPrecondition, 'etcdserver: role is not granted to the user'),
  ErrPermissionNotGranted: row(FailedPrecondition, 'etcdserver: permission is not granted to the role'),
  ErrAuthNotEnabled: row(FailedPrecondition, 'etcdserver: authentication is not enabled'),
  ErrInvalidAuthToken: row(Unauthenticated, 'etcdserver: invalid auth token'),
  ErrInvalidAuthMgmt: row(InvalidArgument, 'etcdserver: invalid auth management'),

  // The member and the cluster.
  ErrNoLeader: row(Unavailable, 'etcdserver: no leader'),
  ErrNotLeader: row(FailedPrecondition, 'etcdserver: not leader'),
  ErrLeaderChanged: row(Unavailable, 'etcdserver: leader changed'),
  ErrNotCapable: row(Unavailable, 'etcdserver: not capable'),
  ErrStopped: row(Unavailable, 'etcdserver: server stopped'),
  ErrTimeout: row(Unavailable, 'etcdserver: request timed out'),
  ErrTimeoutDueToLeaderFail: row(Unavailable, 'etcdserver: request timed out, possibly due to previous leader failure'),
  ErrTimeoutDueToConnectionLost: row(Unavailable, 'etcdserver: request timed out, possibly due to connection lost'),
  ErrTimeoutWaitAppliedIndex: row(Unavailable, 'etcdserver: request timed out, waiting for the applied index took too long'),
  ErrUnhealthy: row(Unavailable, 'etcdserver: unhealthy cluster'),
  ErrCorrupt: row(DataLoss, 'etcdserver: corrupt cluster'),
  ErrNotSupportedForLearner: row(Unavailable, 'etcdserver: rpc not supported for learner'),
  ErrBadLeaderTransferee: row(FailedPrecondition, 'etcdserver: bad leader transferee'),

  // grpc-go's health server, for a service name it does not know.
  ErrUnknownService: row(NotFound, 'unknown service'),

  // Meridian's own, where a request is valid for etcd but outside what Meridian represents.
  ErrLeaseIdOutOfRange: row(InvalidArgument, 'meridian: lease ID must be between 1 and 2^53-1'),
  ErrWatchIdOutOfRange: row(InvalidArgument, 'meridian: watch ID must be between -2^53+1 and 2^53-1'),
  ErrUnknownEnumValue: row(InvalidArgument, null),
  // Multi-DC (their text names the values): bad read-consistency metadata, a change that breaks the survival goal.
  ErrBadReadConsistency: row(InvalidArgument, null),
  ErrSurvivalGoal: row(FailedPrecondition, null),
  ErrAuthNotSupported: row(Unimplemented, 'meridian: users and roles are not supported; authentication is not enabled'),
  ErrDowngradeNotSupported: row(Unimplemented, 'meridian: cluster downgrade is not supported'),
} as const satisfies Record<string, ErrorRow>;

export type EtcdErrorCode = keyof typeof ETCD_ERRORS;

/** The codes whose message is fixed: those the server raises by code alone. */
export type EtcdServerErrorCode = {
  [C in EtcdErrorCode]: (typeof ETCD_ERRORS)[C]['message'] extends string ? C : never;
}[EtcdErrorCode];

function isErrorCode(code: string): code is EtcdErrorCode {
  return Object.hasOwn(ETCD_ERRORS, code);
}

/**
 * An error of the server (the member or this layer) with etcd's message for its code. The member throws these,
 * e.g. `new EtcdServerError('ErrNoLeader')`, and the gRPC layer answers with etcd's status.
 */
export class EtcdServerError extends MeridianError {
  readonly grpcStatus: GrpcCode;
  constructor(code: EtcdServerErrorCode, options?: { cause?: unknown }) {
    const { status, message } = ETCD_ERRORS[code];
    super(code, message, options);
    this.name = 'EtcdServerError';
    this.grpcStatus = status;
  }
}

/** A request field holds an enum number the proto does not define (proto3 keeps unknown enum values). */
export class UnknownEnumValueError extends MeridianError {
  constructor(field: string, value: number) {
    super('ErrUnknownEnumValue', `meridian: unknown value ${value} of enum field ${field}`);
    this.name = 'UnknownEnumValueError';
  }
}

/** What a failed call ends with. */
export interface GrpcErrorStatus {
  readonly code: GrpcCode;
  readonly details: string;
}

/**
 * The status a call ends with for a thrown value: coded errors from the table, anything else as etcd's
 * togRPCError does (codes.Unknown with the error's text). Programmer errors are the caller's to rethrow.
 */
export function toGrpcStatus(err: unknown): GrpcErrorStatus {
  if (err instanceof AssertionError) return { code: GrpcCode.Internal, details: err.message };
  if (err instanceof MeridianError && isErrorCode(err.code)) {
    const { status, message } = ETCD_ERRORS[err.code];
    return { code: status, details: message ?? err.message };
  }
  if (err instanceof Error) return { code: GrpcCode.Unknown, details: err.message };
  return { code: GrpcCode.Unknown, details: String(err) };
}
