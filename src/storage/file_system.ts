// The only way storage reaches a disk: a small file system interface, real (node_file_system.ts) or
// simulated (sim_file_system.ts), so the simulator can lose unsynced writes, tear a write or flip a bit.

import { MeridianError } from '../util/errors.js';

/** 'read': an existing file, read only; 'readWrite': an existing file; 'create': a new file (fails if it exists). */
export type OpenMode = 'read' | 'readWrite' | 'create';

export interface FileHandle {
  readonly path: string;
  /** Writes all of `data` at byte `position`, extending the file if needed. */
  write(data: Uint8Array, position: number): Promise<void>;
  /** Reads up to `into.byteLength` bytes at `position`; returns how many were read (0 at the end). */
  read(into: Uint8Array, position: number): Promise<number>;
  /** Makes the file's data (and its size) durable: fdatasync. */
  datasync(): Promise<void>;
  /**
   * write() then datasync() as one step: durable when it resolves. The real file system does it with one
   * O_DSYNC pwrite, one trip to the I/O thread instead of two (the WAL's commit latency).
   */
  writeDurable(data: Uint8Array, position: number): Promise<void>;
  truncate(size: number): Promise<void>;
  size(): Promise<number>;
  close(): Promise<void>;
}

export interface FileSystem {
  open(path: string, mode: OpenMode): Promise<FileHandle>;
  readFile(path: string): Promise<Uint8Array>;
  /** The names in a directory, sorted. */
  readdir(path: string): Promise<string[]>;
  /** Creates one directory; its parent must exist. Not durable until the parent is synced. */
  mkdir(path: string): Promise<void>;
  /** Removes an empty directory. */
  rmdir(path: string): Promise<void>;
  /** Atomically replaces `to` with `from`. Not durable until the directory is synced. */
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  exists(path: string): Promise<boolean>;
  /** Makes the directory's entries (creates, renames, unlinks) durable: fsync of the directory. */
  syncDir(path: string): Promise<void>;
}

/** An errno-style failure of the simulated file system; `code` is the errno name ('ENOENT', 'EIO', ...). */
export class FsError extends MeridianError {
  constructor(code: string, message: string) {
    super(code, `${code}: ${message}`);
    this.name = 'FsError';
  }
}

/** The errno name of a file system error from either implementation, if it has one. */
export function errnoOf(e: unknown): string | undefined {
  if (typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string') return e.code;
  return undefined;
}

export function isNotFound(e: unknown): boolean {
  return errnoOf(e) === 'ENOENT';
}
