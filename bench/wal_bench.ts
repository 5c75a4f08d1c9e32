// WAL benchmark (npm run bench:wal): the disk's raw write + fdatasync rates, the WAL's throughput at
// several batch sizes, and the recovery time of a large log. Not a test: it prints figures.
//
// Flags: --dir <path> (default os.tmpdir()), --seconds <n> per measurement (default 3),
//        --recovery-mib <n> size of the log to recover (default 1024), --skip-recovery.
// The disk may be shared and noisy, so the one-entry WAL rate is measured in slices interleaved
// with slices of the raw 4 KiB rate, and the two are compared over the same stretch of time.

import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { logIndex, nodeId, term } from '../src/util/branded.js';
import type { Entry } from '../src/raft/types.js';
import { NodeFileSystem } from '../src/storage/node_file_system.js';
import { RaftLog } from '../src/storage/raft_log.js';

const ENTRY_DATA_BYTES = 256;
const RAW_SMALL_WRITE_BYTES = 4096;
const RAW_LARGE_WRITE_BYTES = 1024 * 1024;
const RAW_FILE_BYTES = 256 * 1024 * 1024;
const BATCH_SIZES = [1, 16, 256, 4096] as const;
const SLICE_MS = 500;
const RECOVERY_BATCH_ENTRIES = 4096;
const ENTRIES_MAX = 50_000_000;
const MIB = 1024 * 1024;
const MEMBER = { clusterId: 'bench', memberId: nodeId(1) };

interface Flags {
  dir: string;
  seconds: number;
  recoveryMib: number;
  skipRecovery: boolean;
}

function parseFlags(argv: readonly string[]): Flags {
  const flags: Flags = { dir: tmpdir(), seconds: 3, recoveryMib: 1024, skipRecovery: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg === '--dir') flags.dir = value();
    else if (arg === '--seconds') flags.seconds = Number(value());
    else if (arg === '--recovery-mib') flags.recoveryMib = Number(value());
    else if (arg === '--skip-recovery') flags.skipRecovery = true;
    else throw new Error(`unknown flag ${arg}`);
  }
  return flags;
}

/** A zero-filled, synced file written into in place: what the WAL's preallocated segments offer. */
class RawFile {
  private at = 0;
  private constructor(private readonly fh: FileHandle) {}

  static async create(path: string): Promise<RawFile> {
    const fh = await open(path, 'w+');
    const zeros = Buffer.alloc(MIB);
    for (let at = 0; at < RAW_FILE_BYTES; at += MIB) await fh.write(zeros, 0, MIB, at);
    await fh.sync();
    return new RawFile(fh);
  }

