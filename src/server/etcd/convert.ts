// Translation between the etcdserverpb objects of @grpc/proto-loader (keepCase field names, int64 as decimal
// strings, bytes as Buffers) and the kv layer's request and response types. Reading narrows `unknown` field by
// field; every unset field reads as protobuf's zero value, as on the wire.

import { type LeaseId, leaseId } from '../../util/branded.js';
import { KeyNotFoundError, LeaseNotFoundError, TooManyOpsError } from '../../kv/errors.js';
import { MAX_TXN_DEPTH } from '../../kv/limits.js';
import {
  type Compare, CompareResult, CompareTarget, type DeleteRangeRequest, type DeleteRangeResponse, type PutRequest,
  type PutResponse, type RangeRequest, type RangeResponse, type RequestOp, type ResponseOp, SortOrder, SortTarget,
  type TxnRequest, type TxnResponse,
} from '../../kv/rpc.js';
import type { Event, KeyValue } from '../../kv/types.js';
import type { WatchCreateRequest, WatchResponse } from '../../kv/watch_response.js';
import type { MemberInfo, ResponseHeader } from './backend.js';
import { EtcdServerError, UnknownEnumValueError } from './errors.js';

/** A decoded protobuf message as proto-loader gives it: field name → value. */
export type PbMessage = { readonly [field: string]: unknown };
/** A message to encode: proto-loader's serializer accepts numbers, decimal strings and Buffers. */
export type PbOut = { [field: string]: unknown };

const EMPTY = new Uint8Array(0);
const EMPTY_MESSAGE: PbMessage = Object.freeze({});

/**
 * Largest magnitude a revision-like number keeps (the kv command codec's signed range). A client's larger value
 * is clamped to it, which changes no answer: the store never reaches 2^52 revisions, versions or keys.
 */
export const INT64_CLAMP = 2 ** 52 - 1;
const INT64_CLAMP_BIG = BigInt(INT64_CLAMP);
const SAFE_MAX_BIG = BigInt(Number.MAX_SAFE_INTEGER);

// ---------------------------------------------------------------- field readers

/** A nested message field; unset (null) reads as the empty message. */
export function messageField(m: PbMessage, name: string): PbMessage {
  const v = m[name];
  return typeof v === 'object' && v !== null && !(v instanceof Uint8Array) && !Array.isArray(v) ? (v as PbMessage) : EMPTY_MESSAGE;
}

export function repeatedField(m: PbMessage, name: string): readonly unknown[] {
  const v = m[name];
  return Array.isArray(v) ? v : [];
}

export function repeatedMessages(m: PbMessage, name: string): PbMessage[] {
  return repeatedField(m, name).map((v) => (typeof v === 'object' && v !== null ? (v as PbMessage) : EMPTY_MESSAGE));
}

export function bytesField(m: PbMessage, name: string): Uint8Array {
  const v = m[name];
  return v instanceof Uint8Array ? v : EMPTY;
}

export function boolField(m: PbMessage, name: string): boolean {
  return m[name] === true;
}

export function stringField(m: PbMessage, name: string): string {
  const v = m[name];
  return typeof v === 'string' ? v : '';
}

export function stringsField(m: PbMessage, name: string): string[] {
  return repeatedField(m, name).filter((v): v is string => typeof v === 'string');
}

/** A 64-bit integer field exactly (proto-loader gives decimal strings with `longs: String`). */
export function int64Field(m: PbMessage, name: string): bigint {
  const v = m[name];
  if (typeof v === 'string' && v !== '') return BigInt(v);
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  return 0n;
}

/** A revision, limit or count: clamped to ±INT64_CLAMP (see there why that changes nothing). */
export function clampedInt64Field(m: PbMessage, name: string): number {
  const v = int64Field(m, name);
  if (v > INT64_CLAMP_BIG) return INT64_CLAMP;
  if (v < -INT64_CLAMP_BIG) return -INT64_CLAMP;
  return Number(v);
}

/** A non-negative id (uint64 member id, or int64 lease id) the store can hold, or null when out of its range. */
export function safeIdField(m: PbMessage, name: string): number | null {
  const v = int64Field(m, name);
  return v >= 0n && v <= SAFE_MAX_BIG ? Number(v) : null;
}

