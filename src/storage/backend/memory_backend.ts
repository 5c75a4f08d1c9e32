// An in-memory Backend with the same contract as LMDB's, for unit tests and the deterministic simulator:
// `crash()` drops buffered writes exactly as a process crash before commit would.

import { assert } from '../../util/assert.js';
import { type Backend, type BackendEntry, type BackendReadView, bytesToLatin1, TABLES, type TableName, WriteBuffer } from './backend.js';

export class MemoryBackend implements Backend {
  private readonly committed = new Map<TableName, Map<string, BackendEntry>>();
  private readonly buffer = new WriteBuffer();
  private closed = false;
  /** Number of commits so far, so tests can tell whether data reached "disk". */
  commits = 0;

  constructor() {
    for (const t of TABLES) this.committed.set(t, new Map());
  }

  private table(name: TableName): Map<string, BackendEntry> {
    const t = this.committed.get(name);
    assert(t !== undefined, `unknown backend table ${name}`);
    return t;
  }

  get(table: TableName, key: Uint8Array): Uint8Array | undefined {
    this.checkOpen();
    const buffered = this.buffer.lookup(table, key);
    if (buffered !== undefined) return buffered === null ? undefined : buffered;
    return this.table(table).get(bytesToLatin1(key))?.value;
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
    // Copies, as LMDB does: Buffer#slice would alias the caller's reused key buffer.
    extra?.(
      (table, key, value) => this.buffer.set(table, new Uint8Array(key), new Uint8Array(value)),
      (table, key) => this.buffer.set(table, new Uint8Array(key), null),
    );
    for (const [name, writes] of this.buffer.tables) {
      const t = this.table(name);
      for (const [k, w] of writes) {
        if (w.value === null) t.delete(k);
        else t.set(k, { key: w.key, value: w.value });
      }
    }
    this.buffer.reset();
    this.commits++;
  }

  readView(): BackendReadView {
    this.checkOpen();
    const frozen = new Map<TableName, BackendEntry[]>();
    for (const [name, t] of this.committed) {
      const keys = [...t.keys()].sort();
      frozen.set(name, keys.map((k) => t.get(k) as BackendEntry));
    }
    return {
      entries: (table: TableName): Iterable<BackendEntry> => frozen.get(table) ?? [],
      release: (): void => frozen.clear(),
    };
  }

  clear(): void {
    this.checkOpen();
    this.buffer.reset();
    for (const t of this.committed.values()) t.clear();
  }

  sizeBytes(): number {
    let n = 0;
    for (const t of this.committed.values()) for (const e of t.values()) n += e.key.length + e.value.length;
    return n;
  }

  /** Drops buffered writes as a crash would; the committed data stays (it is "on disk"). */
  crash(): void {
    this.buffer.reset();
  }

  close(): void {
    this.buffer.reset();
    this.closed = true;
  }

  /** Reopens after close or crash: the same committed data, as a restarted process would find it. */
  reopen(): MemoryBackend {
    const next = new MemoryBackend();
    for (const [name, t] of this.committed) {
      const into = next.table(name);
      for (const [k, e] of t) into.set(k, e);
    }
    return next;
  }

  private checkOpen(): void {
    assert(!this.closed, 'MemoryBackend is closed');
  }
}
