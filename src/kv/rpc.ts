// Requests and responses of the state machine, shaped as etcd's etcdserverpb (rpc.proto) so the gRPC layer
// maps them field by field. Request numbers are untrusted client input; response numbers are branded.

import type { LeaseId, Revision } from '../util/branded.js';
import type { KvError } from './errors.js';
import type { KeyValue } from './types.js';
import type { ZkApplyResult } from './zk/zk_command.js';

export const SortOrder = { None: 0, Ascend: 1, Descend: 2 } as const;
export type SortOrder = (typeof SortOrder)[keyof typeof SortOrder];

export const SortTarget = { Key: 0, Version: 1, Create: 2, Mod: 3, Value: 4 } as const;
export type SortTarget = (typeof SortTarget)[keyof typeof SortTarget];

export interface RangeRequest {
  readonly key: Uint8Array;
  /** Empty: just `key`; a single 0 byte: every key >= `key`; otherwise the half-open range [key, rangeEnd). */
  readonly rangeEnd: Uint8Array;
  /** 0: no limit. */
  readonly limit: number;
  /** 0: the current revision. */
  readonly revision: number;
  readonly sortOrder: SortOrder;
  readonly sortTarget: SortTarget;
  readonly serializable: boolean;
  readonly keysOnly: boolean;
  readonly countOnly: boolean;
  /** 0: no bound. */
  readonly minModRevision: number;
  readonly maxModRevision: number;
  readonly minCreateRevision: number;
  readonly maxCreateRevision: number;
}

export interface PutRequest {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
  readonly lease: LeaseId;
  readonly prevKv: boolean;
  readonly ignoreValue: boolean;
  readonly ignoreLease: boolean;
}

export interface DeleteRangeRequest {
  readonly key: Uint8Array;
  readonly rangeEnd: Uint8Array;
  readonly prevKv: boolean;
}

export const CompareResult = { Equal: 0, Greater: 1, Less: 2, NotEqual: 3 } as const;
export type CompareResult = (typeof CompareResult)[keyof typeof CompareResult];

export const CompareTarget = { Version: 0, Create: 1, Mod: 2, Value: 3, Lease: 4 } as const;
export type CompareTarget = (typeof CompareTarget)[keyof typeof CompareTarget];

export interface Compare {
  readonly result: CompareResult;
  readonly target: CompareTarget;
  readonly key: Uint8Array;
  /** As in RangeRequest; every key in the range must satisfy the compare. */
  readonly rangeEnd: Uint8Array;
  /** The operand when target is Version, Create, Mod or Lease. */
  readonly targetNumber: number;
  /** The operand when target is Value. */
  readonly targetValue: Uint8Array;
}

export type RequestOp =
  | { readonly type: 'range'; readonly range: RangeRequest }
  | { readonly type: 'put'; readonly put: PutRequest }
  | { readonly type: 'deleteRange'; readonly deleteRange: DeleteRangeRequest }
  | { readonly type: 'txn'; readonly txn: TxnRequest };

export interface TxnRequest {
  readonly compare: readonly Compare[];
  readonly success: readonly RequestOp[];
  readonly failure: readonly RequestOp[];
}

export interface RangeResponse {
  readonly revision: Revision;
  readonly kvs: KeyValue[];
  /** More keys matched than `limit` allowed to return. */
  readonly more: boolean;
  /** Keys in the range at the revision, before the min/max filters and the limit (as in etcd). */
  readonly count: number;
}

export interface PutResponse {
  readonly revision: Revision;
  readonly prevKv: KeyValue | null;
}

export interface DeleteRangeResponse {
  readonly revision: Revision;
  readonly deleted: number;
  readonly prevKvs: KeyValue[];
}

export type ResponseOp =
  | { readonly type: 'range'; readonly range: RangeResponse }
  | { readonly type: 'put'; readonly put: PutResponse }
  | { readonly type: 'deleteRange'; readonly deleteRange: DeleteRangeResponse }
  | { readonly type: 'txn'; readonly txn: TxnResponse };

export interface TxnResponse {
  readonly revision: Revision;
  readonly succeeded: boolean;
  readonly responses: ResponseOp[];
}

