// WAL record framing and payload codecs. A record is a 24-byte header (crc32c, length, type, flags,
// batch sequence) and a payload, padded to 8 bytes. The records of one Ready form a batch, written
// with one write call; its last record carries BATCH_END, so a batch is either whole or torn.
//
// Header (little endian):
//   0 u32 crc32c of bytes [4, 24 + length)   4 u32 payload length   8 u8 type   9 u8 flags
//  10 u16 zero   12 u32 batch sequence low   16 u32 batch sequence high   20 u32 zero

import { crc32c } from '@node-rs/crc32';
import { assert } from '../util/assert.js';
import { logIndex, nodeId, term, type LogIndex, type NodeId, type Term } from '../util/branded.js';
import { EntryType, type Entry, type HardState } from '../raft/types.js';
import {
  CLUSTER_ID_BYTES_MAX,
  STORAGE_FORMAT_VERSION,
  WAL_RECORD_ALIGN_BYTES,
  WAL_RECORD_HEADER_BYTES,
  WAL_RECORD_PAYLOAD_BYTES_MAX,
} from './constants.js';
import { getU64, putU64 } from './codec.js';

export const RecordType = {
  /** First record of every segment: format version, segment sequence, owner. */
  Metadata: 1,
  HardState: 2,
  /** A snapshot exists at (index, term); 'restore' also means the log before it was replaced. */
  Snapshot: 3,
  Entry: 4,
} as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

/** Set on the last record of a batch: the batch is complete. */
export const FLAG_BATCH_END = 1;


const ENTRY_FIXED_BYTES = 17;
const HARD_STATE_BYTES = 24;
const SNAPSHOT_MARK_BYTES = 17;
const METADATA_FIXED_BYTES = 28;

export interface SegmentMetadata {
  readonly version: number;
  readonly segmentSeq: number;
  readonly memberId: NodeId;
  readonly clusterId: string;
}

/** 'mark': a snapshot was saved, the log is unchanged; 'restore': the log was replaced by the snapshot. */
export type SnapshotMarkKind = 'mark' | 'restore';

export interface SnapshotMark {
  readonly index: LogIndex;
  readonly term: Term;
  readonly kind: SnapshotMarkKind;
}

export type WalRecord =
  | { readonly type: typeof RecordType.Metadata; readonly metadata: SegmentMetadata }
  | { readonly type: typeof RecordType.HardState; readonly hardState: HardState }
  | { readonly type: typeof RecordType.Snapshot; readonly mark: SnapshotMark }
  | { readonly type: typeof RecordType.Entry; readonly entry: Entry };

export function alignUp(n: number): number {
  return Math.ceil(n / WAL_RECORD_ALIGN_BYTES) * WAL_RECORD_ALIGN_BYTES;
}

/** Bytes a record with this payload occupies on disk. */
export function recordBytes(payloadBytes: number): number {
  return WAL_RECORD_HEADER_BYTES + alignUp(payloadBytes);
}



const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** Builds the bytes of one batch in a reused buffer, so a Ready is encoded without per-record copies. */
export class BatchEncoder {
  private buf = new Uint8Array(64 * 1024);
  private view = new DataView(this.buf.buffer);
  private length = 0;
  private readonly starts: number[] = [];
  private seq = 0;

  /** Starts a new batch with this sequence number; the bytes of the previous batch become invalid. */
  begin(seq: number): void {
    assert(Number.isSafeInteger(seq) && seq > 0, `batch sequence must be positive, got ${seq}`);
    this.seq = seq;
    this.length = 0;
    this.starts.length = 0;
  }

  get recordCount(): number {
    return this.starts.length;
  }

  addEntry(e: Entry): void {
    assert(e.type === EntryType.Normal || e.type === EntryType.ConfChange, `entry ${e.index}: bad type ${e.type}`);
    const at = this.beginRecord(RecordType.Entry, ENTRY_FIXED_BYTES + e.data.byteLength);
    putU64(this.view, at, e.index);
    putU64(this.view, at + 8, e.term);
    this.view.setUint8(at + 16, e.type);
    this.buf.set(e.data, at + ENTRY_FIXED_BYTES);
  }

  addHardState(hs: HardState): void {
    const at = this.beginRecord(RecordType.HardState, HARD_STATE_BYTES);
    putU64(this.view, at, hs.term);
    putU64(this.view, at + 8, hs.vote);
    putU64(this.view, at + 16, hs.commit);
  }

  addSnapshotMark(m: SnapshotMark): void {
    const at = this.beginRecord(RecordType.Snapshot, SNAPSHOT_MARK_BYTES);
    putU64(this.view, at, m.index);
    putU64(this.view, at + 8, m.term);
    this.view.setUint8(at + 16, m.kind === 'restore' ? 1 : 0);
  }

