// The segmented write-ahead log: each batch (one Ready) is appended with one durable write (an O_DSYNC pwrite);
// segments are preallocated and their names made durable before use; recovery reads every segment,
// truncates a torn tail and stops at corruption anywhere else, naming the file and offset.

import { dirname, join } from 'node:path';
import { assert } from '../util/assert.js';
import { logIndex, type LogIndex, type NodeId } from '../util/branded.js';
import type { Entry, HardState } from '../raft/types.js';
import { EMPTY_HARD_STATE } from '../raft/memory_storage.js';
import { PREALLOCATE_CHUNK_BYTES, STORAGE_FORMAT_VERSION, WAL_PREPARE_NEXT_AT_FRACTION, WAL_SEGMENT_BYTES_MIN } from './constants.js';
import { StorageCorruptionError, StorageInconsistentError, WrongDataDirError } from './errors.js';
import { FilePipeline, preallocate } from './file_pipeline.js';
import type { FileHandle, FileSystem } from './file_system.js';
import { judgeSealed, judgeTail, lastSeqOf, scanSegment, type ScannedBatch } from './segment_scan.js';
import { BatchEncoder, recordBytes, RecordType, type SnapshotMark, type WalRecord } from './wal_record.js';

export interface WalOptions {
  readonly clusterId: string;
  readonly memberId: NodeId;
  readonly segmentBytes: number;
}

/** What one append makes durable; at least one part is present. */
export interface WalBatch {
  readonly mark?: SnapshotMark | undefined;
  readonly entries: readonly Entry[];
  readonly hardState?: HardState | undefined;
}

export interface WalStats {
  batches: number;
  syncs: number;
  bytesWritten: number;
  segmentsCut: number;
  /** Bytes of a torn tail zeroed during recovery. */
  tornBytesRepaired: number;
}

/** Receives every complete batch during recovery, in log order; throws to refuse the log. */
export type BatchVisitor = (records: readonly WalRecord[], file: string, offset: number) => void;

interface Segment {
  readonly seq: number;
  /** The log's last index + 1 when the segment was cut: every live entry at or above it is in this segment or later. */
  readonly firstIndex: LogIndex;
  readonly path: string;
}

const SEGMENT_NAME = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/;
const ENTRY_PAYLOAD_FIXED_BYTES = 17;
const HARD_STATE_RECORD_BYTES = recordBytes(24);
const MARK_RECORD_BYTES = recordBytes(17);

const hex16 = (n: number): string => n.toString(16).padStart(16, '0');

export function segmentName(seq: number, firstIndex: number): string {
  return `${hex16(seq)}-${hex16(firstIndex)}.wal`;
}

export function parseSegmentName(name: string): { seq: number; firstIndex: LogIndex } | null {
  const m = SEGMENT_NAME.exec(name);
  if (m === null) return null;
  const seq = Number.parseInt(m[1] as string, 16);
  const first = Number.parseInt(m[2] as string, 16);
  if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(first)) return null;
  return { seq, firstIndex: logIndex(first) };
}

export class Wal {
  readonly stats: WalStats = { batches: 0, syncs: 0, bytesWritten: 0, segmentsCut: 0, tornBytesRepaired: 0 };
  private readonly encoder = new BatchEncoder();
  private readonly pipeline: FilePipeline;
  private stale: Segment[] = [];
  private closed = false;

  private constructor(
    private readonly fs: FileSystem,
    private readonly dir: string,
    private readonly options: WalOptions,
    private segments: Segment[],
    private handle: FileHandle,
    /** Where the next batch goes in the newest segment. */
    private offset: number,
    private nextSeq: number,
    /** The newest hard state and snapshot mark written: repeated at the head of every new segment. */
    private hardState: HardState,
    private mark: SnapshotMark | null,
  ) {
    this.pipeline = new FilePipeline(fs, dir, options.segmentBytes);
  }

