// Executes Range, Put, DeleteRange and Txn against the MVCC store with etcd's semantics (server/etcdserver/txn),
// and validates requests as etcd's gRPC layer does (api/v3rpc/key.go) before they are proposed or applied.

import { revision } from '../util/branded.js';
import {
  CompactedError, DuplicateKeyError, EmptyKeyError, FutureRevError, KeyNotFoundError, type KvError, LeaseNotFoundError,
  LeaseProvidedError, TooManyOpsError, ValueProvidedError,
} from './errors.js';
import { MAX_TXN_DEPTH, MAX_TXN_OPS } from './limits.js';
import { keyRange, type MvccStore } from './mvcc.js';
import {
  type Compare, CompareResult, CompareTarget, type DeleteRangeRequest, type DeleteRangeResponse, type PutRequest,
  type PutResponse, type RangeRequest, type RangeResponse, type RequestOp, type ResponseOp, SortOrder, SortTarget,
  type TxnRequest, type TxnResponse,
} from './rpc.js';
import { bytesToLatin1 } from '../storage/backend/backend.js';
import type { KeyIndex } from './key_index.js';
import type { KeyValue } from './types.js';

export interface LeaseLookup {
  exists(id: number): boolean;
}

// ------------------------------------------------------------------ validation (etcd's v3rpc checks)

export function checkRangeRequest(r: RangeRequest): KvError | null {
  return r.key.length === 0 ? new EmptyKeyError() : null;
}

export function checkPutRequest(r: PutRequest): KvError | null {
  if (r.key.length === 0) return new EmptyKeyError();
  if (r.ignoreValue && r.value.length !== 0) return new ValueProvidedError();
  if (r.ignoreLease && r.lease !== 0) return new LeaseProvidedError();
  return null;
}

export function checkDeleteRequest(r: DeleteRangeRequest): KvError | null {
  return r.key.length === 0 ? new EmptyKeyError() : null;
}

export function checkTxnRequest(r: TxnRequest, maxTxnOps = MAX_TXN_OPS, depth = 1): KvError | null {
  const opc = Math.max(r.compare.length, r.success.length, r.failure.length);
  if (opc > maxTxnOps || depth > MAX_TXN_DEPTH) return new TooManyOpsError();
  for (const c of r.compare) if (c.key.length === 0) return new EmptyKeyError();
  for (const ops of [r.success, r.failure]) {
    for (const op of ops) {
      const err = checkRequestOp(op, maxTxnOps - opc, depth);
      if (err !== null) return err;
    }
  }
  if (depth === 1) {
    try {
      checkIntervals(r.success);
      checkIntervals(r.failure);
    } catch (err) {
      if (err instanceof DuplicateKeyError) return err;
      throw err;
    }
  }
  return null;
}

function checkRequestOp(op: RequestOp, maxTxnOps: number, depth: number): KvError | null {
  switch (op.type) {
    case 'range': return checkRangeRequest(op.range);
    case 'put': return checkPutRequest(op.put);
    case 'deleteRange': return checkDeleteRequest(op.deleteRange);
    case 'txn': return checkTxnRequest(op.txn, maxTxnOps, depth + 1);
  }
}

/** A deleted interval [start, end) of one-byte strings; end null: unbounded. */
interface Interval {
  readonly start: string;
  readonly end: string | null;
}

function intersects(dels: readonly Interval[], key: string): boolean {
  return dels.some((d) => key >= d.start && (d.end === null || key < d.end));
}

/**
 * etcd's rule: within one txn branch (and the branches of txns nested in it) a key may be put at most once and
 * never inside a range it deletes, so each key changes at most once per revision. Throws DuplicateKeyError.
 * Stricter than etcd in two cases it misses: a delete range_end of "\0" counts as unbounded, and a put in one
 * nested txn conflicts with a delete in a later sibling txn.
 */
