// A deliberately simple reference model of the MVCC state machine (whole state copied at every revision), used
// by the model-based property test and usable by simulator checkers. Keys and values are one-byte strings.

import {
  type Command, type Compare, CompareResult, CompareTarget, type RangeRequest, type RequestOp, SortOrder, SortTarget,
  type TxnRequest,
} from './rpc.js';
import { validateCommand } from './state_machine.js';

export interface ModelKv {
  key: string;
  value: string;
  create: number;
  mod: number;
  version: number;
  lease: number;
}

export interface ModelEvent {
  type: 'put' | 'delete';
  key: string;
  kv: ModelKv | null;
  prev: ModelKv | null;
}

type State = Map<string, ModelKv>;

class ModelError extends Error {
  constructor(readonly code: string) {
    super(code);
  }
}

const s = (b: Uint8Array): string => Buffer.from(b).toString('latin1');

export class ReferenceModel {
  rev = 1;
  compactRev = 0;
  /** states[r] = the whole key space at revision r (revisions < compactRev are unreadable). */
  states = new Map<number, State>([[1, new Map()]]);
  events = new Map<number, ModelEvent[]>();
  leases = new Map<number, number>(); // id -> ttl
  private work: State | null = null;
  private pending: ModelEvent[] = [];

  constructor(private readonly minTtl = 2) {}

  private cur(): State {
    return this.work ?? (this.states.get(this.rev) as State);
  }

  private readRev(): number {
    return this.rev + (this.pending.length > 0 ? 1 : 0);
  }

  /** Applies a command; returns a normalized result (what `normalizeResult` makes of the real store's). */
  apply(c: Command): unknown {
    try {
      const invalid = validateCommand(c);
      if (invalid !== null) throw new ModelError(invalid.code);
      return { ok: true, response: this.exec(c) };
    } catch (err) {
      if (err instanceof ModelError) return { ok: false, error: err.code };
      throw err;
    }
  }

  private exec(c: Command): unknown {
    switch (c.type) {
      case 'put': {
        return { type: 'put', put: this.write(() => { this.checkPut(c.put.key, c.put.lease, c.put.ignoreValue || c.put.ignoreLease); return this.put(c.put); }) };
      }
      case 'deleteRange': return { type: 'deleteRange', deleteRange: this.write(() => this.del(c.deleteRange.key, c.deleteRange.rangeEnd, c.deleteRange.prevKv)) };
      case 'txn': return { type: 'txn', txn: this.write(() => this.txn(c.txn)) };
      case 'range': return { type: 'range', range: this.range(c.range, this.rev) };
      case 'compact':
        if (c.revision <= this.compactRev) throw new ModelError('ErrCompacted');
        if (c.revision > this.rev) throw new ModelError('ErrFutureRev');
        this.compactRev = c.revision;
        return { type: 'compact', revision: this.rev };
      case 'leaseGrant': {
        if (this.leases.has(c.id)) throw new ModelError('ErrLeaseExist');
        const ttl = Math.max(this.minTtl, c.ttlSeconds);
        this.leases.set(c.id, ttl);
        return { type: 'leaseGrant', revision: this.rev, id: c.id, ttlSeconds: ttl };
      }
      case 'leaseRevoke': {
        if (!this.leases.has(c.id)) throw new ModelError('ErrLeaseNotFound');
        this.write(() => {
          const keys = [...this.cur().values()].filter((kv) => kv.lease === c.id).map((kv) => kv.key).sort();
          for (const k of keys) this.remove(k);
        });
        this.leases.delete(c.id);
        return { type: 'leaseRevoke', revision: this.rev };
      }
      default: throw new Error(`model does not handle ${c.type}`);
    }
  }

  private write<T>(body: () => T): T {
    this.work = new Map(this.cur());
    this.pending = [];
    try {
      const out = body();
      if (this.pending.length > 0) {
        this.rev++;
        this.states.set(this.rev, this.work);
        this.events.set(this.rev, this.pending);
      }
      return out;
    } finally {
      this.work = null;
      this.pending = [];
    }
  }

  private checkPut(key: Uint8Array, lease: number, needsKey: boolean): void {
    if (needsKey && !(this.states.get(this.rev) as State).has(s(key))) throw new ModelError('ErrKeyNotFound');
    if (lease !== 0 && !this.leases.has(lease)) throw new ModelError('ErrLeaseNotFound');
  }

  private put(p: { key: Uint8Array; value: Uint8Array; lease: number; prevKv: boolean; ignoreValue: boolean; ignoreLease: boolean }): unknown {
    const key = s(p.key);
    const state = this.cur();
    const prev = state.get(key) ?? null;
    const main = this.rev + 1;
    const kv: ModelKv = {
      key, value: p.ignoreValue && prev ? prev.value : s(p.value), create: prev ? prev.create : main, mod: main,
      version: prev ? prev.version + 1 : 1, lease: p.ignoreLease && prev ? prev.lease : p.lease,
    };
    state.set(key, kv);
    this.pending.push({ type: 'put', key, kv, prev });
    return { revision: main, prevKv: p.prevKv ? prev : null };
  }

  private remove(key: string): ModelKv {
    const state = this.cur();
    const prev = state.get(key) as ModelKv;
    state.delete(key);
    this.pending.push({ type: 'delete', key, kv: null, prev });
    return prev;
  }