  /**
   * Creates a log holding one segment that starts with `hardState` and `mark`. It is built in a
   * temporary directory renamed into place, so `dir` exists only once its first segment is durable.
   */
  static async create(fs: FileSystem, dir: string, options: WalOptions, hardState: HardState, mark: SnapshotMark | null): Promise<void> {
    assert(options.segmentBytes >= WAL_SEGMENT_BYTES_MIN, `segment size ${options.segmentBytes} below ${WAL_SEGMENT_BYTES_MIN}`);
    const tmp = `${dir}.tmp`;
    if (await fs.exists(tmp)) await removeTree(fs, tmp);
    await fs.mkdir(tmp);
    const firstIndex = (mark?.index ?? 0) + 1;
    const handle = await preallocate(fs, join(tmp, segmentName(1, firstIndex)), options.segmentBytes);
    try {
      const encoder = new BatchEncoder();
      encoder.begin(1);
      addSegmentHeader(encoder, options, 1, hardState, mark);
      await handle.write(encoder.finish(), 0);
      await handle.datasync();
    } finally {
      await handle.close();
    }
    await fs.syncDir(tmp);
    await fs.rename(tmp, dir);
    await fs.syncDir(dirname(dir));
  }

  /** Recovers the log in `dir`, handing every complete batch to `visit`, and readies it for appends. */
  static async open(fs: FileSystem, dir: string, options: WalOptions, visit: BatchVisitor): Promise<Wal> {
    assert(options.segmentBytes >= WAL_SEGMENT_BYTES_MIN, `segment size ${options.segmentBytes} below ${WAL_SEGMENT_BYTES_MIN}`);
    const { run, stale } = await listSegments(fs, dir);
    const tracker = new HeadTracker();
    const visitor =
      (seg: Segment) =>
      (b: ScannedBatch): void => {
        if (b.offset === 0) checkMetadata(b.records[0], seg, options);
        tracker.see(b.records);
        visit(b.records, seg.path, b.offset);
      };
    const reader = new SegmentReader(fs);
    let expect: number | null = null;
    let prevEnd = 0;
    for (let i = 0; i < run.length - 1; i++) {
      const seg = run[i] as Segment;
      const bytes = await reader.read(seg.path);
      const scan = scanSegment(bytes, expect, visitor(seg));
      const damage = judgeSealed(bytes, scan);
      if (damage !== null) throw new StorageCorruptionError(seg.path, damage.offset, damage.reason);
      expect = lastSeqOf(scan, 0) + 1;
      prevEnd = scan.end;
    }
    const last = run[run.length - 1] as Segment;
    const bytes = await reader.read(last.path);
    const scan = scanSegment(bytes, expect, visitor(last));
    const lastSeq = lastSeqOf(scan, expect ?? 1);
    const verdict = judgeTail(bytes, scan, lastSeq);
    if (verdict.kind === 'corrupt') throw new StorageCorruptionError(last.path, verdict.offset, verdict.reason);
    const stats = { tornBytesRepaired: verdict.kind === 'torn' ? verdict.to - verdict.from : 0 };
    let tail = last;
    let offset = scan.end;
    if (scan.batchCount === 0) {
      // A segment whose first batch never became durable (a crash right after the cut): drop it,
      // and the previous one, which was complete and synced, is the tail again.
      if (run.length === 1) throw new StorageCorruptionError(last.path, 0, 'segment has no complete batch');
      await fs.unlink(last.path);
      await fs.syncDir(dir);
      run.pop();
      tail = run[run.length - 1] as Segment;
      offset = prevEnd;
    }
    const handle = await fs.open(tail.path, 'readWrite');
    if (verdict.kind === 'torn' && tail === last) await zeroRange(handle, verdict.from, verdict.to);
    const wal = new Wal(fs, dir, options, run, handle, offset, lastSeq + 1, tracker.hardState, tracker.mark);
    wal.stale = stale;
    wal.stats.tornBytesRepaired = stats.tornBytesRepaired;
    wal.maybePrepareNext();
    return wal;
  }

  /** The sequence number of the batch the next append writes. */
  get nextBatchSeq(): number {
    return this.nextSeq;
  }

  get segmentCount(): number {
    return this.segments.length;
  }