function checkIntervals(reqs: readonly RequestOp[]): { puts: Set<string>; dels: Interval[] } {
  const dels: Interval[] = [];
  for (const op of reqs) {
    if (op.type !== 'deleteRange') continue;
    const r = keyRange(op.deleteRange.key, op.deleteRange.rangeEnd);
    dels.push(r.single ? { start: r.start, end: `${r.start}\0` } : { start: r.start, end: r.end });
  }
  const puts = new Set<string>();
  const nested: { puts: string[]; dels: Interval[] }[] = [];
  for (const op of reqs) {
    if (op.type !== 'txn') continue;
    const then = checkIntervals(op.txn.success);
    const otherwise = checkIntervals(op.txn.failure);
    // etcd checks a nested txn's puts only against deletes seen before it; a put in one nested txn and a
    // delete of that key in a later sibling would change the key twice in one revision, so we refuse it too.
    const mine = { puts: [...then.puts, ...otherwise.puts], dels: [...then.dels, ...otherwise.dels] };
    for (const other of nested) {
      if (mine.puts.some((k) => intersects(other.dels, k)) || other.puts.some((k) => intersects(mine.dels, k))) {
        throw new DuplicateKeyError();
      }
    }
    nested.push(mine);
    for (const k of then.puts) {
      if (puts.has(k) || intersects(dels, k)) throw new DuplicateKeyError();
      puts.add(k);
    }
    for (const k of otherwise.puts) {
      // A key put in both branches of one nested txn is fine: only one branch runs.
      if ((puts.has(k) && !then.puts.has(k)) || intersects(dels, k)) throw new DuplicateKeyError();
      puts.add(k);
    }
    dels.push(...then.dels, ...otherwise.dels);
  }
  for (const op of reqs) {
    if (op.type !== 'put') continue;
    const k = bytesToLatin1(op.put.key);
    if (puts.has(k) || intersects(dels, k)) throw new DuplicateKeyError();
    puts.add(k);
  }
  return { puts, dels };
}

// ------------------------------------------------------------------ range

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

function sortKey(target: SortTarget): ((a: KeyValue, b: KeyValue) => number) {
  switch (target) {
    case SortTarget.Key: return (a, b) => compareBytes(a.key, b.key);
    case SortTarget.Version: return (a, b) => a.version - b.version;
    case SortTarget.Create: return (a, b) => a.createRevision - b.createRevision;
    case SortTarget.Mod: return (a, b) => a.modRevision - b.modRevision;
    case SortTarget.Value: return (a, b) => compareBytes(a.value, b.value);
  }
}

/** Resolves a request's revision against the view at curRev; throws etcd's errors. */
export function resolveRevision(store: MvccStore, requested: number, curRev: number): number {
  if (requested > curRev) throw new FutureRevError();
  const rev = requested <= 0 ? curRev : requested;
  if (rev < store.compactRevision()) throw new CompactedError();
  return rev;
}

/**
 * etcd's executeRange: the view is at curRev (inside a write, including the write's own changes). `maxBytes`
 * bounds the data read (before filters and limit), so a huge range fails early instead of exhausting memory.
 */
export function executeRange(store: MvccStore, r: RangeRequest, curRev: number, maxBytes = Infinity): RangeResponse {
  const rev = resolveRevision(store, r.revision, curRev);
  const filtered = r.sortOrder !== SortOrder.None || r.minModRevision !== 0 || r.maxModRevision !== 0 ||
    r.minCreateRevision !== 0 || r.maxCreateRevision !== 0;
  // Fetch one extra for `more`; fetch everything when results are filtered or sorted first.
  const fetch = filtered || r.limit <= 0 ? 0 : r.limit + 1;
  const found = store.rangeAt(keyRange(r.key, r.rangeEnd), rev, fetch, r.countOnly, maxBytes);
  let kvs = found.kvs;
  if (r.maxModRevision !== 0) kvs = kvs.filter((kv) => kv.modRevision <= r.maxModRevision);
  if (r.minModRevision !== 0) kvs = kvs.filter((kv) => kv.modRevision >= r.minModRevision);
  if (r.maxCreateRevision !== 0) kvs = kvs.filter((kv) => kv.createRevision <= r.maxCreateRevision);
  if (r.minCreateRevision !== 0) kvs = kvs.filter((kv) => kv.createRevision >= r.minCreateRevision);
  let order: SortOrder = r.sortOrder;
  if (r.sortTarget !== SortTarget.Key && order === SortOrder.None) order = SortOrder.Ascend;
  else if (r.sortTarget === SortTarget.Key && order === SortOrder.Ascend) order = SortOrder.None;
  if (order !== SortOrder.None) {
    // A stable sort, so ties keep key order: every member answers identically.
    const cmp = sortKey(r.sortTarget);
    kvs.sort(order === SortOrder.Ascend ? cmp : (a, b) => cmp(b, a));
  }
  let more = false;
  if (r.limit > 0 && kvs.length > r.limit) {
    kvs = kvs.slice(0, r.limit);
    more = true;
  }
  if (r.keysOnly) kvs = kvs.map((kv) => ({ ...kv, value: new Uint8Array(0) }));
  return { revision: revision(curRev), kvs, more, count: found.count };
}