/** A lease id of a request naming an existing lease: one outside the store's range cannot exist. */
export function existingLeaseField(m: PbMessage, name: string): LeaseId {
  const id = safeIdField(m, name);
  if (id === null) throw new LeaseNotFoundError();
  return leaseId(id);
}

function enumField<T extends number>(m: PbMessage, name: string, values: { readonly [k: string]: T }): T {
  const v = m[name];
  const n = typeof v === 'number' ? v : 0;
  for (const known of Object.values(values)) if (known === n) return known;
  throw new UnknownEnumValueError(name, n);
}

// ---------------------------------------------------------------- requests

export function rangeRequestFromPb(m: PbMessage): RangeRequest {
  return {
    key: bytesField(m, 'key'),
    rangeEnd: bytesField(m, 'range_end'),
    limit: Math.max(0, clampedInt64Field(m, 'limit')),
    revision: clampedInt64Field(m, 'revision'),
    sortOrder: enumField(m, 'sort_order', SortOrder),
    sortTarget: enumField(m, 'sort_target', SortTarget),
    serializable: boolField(m, 'serializable'),
    keysOnly: boolField(m, 'keys_only'),
    countOnly: boolField(m, 'count_only'),
    minModRevision: clampedInt64Field(m, 'min_mod_revision'),
    maxModRevision: clampedInt64Field(m, 'max_mod_revision'),
    minCreateRevision: clampedInt64Field(m, 'min_create_revision'),
    maxCreateRevision: clampedInt64Field(m, 'max_create_revision'),
  };
}

export function putRequestFromPb(m: PbMessage): PutRequest {
  return {
    key: bytesField(m, 'key'),
    value: bytesField(m, 'value'),
    lease: existingLeaseField(m, 'lease'),
    prevKv: boolField(m, 'prev_kv'),
    ignoreValue: boolField(m, 'ignore_value'),
    ignoreLease: boolField(m, 'ignore_lease'),
  };
}

export function deleteRangeRequestFromPb(m: PbMessage): DeleteRangeRequest {
  return { key: bytesField(m, 'key'), rangeEnd: bytesField(m, 'range_end'), prevKv: boolField(m, 'prev_kv') };
}

/** The union member naming the compare's target; as etcd, a union set for another target reads as zero. */
const COMPARE_UNION_FIELD: Record<CompareTarget, string> = {
  [CompareTarget.Version]: 'version',
  [CompareTarget.Create]: 'create_revision',
  [CompareTarget.Mod]: 'mod_revision',
  [CompareTarget.Value]: 'value',
  [CompareTarget.Lease]: 'lease',
};

export function compareFromPb(m: PbMessage): Compare {
  const target = enumField(m, 'target', CompareTarget);
  const field = COMPARE_UNION_FIELD[target];
  const set = m['target_union'] === field;
  return {
    result: enumField(m, 'result', CompareResult),
    target,
    key: bytesField(m, 'key'),
    rangeEnd: bytesField(m, 'range_end'),
    targetNumber: set && target !== CompareTarget.Value ? clampedInt64Field(m, field) : 0,
    targetValue: set && target === CompareTarget.Value ? bytesField(m, field) : EMPTY,
  };
}

function requestOpFromPb(m: PbMessage, depth: number): RequestOp {
  switch (m['request']) {
    case 'request_range': return { type: 'range', range: rangeRequestFromPb(messageField(m, 'request_range')) };
    case 'request_put': return { type: 'put', put: putRequestFromPb(messageField(m, 'request_put')) };
    case 'request_delete_range':
      return { type: 'deleteRange', deleteRange: deleteRangeRequestFromPb(messageField(m, 'request_delete_range')) };
    case 'request_txn': return { type: 'txn', txn: txnFromPb(messageField(m, 'request_txn'), depth + 1) };
    // etcd's checkRequestOp answers an empty op with ErrGRPCKeyNotFound.
    default: throw new KeyNotFoundError();
  }
}

