// Reading a WAL segment back and judging its end: pure functions over bytes, so every shape of
// damage can be tested and fuzzed without a file system.
//
// Why a torn tail can be told from corruption: the WAL writes one batch at a time and syncs it
// before writing the next, and a segment is cut only after everything in the previous one was
// synced. So only the newest segment's last batch can be unfinished; any valid record of a *later*
// batch behind damage proves the damaged batch had been synced, which makes the damage corruption.

import { SECTOR_BYTES, WAL_RECORD_ALIGN_BYTES, WAL_RECORD_HEADER_BYTES } from './constants.js';
import { alignUp, lastNonZero, readRecord, RecordType, viewOf, type WalRecord } from './wal_record.js';

export interface Damage {
  readonly offset: number;
  readonly reason: string;
  /** The record's checksum matched but its contents are wrong: never the result of a torn write. */
  readonly checksumValid: boolean;
}

export interface ScannedBatch {
  readonly offset: number;
  readonly seq: number;
  readonly records: readonly WalRecord[];
}

export interface SegmentScan {
  readonly batchCount: number;
  /** The sequence number of the last complete batch, if there is one. */
  readonly lastSeq: number | null;
  /** The offset just past the last complete batch. */
  readonly end: number;
  /** The first invalid record at or after `end`; null if the records end in zeros or at the end of the file. */
  readonly damage: Damage | null;
}

/**
 * Reads the complete batches at the start of a segment, handing each to `visit` as soon as it is
 * complete (so a large log is never held twice in memory). Batch sequence numbers must run on from
 * `expectedFirstSeq` (any start if null); the first record must be the segment's metadata.
 */
export function scanSegment(file: Uint8Array, expectedFirstSeq: number | null, visit: (batch: ScannedBatch) => void): SegmentScan {
  // A plain Uint8Array over the same memory: slicing a Buffer builds a Buffer, several times slower.
  const bytes = new Uint8Array(file.buffer, file.byteOffset, file.byteLength);
  const view = viewOf(bytes);
  let batchCount = 0;
  let lastSeq: number | null = null;
  let end = 0;
  let offset = 0;
  let open: WalRecord[] = [];
  let expected = expectedFirstSeq;
  const stop = (damage: Damage | null): SegmentScan => ({ batchCount, lastSeq, end, damage });
  // Each step moves `offset` forward by at least one header, so the loop ends within bytes.length / 24 steps.
  for (;;) {
    const r = readRecord(bytes, offset, view);
    if (r.kind === 'zero') {
      return stop(open.length === 0 ? null : { offset, reason: 'batch ends without its final record', checksumValid: false });
    }
    if (r.kind === 'bad') return stop({ offset, reason: r.reason, checksumValid: r.checksumValid });
    if (expected !== null && r.seq !== expected) {
      return stop({ offset, reason: `batch sequence ${r.seq} where ${expected} was expected`, checksumValid: true });
    }
    const isFirst = batchCount === 0 && open.length === 0;
    if ((r.record.type === RecordType.Metadata) !== isFirst) {
      const reason = isFirst ? 'segment does not start with its metadata record' : 'metadata record inside a segment';
      return stop({ offset, reason, checksumValid: true });
    }
    expected = r.seq;
    open.push(r.record);
    offset = r.next;
    if (r.batchEnd) {
      visit({ offset: end, seq: r.seq, records: open });
      batchCount++;
      lastSeq = r.seq;
      open = [];
      end = offset;
      expected = r.seq + 1;
    }
  }
}

/** Scans a segment and keeps its batches (for tests and tools; recovery visits them instead). */
export function collectSegment(bytes: Uint8Array, expectedFirstSeq: number | null): { scan: SegmentScan; batches: ScannedBatch[] } {
  const batches: ScannedBatch[] = [];
  const scan = scanSegment(bytes, expectedFirstSeq, (b) => batches.push(b));
  return { scan, batches };
}