// ------------------------------------------------------------------ writes

function executePut(store: MvccStore, p: PutRequest): PutResponse {
  const needPrev = p.prevKv || p.ignoreValue || p.ignoreLease;
  const prev = needPrev ? store.getLive(bytesToLatin1(p.key)) : null;
  let value = p.value;
  let lease: number = p.lease;
  if (p.ignoreValue || p.ignoreLease) {
    // checkTxnPaths verified the key exists before anything was written.
    if (prev === null) throw new KeyNotFoundError();
    if (p.ignoreValue) value = prev.value;
    if (p.ignoreLease) lease = prev.lease;
  }
  store.put(p.key, value, lease);
  return { revision: revision(store.writeRevision()), prevKv: p.prevKv ? prev : null };
}

function executeDeleteRange(store: MvccStore, d: DeleteRangeRequest): DeleteRangeResponse {
  const rev = store.txnReadRevision();
  const victims: KeyIndex[] = [];
  store.visit(keyRange(d.key, d.rangeEnd), (ki) => {
    if (ki.liveAt(rev) >= 0) victims.push(ki);
    return true;
  });
  const prevKvs: KeyValue[] = [];
  for (const ki of victims) {
    const event = store.delete(ki);
    if (d.prevKv && event.prevKv !== null) prevKvs.push(event.prevKv);
  }
  const changed = store.txnReadRevision() !== store.currentRevision();
  return { revision: revision(changed ? store.writeRevision() : store.currentRevision()), deleted: victims.length, prevKvs };
}

/** Checks a put against the view before the write, as etcd's checkPut does. */
export function checkPut(store: MvccStore, leases: LeaseLookup, p: PutRequest): void {
  if ((p.ignoreValue || p.ignoreLease) && store.getLive(bytesToLatin1(p.key)) === null) throw new KeyNotFoundError();
  if (p.lease !== 0 && !leases.exists(p.lease)) throw new LeaseNotFoundError();
}

// ------------------------------------------------------------------ txn

function compareResult(c: Compare, result: number): boolean {
  switch (c.result) {
    case CompareResult.Equal: return result === 0;
    case CompareResult.NotEqual: return result !== 0;
    case CompareResult.Greater: return result > 0;
    case CompareResult.Less: return result < 0;
  }
}

/** A compare against a missing key: a zero KeyValue, except that a value compare always fails (etcd). */
function compareMissing(c: Compare): boolean {
  return c.target === CompareTarget.Value ? false : compareResult(c, Math.sign(0 - c.targetNumber));
}

/** A compare against a live key; only a value compare reads the stored version, the index knows the rest. */
function compareLive(store: MvccStore, c: Compare, ki: KeyIndex): boolean {
  if (c.target === CompareTarget.Value) return compareResult(c, compareBytes(store.liveValue(ki).value, c.targetValue));
  const actual = c.target === CompareTarget.Version ? ki.version
    : c.target === CompareTarget.Create ? ki.createRev
      : c.target === CompareTarget.Mod ? ki.lastMain()
        : ki.lease;
  return compareResult(c, Math.sign(actual - c.targetNumber));
}

