// The key-value half of the etcd v3 API, typed: get/range/put/delete/compact, a txn builder, and the per-call
// read freshness (linearizable, serializable, bounded staleness, min revision) sent as request metadata.

import { type LeaseId, leaseId, type Revision, revision } from '../util/branded.js';
import { assert } from '../util/assert.js';
import type { Connection, PbMessage } from './connection.js';
import { MeridianClientError } from './errors.js';
import { MAX_STALENESS_MS_MAX } from './limits.js';

/** Keys and values: strings are UTF-8. */
export type Bytes = string | Uint8Array;

export const toBuffer = (b: Bytes): Buffer => (typeof b === 'string' ? Buffer.from(b, 'utf8') : Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** The end of the range holding every key that starts with `prefix` (etcd's GetPrefixRangeEnd). */
export function prefixEnd(prefix: Bytes): Buffer {
  const end = Buffer.from(toBuffer(prefix));
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] as number) < 0xff) {
      end[i] = (end[i] as number) + 1;
      return end.subarray(0, i + 1);
    }
  }
  // Every byte is 0xff (or the prefix is empty): the range runs to the end of the keyspace.
  return Buffer.from([0]);
}

export interface ResponseHeader {
  readonly clusterId: string;
  readonly memberId: string;
  /** The store's revision when the request was served (or the revision a write created). */
  readonly revision: Revision;
  readonly raftTerm: number;
}

export interface KeyValue {
  readonly key: Buffer;
  readonly value: Buffer;
  /** The revision of the key's creation (since its last deletion); the fencing token of the lock recipe. */
  readonly createRevision: Revision;
  readonly modRevision: Revision;
  /** Writes to the key since its creation (1 after the create). */
  readonly version: number;
  /** The lease the key is attached to, 0 for none. */
  readonly lease: LeaseId;
}

/** How fresh a read must be. */
export type Consistency =
  | 'linearizable'
  | 'serializable'
  | { readonly maxStalenessMs: number }
  | { readonly minRevision: number };

/** Request metadata keys of Meridian's read paths (issue #6). */
export const READ_METADATA = {
  consistency: 'meridian-read-consistency',
  maxStalenessMs: 'meridian-max-staleness-ms',
  minRevision: 'meridian-min-revision',
  readPath: 'meridian-read-path',
  appliedRevision: 'meridian-applied-revision',
} as const;

export interface ReadOptions {
  /** Default 'linearizable'. */
  readonly consistency?: Consistency;
  /** Read the store as of this revision (0 or absent: the newest). */
  readonly revision?: number;
  /** This call's deadline, failovers included (default: connect()'s requestTimeoutMs). */
  readonly timeoutMs?: number;
}

export const SortTarget = { key: 0, version: 1, create: 2, mod: 3, value: 4 } as const;
export type SortTarget = keyof typeof SortTarget;
export const SortOrder = { none: 0, ascend: 1, descend: 2 } as const;
export type SortOrder = keyof typeof SortOrder;

export interface RangeOptions extends ReadOptions {
  /** Every key starting with the key given. */
  readonly prefix?: boolean;
  /** Keys in [key, rangeEnd). Exclusive with `prefix`. */
  readonly rangeEnd?: Bytes;
  readonly limit?: number;
  readonly sort?: { readonly target: SortTarget; readonly order: SortOrder };
  readonly keysOnly?: boolean;
  readonly countOnly?: boolean;
  readonly minModRevision?: number;
  readonly maxModRevision?: number;
  readonly minCreateRevision?: number;
  readonly maxCreateRevision?: number;
}

export interface ReadInfo {
  /** Which read path served the read, when the member said (`meridian-read-path`). */
  readonly readPath: string | null;
  /** The member's applied revision when it served the read, when it said (`meridian-applied-revision`). */
  readonly appliedRevision: Revision | null;
  /** The member (host:port) that served it. */
  readonly endpoint: string;
}

export interface RangeResult extends ReadInfo {
  readonly header: ResponseHeader;
  readonly kvs: readonly KeyValue[];
  /** More keys matched than `limit` allowed. */
  readonly more: boolean;
  /** How many keys matched (all of them, even beyond the limit). */
  readonly count: number;
}

export interface PutOptions {
  readonly lease?: LeaseId | number;
  readonly prevKv?: boolean;
}

