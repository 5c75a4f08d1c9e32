// The binary encoding of state machine commands as they enter the replicated log: compact, versioned, and
// decoded defensively (every length and count is checked against the bytes left; bad input is a BadCommandError).
//
// Layout: u8 version, u8 command tag, varint requestId, then the command's fields. Unsigned numbers are LEB128
// varints (at most 2^53 - 1); signed ones are zigzag varints (|n| <= 2^52 - 1); byte strings are varint length +
// bytes; booleans are bits of one flags byte; enums are one byte, checked against their known values.

import { type LeaseId, leaseId } from '../util/branded.js';
import { BadCommandError } from './errors.js';
import { MAX_LEASE_CHECKPOINTS_PER_COMMAND, MAX_TXN_DEPTH } from './limits.js';
import {
  AlarmAction, AlarmType, type Command, type Compare, CompareResult, CompareTarget, type DeleteRangeRequest,
  type LeaseCheckpoint, type PutRequest, type RangeRequest, type RequestOp, SortOrder, SortTarget, type TxnRequest,
} from './rpc.js';

export const COMMAND_CODEC_VERSION = 1;

const Tag = {
  put: 1, deleteRange: 2, txn: 3, range: 4, compact: 5, leaseGrant: 6, leaseRevoke: 7, leaseCheckpoint: 8, alarm: 9, zk: 10,
} as const;

const OpTag = { range: 1, put: 2, deleteRange: 3, txn: 4 } as const;

const SIGNED_MAX = 2 ** 52 - 1;

/** A decoded log entry: the command and the id the proposer gave it (0 when none), to answer the waiting client. */
export interface DecodedCommand {
  readonly requestId: number;
  readonly command: Command;
}

// ---------------------------------------------------------------- encoding

