// The replicated key-value state machine: applies committed log entries deterministically (`apply`), records
// the applied index atomically with the data it produced, and serves local reads, hashes, snapshots and the
// watch history. Time never enters apply: lease expiry arrives as LeaseRevoke commands (see lessor.ts).

import { assert } from '../util/assert.js';
import { type LeaseId, type Revision, revision } from '../util/branded.js';
import type { Backend } from '../storage/backend/backend.js';
import { decodeCommand } from './command.js';
import {
  CompactedError, FutureRevError, KvError, LeaseExistError, LeaseNotFoundError, LeaseTtlTooLargeError,
  NoSpaceError, RequestTooLargeError,
} from './errors.js';
import { type LeaseTimeToLive, Lessor } from './lessor.js';
import {
  BACKEND_BATCH_OPS_DEFAULT, MAX_LEASE_TTL_SECONDS, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, MIN_LEASE_TTL_SECONDS_DEFAULT,
  QUOTA_BYTES_DEFAULT,
} from './limits.js';
import { MvccStore } from './mvcc.js';
import {
  type AlarmMember, AlarmAction, AlarmType, type ApplyResult, type Command, type CommandResponse, type RangeRequest,
  type RangeResponse, type RequestOp, type TxnRequest,
} from './rpc.js';
import { KvSnapshot, RESTORING_KEY, restoreBackend } from './snapshot.js';
import { hashBackend, hashKvView, type HashKvResult } from './hash.js';
import {
  applyDeleteRange, applyPut, checkDeleteRequest, checkPutRequest, checkRangeRequest, checkTxnRequest, executeRange,
  executeTxn, txnHasPuts,
} from './txn.js';
import type { RevisionChanges, WatchableHistory } from './types.js';
import { bytesToLatin1 } from '../storage/backend/backend.js';
import { applyZkCommand, fixParentsAfterRevoke } from './zk/zk_apply.js';
import { decodeZkCommand } from './zk/zk_command.js';
import { ZkView } from './zk/zk_view.js';

export interface KvStateMachineOptions {
  readonly backend: Backend;
  /** Size limit of the stored data before the NOSPACE alarm; must be the same on every member. */
  readonly quotaBytes?: number;
  /** Shortest lease TTL; must be the same on every member. */
  readonly minLeaseTtlSeconds?: number;
  /** Commit the backend once this many writes are buffered (the WAL is the source of truth meanwhile). */
  readonly batchOps?: number;
  /** This member's monotonic clock in ms: feeds only the local lease expiry, never replicated state. */
  readonly clock?: () => number;
  /** Largest Range response served locally (default MAX_RESPONSE_BYTES). */
  readonly maxResponseBytes?: number;
  /** Compacted versions deleted from the backend per commit (default COMPACTION_DELETES_PER_COMMIT). */
  readonly compactionDeletesPerCommit?: number;
}

export interface KvStatus {
  readonly appliedIndex: number;
  readonly revision: Revision;
  readonly compactRevision: Revision;
  /** Deterministic size of the stored data, what the quota is checked against. */
  readonly sizeBytes: number;
  /** What the storage engine uses. */
  readonly backendBytes: number;
  readonly keys: number;
  readonly leases: number;
}

const META_FORMAT = 'format';
const META_APPLIED = 'appliedIndex';
const META_CURRENT = 'currentRev';
const META_COMPACT = 'compactRev';
const META_ALARMS = 'alarms';
const FORMAT_VERSION = '1';

/** etcd's quota costs: a put's key and value plus a fixed overhead; a txn the larger of its branches. */
const KV_OVERHEAD_BYTES = 256;
const LEASE_OVERHEAD_BYTES = 64;

const text = new TextEncoder();
const untext = new TextDecoder();

function metaKey(name: string): Uint8Array {
  return text.encode(name);
}

function leaseKey(id: number): Uint8Array {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(Math.floor(id / 0x1_0000_0000), 0);
  b.writeUInt32BE(id % 0x1_0000_0000, 4);
  return b;
}

/** Validates a command as etcd's gRPC layer does, before proposing it; apply checks again. */
export function validateCommand(command: Command): KvError | null {
  switch (command.type) {
    case 'put': return checkPutRequest(command.put);
    case 'deleteRange': return checkDeleteRequest(command.deleteRange);
    case 'txn': return checkTxnRequest(command.txn);
    case 'range': return checkRangeRequest(command.range);
    case 'leaseGrant': return command.ttlSeconds > MAX_LEASE_TTL_SECONDS ? new LeaseTtlTooLargeError() : null;
    default: return null;
  }
}