export interface PutResult {
  readonly header: ResponseHeader;
  /** The revision the put created. */
  readonly revision: Revision;
  readonly prevKv: KeyValue | null;
}

export interface DeleteOptions {
  readonly prefix?: boolean;
  readonly rangeEnd?: Bytes;
  readonly prevKv?: boolean;
}

export interface DeleteResult {
  readonly header: ResponseHeader;
  readonly deleted: number;
  readonly prevKvs: readonly KeyValue[];
}

const num = (v: unknown): number => (v === undefined || v === null || v === '' ? 0 : Number(v));
const buf = (v: unknown): Buffer => (Buffer.isBuffer(v) ? v : v instanceof Uint8Array ? Buffer.from(v) : Buffer.alloc(0));
const msg = (v: unknown): PbMessage => (typeof v === 'object' && v !== null ? (v as PbMessage) : {});
const list = (v: unknown): PbMessage[] => (Array.isArray(v) ? (v as PbMessage[]) : []);

export function headerFromPb(m: unknown): ResponseHeader {
  const h = msg(m);
  return { clusterId: String(h['cluster_id'] ?? '0'), memberId: String(h['member_id'] ?? '0'), revision: revision(num(h['revision'])), raftTerm: num(h['raft_term']) };
}

export function keyValueFromPb(m: unknown): KeyValue {
  const kv = msg(m);
  return {
    key: buf(kv['key']), value: buf(kv['value']), createRevision: revision(num(kv['create_revision'])),
    modRevision: revision(num(kv['mod_revision'])), version: num(kv['version']), lease: leaseId(num(kv['lease'])),
  };
}

function rangeEndOf(key: Bytes, o: { readonly prefix?: boolean; readonly rangeEnd?: Bytes }): Buffer {
  assert(!(o.prefix === true && o.rangeEnd !== undefined), 'give either prefix or rangeEnd, not both');
  if (o.prefix === true) return prefixEnd(key);
  return o.rangeEnd === undefined ? Buffer.alloc(0) : toBuffer(o.rangeEnd);
}

export function rangeRequestToPb(key: Bytes, o: RangeOptions, serializable: boolean): PbMessage {
  return {
    key: toBuffer(key), range_end: rangeEndOf(key, o), limit: o.limit ?? 0, revision: o.revision ?? 0,
    sort_order: SortOrder[o.sort?.order ?? 'none'], sort_target: SortTarget[o.sort?.target ?? 'key'],
    serializable, keys_only: o.keysOnly ?? false, count_only: o.countOnly ?? false,
    min_mod_revision: o.minModRevision ?? 0, max_mod_revision: o.maxModRevision ?? 0,
    min_create_revision: o.minCreateRevision ?? 0, max_create_revision: o.maxCreateRevision ?? 0,
  };
}

export function putRequestToPb(key: Bytes, value: Bytes, o: PutOptions): PbMessage {
  return { key: toBuffer(key), value: toBuffer(value), lease: o.lease ?? 0, prev_kv: o.prevKv ?? false };
}

export function deleteRequestToPb(key: Bytes, o: DeleteOptions): PbMessage {
  return { key: toBuffer(key), range_end: rangeEndOf(key, o), prev_kv: o.prevKv ?? false };
}

export function rangeResultFromPb(r: PbMessage, info: ReadInfo): RangeResult {
  return { ...info, header: headerFromPb(r['header']), kvs: list(r['kvs']).map(keyValueFromPb), more: r['more'] === true, count: num(r['count']) };
}

export function putResultFromPb(r: PbMessage): PutResult {
  const header = headerFromPb(r['header']);
  const prev = r['prev_kv'];
  return { header, revision: header.revision, prevKv: prev === null || prev === undefined ? null : keyValueFromPb(prev) };
}

export function deleteResultFromPb(r: PbMessage): DeleteResult {
  return { header: headerFromPb(r['header']), deleted: num(r['deleted']), prevKvs: list(r['prev_kvs']).map(keyValueFromPb) };
}

/**
 * The serializable flag and metadata for a freshness choice. Bounded staleness and min revision ask for the
 * linearizable path in the etcd fields: a member that does not know Meridian's metadata then still gives an
 * answer at least as fresh as asked (a linearizable read is within any staleness bound and at or past any
 * revision the client saw), while a member that knows it takes the cheaper local path it names.
 */
