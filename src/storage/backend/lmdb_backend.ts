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
  private closed = false;

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
    return this.db(table).getBinary(asBuffer(key));
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

  commit(extra?: (put: (table: TableName, key: Uint8Array, value: Uint8Array) => void) => void): void {
    this.checkOpen();
    if (this.buffer.size() === 0 && extra === undefined) return;
    this.root.transactionSync(() => {
      extra?.((table, key, value) => this.db(table).putSync(asBuffer(key), asBuffer(value)));
      for (const [name, writes] of this.buffer.tables) {
        const db = this.db(name);
        for (const w of writes.values()) {
          if (w.value === null) db.removeSync(asBuffer(w.key));
          else db.putSync(asBuffer(w.key), asBuffer(w.value));
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
    if (this.closed) return;
    this.buffer.reset();
    this.closed = true;
    // Closing is asynchronous in lmdb-js; nothing is written by it (buffered writes were dropped above).
    void this.root.close();
  }

  /** Resolves when the environment is closed, so a test can reopen the same directory. */
  async closeAndWait(): Promise<void> {
    this.buffer.reset();
    this.closed = true;
    await this.root.close();
  }

  private checkOpen(): void {
    assert(!this.closed, 'LmdbBackend is closed');
  }
}

function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.length);
}