class Writer {
  private buf: Uint8Array;
  private pos = 0;
  constructor(sizeHint: number) {
    // Buffer.allocUnsafe slices a shared pool for small sizes: one ArrayBuffer per command is costly to collect.
    this.buf = Buffer.allocUnsafe(Math.max(64, sizeHint));
  }
  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }
  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }
  uvarint(n: number, what: string): void {
    if (!Number.isSafeInteger(n) || n < 0) throw new BadCommandError(`${what} ${n} is not an unsigned safe integer`);
    this.ensure(8);
    while (n >= 0x80) {
      this.buf[this.pos++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.buf[this.pos++] = n;
  }
  svarint(n: number, what: string): void {
    if (!Number.isSafeInteger(n) || Math.abs(n) > SIGNED_MAX) throw new BadCommandError(`${what} ${n} is out of range`);
    this.uvarint(n >= 0 ? n * 2 : -n * 2 - 1, what);
  }
  bytes(b: Uint8Array): void {
    this.uvarint(b.length, 'length');
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}

/** Encodes one command for the log. Throws BadCommandError when a number cannot be represented. */
export function encodeCommand(command: Command, requestId = 0): Uint8Array {
  const w = new Writer(sizeHint(command));
  w.byte(COMMAND_CODEC_VERSION);
  w.byte(Tag[command.type]);
  w.uvarint(requestId, 'requestId');
  switch (command.type) {
    case 'put': writePut(w, command.put); break;
    case 'deleteRange': writeDeleteRange(w, command.deleteRange); break;
    case 'txn': writeTxn(w, command.txn); break;
    case 'range': writeRange(w, command.range); break;
    case 'compact':
      w.svarint(command.revision, 'revision');
      w.byte(command.physical ? 1 : 0);
      break;
    case 'leaseGrant':
      w.uvarint(command.id, 'lease id');
      w.svarint(command.ttlSeconds, 'ttl');
      break;
    case 'leaseRevoke': w.uvarint(command.id, 'lease id'); break;
    case 'leaseCheckpoint':
      w.uvarint(command.checkpoints.length, 'checkpoint count');
      for (const c of command.checkpoints) {
        w.uvarint(c.id, 'lease id');
        w.uvarint(c.remainingTtlMs, 'remaining ttl');
      }
      break;
    case 'alarm':
      w.byte(command.action);
      w.uvarint(command.memberId, 'member id');
      w.byte(command.alarm);
      break;
    case 'zk': w.bytes(command.payload); break;
  }
  return w.finish();
}

function sizeHint(command: Command): number {
  if (command.type === 'put') return 32 + command.put.key.length + command.put.value.length;
  if (command.type === 'zk') return 32 + command.payload.length;
  return 256;
}

function writeRange(w: Writer, r: RangeRequest): void {
  w.byte((r.serializable ? 1 : 0) | (r.keysOnly ? 2 : 0) | (r.countOnly ? 4 : 0));
  w.byte(r.sortOrder);
  w.byte(r.sortTarget);
  w.bytes(r.key);
  w.bytes(r.rangeEnd);
  w.svarint(r.limit, 'limit');
  w.svarint(r.revision, 'revision');
  w.svarint(r.minModRevision, 'min_mod_revision');
  w.svarint(r.maxModRevision, 'max_mod_revision');
  w.svarint(r.minCreateRevision, 'min_create_revision');
  w.svarint(r.maxCreateRevision, 'max_create_revision');
}

function writePut(w: Writer, p: PutRequest): void {
  w.byte((p.prevKv ? 1 : 0) | (p.ignoreValue ? 2 : 0) | (p.ignoreLease ? 4 : 0));
  w.bytes(p.key);
  w.bytes(p.value);
  w.uvarint(p.lease, 'lease id');
}

function writeDeleteRange(w: Writer, d: DeleteRangeRequest): void {
  w.byte(d.prevKv ? 1 : 0);
  w.bytes(d.key);
  w.bytes(d.rangeEnd);
}

function writeCompare(w: Writer, c: Compare): void {
  w.byte(c.result);
  w.byte(c.target);
  w.bytes(c.key);
  w.bytes(c.rangeEnd);
  if (c.target === CompareTarget.Value) w.bytes(c.targetValue);
  else w.svarint(c.targetNumber, 'compare operand');
}

function writeOps(w: Writer, ops: readonly RequestOp[]): void {
  w.uvarint(ops.length, 'op count');
  for (const op of ops) {
    w.byte(OpTag[op.type]);
    switch (op.type) {
      case 'range': writeRange(w, op.range); break;
      case 'put': writePut(w, op.put); break;
      case 'deleteRange': writeDeleteRange(w, op.deleteRange); break;
      case 'txn': writeTxn(w, op.txn); break;
    }
  }
}

function writeTxn(w: Writer, t: TxnRequest): void {
  w.uvarint(t.compare.length, 'compare count');
  for (const c of t.compare) writeCompare(w, c);
  writeOps(w, t.success);
  writeOps(w, t.failure);
}

// ---------------------------------------------------------------- decoding

class Reader {
  pos = 0;
  buf: Uint8Array = new Uint8Array(0);
  reset(buf: Uint8Array): this {
    this.buf = buf;
    this.pos = 0;
    return this;
  }
  get left(): number {
    return this.buf.length - this.pos;
  }
  byte(what: string): number {
    if (this.pos >= this.buf.length) throw new BadCommandError(`truncated at byte ${this.pos} reading ${what}`);
    return this.buf[this.pos++] as number;
  }
  uvarint(what: string): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.byte(what);
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (!Number.isSafeInteger(result)) throw new BadCommandError(`${what} at byte ${this.pos} exceeds 2^53`);
        if (i > 0 && b === 0) throw new BadCommandError(`${what} at byte ${this.pos} is not minimally encoded`);
        return result;
      }
      scale *= 0x80;
    }
    throw new BadCommandError(`${what} at byte ${this.pos} is longer than 8 bytes`);
  }
  svarint(what: string): number {
    const z = this.uvarint(what);
    return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  }
  bytes(what: string): Uint8Array {
    const n = this.uvarint(`${what} length`);
    if (n > this.left) throw new BadCommandError(`${what} length ${n} exceeds the ${this.left} bytes left at byte ${this.pos}`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  flags(what: string, allowed: number): number {
    const f = this.byte(what);
    if ((f & ~allowed) !== 0) throw new BadCommandError(`${what} has unknown bits 0x${f.toString(16)}`);
    return f;
  }
  /** A count of items that each take at least one byte, so a forged count cannot make us allocate. */
  count(what: string, max: number): number {
    const n = this.uvarint(what);
    if (n > this.left || n > max) throw new BadCommandError(`${what} ${n} is impossible with ${this.left} bytes left`);
    return n;
  }
  enumValue<T extends number>(what: string, values: Readonly<Record<string, T>>): T {
    const b = this.byte(what);
    for (const v of Object.values(values)) if (v === b) return v;
    throw new BadCommandError(`${what} ${b} is not a known value`);
  }
}

/**
 * Decodes one log entry's data. Throws BadCommandError on any malformed input, never anything else.
 * Byte fields are views into `data` (no copies on the apply path): `data` must not be mutated afterwards.
 */
export function decodeCommand(data: Uint8Array): DecodedCommand {
  // One reader serves every call: decoding never re-enters itself. Fields are plain Uint8Array views: views of
  // a Buffer would each construct a Buffer.
  const r = reader.reset(Buffer.isBuffer(data) ? new Uint8Array(data.buffer, data.byteOffset, data.length) : data);
  const version = r.byte('version');
  if (version !== COMMAND_CODEC_VERSION) throw new BadCommandError(`unknown codec version ${version}`);
  const tag = r.byte('command tag');
  const requestId = r.uvarint('requestId');
  try {
    const command = readBody(r, tag);
    if (r.left !== 0) throw new BadCommandError(`${r.left} trailing bytes after the command`);
    return { requestId, command };
  } finally {
    r.reset(EMPTY_BYTES); // do not keep the last entry alive
  }
}

const reader = new Reader();
const EMPTY_BYTES = new Uint8Array(0);

function readBody(r: Reader, tag: number): Command {
  switch (tag) {
    case Tag.put: return { type: 'put', put: readPut(r) };
    case Tag.deleteRange: return { type: 'deleteRange', deleteRange: readDeleteRange(r) };
    case Tag.txn: return { type: 'txn', txn: readTxn(r, 1) };
    case Tag.range: return { type: 'range', range: readRange(r) };
    case Tag.compact: {
      const revision = r.svarint('revision');
      const physical = r.flags('physical', 1) === 1;
      return { type: 'compact', revision, physical };
    }
    case Tag.leaseGrant: {
      const id = leaseId(r.uvarint('lease id'));
      return { type: 'leaseGrant', id, ttlSeconds: r.svarint('ttl') };
    }
    case Tag.leaseRevoke: return { type: 'leaseRevoke', id: readLeaseId(r) };
    case Tag.leaseCheckpoint: {
      const n = r.count('checkpoint count', MAX_LEASE_CHECKPOINTS_PER_COMMAND);
      const checkpoints: LeaseCheckpoint[] = [];
      for (let i = 0; i < n; i++) checkpoints.push({ id: readLeaseId(r), remainingTtlMs: r.uvarint('remaining ttl') });
      return { type: 'leaseCheckpoint', checkpoints };
    }
    case Tag.alarm: {
      const action = r.enumValue('alarm action', AlarmAction);
      const memberId = r.uvarint('member id');
      return { type: 'alarm', action, memberId, alarm: r.enumValue('alarm type', AlarmType) };
    }
    case Tag.zk: return { type: 'zk', payload: r.bytes('zk payload') };
    default:
      throw new BadCommandError(`unknown command tag ${tag}`);
  }
}

function readLeaseId(r: Reader): LeaseId {
  return leaseId(r.uvarint('lease id'));
}

function readRange(r: Reader): RangeRequest {
  const f = r.flags('range flags', 7);
  const sortOrder = r.enumValue('sort order', SortOrder);
  const sortTarget = r.enumValue('sort target', SortTarget);
  return {
    serializable: (f & 1) !== 0, keysOnly: (f & 2) !== 0, countOnly: (f & 4) !== 0, sortOrder, sortTarget,
    key: r.bytes('key'), rangeEnd: r.bytes('range_end'),
    limit: r.svarint('limit'), revision: r.svarint('revision'),
    minModRevision: r.svarint('min_mod_revision'), maxModRevision: r.svarint('max_mod_revision'),
    minCreateRevision: r.svarint('min_create_revision'), maxCreateRevision: r.svarint('max_create_revision'),
  };
}

function readPut(r: Reader): PutRequest {
  const f = r.flags('put flags', 7);
  const key = r.bytes('key');
  const value = r.bytes('value');
  return { key, value, lease: readLeaseId(r), prevKv: (f & 1) !== 0, ignoreValue: (f & 2) !== 0, ignoreLease: (f & 4) !== 0 };
}

function readDeleteRange(r: Reader): DeleteRangeRequest {
  const prevKv = r.flags('delete flags', 1) === 1;
  return { prevKv, key: r.bytes('key'), rangeEnd: r.bytes('range_end') };
}

function readCompare(r: Reader): Compare {
  const result = r.enumValue('compare result', CompareResult);
  const target = r.enumValue('compare target', CompareTarget);
  const key = r.bytes('compare key');
  const rangeEnd = r.bytes('compare range_end');
  if (target === CompareTarget.Value) {
    return { result, target, key, rangeEnd, targetNumber: 0, targetValue: r.bytes('compare value') };
  }
  return { result, target, key, rangeEnd, targetNumber: r.svarint('compare operand'), targetValue: new Uint8Array(0) };
}

function readOps(r: Reader, depth: number): RequestOp[] {
  const n = r.count('op count', Number.MAX_SAFE_INTEGER);
  const ops: RequestOp[] = [];
  for (let i = 0; i < n; i++) {
    const tag = r.byte('op tag');
    switch (tag) {
      case OpTag.range: ops.push({ type: 'range', range: readRange(r) }); break;
      case OpTag.put: ops.push({ type: 'put', put: readPut(r) }); break;
      case OpTag.deleteRange: ops.push({ type: 'deleteRange', deleteRange: readDeleteRange(r) }); break;
      case OpTag.txn: ops.push({ type: 'txn', txn: readTxn(r, depth + 1) }); break;
      default: throw new BadCommandError(`unknown op tag ${tag}`);
    }
  }
  return ops;
}

function readTxn(r: Reader, depth: number): TxnRequest {
  if (depth > MAX_TXN_DEPTH) throw new BadCommandError(`txn nested deeper than ${MAX_TXN_DEPTH}`);
  const n = r.count('compare count', Number.MAX_SAFE_INTEGER);
  const compare: Compare[] = [];
  for (let i = 0; i < n; i++) compare.push(readCompare(r));
  const success = readOps(r, depth);
  const failure = readOps(r, depth);
  return { compare, success, failure };
}
