// A deterministic in-memory file system for tests and the cluster simulator. Every file and every
// directory entry has a volatile and a durable layer, so crash() loses exactly what was not synced,
// and the faults of TESTING.md can be switched on: torn writes, bit flips, fsync and write errors,
// ignored directory fsyncs, a full disk. No real I/O, no timers; randomness from a seeded Prng.

import { assert } from '../util/assert.js';
import { MeridianError } from '../util/errors.js';
import type { Prng } from '../util/prng.js';
import { SECTOR_BYTES } from './constants.js';
import { FsError, type FileHandle, type FileSystem, type OpenMode } from './file_system.js';

/** Thrown by every call while the simulated machine is down (between crash() and restart()). */
export class SimCrashError extends MeridianError {
  constructor(what: string) {
    super('ERR_SIM_CRASHED', `Cannot ${what}: the simulated machine has crashed`);
    this.name = 'SimCrashError';
  }
}

/** The switches for injected faults; all off by default. */
export interface SimFaults {
  /** On crash, unsynced writes may survive in part (a torn tail) instead of vanishing whole. */
  tornWrites: boolean;
  /** Probability that a file or directory sync fails with EIO. */
  syncErrorProbability: number;
  /** Probability that a write fails with EIO (a sector-aligned prefix of it may land). */
  writeErrorProbability: number;
  /** Directory syncs report success but make nothing durable (a forgotten or lying dirsync). */
  skipDirSync: boolean;
  /** Bytes the disk holds; a write that would grow the files past it fails with ENOSPC. */
  capacityBytes: number;
}

/** The mutating operations, counted for crash points. */
export type SimOpKind = 'create' | 'write' | 'datasync' | 'truncate' | 'mkdir' | 'rmdir' | 'rename' | 'unlink' | 'syncDir';

export interface SimOp {
  readonly kind: SimOpKind;
  readonly path: string;
  /** The number of this operation since the file system was made (0-based). */
  readonly seq: number;
}

type PendingOp = { readonly kind: 'write'; readonly offset: number; readonly bytes: Uint8Array } | { readonly kind: 'truncate'; readonly size: number };

/** A growable byte array with a logical size; bytes past the size are always zero. */
class Bytes {
  private buf = new Uint8Array(0);
  size = 0;

  view(): Uint8Array {
    return this.buf.subarray(0, this.size);
  }

  write(offset: number, bytes: Uint8Array): void {
    this.reserve(offset + bytes.byteLength);
    this.buf.set(bytes, offset);
    this.size = Math.max(this.size, offset + bytes.byteLength);
  }

  truncate(size: number): void {
    this.reserve(size);
    if (size < this.size) this.buf.fill(0, size, this.size);
    this.size = size;
  }

  apply(op: PendingOp): void {
    if (op.kind === 'write') this.write(op.offset, op.bytes);
    else this.truncate(op.size);
  }

  clone(): Bytes {
    const c = new Bytes();
    c.write(0, this.view());
    return c;
  }

  private reserve(n: number): void {
    if (n <= this.buf.byteLength) return;
    const next = new Uint8Array(Math.max(n, this.buf.byteLength * 2, 1024));
    next.set(this.buf.subarray(0, this.size));
    this.buf = next;
  }
}

interface SimFile {
  readonly kind: 'file';
  /** Open handles, so a rename can update the name they report in traces. */
  readonly handles: Set<SimHandle>;
  volatile: Bytes;
  durable: Bytes;
  /** Changes since the last successful datasync, in order: what a crash may lose or tear. */
  pending: PendingOp[];
}

interface SimDir {
  readonly kind: 'dir';
  entries: Map<string, SimNode>;
  durableEntries: Map<string, SimNode>;
}

type SimNode = SimFile | SimDir;

const EMPTY_DIR = (): SimDir => ({ kind: 'dir', entries: new Map(), durableEntries: new Map() });