  /** Writes + fdatasyncs blocks of `bytes` for `ms`; returns how many and how long it took. */
  async run(bytes: number, ms: number): Promise<{ count: number; secs: number }> {
    const block = Buffer.alloc(bytes, 0x5a);
    const start = performance.now();
    let count = 0;
    while (performance.now() - start < ms) {
      if (this.at + bytes > RAW_FILE_BYTES) this.at = 0;
      await this.fh.write(block, 0, bytes, this.at);
      await this.fh.datasync();
      this.at += bytes;
      count++;
    }
    return { count, secs: (performance.now() - start) / 1000 };
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}

function makeBatch(first: number, count: number, data: Uint8Array): Entry[] {
  const out: Entry[] = [];
  for (let i = 0; i < count; i++) out.push({ index: logIndex(first + i), term: term(1), type: 0, data });
  return out;
}

/** Saves batches of `batch` entries for `ms`, continuing the log from `next`. */
async function runWal(log: RaftLog, batch: number, ms: number, next: number): Promise<{ next: number; syncs: number; bytes: number; secs: number }> {
  const data = new Uint8Array(ENTRY_DATA_BYTES).fill(0x42);
  const syncs = log.stats.syncs;
  const bytes = log.stats.bytesWritten;
  const start = performance.now();
  let at = next;
  while (performance.now() - start < ms && at < ENTRIES_MAX) {
    await log.save({ hardState: { term: term(1), vote: nodeId(1), commit: logIndex(at - 1) }, entries: makeBatch(at, batch, data) });
    at += batch;
  }
  return { next: at, syncs: log.stats.syncs - syncs, bytes: log.stats.bytesWritten - bytes, secs: (performance.now() - start) / 1000 };
}

interface Row {
  batch: number;
  entriesPerSec: number;
  entryMbPerSec: number;
  walMbPerSec: number;
  syncsPerSec: number;
}

/** One entry per batch, in slices alternating with the raw 4 KiB rate; returns both rates. */
async function singleEntryVersusRaw(dir: string, raw: RawFile, seconds: number): Promise<{ row: Row; rawRate: number }> {
  const log = await RaftLog.open(new NodeFileSystem(), dir, MEMBER);
  let next = 1;
  let rawCount = 0;
  let rawSecs = 0;
  let walEntries = 0;
  let walSyncs = 0;
  let walBytes = 0;
  let walSecs = 0;
  for (let slice = 0; slice < Math.max(1, Math.round((seconds * 1000) / SLICE_MS)); slice++) {
    const r = await raw.run(RAW_SMALL_WRITE_BYTES, SLICE_MS);
    rawCount += r.count;
    rawSecs += r.secs;
    const w = await runWal(log, 1, SLICE_MS, next);
    walEntries += w.next - next;
    next = w.next;
    walSyncs += w.syncs;
    walBytes += w.bytes;
    walSecs += w.secs;
  }
  await log.close();
  const row = { batch: 1, entriesPerSec: walEntries / walSecs, entryMbPerSec: (walEntries * ENTRY_DATA_BYTES) / MIB / walSecs, walMbPerSec: walBytes / MIB / walSecs, syncsPerSec: walSyncs / walSecs };
  return { row, rawRate: rawCount / rawSecs };
}

async function batched(dir: string, batch: number, seconds: number): Promise<Row> {
  const log = await RaftLog.open(new NodeFileSystem(), dir, MEMBER);
  try {
    const w = await runWal(log, batch, seconds * 1000, 1);
    const entries = w.next - 1;
    return { batch, entriesPerSec: entries / w.secs, entryMbPerSec: (entries * ENTRY_DATA_BYTES) / MIB / w.secs, walMbPerSec: w.bytes / MIB / w.secs, syncsPerSec: w.syncs / w.secs };
  } finally {
    await log.close();
  }
}

async function recovery(dir: string, mib: number): Promise<{ writeSecs: number; openSecs: number; entries: number; segments: number }> {
  const fs = new NodeFileSystem();
  const data = new Uint8Array(ENTRY_DATA_BYTES).fill(0x17);
  let log = await RaftLog.open(fs, dir, MEMBER);
  let next = 1;
  const writeStart = performance.now();
  while (log.stats.bytesWritten < mib * MIB && next < ENTRIES_MAX) {
    await log.save({ hardState: { term: term(1), vote: nodeId(1), commit: logIndex(next - 1) }, entries: makeBatch(next, RECOVERY_BATCH_ENTRIES, data) });
    next += RECOVERY_BATCH_ENTRIES;
  }
  const writeSecs = (performance.now() - writeStart) / 1000;
  await log.close();
  const openStart = performance.now();
  log = await RaftLog.open(fs, dir, MEMBER);
  const openSecs = (performance.now() - openStart) / 1000;
  const entries = log.storage.lastIndex();
  const segments = (await fs.readdir(join(dir, 'wal'))).filter((n) => n.endsWith('.wal')).length;
  await log.close();
  return { writeSecs, openSecs, entries, segments };
}

const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

function printRow(r: Row, rawSyncs: number, rawMb: number): void {
  const cells = [
    String(r.batch).padStart(7),
    fmt(r.entriesPerSec).padStart(11),
    fmt(r.entryMbPerSec, 1).padStart(10),
    fmt(r.walMbPerSec, 1).padStart(8),
    fmt(r.syncsPerSec).padStart(8),
    `${fmt((r.syncsPerSec / rawSyncs) * 100)}%`.padStart(13),
    `${fmt((r.walMbPerSec / rawMb) * 100)}%`.padStart(11),
  ];
  console.log(cells.join(' | '));
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const root = await mkdtemp(join(flags.dir, 'meridian-wal-bench-'));
  try {
    console.log(`WAL benchmark in ${root}, ${flags.seconds} s per measurement, entries of ${ENTRY_DATA_BYTES} B`);
    const raw = await RawFile.create(join(root, 'raw.bin'));
    const big = await raw.run(RAW_LARGE_WRITE_BYTES, flags.seconds * 1000);
    const rawMb = (big.count * RAW_LARGE_WRITE_BYTES) / MIB / big.secs;
    console.log(`raw 1 MiB pwrite + fdatasync: ${fmt(rawMb, 1)} MB/s (${fmt(big.count / big.secs)} syncs/s)`);
    const single = await singleEntryVersusRaw(join(root, 'batch-1'), raw, flags.seconds);
    await raw.close();
    console.log(`raw 4 KiB pwrite + fdatasync: ${fmt(single.rawRate)} syncs/s (interleaved with the 1-entry WAL run)`);
    console.log('  batch |   entries/s | entry MB/s | WAL MB/s |  syncs/s | of raw syncs | of raw MB/s');
    printRow(single.row, single.rawRate, rawMb);
    for (const batch of BATCH_SIZES.slice(1)) {
      const dir = join(root, `batch-${batch}`);
      printRow(await batched(dir, batch, flags.seconds), single.rawRate, rawMb);
      await rm(dir, { recursive: true, force: true });
    }
    if (!flags.skipRecovery) {
      const r = await recovery(join(root, 'recovery'), flags.recoveryMib);
      console.log(
        `recovery of a ${fmt(flags.recoveryMib)} MiB log (${fmt(r.entries)} entries, ${r.segments} segments): ` +
          `${fmt(r.openSecs, 2)} s = ${fmt(flags.recoveryMib / r.openSecs)} MiB/s (writing it took ${fmt(r.writeSecs, 1)} s)`,
      );
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

await main();