/** etcd's quota cost of a command: bytes it may add. */
export function quotaCost(command: Command): number {
  switch (command.type) {
    case 'put': return KV_OVERHEAD_BYTES + command.put.key.length + command.put.value.length;
    case 'txn': return txnCost(command.txn);
    case 'leaseGrant': return LEASE_OVERHEAD_BYTES;
    case 'zk': return KV_OVERHEAD_BYTES + command.payload.length;
    default: return 0;
  }
}

function opsCost(ops: readonly RequestOp[]): number {
  let n = 0;
  for (const op of ops) {
    if (op.type === 'put') n += KV_OVERHEAD_BYTES + op.put.key.length + op.put.value.length;
    else if (op.type === 'txn') n += txnCost(op.txn);
  }
  return n;
}

function txnCost(t: TxnRequest): number {
  return Math.max(opsCost(t.success), opsCost(t.failure));
}

export class KvStateMachine implements WatchableHistory {
  private readonly backend: Backend;
  readonly lessor: Lessor;
  private readonly mvcc: MvccStore;
  private readonly quotaBytes: number;
  private readonly batchOps: number;
  private readonly maxResponseBytes: number;
  private applied = 0;
  private durable = 0;
  private alarmList: AlarmMember[] = [];
  private readonly listeners = new Set<(changes: RevisionChanges) => void>();

  private constructor(options: KvStateMachineOptions) {
    this.backend = options.backend;
    this.quotaBytes = options.quotaBytes ?? QUOTA_BYTES_DEFAULT;
    this.batchOps = options.batchOps ?? BACKEND_BATCH_OPS_DEFAULT;
    this.maxResponseBytes = options.maxResponseBytes ?? MAX_RESPONSE_BYTES;
    assert(this.quotaBytes > 0 && this.batchOps > 0, 'quotaBytes and batchOps must be positive');
    const clock = options.clock ?? ((): number => performance.now());
    this.lessor = new Lessor(clock, options.minLeaseTtlSeconds ?? MIN_LEASE_TTL_SECONDS_DEFAULT);
    this.mvcc = new MvccStore(this.backend, this.lessor, options.compactionDeletesPerCommit);
  }

  /** Opens the state machine on a backend: empty, or as last committed (then replay entries after appliedIndex()). */
  static open(options: KvStateMachineOptions): KvStateMachine {
    const sm = new KvStateMachine(options);
    sm.load();
    return sm;
  }

  /** Replaces the backend's contents with a streamed snapshot, then opens on it. */
  static restore(options: KvStateMachineOptions, chunks: Iterable<Uint8Array>): KvStateMachine {
    restoreBackend(options.backend, chunks);
    return KvStateMachine.open(options);
  }

  private readMeta(name: string): string | undefined {
    const v = this.backend.get('meta', metaKey(name));
    return v === undefined ? undefined : untext.decode(v);
  }

  private writeMeta(name: string, value: string): void {
    this.backend.put('meta', metaKey(name), text.encode(value));
  }

  private load(): void {
    assert(this.backend.get('meta', RESTORING_KEY) === undefined, 'the kv backend holds an incomplete snapshot restore: restore it again');
    const format = this.readMeta(META_FORMAT);
    if (format === undefined) {
      this.writeMeta(META_FORMAT, FORMAT_VERSION);
      return;
    }
    assert(format === FORMAT_VERSION, `kv backend format ${format} is not ${FORMAT_VERSION}`);
    this.applied = Number(this.readMeta(META_APPLIED) ?? '0');
    this.durable = this.applied;
    const alarms = this.readMeta(META_ALARMS);
    this.alarmList = alarms === undefined ? [] : (JSON.parse(alarms) as AlarmMember[]);
    this.mvcc.beginRestore(Number(this.readMeta(META_COMPACT) ?? '0'));
    const view = this.backend.readView();
    try {
      for (const { value } of view.entries('lease')) {
        const rec = JSON.parse(untext.decode(value)) as { id: number; ttl: number; remainingMs: number };
        this.lessor.grant(rec.id as LeaseId, rec.ttl, rec.remainingMs);
      }
      for (const { key, value } of view.entries('kv')) this.mvcc.restoreRecord(key, value);
    } finally {
      view.release();
    }
    this.mvcc.restoreCounters(
      Math.max(Number(this.readMeta(META_CURRENT) ?? '1'), this.mvcc.currentRevision()),
      Number(this.readMeta(META_COMPACT) ?? '0'),
    );
    this.mvcc.reapplyCompaction();
  }