  addMetadata(md: SegmentMetadata): void {
    const id = utf8.encode(md.clusterId);
    assert(id.byteLength <= CLUSTER_ID_BYTES_MAX, `cluster id longer than ${CLUSTER_ID_BYTES_MAX} bytes`);
    const at = this.beginRecord(RecordType.Metadata, METADATA_FIXED_BYTES + id.byteLength);
    this.view.setUint32(at, md.version, true);
    this.view.setUint32(at + 4, id.byteLength, true);
    putU64(this.view, at + 8, md.segmentSeq);
    putU64(this.view, at + 16, md.memberId);
    this.view.setUint32(at + 24, 0, true);
    this.buf.set(id, at + METADATA_FIXED_BYTES);
  }

  /** Seals the batch (end flag, checksums) and returns its bytes, valid until the next begin(). */
  finish(): Uint8Array {
    const last = this.starts[this.starts.length - 1];
    assert(last !== undefined, 'finish: empty batch');
    this.buf[last + 9] = FLAG_BATCH_END;
    for (const start of this.starts) {
      const len = this.view.getUint32(start + 4, true);
      const crc = crc32c(this.buf.subarray(start + 4, start + WAL_RECORD_HEADER_BYTES + len));
      this.view.setUint32(start, crc, true);
    }
    return this.buf.subarray(0, this.length);
  }

  /** Writes a header (checksum and flags filled in by finish) and returns where the payload goes. */
  private beginRecord(type: RecordType, payloadBytes: number): number {
    assert(payloadBytes <= WAL_RECORD_PAYLOAD_BYTES_MAX, `record payload of ${payloadBytes} bytes exceeds ${WAL_RECORD_PAYLOAD_BYTES_MAX}`);
    const start = this.length;
    const total = recordBytes(payloadBytes);
    this.reserve(start + total);
    this.buf.fill(0, start, start + total);
    this.view.setUint32(start + 4, payloadBytes, true);
    this.view.setUint8(start + 8, type);
    putU64(this.view, start + 12, this.seq);
    this.starts.push(start);
    this.length = start + total;
    return start + WAL_RECORD_HEADER_BYTES;
  }

