// The member's durable raft log: the WAL plus snapshot files plus the in-memory Storage the raft core
// reads (etcd's way: a MemoryStorage of the entries since the last snapshot, refilled from the WAL on
// restart). One save() per Ready: one durable write (an O_DSYNC pwrite). Any I/O failure kills the log for good.

import { dirname, join } from 'node:path';
import { assert, AssertionError } from '../util/assert.js';
import { logIndex, NONE, type LogIndex, type NodeId } from '../util/branded.js';
import { EMPTY_HARD_STATE, emptySnapshot, MemoryStorage } from '../raft/memory_storage.js';
import type { ConfState, Entry, HardState, Snapshot, Storage } from '../raft/types.js';
import { SNAPSHOTS_RETAINED, WAL_SEGMENT_BYTES } from './constants.js';
import { StorageClosedError, StorageCorruptionError, StorageFailedError, StorageInconsistentError } from './errors.js';
import type { FileSystem } from './file_system.js';
import { checkIdentity, readIdentity, writeIdentity } from './identity.js';
import { LogReplay } from './log_replay.js';
import { Snapshotter } from './snapshotter.js';
import { Wal, type WalOptions, type WalStats } from './wal.js';
import type { SnapshotMark } from './wal_record.js';

export const WAL_DIR = 'wal';
export const SNAP_DIR = 'snap';

export interface RaftLogOptions {
  readonly clusterId: string;
  readonly memberId: NodeId;
  /** For a new data directory only: the configuration the cluster starts with, saved as a snapshot at index 0. */
  readonly bootstrapConfState?: ConfState | undefined;
  readonly segmentBytes?: number | undefined;
  readonly snapshotsRetained?: number | undefined;
}

/** What one Ready asks to persist. */
export interface SaveRequest {
  readonly hardState?: HardState | null | undefined;
  readonly entries: readonly Entry[];
  /** A snapshot received from the leader: it replaces the log. */
  readonly snapshot?: Snapshot | null | undefined;
}

export class RaftLog {
  private failure: Error | null = null;
  private closed = false;
  private queue: Promise<unknown> = Promise.resolve();
  /** The newest hard state raft handed over; it differs from the durable one only in `commit` (see save). */
  private latestHs: HardState;

  private constructor(
    private readonly wal: Wal,
    private readonly snapshotter: Snapshotter,
    private readonly mem: MemoryStorage,
    private durableHs: HardState,
    private snap: Snapshot,
    private readonly retained: number,
  ) {
    this.latestHs = durableHs;
  }

  /**
   * Opens (creating if new) the data directory `dir` of one member and recovers its log. Refuses a
   * directory of another cluster or member, and a log that is corrupt anywhere but its torn tail.
   */
  static async open(fs: FileSystem, dir: string, options: RaftLogOptions): Promise<RaftLog> {
    const walOptions: WalOptions = {
      clusterId: options.clusterId,
      memberId: options.memberId,
      segmentBytes: options.segmentBytes ?? WAL_SEGMENT_BYTES,
    };
    const retained = options.snapshotsRetained ?? SNAPSHOTS_RETAINED;
    assert(retained >= 1, 'snapshotsRetained must be at least 1');
    const snapshotter = await prepareDirectory(fs, dir, options, walOptions);
    const replay = new LogReplay();
    const wal = await Wal.open(fs, join(dir, WAL_DIR), walOptions, (records, file, offset) => {
      const problem = replay.applyBatch(records);
      if (problem !== null) throw new StorageCorruptionError(file, offset, problem);
    });
    try {
      const snap = await chooseSnapshot(snapshotter, replay.newestMark);
      const { index, term } = snap.metadata;
      const entries = replay.finish(index, term);
      if (typeof entries === 'string') throw new StorageInconsistentError(`Cannot recover ${dir}: ${entries}`);
      const mem = index === 0 ? MemoryStorage.withConfState(snap.metadata.confState) : new MemoryStorage();
      mem.applySnapshot(snap);
      mem.append(entries);
      // The snapshot proves its index committed, though a commit-only hard state may not have been synced.
      const hs = { ...replay.hardState, commit: logIndex(Math.max(replay.hardState.commit, index)) };
      if (hs.commit > mem.lastIndex()) {
        throw new StorageInconsistentError(
          `Cannot recover ${dir}: the hard state commits index ${hs.commit} but the log ends at ${mem.lastIndex()}; entries were lost`,
        );
      }
      mem.setHardState(hs);
      await wal.removeStale();
      return new RaftLog(wal, snapshotter, mem, hs, snap, retained);
    } catch (e) {
      await wal.close().catch(() => undefined);
      throw e;
    }
  }

  /** What the raft core reads, synchronously: hard state, entries since the snapshot, the snapshot. */
  get storage(): Storage {
    return this.mem;
  }

