// The member's own errors, named for readability at their throw sites; each is an EtcdServerError, so its
// code, message and gRPC status come from the one table in ../etcd/errors.ts.

import { EtcdServerError } from '../etcd/errors.js';

/** No leader is known (an election is under way or this member is cut off); the client may retry. */
export class NoLeaderError extends EtcdServerError {
  constructor() {
    super('ErrNoLeader');
  }
}

/** The request was accepted but its outcome is unknown: it may still be applied later. */
export class RequestTimeoutError extends EtcdServerError {
  constructor() {
    super('ErrTimeout');
  }
}

/** The request must be served by the leader and this member is not it. */
export class NotLeaderError extends EtcdServerError {
  constructor() {
    super('ErrNotLeader');
  }
}

/** The member is shutting down (or has stopped after a failure). */
export class MemberStoppedError extends EtcdServerError {
  constructor() {
    super('ErrStopped');
  }
}

/** Too many proposals are waiting; the client should back off. */
export class TooManyRequestsError extends EtcdServerError {
  constructor() {
    super('ErrTooManyRequests');
  }
}