/** The sequence number of the last complete batch, or the one before `expectedFirstSeq`. */
export function lastSeqOf(scan: SegmentScan, expectedFirstSeq: number): number {
  return scan.lastSeq ?? expectedFirstSeq - 1;
}

/** A segment older than the newest must end cleanly: everything in it was synced before the next was created. */
export function judgeSealed(bytes: Uint8Array, scan: SegmentScan): Damage | null {
  if (scan.damage !== null) return scan.damage;
  if (scan.batchCount === 0) return { offset: 0, reason: 'segment has no complete batch', checksumValid: false };
  if (lastNonZero(bytes, scan.end) >= 0) return { offset: scan.end, reason: 'data after the last complete batch', checksumValid: false };
  return null;
}

export type TailVerdict =
  | { readonly kind: 'clean' }
  /** An unfinished last batch: bytes [from, to) are to be zeroed. */
  | { readonly kind: 'torn'; readonly from: number; readonly to: number }
  | { readonly kind: 'corrupt'; readonly offset: number; readonly reason: string };

/**
 * Decides what follows the last complete batch of the newest segment. `lastSeq` is the sequence of
 * the last complete batch in the log (so the unfinished one, if any, is lastSeq + 1).
 */
export function judgeTail(bytes: Uint8Array, scan: SegmentScan, lastSeq: number): TailVerdict {
  const garbageEnd = lastNonZero(bytes, scan.end);
  const damage = scan.damage;
  if (damage === null && garbageEnd < 0) return { kind: 'clean' };
  const where = damage?.offset ?? scan.end;
  const reason = damage?.reason ?? 'unexpected bytes after the last complete batch';
  if (damage !== null && damage.checksumValid) return { kind: 'corrupt', offset: where, reason };
  const later = findRecord(bytes, scan.end, (seq) => seq >= lastSeq + 2);
  if (later !== null) {
    return { kind: 'corrupt', offset: where, reason: `${reason}, before a later batch at offset ${later.at}` };
  }
  // A batch that is whole but for damage in sectors that were written is a flipped bit, not a tear:
  // a torn write into the zero-filled segment leaves at least one unwritten (zero) sector behind.
  const complete = findRecord(bytes, scan.end, (seq, batchEnd) => seq === lastSeq + 1 && batchEnd);
  if (complete !== null && !hasZeroPiece(bytes, scan.end, complete.next)) {
    return { kind: 'corrupt', offset: where, reason: `${reason} inside a batch that was written whole` };
  }
  return { kind: 'torn', from: scan.end, to: Math.max(scan.end, garbageEnd + 1) };
}

/** The first record at an aligned offset ≥ from with a valid checksum that satisfies `test`. */
export function findRecord(
  bytes: Uint8Array,
  from: number,
  test: (seq: number, batchEnd: boolean) => boolean,
): { readonly at: number; readonly next: number } | null {
  const view = viewOf(bytes);
  for (let at = alignUp(from); at + WAL_RECORD_HEADER_BYTES <= bytes.byteLength; at += WAL_RECORD_ALIGN_BYTES) {
    // A record needs a non-zero length word; most of a preallocated tail fails this cheap test.
    if (bytes[at + 4] === 0 && bytes[at + 5] === 0 && bytes[at + 6] === 0 && bytes[at + 7] === 0) continue;
    const r = readRecord(bytes, at, view);
    if (r.kind === 'ok' && test(r.seq, r.batchEnd)) return { at, next: r.next };
  }
  return null;
}

/** Whether some sector's share of [from, to) is all zeros. */
function hasZeroPiece(bytes: Uint8Array, from: number, to: number): boolean {
  for (let start = from; start < to; ) {
    const stop = Math.min(to, (Math.floor(start / SECTOR_BYTES) + 1) * SECTOR_BYTES);
    let zero = true;
    for (let i = start; i < stop && zero; i++) zero = bytes[i] === 0;
    if (zero) return true;
    start = stop;
  }
  return false;
}