function txnFromPb(m: PbMessage, depth: number): TxnRequest {
  // Refused here already, so a hostile nesting depth never recurses further (kv refuses it the same way).
  if (depth > MAX_TXN_DEPTH) throw new TooManyOpsError();
  return {
    compare: repeatedMessages(m, 'compare').map(compareFromPb),
    success: repeatedMessages(m, 'success').map((op) => requestOpFromPb(op, depth)),
    failure: repeatedMessages(m, 'failure').map((op) => requestOpFromPb(op, depth)),
  };
}

export function txnRequestFromPb(m: PbMessage): TxnRequest {
  return txnFromPb(m, 1);
}

/** A WatchCreateRequest; the watch id must be one the store represents exactly. */
export function watchCreateFromPb(m: PbMessage): WatchCreateRequest {
  const watchId = int64Field(m, 'watch_id');
  if (watchId > SAFE_MAX_BIG || watchId < -SAFE_MAX_BIG) throw new EtcdServerError('ErrWatchIdOutOfRange');
  return {
    key: bytesField(m, 'key'),
    rangeEnd: bytesField(m, 'range_end'),
    startRevision: clampedInt64Field(m, 'start_revision'),
    progressNotify: boolField(m, 'progress_notify'),
    filters: repeatedField(m, 'filters').filter((f): f is number => typeof f === 'number'),
    prevKv: boolField(m, 'prev_kv'),
    watchId: Number(watchId),
    fragment: boolField(m, 'fragment'),
  };
}

// ---------------------------------------------------------------- responses

/** The header of every response; `revision` overrides the member's applied revision (etcd's header.fill). */
export function headerToPb(h: ResponseHeader, revision: number = h.revision): PbOut {
  return { cluster_id: h.clusterId.toString(), member_id: h.memberId.toString(), revision, raft_term: h.raftTerm };
}

export function keyValueToPb(kv: KeyValue): PbOut {
  return {
    key: kv.key, create_revision: kv.createRevision, mod_revision: kv.modRevision, version: kv.version,
    value: kv.value, lease: kv.lease,
  };
}

export function rangeResponseToPb(h: ResponseHeader, r: RangeResponse): PbOut {
  return { header: headerToPb(h, r.revision), kvs: r.kvs.map(keyValueToPb), more: r.more, count: r.count };
}

export function putResponseToPb(h: ResponseHeader, r: PutResponse): PbOut {
  return { header: headerToPb(h, r.revision), prev_kv: r.prevKv === null ? null : keyValueToPb(r.prevKv) };
}

export function deleteRangeResponseToPb(h: ResponseHeader, r: DeleteRangeResponse): PbOut {
  return { header: headerToPb(h, r.revision), deleted: r.deleted, prev_kvs: r.prevKvs.map(keyValueToPb) };
}

function responseOpToPb(h: ResponseHeader, op: ResponseOp): PbOut {
  switch (op.type) {
    case 'range': return { response_range: rangeResponseToPb(h, op.range) };
    case 'put': return { response_put: putResponseToPb(h, op.put) };
    case 'deleteRange': return { response_delete_range: deleteRangeResponseToPb(h, op.deleteRange) };
    case 'txn': return { response_txn: txnResponseToPb(h, op.txn) };
  }
}

export function txnResponseToPb(h: ResponseHeader, r: TxnResponse): PbOut {
  return { header: headerToPb(h, r.revision), succeeded: r.succeeded, responses: r.responses.map((op) => responseOpToPb(h, op)) };
}

export function eventToPb(e: Event, withPrevKv: boolean): PbOut {
  const prev = withPrevKv ? e.prevKv : null;
  return { type: e.type, kv: keyValueToPb(e.kv), prev_kv: prev === null ? null : keyValueToPb(prev) };
}

export function watchResponseToPb(h: ResponseHeader, r: WatchResponse): PbOut {
  return {
    header: headerToPb(h, r.headerRevision),
    watch_id: r.watchId,
    created: r.created,
    canceled: r.canceled,
    compact_revision: r.compactRevision,
    cancel_reason: r.cancelReason,
    fragment: r.fragment,
    // The hub already stripped prev_kv for watchers that did not ask for it.
    events: r.events.map((e) => eventToPb(e, true)),
  };
}

export function memberToPb(m: MemberInfo): PbOut {
  return { ID: String(m.id), name: m.name, peerURLs: [...m.peerUrls], clientURLs: [...m.clientUrls], isLearner: m.isLearner };
}