  /** The newest hard state handed to save() (or recovered). */
  get hardState(): HardState {
    return this.latestHs;
  }

  /** The newest durable snapshot. */
  get snapshot(): Snapshot {
    return this.snap;
  }

  get stats(): Readonly<WalStats> {
    return this.wal.stats;
  }

  /** The error that made the log unusable, or null. */
  get failed(): Error | null {
    return this.failure;
  }

  /**
   * Persists one Ready: a received snapshot's file first (its own syncs), then the entries, the hard
   * state and the snapshot's mark in one WAL write and one fdatasync; then updates `storage`.
   * A change of the commit index alone is not forced to disk (etcd's MustSync): it rides with the
   * next write, and after a crash raft learns the commit index again.
   */
  save(req: SaveRequest): Promise<void> {
    return this.serialize('save', async () => {
      const hs = req.hardState ?? null;
      const snapshot = req.snapshot ?? null;
      this.checkSave(hs, req.entries, snapshot);
      if (hs !== null) this.latestHs = hs;
      const durable = this.durableHs;
      const mustSync = req.entries.length > 0 || snapshot !== null || this.latestHs.term !== durable.term || this.latestHs.vote !== durable.vote;
      if (!mustSync) {
        this.mem.setHardState(this.latestHs);
        return;
      }
      if (snapshot !== null) await this.snapshotter.save(snapshot);
      const mark: SnapshotMark | undefined =
        snapshot === null ? undefined : { index: snapshot.metadata.index, term: snapshot.metadata.term, kind: 'restore' };
      await this.appendToWal(req.entries, mark);
      if (snapshot !== null) {
        this.mem.applySnapshot(snapshot);
        this.snap = snapshot;
      }
      this.mem.append(req.entries);
      this.mem.setHardState(this.latestHs);
      if (snapshot !== null) await this.snapshotter.prune(this.retained);
    });
  }

  /**
   * Saves a snapshot of applied state (file written safely, then recorded in the WAL) and prunes old
   * snapshot files. Entries stay until compact(). Returns false, doing nothing, if a snapshot at or
   * beyond its index is already durable.
   */
  saveSnapshot(snapshot: Snapshot): Promise<boolean> {
    return this.serialize('save a snapshot', async () => {
      const { index, term } = snapshot.metadata;
      if (index <= this.snap.metadata.index) return false;
      assert(index <= this.latestHs.commit, `saveSnapshot: index ${index} is not committed (commit ${this.latestHs.commit})`);
      assert(this.mem.term(index) === term, `saveSnapshot: entry ${index} has term ${String(this.mem.term(index))}, the snapshot ${term}`);
      await this.snapshotter.save(snapshot);
      await this.appendToWal([], { index, term, kind: 'mark' });
      this.mem.createSnapshot(index, snapshot.metadata.confState, snapshot.data);
      this.snap = snapshot;
      await this.snapshotter.prune(this.retained);
      return true;
    });
  }

  /** Drops entries up to `index` (at most the durable snapshot's index) from memory and releases old WAL segments. */
  compact(index: LogIndex): Promise<void> {
    return this.serialize('compact', async () => {
      assert(index <= this.snap.metadata.index, `compact: index ${index} is past the snapshot at ${this.snap.metadata.index}`);
      if (index >= this.mem.firstIndex()) this.mem.compact(index);
      await this.wal.releaseTo(index);
    });
  }

  /** Waits for work in flight, then closes the files. Safe to call after a failure. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue;
    await this.wal.close();
  }

  private async appendToWal(entries: readonly Entry[], mark: SnapshotMark | undefined): Promise<void> {
    const hs = sameHardState(this.latestHs, this.durableHs) ? undefined : this.latestHs;
    await this.wal.append({ entries, mark, hardState: hs }, logIndex(this.mem.lastIndex() + 1));
    this.durableHs = this.latestHs;
  }

  /** What raft guarantees about a Ready, asserted: a violation is a bug that must not reach the disk. */
  private checkSave(hs: HardState | null, entries: readonly Entry[], snapshot: Snapshot | null): void {
    const latest = this.latestHs;
    if (hs !== null) {
      assert(hs.term >= latest.term, `save: term ${hs.term} goes back from ${latest.term}`);
      assert(
        hs.term > latest.term || latest.vote === NONE || hs.vote === latest.vote,
        `save: vote changes from ${latest.vote} to ${hs.vote} within term ${hs.term}`,
      );
      assert(hs.commit >= latest.commit, `save: commit ${hs.commit} goes back from ${latest.commit}`);
    }
    if (snapshot !== null) {
      const at = snapshot.metadata.index;
      assert(at > this.snap.metadata.index, `save: snapshot at ${at} is not newer than ${this.snap.metadata.index}`);
    }
    const base = snapshot?.metadata.index ?? this.snap.metadata.index;
    const last = snapshot === null ? this.mem.lastIndex() : base;
    const first = entries[0];
    if (first !== undefined) {
      assert(first.index > base && first.index <= last + 1, `save: entry ${first.index} does not fit a log of (${base}, ${last}]`);
    }
    for (let i = 1; i < entries.length; i++) {
      const prev = entries[i - 1] as Entry;
      const e = entries[i] as Entry;
      assert(e.index === prev.index + 1 && e.term >= prev.term, `save: entry ${e.index} (term ${e.term}) does not follow ${prev.index} (term ${prev.term})`);
    }
    const lastAfter = entries[entries.length - 1]?.index ?? last;
    const commit = (hs ?? latest).commit;
    assert(commit <= lastAfter, `save: commit ${commit} is past the last entry ${lastAfter}`);
  }