export class SimFileSystem implements FileSystem {
  readonly faults: SimFaults = {
    tornWrites: false,
    syncErrorProbability: 0,
    writeErrorProbability: 0,
    skipDirSync: false,
    capacityBytes: Number.POSITIVE_INFINITY,
  };
  /** Crash just before the mutating operation with this sequence number (see crashAt). */
  private crashAtSeq: number | null = null;
  private opSeq = 0;
  private syncFailuresArmed = 0;
  private writeFailuresArmed = 0;
  private readonly root: SimDir = EMPTY_DIR();
  private down = false;
  /** Bumped by every crash; handles opened before it are dead. */
  private generation = 0;
  /** Called before every mutating operation (for traces in tests). */
  onOp: ((op: SimOp) => void) | null = null;

  constructor(private readonly prng: Prng) {}

  /** How many mutating operations have run so far; crash points are numbered by it. */
  get opCount(): number {
    return this.opSeq;
  }

  get crashed(): boolean {
    return this.down;
  }

  /** Arms a crash just before mutating operation number `seq` (see opCount); null disarms. */
  crashAt(seq: number | null): void {
    this.crashAtSeq = seq;
  }

  /** The next `count` syncs (file or directory) fail with EIO. */
  failNextSync(count = 1): void {
    this.syncFailuresArmed += count;
  }

  /** The next `count` writes fail with EIO. */
  failNextWrite(count = 1): void {
    this.writeFailuresArmed += count;
  }

  /**
   * The machine loses power: everything not synced is dropped (file contents and directory
   * entries), open handles die, and every call fails until restart(). With `faults.tornWrites`,
   * a prefix of each file's unsynced changes may survive, the last of them torn.
   */
  crash(): void {
    this.down = true;
    this.generation++;
    this.crashAtSeq = null;
    this.restoreDurable(this.root);
  }

  /** Powers the machine back on after crash(). */
  restart(): void {
    this.down = false;
  }

  /** Flips one bit of a file at rest (both layers), as a disk that rots. */
  flipBit(path: string, offset: number, bit = 0): void {
    const file = this.lookupFile(path, 'flipBit');
    assert(bit >= 0 && bit < 8, `flipBit: bit ${bit} out of range`);
    assert(offset < file.volatile.size, `flipBit: offset ${offset} past the end of ${path} (${file.volatile.size} bytes)`);
    const flip = (bytes: Uint8Array, at: number): void => {
      if (at >= 0 && at < bytes.byteLength) bytes[at] = (bytes[at] as number) ^ (1 << bit);
    };
    flip(file.volatile.view(), offset);
    flip(file.durable.view(), offset);
    // The unsynced writes carry the same bytes to the durable layer later: flip them too.
    for (const op of file.pending) if (op.kind === 'write') flip(op.bytes, offset - op.offset);
  }

  /** The current (volatile) contents of a file, for tests. */
  peek(path: string): Uint8Array {
    return this.lookupFile(path, 'peek').volatile.view().slice();
  }

  /** Overwrites bytes of a file at rest (both layers), for tests that craft damage. */
  poke(path: string, offset: number, bytes: Uint8Array): void {
    const file = this.lookupFile(path, 'poke');
    file.volatile.write(offset, bytes);
    file.durable.write(offset, bytes);
  }