  /**
   * Appends one batch with one durable write (FileHandle.writeDurable). `cutIndex` is the log's last index + 1
   * before this batch; it names the new segment if the batch does not fit the current one.
   */
  async append(batch: WalBatch, cutIndex: LogIndex): Promise<void> {
    assert(!this.closed, 'append: the WAL is closed');
    assert(batch.entries.length > 0 || batch.hardState !== undefined || batch.mark !== undefined, 'append: empty batch');
    if (this.offset > 0 && this.offset + batchBytes(batch) > this.options.segmentBytes) await this.cut(cutIndex);
    const enc = this.encoder;
    enc.begin(this.nextSeq);
    if (this.offset === 0) addSegmentHeader(enc, this.options, this.currentSegment().seq, this.hardState, this.mark);
    if (batch.mark !== undefined) enc.addSnapshotMark(batch.mark);
    for (const e of batch.entries) enc.addEntry(e);
    if (batch.hardState !== undefined) enc.addHardState(batch.hardState);
    const bytes = enc.finish();
    await this.handle.writeDurable(bytes, this.offset);
    this.offset += bytes.byteLength;
    this.nextSeq++;
    if (batch.hardState !== undefined) this.hardState = batch.hardState;
    if (batch.mark !== undefined) this.mark = { index: batch.mark.index, term: batch.mark.term, kind: 'mark' };
    this.stats.batches++;
    this.stats.syncs++;
    this.stats.bytesWritten += bytes.byteLength;
    this.maybePrepareNext();
  }

  /**
   * Removes the segments that hold nothing at or above `index + 1`: all before the newest segment
   * cut at or below index + 1 (entries from there on were written into it or later).
   */
  async releaseTo(index: LogIndex): Promise<number> {
    assert(!this.closed, 'releaseTo: the WAL is closed');
    let keep = 0;
    for (let k = 0; k < this.segments.length; k++) {
      if ((this.segments[k] as Segment).firstIndex <= index + 1) keep = k;
    }
    const doomed = [...this.stale, ...this.segments.slice(0, keep)];
    if (doomed.length === 0) return 0;
    // Oldest first: a crash part way leaves a gap after the removed ones, which open() recognizes as stale.
    for (const seg of doomed) await this.fs.unlink(seg.path);
    await this.fs.syncDir(this.dir);
    this.segments = this.segments.slice(keep);
    this.stale = [];
    return doomed.length;
  }

  /** Removes segments left before a gap by an interrupted release (call after recovery succeeded). */
  async removeStale(): Promise<void> {
    if (this.stale.length === 0) return;
    for (const seg of this.stale) await this.fs.unlink(seg.path);
    await this.fs.syncDir(this.dir);
    this.stale = [];
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pipeline.close();
    await this.handle.close();
  }

  private maybePrepareNext(): void {
    if (this.offset >= this.options.segmentBytes * WAL_PREPARE_NEXT_AT_FRACTION) this.pipeline.start();
  }

  private currentSegment(): Segment {
    const seg = this.segments[this.segments.length - 1];
    assert(seg !== undefined, 'the WAL has no segment');
    return seg;
  }

  /** Moves to a fresh, already preallocated segment whose name is durable before anything is written to it. */
  private async cut(cutIndex: LogIndex): Promise<void> {
    const prepared = await this.pipeline.take();
    const seg: Segment = { seq: this.currentSegment().seq + 1, firstIndex: cutIndex, path: '' };
    const path = join(this.dir, segmentName(seg.seq, cutIndex));
    await this.fs.rename(prepared.path, path);
    await this.fs.syncDir(this.dir);
    const old = this.handle;
    this.segments.push({ ...seg, path });
    this.handle = prepared.handle;
    this.offset = 0;
    this.stats.segmentsCut++;
    this.stats.syncs++;
    await old.close();
  }
}

function batchBytes(batch: WalBatch): number {
  let n = batch.mark === undefined ? 0 : MARK_RECORD_BYTES;
  if (batch.hardState !== undefined) n += HARD_STATE_RECORD_BYTES;
  for (const e of batch.entries) n += recordBytes(ENTRY_PAYLOAD_FIXED_BYTES + e.data.byteLength);
  return n;
}

function addSegmentHeader(enc: BatchEncoder, options: WalOptions, seq: number, hs: HardState, mark: SnapshotMark | null): void {
  enc.addMetadata({ version: STORAGE_FORMAT_VERSION, segmentSeq: seq, memberId: options.memberId, clusterId: options.clusterId });
  enc.addHardState(hs);
  // Repeated as a plain mark: it vouches for the snapshot without replacing the log again.
  if (mark !== null) enc.addSnapshotMark({ index: mark.index, term: mark.term, kind: 'mark' });
}