export const AlarmAction = { Get: 0, Activate: 1, Deactivate: 2 } as const;
export type AlarmAction = (typeof AlarmAction)[keyof typeof AlarmAction];

export const AlarmType = { None: 0, NoSpace: 1, Corrupt: 2 } as const;
export type AlarmType = (typeof AlarmType)[keyof typeof AlarmType];

export interface AlarmMember {
  readonly memberId: number;
  readonly alarm: AlarmType;
}

export interface LeaseCheckpoint {
  readonly id: LeaseId;
  /** What is left of the lease's TTL, measured by the leader's monotonic clock when it proposed this. */
  readonly remainingTtlMs: number;
}

/** Everything that enters the replicated log for this state machine. */
export type Command =
  | { readonly type: 'put'; readonly put: PutRequest }
  | { readonly type: 'deleteRange'; readonly deleteRange: DeleteRangeRequest }
  | { readonly type: 'txn'; readonly txn: TxnRequest }
  | { readonly type: 'range'; readonly range: RangeRequest }
  | { readonly type: 'compact'; readonly revision: number; readonly physical: boolean }
  /** id 0: the state machine picks one, the same on every member. */
  | { readonly type: 'leaseGrant'; readonly id: LeaseId; readonly ttlSeconds: number }
  | { readonly type: 'leaseRevoke'; readonly id: LeaseId }
  | { readonly type: 'leaseCheckpoint'; readonly checkpoints: readonly LeaseCheckpoint[] }
  | { readonly type: 'alarm'; readonly action: AlarmAction; readonly memberId: number; readonly alarm: AlarmType }
  /** ZooKeeper operations (src/kv/zk/zk_command.ts encodes the payload). */
  | { readonly type: 'zk'; readonly payload: Uint8Array };

export type CommandType = Command['type'];

export type CommandResponse =
  | { readonly type: 'put'; readonly put: PutResponse }
  | { readonly type: 'deleteRange'; readonly deleteRange: DeleteRangeResponse }
  | { readonly type: 'txn'; readonly txn: TxnResponse }
  | { readonly type: 'range'; readonly range: RangeResponse }
  | { readonly type: 'compact'; readonly revision: Revision }
  | { readonly type: 'leaseGrant'; readonly revision: Revision; readonly id: LeaseId; readonly ttlSeconds: number }
  | { readonly type: 'leaseRevoke'; readonly revision: Revision }
  | { readonly type: 'leaseCheckpoint'; readonly revision: Revision }
  | { readonly type: 'alarm'; readonly revision: Revision; readonly alarms: AlarmMember[] }
  | { readonly type: 'zk'; readonly revision: Revision; readonly zk: ZkApplyResult }
  /** An empty entry (the leader's no-op, or one the server applies only to advance the index). */
  | { readonly type: 'noop'; readonly revision: Revision };

/** What `apply` returns for one committed entry: the same on every member. */
export type ApplyResult =
  | { readonly ok: true; readonly requestId: number; readonly response: CommandResponse }
  | { readonly ok: false; readonly requestId: number; readonly error: KvError };

const EMPTY = new Uint8Array(0);

/** A RangeRequest with etcd's defaults for every field not given. */
export function rangeRequest(fields: Partial<RangeRequest> & { readonly key: Uint8Array }): RangeRequest {
  return {
    rangeEnd: EMPTY, limit: 0, revision: 0, sortOrder: SortOrder.None, sortTarget: SortTarget.Key, serializable: false,
    keysOnly: false, countOnly: false, minModRevision: 0, maxModRevision: 0, minCreateRevision: 0, maxCreateRevision: 0,
    ...fields,
  };
}

export function putRequest(fields: Partial<PutRequest> & { readonly key: Uint8Array }): PutRequest {
  return { value: EMPTY, lease: 0 as LeaseId, prevKv: false, ignoreValue: false, ignoreLease: false, ...fields };
}

export function deleteRangeRequest(fields: Partial<DeleteRangeRequest> & { readonly key: Uint8Array }): DeleteRangeRequest {
  return { rangeEnd: EMPTY, prevKv: false, ...fields };
}

export function compare(fields: Partial<Compare> & Pick<Compare, 'key' | 'target' | 'result'>): Compare {
  return { rangeEnd: EMPTY, targetNumber: 0, targetValue: EMPTY, ...fields };
}
