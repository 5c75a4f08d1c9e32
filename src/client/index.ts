// Meridian's TypeScript client, the public surface: connect() and the Client, the typed KV/txn/watch/lease calls,
// the recipes (lock with fencing token, election, barrier) and the error class.

export { connect, Client, registerZkSessionFactory } from './client.js';
export type { ClientOptions, ZkSessionContext, ZkSessionFactory, ZkSessionLike } from './client.js';
export type { ConnectOptions, MemberEndpoint } from './connection.js';
export { MeridianClientError, ClientErrorCode } from './errors.js';
export { KV, prefixEnd, toBuffer, READ_METADATA, SortOrder, SortTarget } from './kv.js';
export type {
  Bytes, Consistency, DeleteOptions, DeleteResult, KeyValue, PutOptions, PutResult, RangeOptions, RangeResult, ReadInfo,
  ReadOptions, ResponseHeader,
} from './kv.js';
export { Compare, Op, Txn } from './txn.js';
export type { Comparison, CompareOp, TxnOp, TxnResponse, TxnResult } from './txn.js';
export { Watcher } from './watch.js';
export type { WatchEvent, WatchOptions } from './watch.js';
export { Lease, LeaseManager } from './lease.js';
export type { GrantOptions, LeaseTimeToLive } from './lease.js';
export type { LeaseId, Revision } from '../util/branded.js';
export * from './recipes/index.js';
export { ZkSession, ZkMultiError, OPEN_ACL_UNSAFE, ZK_SESSION_TIMEOUT_MS_DEFAULT } from './zk_session.js';
export type {
  CreateOptions, Stat, ZkMultiOp, ZkMultiResult, ZkReadResult, ZkSessionOptions, ZkSessionState, ZkWatchEvent, ZkWatchStream,
} from './zk_session.js';
export { ZkError } from './zk_errors.js';
export { zkSessions, type ZkSessionsOptions } from './zk_factory.js';