  /** Bytes used by all files reachable now. */
  usedBytes(): number {
    let used = 0;
    const walk = (dir: SimDir): void => {
      for (const node of dir.entries.values()) {
        if (node.kind === 'dir') walk(node);
        else used += node.volatile.size;
      }
    };
    walk(this.root);
    return used;
  }

  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    this.checkUp(`open ${path}`);
    const { dir, name } = this.parent(path, 'open');
    const existing = dir.entries.get(name);
    if (mode === 'create') {
      if (existing !== undefined) throw new FsError('EEXIST', `open ${path}: file exists`);
      this.beginOp('create', path);
      const file: SimFile = { kind: 'file', handles: new Set(), volatile: new Bytes(), durable: new Bytes(), pending: [] };
      dir.entries.set(name, file);
      return this.track(new SimHandle(this, path, file, mode, this.generation));
    }
    if (existing === undefined) throw new FsError('ENOENT', `open ${path}: no such file`);
    if (existing.kind === 'dir') throw new FsError('EISDIR', `open ${path}: is a directory`);
    return this.track(new SimHandle(this, path, existing, mode, this.generation));
  }

  private track(h: SimHandle): SimHandle {
    h.file.handles.add(h);
    return h;
  }

  async readFile(path: string): Promise<Uint8Array> {
    this.checkUp(`read ${path}`);
    return this.lookupFile(path, 'readFile').volatile.view().slice();
  }

  async readdir(path: string): Promise<string[]> {
    this.checkUp(`readdir ${path}`);
    return [...this.lookupDir(path, 'readdir').entries.keys()].sort();
  }

  async mkdir(path: string): Promise<void> {
    this.checkUp(`mkdir ${path}`);
    const { dir, name } = this.parent(path, 'mkdir');
    if (dir.entries.has(name)) throw new FsError('EEXIST', `mkdir ${path}: exists`);
    this.beginOp('mkdir', path);
    dir.entries.set(name, EMPTY_DIR());
  }

  async rmdir(path: string): Promise<void> {
    this.checkUp(`rmdir ${path}`);
    const { dir, name } = this.parent(path, 'rmdir');
    const node = dir.entries.get(name);
    if (node === undefined) throw new FsError('ENOENT', `rmdir ${path}: no such directory`);
    if (node.kind !== 'dir') throw new FsError('ENOTDIR', `rmdir ${path}: not a directory`);
    if (node.entries.size > 0) throw new FsError('ENOTEMPTY', `rmdir ${path}: not empty`);
    this.beginOp('rmdir', path);
    dir.entries.delete(name);
  }

  async rename(from: string, to: string): Promise<void> {
    this.checkUp(`rename ${from}`);
    const src = this.parent(from, 'rename');
    const dst = this.parent(to, 'rename');
    const node = src.dir.entries.get(src.name);
    if (node === undefined) throw new FsError('ENOENT', `rename ${from}: no such file`);
    const target = dst.dir.entries.get(dst.name);
    if (target !== undefined && (target.kind === 'dir') !== (node.kind === 'dir')) {
      throw new FsError('EISDIR', `rename ${from} to ${to}: kinds differ`);
    }
    if (target !== undefined && target.kind === 'dir' && target.entries.size > 0) {
      throw new FsError('ENOTEMPTY', `rename ${from} to ${to}: target not empty`);
    }
    this.beginOp('rename', `${from} -> ${to}`);
    src.dir.entries.delete(src.name);
    dst.dir.entries.set(dst.name, node);
    if (node.kind === 'file') for (const h of node.handles) h.path = to;
  }

  async unlink(path: string): Promise<void> {
    this.checkUp(`unlink ${path}`);
    const { dir, name } = this.parent(path, 'unlink');
    const node = dir.entries.get(name);
    if (node === undefined) throw new FsError('ENOENT', `unlink ${path}: no such file`);
    if (node.kind === 'dir') throw new FsError('EISDIR', `unlink ${path}: is a directory`);
    this.beginOp('unlink', path);
    dir.entries.delete(name);
  }

  async exists(path: string): Promise<boolean> {
    this.checkUp(`stat ${path}`);
    return this.resolve(path) !== undefined;
  }

  async syncDir(path: string): Promise<void> {
    this.checkUp(`sync ${path}`);
    const dir = this.lookupDir(path, 'syncDir');
    this.beginOp('syncDir', path);
    if (this.maybeFailSync()) throw new FsError('EIO', `fsync ${path}: input/output error`);
    if (this.faults.skipDirSync) return;
    dir.durableEntries = new Map(dir.entries);
  }

  // ---- called by SimHandle ----

  /** @internal */
  handleWrite(h: SimHandle, file: SimFile, data: Uint8Array, position: number): void {
    this.checkHandle(h, `write ${h.path}`);
    assert(h.mode !== 'read', `write ${h.path}: opened read-only`);
    assert(Number.isSafeInteger(position) && position >= 0, `write ${h.path}: bad position ${position}`);
    const crashing = this.crashAtSeq === this.opSeq;
    const growth = Math.max(0, position + data.byteLength - file.volatile.size);
    const limited = Number.isFinite(this.faults.capacityBytes);
    if (!crashing && growth > 0 && limited && this.usedBytes() + growth > this.faults.capacityBytes) {
      this.beginOp('write', h.path);
      throw new FsError('ENOSPC', `write ${h.path}: no space left on device`);
    }
    if (crashing && this.faults.tornWrites) this.landWrite(file, position, data.slice());
    this.beginOp('write', h.path);
    if (this.maybeFailWrite()) {
      // A failed write may still have put some sectors in the page cache.
      const landed = this.prng.int(Math.floor(data.byteLength / SECTOR_BYTES) + 1) * SECTOR_BYTES;
      if (landed > 0) this.landWrite(file, position, data.slice(0, landed));
      throw new FsError('EIO', `write ${h.path}: input/output error`);
    }
    this.landWrite(file, position, data.slice());
  }

  /** @internal */
  handleDatasync(h: SimHandle, file: SimFile): void {
    this.checkHandle(h, `fdatasync ${h.path}`);
    this.beginOp('datasync', h.path);
    if (this.maybeFailSync()) {
      // As Linux does after a failed fsync: the dirty pages are dropped from durability for good.
      file.pending = [];
      throw new FsError('EIO', `fdatasync ${h.path}: input/output error`);
    }
    for (const op of file.pending) file.durable.apply(op);
    file.pending = [];
  }

  /** @internal */
  handleTruncate(h: SimHandle, file: SimFile, size: number): void {
    this.checkHandle(h, `truncate ${h.path}`);
    assert(h.mode !== 'read', `truncate ${h.path}: opened read-only`);
    this.beginOp('truncate', h.path);
    const op: PendingOp = { kind: 'truncate', size };
    file.volatile.apply(op);
    file.pending.push(op);
  }

  /** @internal */
  checkHandle(h: SimHandle, what: string): void {
    this.checkUp(what);
    if (h.generation !== this.generation) throw new FsError('EBADF', `${what}: handle is from before a crash`);
    if (h.closed) throw new FsError('EBADF', `${what}: handle is closed`);
  }

  // ---- internals ----

  private landWrite(file: SimFile, position: number, bytes: Uint8Array): void {
    const op: PendingOp = { kind: 'write', offset: position, bytes };
    file.volatile.apply(op);
    file.pending.push(op);
  }

  private checkUp(what: string): void {
    if (this.down) throw new SimCrashError(what);
  }

  /** Counts a mutating operation; crashes instead of running it if a crash is armed for it. */
  private beginOp(kind: SimOpKind, path: string): void {
    const seq = this.opSeq++;
    this.onOp?.({ kind, path, seq });
    if (this.crashAtSeq === seq) {
      this.crash();
      throw new SimCrashError(`${kind} ${path}`);
    }
  }

  private maybeFailSync(): boolean {
    if (this.syncFailuresArmed > 0) {
      this.syncFailuresArmed--;
      return true;
    }
    return this.faults.syncErrorProbability > 0 && this.prng.chance(this.faults.syncErrorProbability);
  }

  private maybeFailWrite(): boolean {
    if (this.writeFailuresArmed > 0) {
      this.writeFailuresArmed--;
      return true;
    }
    return this.faults.writeErrorProbability > 0 && this.prng.chance(this.faults.writeErrorProbability);
  }

  /** Rebuilds the volatile tree from the durable one, tearing unsynced changes if asked. */
  private restoreDurable(dir: SimDir): void {
    dir.entries = new Map(dir.durableEntries);
    for (const node of dir.entries.values()) {
      if (node.kind === 'dir') {
        this.restoreDurable(node);
        continue;
      }
      if (this.faults.tornWrites && node.pending.length > 0) this.tear(node);
      node.pending = [];
      node.volatile = node.durable.clone();
    }
  }

  /** Keeps the first k unsynced changes and a torn piece of the next: one of the shapes a power cut leaves. */
  private tear(file: SimFile): void {
    const kept = this.prng.int(file.pending.length + 1);
    for (let i = 0; i < kept; i++) file.durable.apply(file.pending[i] as PendingOp);
    const next = file.pending[kept];
    if (next === undefined || next.kind !== 'write') return;
    // Disks persist whole sectors at sector-aligned file offsets, so tears follow those boundaries.
    const { offset, bytes } = next;
    const end = offset + bytes.byteLength;
    const firstSector = Math.floor(offset / SECTOR_BYTES);
    const sectorCount = Math.ceil(end / SECTOR_BYTES) - firstSector;
    const land = (from: number, to: number): void => {
      if (to > from) file.durable.write(from, bytes.subarray(from - offset, to - offset));
    };
    const shape = this.prng.int(3);
    if (shape === 0) {
      // A prefix of whole sectors reached the platter.
      land(offset, Math.min(end, (firstSector + this.prng.int(sectorCount + 1)) * SECTOR_BYTES));
    } else if (shape === 1) {
      // A prefix cut at any byte (a device without atomic sectors).
      land(offset, offset + this.prng.int(bytes.byteLength + 1));
    } else {
      // Sectors persisted out of order: any subset of them.
      for (let s = firstSector; s < firstSector + sectorCount; s++) {
        if (this.prng.chance(0.5)) land(Math.max(offset, s * SECTOR_BYTES), Math.min(end, (s + 1) * SECTOR_BYTES));
      }
    }
  }

  private split(path: string): string[] {
    assert(path.startsWith('/'), `sim paths are absolute, got ${path}`);
    return path.split('/').filter((p) => p.length > 0);
  }

  private resolve(path: string): SimNode | undefined {
    let node: SimNode = this.root;
    for (const part of this.split(path)) {
      if (node.kind !== 'dir') return undefined;
      const next: SimNode | undefined = node.entries.get(part);
      if (next === undefined) return undefined;
      node = next;
    }
    return node;
  }

  private parent(path: string, what: string): { dir: SimDir; name: string } {
    const parts = this.split(path);
    const name = parts.pop();
    if (name === undefined) throw new FsError('EINVAL', `${what} ${path}: no name`);
    const dir = this.resolve(`/${parts.join('/')}`);
    if (dir === undefined) throw new FsError('ENOENT', `${what} ${path}: no such directory`);
    if (dir.kind !== 'dir') throw new FsError('ENOTDIR', `${what} ${path}: parent is not a directory`);
    return { dir, name };
  }

  private lookupFile(path: string, what: string): SimFile {
    const node = this.resolve(path);
    if (node === undefined) throw new FsError('ENOENT', `${what} ${path}: no such file`);
    if (node.kind !== 'file') throw new FsError('EISDIR', `${what} ${path}: is a directory`);
    return node;
  }

  private lookupDir(path: string, what: string): SimDir {
    const node = this.resolve(path);
    if (node === undefined) throw new FsError('ENOENT', `${what} ${path}: no such directory`);
    if (node.kind !== 'dir') throw new FsError('ENOTDIR', `${what} ${path}: not a directory`);
    return node;
  }
}

