// Prepares the next WAL segment in the background (etcd's filePipeline): a temporary file filled with
// zeros to the segment size and synced, so a cut is only a rename and appends never grow the file
// (an fdatasync that need not update the file's size or block map is much cheaper).

import { join } from 'node:path';
import { PREALLOCATE_CHUNK_BYTES } from './constants.js';
import type { FileHandle, FileSystem } from './file_system.js';

/** Creates `path`, writes `bytes` zeros into it and syncs it; the handle stays open for writing. */
export async function preallocate(fs: FileSystem, path: string, bytes: number): Promise<FileHandle> {
  const handle = await fs.open(path, 'create');
  try {
    const zeros = new Uint8Array(Math.min(PREALLOCATE_CHUNK_BYTES, bytes));
    for (let at = 0; at < bytes; at += zeros.byteLength) {
      await handle.write(zeros.subarray(0, Math.min(zeros.byteLength, bytes - at)), at);
    }
    await handle.datasync();
    return handle;
  } catch (e) {
    await handle.close();
    throw e;
  }
}

export interface PreparedFile {
  readonly handle: FileHandle;
  /** The temporary name; the WAL renames it to the segment's name. */
  readonly path: string;
}

type Preparation = { readonly ok: true; readonly file: PreparedFile } | { readonly ok: false; readonly error: unknown };

export class FilePipeline {
  private count = 0;
  private pending: Promise<Preparation> | null = null;

  constructor(
    private readonly fs: FileSystem,
    private readonly dir: string,
    private readonly segmentBytes: number,
  ) {}

  /** Starts preparing the next file, unless one is already on its way. */
  start(): void {
    if (this.pending === null) this.pending = this.prepare();
  }

  /** The prepared file (waiting for it if needed); throws what preparing it threw. */
  async take(): Promise<PreparedFile> {
    const pending = this.pending ?? this.prepare();
    this.pending = null;
    const result = await pending;
    if (!result.ok) throw result.error;
    return result.file;
  }

  private prepare(): Promise<Preparation> {
    // Two names alternate, so the next file can be created before the last one was renamed.
    const path = join(this.dir, `${this.count++ % 2}.tmp`);
    // The outcome is kept as a value: a failure surfaces when the file is taken, never as an unhandled rejection.
    return preallocate(this.fs, path, this.segmentBytes).then(
      (handle): Preparation => ({ ok: true, file: { handle, path } }),
      (error: unknown): Preparation => ({ ok: false, error }),
    );
  }

  /** Waits for a preparation in flight and closes its file; the file itself is removed at the next open. */
  async close(): Promise<void> {
    const pending = this.pending;
    this.pending = null;
    if (pending === null) return;
    const result = await pending;
    if (result.ok) await result.file.handle.close();
  }
}
