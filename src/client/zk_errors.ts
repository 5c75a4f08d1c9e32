// The errors of the ZooKeeper-style client: ZooKeeper's error code and name (as the server answered), or a
// connection loss / expiry seen by the client itself.

import { MeridianError } from '../util/errors.js';
import { ErrorCode, errorName } from '../wire/jute/zk_codes.js';

export class ZkError extends MeridianError {
  /** ZooKeeper's numeric code (KeeperException.Code), e.g. -101 for NoNode. */
  readonly zkCode: number;
  /** ZooKeeper's name for it, e.g. 'NoNode'. */
  readonly zkName: string;
  constructor(zkCode: number, action: string, options?: { cause?: unknown }) {
    super(`ERR_ZK_${errorName(zkCode).toUpperCase()}`, `Cannot ${action}: ${errorName(zkCode)} (${zkCode})`, options);
    this.name = 'ZkError';
    this.zkCode = zkCode;
    this.zkName = errorName(zkCode);
  }
}

export function connectionLoss(action: string): ZkError {
  return new ZkError(ErrorCode.ConnectionLoss, action);
}

export function sessionExpired(action: string): ZkError {
  return new ZkError(ErrorCode.SessionExpired, action);
}