/** Follows the newest hard state and snapshot mark while recovering, for the next segment's header. */
class HeadTracker {
  hardState: HardState = EMPTY_HARD_STATE;
  mark: SnapshotMark | null = null;

  see(records: readonly WalRecord[]): void {
    for (const r of records) {
      if (r.type === RecordType.HardState) this.hardState = r.hardState;
      else if (r.type === RecordType.Snapshot) this.mark = r.mark;
    }
  }
}

function checkMetadata(first: WalRecord | undefined, seg: Segment, options: WalOptions): void {
  // scanSegment guarantees a segment's first record is its metadata.
  if (first === undefined || first.type !== RecordType.Metadata) return;
  const md = first.metadata;
  if (md.clusterId !== options.clusterId || md.memberId !== options.memberId) {
    throw new WrongDataDirError(
      `WAL segment ${seg.path} belongs to member ${md.memberId} of cluster "${md.clusterId}", ` +
        `not member ${options.memberId} of cluster "${options.clusterId}"`,
    );
  }
  if (md.segmentSeq !== seg.seq) {
    throw new StorageCorruptionError(seg.path, 0, `metadata names segment ${md.segmentSeq}, the file name ${seg.seq}`);
  }
}

/** The newest run of consecutively numbered segments, and any older ones cut off by a gap. */
async function listSegments(fs: FileSystem, dir: string): Promise<{ run: Segment[]; stale: Segment[] }> {
  const segments: Segment[] = [];
  for (const name of await fs.readdir(dir)) {
    // Leftovers of the file pipeline: preallocated, never used.
    if (name.endsWith('.tmp')) {
      await fs.unlink(join(dir, name));
      continue;
    }
    const parsed = parseSegmentName(name);
    if (parsed !== null) segments.push({ ...parsed, path: join(dir, name) });
  }
  if (segments.length === 0) throw new StorageInconsistentError(`${dir} holds no WAL segment: the log is lost`);
  segments.sort((a, b) => a.seq - b.seq);
  let start = segments.length - 1;
  while (start > 0 && (segments[start - 1] as Segment).seq === (segments[start] as Segment).seq - 1) start--;
  return { run: segments.slice(start), stale: segments.slice(0, start) };
}

/**
 * Reads segments without paying for their preallocated zero tail: the file is read backwards into a
 * reused buffer until data shows up, and only the part up to there gets memory of its own (touching
 * fresh memory costs more than reading a cached file). The bytes returned are followed by zeros only.
 */
class SegmentReader {
  private readonly scratch = new Uint8Array(PREALLOCATE_CHUNK_BYTES);
  private readonly zeros = new Uint8Array(PREALLOCATE_CHUNK_BYTES);

  constructor(private readonly fs: FileSystem) {}

  async read(path: string): Promise<Uint8Array> {
    const handle = await this.fs.open(path, 'read');
    try {
      let end = await handle.size();
      while (end > 0) {
        const from = Math.max(0, end - this.scratch.byteLength);
        const n = await readFully(handle, this.scratch.subarray(0, end - from), from);
        if (Buffer.compare(this.scratch.subarray(0, n), this.zeros.subarray(0, n)) !== 0) break;
        end = from;
      }
      const data = Buffer.allocUnsafe(end);
      const n = await readFully(handle, data, 0);
      return new Uint8Array(data.buffer, data.byteOffset, n);
    } finally {
      await handle.close();
    }
  }
}

/** Reads until `into` is full or the file ends; returns the bytes read. */
async function readFully(handle: FileHandle, into: Uint8Array, position: number): Promise<number> {
  let done = 0;
  while (done < into.byteLength) {
    const n = await handle.read(into.subarray(done), position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

async function zeroRange(handle: FileHandle, from: number, to: number): Promise<void> {
  const zeros = new Uint8Array(Math.min(PREALLOCATE_CHUNK_BYTES, to - from));
  for (let at = from; at < to; at += zeros.byteLength) {
    await handle.write(zeros.subarray(0, Math.min(zeros.byteLength, to - at)), at);
  }
  await handle.datasync();
}

/** Removes a directory and the files in it (one level: the WAL's temporary directory). */
export async function removeTree(fs: FileSystem, dir: string): Promise<void> {
  for (const name of await fs.readdir(dir)) await fs.unlink(join(dir, name));
  await fs.rmdir(dir);
}
