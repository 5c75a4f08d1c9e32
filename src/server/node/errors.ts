// The member's own coded errors: `code` names etcd's error (api/v3rpc/rpctypes), the message is etcd's,
// so the gRPC layer maps them from one table like the store's KvErrors.

import { MeridianError } from '../../util/errors.js';

export class MemberError extends MeridianError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'MemberError';
  }
}

/** No leader is known (an election is under way or this member is cut off); the client may retry. */
export class NoLeaderError extends MemberError {
  constructor() {
    super('ErrNoLeader', 'etcdserver: no leader');
  }
}

/** The request was accepted but its outcome is unknown: it may still be applied later. */
export class RequestTimeoutError extends MemberError {
  constructor() {
    super('ErrTimeout', 'etcdserver: request timed out');
  }
}

/** The request must be served by the leader and this member is not it. */
export class NotLeaderError extends MemberError {
  constructor() {
    super('ErrNotLeader', 'etcdserver: not leader');
  }
}

/** The member is shutting down (or has stopped after a failure). */
export class MemberStoppedError extends MemberError {
  constructor() {
    super('ErrStopped', 'etcdserver: server stopped');
  }
}

/** Too many proposals are waiting; the client should back off. */
export class TooManyRequestsError extends MemberError {
  constructor() {
    super('ErrTooManyRequests', 'etcdserver: too many requests');
  }
}