export function consistencyRequest(c: Consistency): { serializable: boolean; metadata: Record<string, string> } {
  if (c === 'linearizable') return { serializable: false, metadata: { [READ_METADATA.consistency]: 'linearizable' } };
  if (c === 'serializable') return { serializable: true, metadata: { [READ_METADATA.consistency]: 'serializable' } };
  if ('maxStalenessMs' in c) {
    assert(!Number.isNaN(c.maxStalenessMs) && c.maxStalenessMs >= 0, `maxStalenessMs must be a non-negative number, not ${c.maxStalenessMs}`);
    const boundMs = Math.min(MAX_STALENESS_MS_MAX, Math.floor(c.maxStalenessMs));
    if (boundMs < 1) return consistencyRequest('linearizable');
    return { serializable: false, metadata: { [READ_METADATA.consistency]: 'bounded', [READ_METADATA.maxStalenessMs]: String(boundMs) } };
  }
  assert(Number.isSafeInteger(c.minRevision) && c.minRevision >= 0, `minRevision must be a non-negative integer, not ${c.minRevision}`);
  return { serializable: false, metadata: { [READ_METADATA.consistency]: 'min-revision', [READ_METADATA.minRevision]: String(c.minRevision) } };
}

function readInfoFrom(md: Readonly<Record<string, string>>, endpoint: string): ReadInfo {
  const path = md[READ_METADATA.readPath];
  const applied = md[READ_METADATA.appliedRevision];
  return { readPath: path ?? null, appliedRevision: applied === undefined ? null : revision(Number(applied)), endpoint };
}

const describe = (key: Bytes): string => JSON.stringify(typeof key === 'string' ? key : toBuffer(key).toString('utf8'));

export class KV {
  constructor(private readonly conn: Connection) {}

  /** Keys in a range (or one key), at the freshness asked for. */
  async range(key: Bytes, options: RangeOptions = {}): Promise<RangeResult> {
    const consistency = options.consistency ?? 'linearizable';
    const { serializable, metadata } = consistencyRequest(consistency);
    const req = rangeRequestToPb(key, options, serializable);
    const { response, metadata: md, endpoint } = await this.conn.unary('kv', 'Range', req, {
      action: `range ${describe(key)}`, write: false, metadata, ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    });
    const result = rangeResultFromPb(response, readInfoFrom(md, endpoint));
    if (typeof consistency === 'object' && 'minRevision' in consistency && result.header.revision < consistency.minRevision && options.revision === undefined) {
      throw new MeridianClientError('FutureRevision', `range ${describe(key)}: the cluster is at revision ${result.header.revision}, below the minimum revision ${consistency.minRevision} asked for; ask for a revision the cluster has reached`, { endpoint });
    }
    return result;
  }

  /** One key, or null when it does not exist. */
  async get(key: Bytes, options: ReadOptions = {}): Promise<KeyValue | null> {
    const r = await this.range(key, options);
    return r.kvs[0] ?? null;
  }

  /** One key's value as text, or null. */
  async getString(key: Bytes, options: ReadOptions = {}): Promise<string | null> {
    return (await this.get(key, options))?.value.toString('utf8') ?? null;
  }

  /** Every key under a prefix (options as range()). */
  getPrefix(prefix: Bytes, options: Omit<RangeOptions, 'prefix' | 'rangeEnd'> = {}): Promise<RangeResult> {
    return this.range(prefix, { ...options, prefix: true });
  }

  async put(key: Bytes, value: Bytes, options: PutOptions = {}): Promise<PutResult> {
    const { response } = await this.conn.unary('kv', 'Put', putRequestToPb(key, value, options), { action: `put ${describe(key)}`, write: true });
    return putResultFromPb(response);
  }

  async delete(key: Bytes, options: DeleteOptions = {}): Promise<DeleteResult> {
    const { response } = await this.conn.unary('kv', 'DeleteRange', deleteRequestToPb(key, options), { action: `delete ${describe(key)}`, write: true });
    return deleteResultFromPb(response);
  }

  /** Compacts the history below `rev`; reads and watches before it then fail with Compacted. */
  async compact(rev: number, options: { readonly physical?: boolean } = {}): Promise<ResponseHeader> {
    // A repeated compaction at the same revision fails with Compacted rather than doing harm: safe to retry.
    const { response } = await this.conn.unary('kv', 'Compact', { revision: rev, physical: options.physical ?? false }, { action: `compact at ${rev}`, write: false });
    return headerFromPb(response['header']);
  }
}
