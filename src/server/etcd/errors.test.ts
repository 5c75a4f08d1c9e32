// The error table against the kv's coded errors and grpc-js's status numbers, and the mapping of thrown values.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import * as kvErrors from '../../kv/errors.js';
import { AssertionError } from '../../util/assert.js';
import { MeridianError } from '../../util/errors.js';
import { ETCD_ERRORS, EtcdServerError, GrpcCode, toGrpcStatus, UnknownEnumValueError } from './errors.js';

test('GrpcCode has the numbers grpc-js puts on the wire', () => {
  const names: Record<keyof typeof GrpcCode, keyof typeof status> = {
    OK: 'OK', Canceled: 'CANCELLED', Unknown: 'UNKNOWN', InvalidArgument: 'INVALID_ARGUMENT', DeadlineExceeded: 'DEADLINE_EXCEEDED',
    NotFound: 'NOT_FOUND', AlreadyExists: 'ALREADY_EXISTS', PermissionDenied: 'PERMISSION_DENIED', ResourceExhausted: 'RESOURCE_EXHAUSTED',
    FailedPrecondition: 'FAILED_PRECONDITION', Aborted: 'ABORTED', OutOfRange: 'OUT_OF_RANGE', Unimplemented: 'UNIMPLEMENTED',
    Internal: 'INTERNAL', Unavailable: 'UNAVAILABLE', DataLoss: 'DATA_LOSS', Unauthenticated: 'UNAUTHENTICATED',
  };
  for (const [ours, theirs] of Object.entries(names)) assert.equal(GrpcCode[ours as keyof typeof GrpcCode], status[theirs], ours);
});

test('every KvError class agrees with the table on status and message', () => {
  const samples: kvErrors.KvError[] = [
    new kvErrors.EmptyKeyError(), new kvErrors.KeyNotFoundError(), new kvErrors.ValueProvidedError(), new kvErrors.LeaseProvidedError(),
    new kvErrors.TooManyOpsError(), new kvErrors.DuplicateKeyError(), new kvErrors.CompactedError(), new kvErrors.FutureRevError(),
    new kvErrors.NoSpaceError(), new kvErrors.LeaseNotFoundError(), new kvErrors.LeaseExistError(), new kvErrors.LeaseTtlTooLargeError(),
    new kvErrors.RequestTooLargeError(), new kvErrors.ResponseTooLargeError(10, 5), new kvErrors.BadCommandError('x'),
    new kvErrors.BadSnapshotError('y'),
  ];
  // Every exported KvError subclass is sampled, so a new kv error cannot miss the table unnoticed.
  const classes = Object.values(kvErrors).filter((v) => typeof v === 'function' && v.prototype instanceof kvErrors.KvError);
  assert.equal(samples.length, classes.length, 'a KvError class is not sampled here');
  for (const err of samples) {
    assert.ok(Object.hasOwn(ETCD_ERRORS, err.code), `${err.code} is not in the table`);
    const s = toGrpcStatus(err);
    assert.equal(s.code, err.grpcStatus, `${err.code} status`);
    assert.equal(s.details, err.message, `${err.code} message`);
  }
});

test('the messages etcd clients match on are etcd\'s exactly', () => {
  // Spot checks against api/v3rpc/rpctypes/error.go, including the status codes clients retry on.
  const expect: [keyof typeof ETCD_ERRORS, number, string][] = [
    ['ErrRequestTooLarge', GrpcCode.InvalidArgument, 'etcdserver: request is too large'],
    ['ErrCompacted', GrpcCode.OutOfRange, 'etcdserver: mvcc: required revision has been compacted'],
    ['ErrNoLeader', GrpcCode.Unavailable, 'etcdserver: no leader'],
    ['ErrTimeout', GrpcCode.Unavailable, 'etcdserver: request timed out'],
    ['ErrLeaderChanged', GrpcCode.Unavailable, 'etcdserver: leader changed'],
    ['ErrTooManyRequests', GrpcCode.ResourceExhausted, 'etcdserver: too many requests'],
    ['ErrKeyNotFound', GrpcCode.InvalidArgument, 'etcdserver: key not found'],
    ['ErrMemberNotFound', GrpcCode.NotFound, 'etcdserver: member not found'],
    ['ErrPeerURLExist', GrpcCode.FailedPrecondition, 'etcdserver: Peer URLs already exists'],
    ['ErrLeaseNotFound', GrpcCode.NotFound, 'etcdserver: requested lease not found'],
    ['ErrNotLeader', GrpcCode.FailedPrecondition, 'etcdserver: not leader'],
    ['ErrAuthNotEnabled', GrpcCode.FailedPrecondition, 'etcdserver: authentication is not enabled'],
    ['ErrStopped', GrpcCode.Unavailable, 'etcdserver: server stopped'],
  ];
  for (const [code, grpcCode, message] of expect) {
    assert.deepEqual(ETCD_ERRORS[code], { status: grpcCode, message }, code);
  }
});

test('EtcdServerError carries the table\'s message; other values map as etcd\'s togRPCError', () => {
  const err = new EtcdServerError('ErrLeaderChanged');
  assert.equal(err.code, 'ErrLeaderChanged');
  assert.equal(err.message, 'etcdserver: leader changed');
  assert.deepEqual(toGrpcStatus(err), { code: GrpcCode.Unavailable, details: 'etcdserver: leader changed' });
  assert.deepEqual(toGrpcStatus(new UnknownEnumValueError('sort_order', 9)), {
    code: GrpcCode.InvalidArgument, details: 'meridian: unknown value 9 of enum field sort_order',
  });
  assert.deepEqual(toGrpcStatus(new Error('boom')), { code: GrpcCode.Unknown, details: 'boom' });
  assert.deepEqual(toGrpcStatus(new MeridianError('ErrNotInTable', 'odd')), { code: GrpcCode.Unknown, details: 'odd' });
  assert.deepEqual(toGrpcStatus('text'), { code: GrpcCode.Unknown, details: 'text' });
  assert.equal(toGrpcStatus(new AssertionError('bug')).code, GrpcCode.Internal);
});