class SimHandle implements FileHandle {
  closed = false;

  constructor(
    private readonly fs: SimFileSystem,
    /** The file's current name: renames update it, so traces show where a write lands. */
    public path: string,
    readonly file: SimFile,
    readonly mode: OpenMode,
    readonly generation: number,
  ) {}

  async write(data: Uint8Array, position: number): Promise<void> {
    this.fs.handleWrite(this, this.file, data, position);
  }

  async read(into: Uint8Array, position: number): Promise<number> {
    this.fs.checkHandle(this, `read ${this.path}`);
    const src = this.file.volatile.view();
    if (position >= src.byteLength) return 0;
    const n = Math.min(into.byteLength, src.byteLength - position);
    into.set(src.subarray(position, position + n));
    return n;
  }

  async datasync(): Promise<void> {
    this.fs.handleDatasync(this, this.file);
  }

  /** The two steps with their own faults (a crash may fall between them), as O_DSYNC gives no more. */
  async writeDurable(data: Uint8Array, position: number): Promise<void> {
    await this.write(data, position);
    await this.datasync();
  }

  async truncate(size: number): Promise<void> {
    this.fs.handleTruncate(this, this.file, size);
  }

  async size(): Promise<number> {
    this.fs.checkHandle(this, `stat ${this.path}`);
    return this.file.volatile.size;
  }

  async close(): Promise<void> {
    // Closing never fails and needs no power: the simulator closes handles of a crashed member too.
    this.closed = true;
    this.file.handles.delete(this);
  }
}