  private reserve(n: number): void {
    if (n <= this.buf.byteLength) return;
    const next = new Uint8Array(Math.max(n, this.buf.byteLength * 2));
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
}

/** One record read back: 'zero' is an all-zero header (unwritten space), 'bad' anything else invalid. */
export type ReadResult =
  | { readonly kind: 'ok'; readonly record: WalRecord; readonly seq: number; readonly batchEnd: boolean; readonly next: number }
  | { readonly kind: 'zero' }
  | { readonly kind: 'bad'; readonly reason: string; readonly checksumValid: boolean };

/** A view of the whole buffer, made once per segment: creating one per record dominated recovery. */
export function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Reads the record at `offset` of `bytes`; never throws on any input. `view` must be viewOf(bytes);
 * pass a plain Uint8Array (not a Buffer), so payload slices are cheap typed-array views.
 */
export function readRecord(bytes: Uint8Array, offset: number, view: DataView = viewOf(bytes)): ReadResult {
  if (offset + WAL_RECORD_HEADER_BYTES > bytes.byteLength) {
    return isZero(bytes, offset, bytes.byteLength) ? { kind: 'zero' } : { kind: 'bad', reason: 'truncated record header', checksumValid: false };
  }
  const len = view.getUint32(offset + 4, true);
  if (len === 0 && isZero(bytes, offset, offset + WAL_RECORD_HEADER_BYTES)) return { kind: 'zero' };
  if (len > WAL_RECORD_PAYLOAD_BYTES_MAX) return bad(`record length ${len} exceeds the maximum`);
  const end = offset + WAL_RECORD_HEADER_BYTES + len;
  if (end > bytes.byteLength) return bad(`record length ${len} runs past the end of the file`);
  const crc = crc32c(bytes.subarray(offset + 4, end));
  if (crc !== view.getUint32(offset, true)) return bad('checksum mismatch');
  const flags = view.getUint8(offset + 9);
  if ((flags & ~FLAG_BATCH_END) !== 0 || view.getUint16(offset + 10, true) !== 0 || view.getUint32(offset + 20, true) !== 0) {
    return { kind: 'bad', reason: 'reserved header bits set', checksumValid: true };
  }
  const seq = getU64(view, offset + 12);
  if (seq <= 0) return { kind: 'bad', reason: `bad batch sequence`, checksumValid: true };
  const record = decodePayload(view.getUint8(offset + 8), bytes, view, offset + WAL_RECORD_HEADER_BYTES, len);
  if (typeof record === 'string') return { kind: 'bad', reason: record, checksumValid: true };
  return { kind: 'ok', record, seq, batchEnd: flags === FLAG_BATCH_END, next: offset + recordBytes(len) };
}

function bad(reason: string): ReadResult {
  return { kind: 'bad', reason, checksumValid: false };
}

/** Whether bytes[from, to) are all zero. */
export function isZero(bytes: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (bytes[i] !== 0) return false;
  return true;
}

const ZERO_CHUNK = new Uint8Array(64 * 1024);

/** The offset of the last non-zero byte in [from, bytes.length), or -1. */
export function lastNonZero(bytes: Uint8Array, from: number): number {
  // Whole chunks are compared with memcmp: a preallocated segment's tail is tens of MiB of zeros.
  let end = bytes.byteLength;
  while (end - from >= ZERO_CHUNK.byteLength && Buffer.compare(bytes.subarray(end - ZERO_CHUNK.byteLength, end), ZERO_CHUNK) === 0) {
    end -= ZERO_CHUNK.byteLength;
  }
  for (let i = end - 1; i >= from; i--) if (bytes[i] !== 0) return i;
  return -1;
}

/** Decodes the payload at [at, at + len) whose checksum matched; a string is the reason it is malformed. */
function decodePayload(type: number, bytes: Uint8Array, view: DataView, at: number, len: number): WalRecord | string {
  switch (type) {
    case RecordType.Entry:
      return decodeEntry(bytes, view, at, len);
    case RecordType.HardState: {
      if (len !== HARD_STATE_BYTES) return `hard state record of ${len} bytes`;
      const t = getU64(view, at);
      const v = getU64(view, at + 8);
      const c = getU64(view, at + 16);
      if (t < 0 || v < 0 || c < 0) return 'hard state field out of range';
      return { type: RecordType.HardState, hardState: { term: term(t), vote: nodeId(v), commit: logIndex(c) } };
    }
    case RecordType.Snapshot: {
      if (len !== SNAPSHOT_MARK_BYTES) return `snapshot record of ${len} bytes`;
      const i = getU64(view, at);
      const t = getU64(view, at + 8);
      const k = view.getUint8(at + 16);
      if (i < 0 || t < 0 || k > 1) return 'snapshot record field out of range';
      return { type: RecordType.Snapshot, mark: { index: logIndex(i), term: term(t), kind: k === 1 ? 'restore' : 'mark' } };
    }
    case RecordType.Metadata:
      return decodeMetadata(bytes, view, at, len);
    default:
      return `unknown record type ${type}`;
  }
}

function decodeEntry(bytes: Uint8Array, view: DataView, at: number, len: number): WalRecord | string {
  if (len < ENTRY_FIXED_BYTES) return `entry record of ${len} bytes`;
  const i = getU64(view, at);
  const t = getU64(view, at + 8);
  const type = view.getUint8(at + 16);
  if (i <= 0 || t < 0) return 'entry index or term out of range';
  if (type !== EntryType.Normal && type !== EntryType.ConfChange) return `unknown entry type ${type}`;
  // The data is a view into the segment's buffer: no copy, the buffer lives as long as the entries.
  const data = bytes.subarray(at + ENTRY_FIXED_BYTES, at + len);
  return { type: RecordType.Entry, entry: { index: logIndex(i), term: term(t), type, data } };
}

function decodeMetadata(bytes: Uint8Array, view: DataView, at: number, len: number): WalRecord | string {
  if (len < METADATA_FIXED_BYTES) return `metadata record of ${len} bytes`;
  const version = view.getUint32(at, true);
  const idBytes = view.getUint32(at + 4, true);
  const segmentSeq = getU64(view, at + 8);
  const member = getU64(view, at + 16);
  if (version !== STORAGE_FORMAT_VERSION) return `unsupported format version ${version}`;
  if (idBytes > CLUSTER_ID_BYTES_MAX || len !== METADATA_FIXED_BYTES + idBytes) return 'bad cluster id length';
  if (segmentSeq < 0 || member < 0 || view.getUint32(at + 24, true) !== 0) return 'metadata field out of range';
  let clusterId: string;
  try {
    clusterId = utf8Strict.decode(bytes.subarray(at + METADATA_FIXED_BYTES, at + len));
  } catch {
    return 'cluster id is not UTF-8';
  }
  return { type: RecordType.Metadata, metadata: { version, segmentSeq, memberId: nodeId(member), clusterId } };
}