  private persistLease(id: number): void {
    const lease = this.lessor.get(id);
    if (lease === undefined) {
      this.backend.delete('lease', leaseKey(id));
      return;
    }
    const rec = { id, ttl: lease.ttlSeconds, remainingMs: lease.remainingTtlMs };
    this.backend.put('lease', leaseKey(id), text.encode(JSON.stringify(rec)));
  }

  // ------------------------------------------------------------------ apply

  /** The last applied log index (after a restart: the last one committed to the backend). */
  appliedIndex(): number {
    return this.applied;
  }

  /**
   * The applied index last committed to the backend with its data: a restart replays the log from the entry
   * after it, so the Raft log must keep every entry above it (compact the log only up to here, or snapshot).
   */
  durableIndex(): number {
    return this.durable;
  }

  /**
   * Subscribes to the changes of every applied revision, in order, synchronously during apply; returns the
   * unsubscribe function. Each event's prevKv is read from storage on first access: read it during the callback
   * (or any time before a compaction at or above the event's revision, after which it reads as null).
   */
  onChanges(listener: (changes: RevisionChanges) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Applies one committed entry. Deterministic: the same entries give the same results and state on every
   * member. An empty entry only advances the applied index. Expected failures are results, never throws.
   */
  apply(index: number, data: Uint8Array): ApplyResult {
    if (!(Number.isSafeInteger(index) && index > this.applied)) assert(false, `apply(${index}) after ${this.applied}: entries must increase`);
    this.applied = index;
    let result: ApplyResult;
    if (data.length === 0) {
      result = { ok: true, requestId: 0, response: { type: 'noop', revision: this.mvcc.currentRevision() } };
    } else {
      result = this.applyData(index, data);
    }
    if (this.mvcc.pendingWrites() + this.backend.bufferedWrites() >= this.batchOps || this.mvcc.compactionBacklog() > 0) this.commit();
    return result;
  }

  private applyData(index: number, data: Uint8Array): ApplyResult {
    let requestId = 0;
    try {
      const decoded = decodeCommand(data);
      requestId = decoded.requestId;
      if (data.length > MAX_REQUEST_BYTES) throw new RequestTooLargeError();
      const invalid = validateCommand(decoded.command);
      if (invalid !== null) throw invalid;
      return { ok: true, requestId, response: this.applyCommand(index, decoded.command) };
    } catch (err) {
      if (err instanceof KvError) return { ok: false, requestId, error: err };
      throw err;
    }
  }

  private applyCommand(index: number, c: Command): CommandResponse {
    switch (c.type) {
      case 'put':
        this.checkQuota(quotaCost(c));
        return { type: 'put', put: this.write(() => applyPut(this.mvcc, this.lessor, c.put)) };
      case 'deleteRange':
        return { type: 'deleteRange', deleteRange: this.write(() => applyDeleteRange(this.mvcc, c.deleteRange)) };
      case 'txn':
        if (txnHasPuts(c.txn)) this.checkQuota(quotaCost(c));
        return { type: 'txn', txn: this.write(() => executeTxn(this.mvcc, this.lessor, c.txn)) };
      case 'range':
        return { type: 'range', range: executeRange(this.mvcc, c.range, this.mvcc.currentRevision()) };
      case 'compact':
        return this.applyCompact(c.revision);
      case 'leaseGrant':
        return this.applyLeaseGrant(index, c.id, c.ttlSeconds);
      case 'leaseRevoke':
        return this.applyLeaseRevoke(c.id);
      case 'leaseCheckpoint':
        for (const cp of c.checkpoints) if (this.lessor.checkpoint(cp.id, cp.remainingTtlMs)) this.persistLease(cp.id);
        return { type: 'leaseCheckpoint', revision: this.mvcc.currentRevision() };
      case 'alarm':
        return { type: 'alarm', revision: this.mvcc.currentRevision(), alarms: this.applyAlarm(c.action, c.memberId, c.alarm) };
      case 'zk':
        return this.applyZk(index, c.payload);
    }
  }

  // ZooKeeper commands (src/kv/zk): znodes and sessions in this same store, one revision per command.
  private applyZk(index: number, payload: Uint8Array): CommandResponse {
    this.checkQuota(KV_OVERHEAD_BYTES + payload.length);
    const zk = applyZkCommand({
      mvcc: this.mvcc,
      leaseExists: (id) => this.lessor.exists(id),
      grantLease: (i, ttlSeconds) => {
        const id = this.lessor.pickId(i);
        const lease = this.lessor.grant(id, this.lessor.effectiveTtl(ttlSeconds));
        this.persistLease(id);
        return { id, ttlSeconds: lease.ttlSeconds };
      },
      write: (body) => this.write(body),
    }, index, decodeZkCommand(payload));
    return { type: 'zk', revision: this.mvcc.currentRevision(), zk };
  }

  /** Local reads of the ZooKeeper data model. */
  zkView(): ZkView {
    return new ZkView(this.mvcc, (id) => {
      const keys = this.lessor.get(id)?.keys;
      return keys === undefined ? null : [...keys];
    });
  }

  /** Runs `body` as one write (one revision if it changes anything) and tells listeners what changed. */
  private write<T>(body: () => T): T {
    this.mvcc.beginWrite();
    let out: T;
    try {
      out = body();
    } catch (err) {
      // Checks run before the first change, so a failed write must not have changed anything.
      const changes = this.mvcc.endWrite();
      assert(changes === null, `a write failed after changing state: ${String(err)}`);
      throw err;
    }
    const changes = this.mvcc.endWrite();
    if (changes !== null) for (const listener of this.listeners) listener(changes);
    return out;
  }

  private checkQuota(cost: number): void {
    if (this.alarmList.some((a) => a.alarm === AlarmType.NoSpace)) throw new NoSpaceError();
    if (this.mvcc.sizeBytes() + cost > this.quotaBytes) {
      this.applyAlarm(AlarmAction.Activate, 0, AlarmType.NoSpace);
      throw new NoSpaceError();
    }
  }

  private applyCompact(rev: number): CommandResponse {
    if (rev <= this.mvcc.compactRevision()) throw new CompactedError();
    if (rev > this.mvcc.currentRevision()) throw new FutureRevError();
    this.mvcc.compact(rev);
    this.writeMeta(META_COMPACT, String(rev));
    return { type: 'compact', revision: this.mvcc.currentRevision() };
  }

  private applyLeaseGrant(index: number, requested: LeaseId, ttlSeconds: number): CommandResponse {
    if (ttlSeconds > MAX_LEASE_TTL_SECONDS) throw new LeaseTtlTooLargeError();
    this.checkQuota(LEASE_OVERHEAD_BYTES);
    const id = requested === 0 ? this.lessor.pickId(index) : requested;
    if (this.lessor.exists(id)) throw new LeaseExistError();
    const lease = this.lessor.grant(id, this.lessor.effectiveTtl(ttlSeconds));
    this.persistLease(id);
    return { type: 'leaseGrant', revision: this.mvcc.currentRevision(), id, ttlSeconds: lease.ttlSeconds };
  }

  private applyLeaseRevoke(id: LeaseId): CommandResponse {
    if (!this.lessor.exists(id)) throw new LeaseNotFoundError();
    const keys = this.lessor.get(id)?.keys;
    const sorted = keys === undefined ? [] : [...keys].sort();
    this.write(() => {
      for (const key of sorted) {
        const ki = this.mvcc.index.get(key);
        assert(ki !== undefined && ki.isLive(), 'a lease holds a key that does not exist');
        this.mvcc.delete(ki);
      }
      // A ZooKeeper session's ephemerals: their parents change in the same revision.
      fixParentsAfterRevoke(this.mvcc, sorted, this.mvcc.writeRevision());
    });
    this.lessor.revoke(id);
    this.persistLease(id);
    return { type: 'leaseRevoke', revision: this.mvcc.currentRevision() };
  }

  private applyAlarm(action: AlarmAction, memberId: number, alarm: AlarmType): AlarmMember[] {
    if (action === AlarmAction.Activate && alarm !== AlarmType.None) {
      if (!this.alarmList.some((a) => a.memberId === memberId && a.alarm === alarm)) {
        this.alarmList = [...this.alarmList, { memberId, alarm }];
        this.writeMeta(META_ALARMS, JSON.stringify(this.alarmList));
      }
    } else if (action === AlarmAction.Deactivate) {
      this.alarmList = this.alarmList.filter((a) => !(a.memberId === memberId && a.alarm === alarm));
      this.writeMeta(META_ALARMS, JSON.stringify(this.alarmList));
    }
    return [...this.alarmList];
  }

  // ------------------------------------------------------------------ persistence

  /**
   * Makes everything applied so far durable, with its applied index, in one backend transaction (also deleting
   * a bounded share of compacted versions; `complete` deletes them all, as hashing and snapshots need).
   */
  commit(complete = false): void {
    this.writeMeta(META_APPLIED, String(this.applied));
    this.writeMeta(META_CURRENT, String(this.mvcc.currentRevision()));
    this.writeMeta(META_COMPACT, String(this.mvcc.compactRevision()));
    this.mvcc.flush(complete ? Infinity : undefined);
    this.durable = this.applied;
  }

  /** Captures the whole state now (cheap); stream it with `chunks()` while applies go on, then `release()`. */
  snapshot(): KvSnapshot {
    this.commit(true);
    return new KvSnapshot(this.backend.readView(), this.applied, this.mvcc.currentRevision());
  }

  /** Drops what was not committed, as a crash would (call commit() first to keep it). */
  close(): void {
    this.backend.close();
  }

  // ------------------------------------------------------------------ local reads

  /** A Range served locally (serializable, or linearizable once the server's ReadIndex wait is done). */
  range(r: RangeRequest): RangeResponse {
    const invalid = checkRangeRequest(r);
    if (invalid !== null) throw invalid;
    return executeRange(this.mvcc, r, this.mvcc.currentRevision(), this.maxResponseBytes);
  }

  leaseTimeToLive(id: LeaseId, nowMs: number): LeaseTimeToLive | null {
    return this.lessor.timeToLive(id, nowMs);
  }

  leases(): LeaseId[] {
    return this.lessor.ids();
  }

  alarms(): AlarmMember[] {
    return [...this.alarmList];
  }

  /** Whether a command would fit the quota now (the server's check before proposing, as etcd's). */
  quotaAvailable(command: Command): boolean {
    if (quotaCost(command) === 0) return true;
    return !this.alarmList.some((a) => a.alarm === AlarmType.NoSpace) && this.mvcc.sizeBytes() + quotaCost(command) <= this.quotaBytes;
  }

  /** etcd's HashKV: a hash of every stored version up to `rev` (0: current); equal on members at equal state. */
  hashKV(rev: number): HashKvResult {
    const current = this.mvcc.currentRevision();
    const compact = this.mvcc.compactRevision();
    if (rev > current) throw new FutureRevError();
    if (rev > 0 && rev < compact) throw new CompactedError();
    const at = rev <= 0 ? current : rev;
    this.commit(true);
    const view = this.backend.readView();
    try {
      return { hash: hashKvView(view, at), compactRevision: compact, hashRevision: revision(at), revision: current };
    } finally {
      view.release();
    }
  }

  /** etcd's Hash: a hash of the whole committed backend (kv, leases, meta). */
  hash(): { hash: number; revision: Revision } {
    this.commit(true);
    const view = this.backend.readView();
    try {
      return { hash: hashBackend(view), revision: this.mvcc.currentRevision() };
    } finally {
      view.release();
    }
  }

  status(): KvStatus {
    return {
      appliedIndex: this.applied, revision: this.mvcc.currentRevision(), compactRevision: this.mvcc.compactRevision(),
      sizeBytes: this.mvcc.sizeBytes(), backendBytes: this.backend.sizeBytes(), keys: this.mvcc.keyCount(),
      leases: this.lessor.ids().length,
    };
  }

  /** Whether `key` exists now (for the ZooKeeper layer and tests). */
  exists(key: Uint8Array): boolean {
    return this.mvcc.index.get(bytesToLatin1(key))?.isLive() ?? false;
  }

  // ------------------------------------------------------------------ WatchableHistory

  currentRevision(): Revision {
    return this.mvcc.currentRevision();
  }

  compactRevision(): Revision {
    return this.mvcc.compactRevision();
  }

  changes(fromRev: Revision, toRev: Revision, key: Uint8Array, rangeEnd: Uint8Array, maxEvents: number): RevisionChanges[] {
    return this.mvcc.changes(fromRev, toRev, key, rangeEnd, maxEvents);
  }
}