  private del(key: Uint8Array, end: Uint8Array, prevKv: boolean): unknown {
    const keys = [...this.cur().keys()].filter((k) => inRange(k, key, end)).sort();
    const prevs = keys.map((k) => this.remove(k));
    const changed = this.pending.length > 0;
    return { revision: changed ? this.rev + 1 : this.rev, deleted: keys.length, prevKvs: prevKv ? prevs : [] };
  }

  range(r: RangeRequest, curRev: number): unknown {
    if (r.revision > curRev) throw new ModelError('ErrFutureRev');
    const rev = r.revision <= 0 ? curRev : r.revision;
    if (rev < this.compactRev) throw new ModelError('ErrCompacted');
    const state = rev === this.readRev() ? this.cur() : (this.states.get(rev) as State);
    let kvs = [...state.values()].filter((kv) => inRange(kv.key, r.key, r.rangeEnd)).sort((a, b) => cmp(a.key, b.key));
    const count = kvs.length;
    if (r.countOnly) kvs = [];
    if (r.maxModRevision !== 0) kvs = kvs.filter((kv) => kv.mod <= r.maxModRevision);
    if (r.minModRevision !== 0) kvs = kvs.filter((kv) => kv.mod >= r.minModRevision);
    if (r.maxCreateRevision !== 0) kvs = kvs.filter((kv) => kv.create <= r.maxCreateRevision);
    if (r.minCreateRevision !== 0) kvs = kvs.filter((kv) => kv.create >= r.minCreateRevision);
    const filtered = r.sortOrder !== SortOrder.None || r.minModRevision !== 0 || r.maxModRevision !== 0 ||
      r.minCreateRevision !== 0 || r.maxCreateRevision !== 0;
    // etcd's quirk: with no sort order but a non-key target, the limit cuts in key order before sorting.
    if (!filtered && r.limit > 0) kvs = kvs.slice(0, r.limit + 1);
    const field = (kv: ModelKv): number | string =>
      r.sortTarget === SortTarget.Key ? kv.key : r.sortTarget === SortTarget.Version ? kv.version
        : r.sortTarget === SortTarget.Create ? kv.create : r.sortTarget === SortTarget.Mod ? kv.mod : kv.value;
    if (r.sortOrder === SortOrder.Ascend || (r.sortOrder === SortOrder.None && r.sortTarget !== SortTarget.Key)) {
      kvs.sort((a, b) => cmp(field(a), field(b)));
    } else if (r.sortOrder === SortOrder.Descend) {
      kvs.sort((a, b) => cmp(field(b), field(a)));
    }
    let more = false;
    if (r.limit > 0 && kvs.length > r.limit) {
      kvs = kvs.slice(0, r.limit);
      more = true;
    }
    if (r.keysOnly) kvs = kvs.map((kv) => ({ ...kv, value: '' }));
    return { revision: curRev, kvs, more, count };
  }

  private compareOk(c: Compare): boolean {
    const state = this.states.get(this.rev) as State;
    const kvs = [...state.values()].filter((kv) => inRange(kv.key, c.key, c.rangeEnd));
    const one = (kv: ModelKv | null): boolean => {
      let r: number;
      if (c.target === CompareTarget.Value) {
        if (kv === null) return false;
        r = cmp(kv.value, s(c.targetValue));
      } else {
        const v = kv === null ? 0 : [kv.version, kv.create, kv.mod, 0, kv.lease][c.target] as number;
        r = cmp(v, c.targetNumber);
      }
      return c.result === CompareResult.Equal ? r === 0 : c.result === CompareResult.NotEqual ? r !== 0
        : c.result === CompareResult.Greater ? r > 0 : r < 0;
    };
    return kvs.length === 0 ? one(null) : kvs.every(one);
  }

  private branch(t: TxnRequest): { ok: boolean; ops: readonly RequestOp[] } {
    const ok = t.compare.every((c) => this.compareOk(c));
    return { ok, ops: ok ? t.success : t.failure };
  }

  private check(t: TxnRequest): void {
    for (const op of this.branch(t).ops) {
      if (op.type === 'range') {
        if (op.range.revision > this.rev) throw new ModelError('ErrFutureRev');
        if (op.range.revision > 0 && op.range.revision < this.compactRev) throw new ModelError('ErrCompacted');
      } else if (op.type === 'put') {
        this.checkPut(op.put.key, op.put.lease, op.put.ignoreValue || op.put.ignoreLease);
      } else if (op.type === 'txn') {
        this.check(op.txn);
      }
    }
  }

  private txn(t: TxnRequest, top = true): unknown {
    if (top) this.check(t);
    const { ok, ops } = this.branch(t);
    const responses: unknown[] = [];
    for (const op of ops) {
      if (op.type === 'range') responses.push({ type: 'range', range: this.range(op.range, this.readRev()) });
      else if (op.type === 'put') responses.push({ type: 'put', put: this.put(op.put) });
      else if (op.type === 'deleteRange') responses.push({ type: 'deleteRange', deleteRange: this.del(op.deleteRange.key, op.deleteRange.rangeEnd, op.deleteRange.prevKv) });
      else responses.push({ type: 'txn', txn: this.txn(op.txn, false) });
    }
    return { revision: this.readRev(), succeeded: ok, responses };
  }
}

function cmp(a: number | string, b: number | string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function inRange(k: string, key: Uint8Array, end: Uint8Array): boolean {
  const start = s(key);
  if (end.length === 0) return k === start;
  if (end.length === 1 && end[0] === 0) return k >= start;
  return k >= start && k < s(end);
}