  /** Runs operations one at a time in call order; the first failure makes every later call fail. */
  private serialize<T>(what: string, op: () => Promise<T>): Promise<T> {
    // Checked at the call: work queued before close() still runs, work asked for after it does not.
    if (this.closed) return Promise.reject(new StorageClosedError(what));
    const run = async (): Promise<T> => {
      if (this.failure !== null) {
        throw new StorageFailedError(`Cannot ${what}: the log failed earlier and the member must stop (${this.failure.message})`, {
          cause: this.failure,
        });
      }
      try {
        return await op();
      } catch (e) {
        throw this.fail(what, e);
      }
    };
    const result = this.queue.then(run, run);
    this.queue = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  private fail(what: string, e: unknown): Error {
    // Never retried: after a failed write or fsync the kernel may have dropped the data while a
    // later fsync reports success, so nothing on disk can be trusted to follow what we were told.
    if (e instanceof AssertionError) {
      this.failure = e;
      return e;
    }
    const message = e instanceof Error ? e.message : String(e);
    this.failure = new StorageFailedError(`Cannot ${what}: ${message}; the log is unusable and the member must stop`, { cause: e });
    return this.failure;
  }
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

/** Creates what a new directory lacks (identity, snapshot directory, first WAL segment) and checks ownership. */
async function prepareDirectory(fs: FileSystem, dir: string, options: RaftLogOptions, walOptions: WalOptions): Promise<Snapshotter> {
  const walDir = join(dir, WAL_DIR);
  const snapDir = join(dir, SNAP_DIR);
  const identity = { clusterId: options.clusterId, memberId: options.memberId };
  if (!(await fs.exists(dir))) {
    await fs.mkdir(dir);
    await fs.syncDir(dirname(dir));
  }
  const found = await readIdentity(fs, dir);
  if (found === null) {
    if (await fs.exists(walDir)) {
      throw new StorageInconsistentError(`Data directory ${dir} holds a WAL but no identity file; refusing to guess whose it is`);
    }
    await writeIdentity(fs, dir, identity);
  } else {
    checkIdentity(dir, found, identity);
  }
  if (!(await fs.exists(snapDir))) {
    await fs.mkdir(snapDir);
    await fs.syncDir(dir);
  }
  const snapshotter = new Snapshotter(fs, snapDir);
  if (!(await fs.exists(walDir))) await createLog(snapshotter, fs, dir, options, walOptions);
  return snapshotter;
}

async function createLog(snapshotter: Snapshotter, fs: FileSystem, dir: string, options: RaftLogOptions, walOptions: WalOptions): Promise<void> {
  if ((await snapshotter.list()).some((f) => f.index > 0)) {
    throw new StorageInconsistentError(`Data directory ${dir} holds snapshots but no WAL; the log is lost`);
  }
  let mark: SnapshotMark | null = null;
  if (options.bootstrapConfState !== undefined) {
    const boot = emptySnapshot();
    await snapshotter.save({ ...boot, metadata: { ...boot.metadata, confState: options.bootstrapConfState } });
    mark = { index: boot.metadata.index, term: boot.metadata.term, kind: 'mark' };
  }
  await Wal.create(fs, join(dir, WAL_DIR), walOptions, EMPTY_HARD_STATE, mark);
}

/** The snapshot the WAL vouches for; newer files it does not know are leftovers of an interrupted save. */
async function chooseSnapshot(snapshotter: Snapshotter, newest: SnapshotMark | null): Promise<Snapshot> {
  const files = await snapshotter.list();
  for (const f of files) {
    if (newest === null || f.index > newest.index || (f.index === newest.index && f.term !== newest.term)) {
      await snapshotter.remove(f);
    }
  }
  if (newest === null) return emptySnapshot();
  const file = files.find((f) => f.index === newest.index && f.term === newest.term);
  if (file === undefined) {
    throw new StorageInconsistentError(
      `The WAL records a snapshot at index ${newest.index} term ${newest.term} but ${snapshotter.dir} has no file for it`,
    );
  }
  return snapshotter.load(file);
}
