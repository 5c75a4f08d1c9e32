// The Backend on LMDB (the `lmdb` package), our counterpart of etcd's bbolt: a memory-mapped B+tree with
// single-writer ACID transactions and MVCC readers, so a snapshot can stream from a read transaction while
// applies commit new ones. Writes are buffered and committed in one synchronous transaction per batch.

import { open, type Database, type RootDatabase } from 'lmdb';
import { assert } from '../../util/assert.js';
import { type Backend, type BackendEntry, type BackendReadView, TABLES, type TableName, WriteBuffer } from './backend.js';

export interface LmdbBackendOptions {
  /** Directory of the LMDB environment (created if missing). */
  readonly path: string;
  /** Skip fsync on commit: only for throwaway data (benchmarks, tests); a power loss may corrupt the file. */
  readonly noSync?: boolean;
}

type Db = Database<Buffer, Buffer>;

export class LmdbBackend implements Backend {
  private readonly root: RootDatabase<Buffer, Buffer>;
  private readonly dbs = new Map<TableName, Db>();
  private readonly buffer = new WriteBuffer();
  private openViews = 0;
  private readonly readSlab = new ReadSlab();
  private closed = false;
  private closing: Promise<void> | null = null;

  constructor(options: LmdbBackendOptions) {
    this.root = open<Buffer, Buffer>({
      path: options.path,
      maxDbs: TABLES.length + 2,
      noSync: options.noSync ?? false,
      // The overlapping-sync scheme keeps extra state files; plain synchronous commits are simpler to reason about.
      overlappingSync: false,
      keyEncoding: 'binary',
      encoding: 'binary',
    });
    for (const t of TABLES) this.dbs.set(t, this.root.openDB<Buffer, Buffer>(t, { keyEncoding: 'binary', encoding: 'binary' }));
  }

  private db(name: TableName): Db {
    const db = this.dbs.get(name);
    assert(db !== undefined, `unknown backend table ${name}`);
    return db;
  }

  get(table: TableName, key: Uint8Array): Uint8Array | undefined {
    this.checkOpen();
    const buffered = this.buffer.lookup(table, key);
    if (buffered !== undefined) return buffered === null ? undefined : buffered;
    const db = this.db(table);
    const fast = db.getBinaryFast(key as Buffer);
    if (fast === undefined) return undefined;
    // getBinaryFast answers in a buffer LMDB reuses; copy into our own plain-array slab (a Buffer copy per read
    // costs a FastBuffer construction, measurable at hundreds of thousands of reads per second).
    const size = (fast as Buffer & { isGlobal?: boolean }).isGlobal === true ? (db as unknown as { lastSize: number }).lastSize : fast.length;
    return this.readSlab.copy(fast, size);
  }

  put(table: TableName, key: Uint8Array, value: Uint8Array): void {
    this.checkOpen();
    this.buffer.set(table, key, value);
  }

  delete(table: TableName, key: Uint8Array): void {
    this.checkOpen();
    this.buffer.set(table, key, null);
  }

  bufferedWrites(): number {
    return this.buffer.size();
  }

  commit(extra?: (put: (table: TableName, key: Uint8Array, value: Uint8Array) => void, remove: (table: TableName, key: Uint8Array) => void) => void): void {
    this.checkOpen();
    if (this.buffer.size() === 0 && extra === undefined) return;
    this.root.transactionSync(() => {
      // lmdb-js copies any Uint8Array key and value; no Buffer wrapping needed.
      extra?.(
        (table, key, value) => this.db(table).putSync(key as Buffer, value as Buffer),
        (table, key) => this.db(table).removeSync(key as Buffer),
      );
      for (const [name, writes] of this.buffer.tables) {
        const db = this.db(name);
        for (const w of writes.values()) {
          if (w.value === null) db.removeSync(w.key as Buffer);
          else db.putSync(w.key as Buffer, w.value as Buffer);
        }
      }
    });
    this.buffer.reset();
  }

  readView(): BackendReadView {
    this.checkOpen();
    const txn = this.root.useReadTransaction();
    this.openViews++;
    let released = false;
    return {
      entries: (table: TableName): Iterable<BackendEntry> => {
        assert(!released, 'read view used after release');
        return this.db(table).getRange({ transaction: txn, snapshot: true }).map(({ key, value }) => ({
          key: Uint8Array.prototype.slice.call(key),
          value: Uint8Array.prototype.slice.call(value),
        }));
      },
      release: (): void => {
        if (released) return;
        released = true;
        this.openViews--;
        txn.done();
      },
    };
  }

  clear(): void {
    this.checkOpen();
    this.buffer.reset();
    this.root.transactionSync(() => {
      for (const db of this.dbs.values()) db.clearSync();
    });
  }

  sizeBytes(): number {
    const stats = this.root.getStats() as { pageSize?: number; lastPageNumber?: number };
    return (stats.pageSize ?? 4096) * ((stats.lastPageNumber ?? 0) + 1);
  }

  close(): void {
    if (this.closing !== null) return;
    this.buffer.reset();
    this.closed = true;
    // Closing is asynchronous in lmdb-js; nothing is written by it (buffered writes were dropped above).
    this.closing = this.root.close();
  }

  /** Closes and resolves once the environment is closed, so the same directory can be opened again. */
  async closeAndWait(): Promise<void> {
    this.close();
    await this.closing;
  }

  private checkOpen(): void {
    assert(!this.closed, 'LmdbBackend is closed');
  }
}

/** Copies read values into large plain Uint8Array chunks and hands out views of them. */
class ReadSlab {
  private static readonly BYTES = 256 * 1024;
  private chunk = new Uint8Array(ReadSlab.BYTES);
  private pos = 0;

  copy(src: Uint8Array, size: number): Uint8Array {
    if (size > ReadSlab.BYTES >> 2) return Uint8Array.prototype.slice.call(src, 0, size);
    if (this.pos + size > this.chunk.length) {
      this.chunk = new Uint8Array(ReadSlab.BYTES);
      this.pos = 0;
    }
    const start = this.pos;
    this.chunk.set(new Uint8Array(src.buffer, src.byteOffset, size), start);
    this.pos = (start + size + 7) & ~7;
    return this.chunk.subarray(start, start + size);
  }
}
