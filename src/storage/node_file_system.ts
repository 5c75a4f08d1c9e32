// The real FileSystem on node:fs/promises, for members running on a disk.

import { constants as fsConstants } from 'node:fs';
import { access, mkdir, open, readdir, readFile, rename, rmdir, unlink, type FileHandle as NodeHandle } from 'node:fs/promises';
import { assert } from '../util/assert.js';
import type { FileHandle, FileSystem, OpenMode } from './file_system.js';
import { FsError, isNotFound } from './file_system.js';

const NODE_FLAGS: Readonly<Record<OpenMode, string>> = { read: 'r', readWrite: 'r+', create: 'wx+' };

export class NodeFileSystem implements FileSystem {
  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    return new NodeFile(path, await open(path, NODE_FLAGS[mode]));
  }

  async readFile(path: string): Promise<Uint8Array> {
    return readFile(path);
  }

  async readdir(path: string): Promise<string[]> {
    return (await readdir(path)).sort();
  }

  async mkdir(path: string): Promise<void> {
    await mkdir(path);
  }

  async rmdir(path: string): Promise<void> {
    await rmdir(path);
  }

  async rename(from: string, to: string): Promise<void> {
    await rename(from, to);
  }

  async unlink(path: string): Promise<void> {
    await unlink(path);
  }

  async exists(path: string): Promise<boolean> {
    try {
      await access(path, fsConstants.F_OK);
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  async syncDir(path: string): Promise<void> {
    // Linux lets a directory be opened read-only and fsynced; that makes its entries durable.
    const fh = await open(path, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
}

/** Flags of the second descriptor writeDurable() uses: every pwrite on it returns only once its data is durable. */
const DSYNC_WRITE_FLAGS = fsConstants.O_WRONLY | fsConstants.O_DSYNC;

class NodeFile implements FileHandle {
  /**
   * Opened on first use, beside `fh`: O_DSYNC must not slow the plain writes (snapshot files, headers).
   * undefined: not tried yet; null: the platform cannot reopen a descriptor (write + fdatasync instead).
   */
  private dsync: NodeHandle | null | undefined = undefined;

  constructor(
    readonly path: string,
    private readonly fh: NodeHandle,
  ) {}

  async write(data: Uint8Array, position: number): Promise<void> {
    await writeAll(this.fh, this.path, data, position);
  }

  async writeDurable(data: Uint8Array, position: number): Promise<void> {
    if (this.dsync === undefined) this.dsync = await reopenDsync(this.fh);
    if (this.dsync === null) {
      await writeAll(this.fh, this.path, data, position);
      await this.fh.datasync();
      return;
    }
    await writeAll(this.dsync, this.path, data, position);
  }

  async read(into: Uint8Array, position: number): Promise<number> {
    const { bytesRead } = await this.fh.read(into, 0, into.byteLength, position);
    return bytesRead;
  }

  async datasync(): Promise<void> {
    await this.fh.datasync();
  }

  async truncate(size: number): Promise<void> {
    await this.fh.truncate(size);
  }

  async size(): Promise<number> {
    return (await this.fh.stat()).size;
  }

  async close(): Promise<void> {
    const dsync = this.dsync;
    this.dsync = null;
    try {
      if (dsync !== null && dsync !== undefined) await dsync.close();
    } finally {
      await this.fh.close();
    }
  }
}

/**
 * A second descriptor on the same open file, by /proc/self/fd (Linux): the file may have been renamed since
 * it was opened (the WAL renames prepared segments), so reopening by name could reach the wrong file.
 */
async function reopenDsync(fh: NodeHandle): Promise<NodeHandle | null> {
  try {
    return await open(`/proc/self/fd/${fh.fd}`, DSYNC_WRITE_FLAGS);
  } catch {
    return null;
  }
}

async function writeAll(fh: NodeHandle, path: string, data: Uint8Array, position: number): Promise<void> {
  assert(Number.isSafeInteger(position) && position >= 0, `write ${path}: bad position ${position}`);
  let done = 0;
  // pwrite may write less than asked (signals, quotas); loop until all bytes are written.
  while (done < data.byteLength) {
    const { bytesWritten } = await fh.write(data, done, data.byteLength - done, position + done);
    if (bytesWritten <= 0) throw new FsError('EIO', `write ${path}: wrote 0 bytes at ${position + done}`);
    done += bytesWritten;
  }
}
