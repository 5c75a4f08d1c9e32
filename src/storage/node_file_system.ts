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

class NodeFile implements FileHandle {
  constructor(
    readonly path: string,
    private readonly fh: NodeHandle,
  ) {}

  async write(data: Uint8Array, position: number): Promise<void> {
    assert(Number.isSafeInteger(position) && position >= 0, `write ${this.path}: bad position ${position}`);
    let done = 0;
    // pwrite may write less than asked (signals, quotas); loop until all bytes are written.
    while (done < data.byteLength) {
      const { bytesWritten } = await this.fh.write(data, done, data.byteLength - done, position + done);
      if (bytesWritten <= 0) throw new FsError('EIO', `write ${this.path}: wrote 0 bytes at ${position + done}`);
      done += bytesWritten;
    }
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
    await this.fh.close();
  }
}