/** Every key in the compare's range must satisfy it; an empty range compares a zero KeyValue (etcd). */
function applyCompare(store: MvccStore, c: Compare): boolean {
  const r = keyRange(c.key, c.rangeEnd);
  if (r.single) {
    const ki = store.index.get(r.start);
    return ki !== undefined && ki.isLive() ? compareLive(store, c, ki) : compareMissing(c);
  }
  let any = false;
  let ok = true;
  store.visit(r, (ki) => {
    if (!ki.isLive()) return true;
    any = true;
    ok = compareLive(store, c, ki);
    return ok;
  });
  return any ? ok : compareMissing(c);
}

/** etcd's compareToPath: every compare of the chosen branches, all evaluated before anything executes. */
function compareToPath(store: MvccStore, t: TxnRequest, path: boolean[]): void {
  const ok = t.compare.every((c) => applyCompare(store, c));
  path.push(ok);
  for (const op of ok ? t.success : t.failure) if (op.type === 'txn') compareToPath(store, op.txn, path);
}

/** etcd's checkTxn: ranges must be readable and puts valid, before the txn writes anything. */
function checkTxnPath(store: MvccStore, leases: LeaseLookup, t: TxnRequest, path: boolean[], at: { i: number }): void {
  const ok = path[at.i++] as boolean;
  const cur = store.currentRevision();
  for (const op of ok ? t.success : t.failure) {
    if (op.type === 'range') {
      if (op.range.revision > cur) throw new FutureRevError();
      if (op.range.revision > 0 && op.range.revision < store.compactRevision()) throw new CompactedError();
    } else if (op.type === 'put') {
      checkPut(store, leases, op.put);
    } else if (op.type === 'txn') {
      checkTxnPath(store, leases, op.txn, path, at);
    }
  }
}

function executeOps(store: MvccStore, t: TxnRequest, path: boolean[], at: { i: number }): TxnResponse {
  const ok = path[at.i++] as boolean;
  const responses: ResponseOp[] = [];
  for (const op of ok ? t.success : t.failure) {
    switch (op.type) {
      case 'range':
        responses.push({ type: 'range', range: executeRange(store, op.range, store.txnReadRevision()) });
        break;
      case 'put':
        responses.push({ type: 'put', put: executePut(store, op.put) });
        break;
      case 'deleteRange':
        responses.push({ type: 'deleteRange', deleteRange: executeDeleteRange(store, op.deleteRange) });
        break;
      case 'txn':
        responses.push({ type: 'txn', txn: executeOps(store, op.txn, path, at) });
        break;
    }
  }
  return { revision: revision(store.txnReadRevision()), succeeded: ok, responses };
}

/** Whether any branch, at any depth, puts (what the NOSPACE alarm refuses). */
export function txnHasPuts(t: TxnRequest): boolean {
  const puts = (op: RequestOp): boolean => op.type === 'put' || (op.type === 'txn' && txnHasPuts(op.txn));
  return t.success.some(puts) || t.failure.some(puts);
}

/**
 * Applies a txn as one write: compares and checks first (a failure writes nothing), then the chosen ops, all
 * changes at one revision. Throws a KvError before writing anything, or returns the response.
 */
export function executeTxn(store: MvccStore, leases: LeaseLookup, t: TxnRequest): TxnResponse {
  const path: boolean[] = [];
  compareToPath(store, t, path);
  checkTxnPath(store, leases, t, path, { i: 0 });
  const resp = executeOps(store, t, path, { i: 0 });
  return { ...resp, revision: revision(store.txnReadRevision()) };
}

/** A single Put as its own write (etcd's Put): lease and ignore_* checks first. */
export function applyPut(store: MvccStore, leases: LeaseLookup, p: PutRequest): PutResponse {
  checkPut(store, leases, p);
  return executePut(store, p);
}

export function applyDeleteRange(store: MvccStore, d: DeleteRangeRequest): DeleteRangeResponse {
  return executeDeleteRange(store, d);
}
