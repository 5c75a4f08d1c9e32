// The state machine's storage engine contract: named tables of ordered binary keys, writes buffered in memory and
// made durable together by `commit` (one atomic transaction), point-in-time read views for snapshots and hashes.

import { assert } from '../../util/assert.js';

/** The tables of the key-value store: revisions, metadata (applied index and friends), leases. */
export const TABLES = ['kv', 'meta', 'lease'] as const;
export type TableName = (typeof TABLES)[number];

export interface BackendEntry {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

/** A consistent view of the committed data, unaffected by later commits, until released. */
export interface BackendReadView {
  /** Every entry of `table` in ascending byte order of keys. */
  entries(table: TableName): Iterable<BackendEntry>;
  release(): void;
}

export interface Backend {
  /** The value under `key`, seeing buffered writes; the bytes belong to the caller. */
  get(table: TableName, key: Uint8Array): Uint8Array | undefined;
  /** Buffers a write; `value` must not be mutated afterwards. */
  put(table: TableName, key: Uint8Array, value: Uint8Array): void;
  /** Buffers a removal (of a key that may not exist). */
  delete(table: TableName, key: Uint8Array): void;
  /** Writes buffered since the last commit. */
  bufferedWrites(): number;
  /**
   * Makes every buffered write durable in one atomic transaction; a crash keeps all of them or none. `extra`
   * runs inside that transaction and may add writes directly (the MVCC store's own buffered records), which
   * saves buffering each of them twice; the engine copies each key and value before `put` or `remove` returns.
   */
  commit(extra?: (put: (table: TableName, key: Uint8Array, value: Uint8Array) => void, remove: (table: TableName, key: Uint8Array) => void) => void): void;
  /** A point-in-time view of the committed data (buffered writes are not in it). */
  readView(): BackendReadView;
  /** Removes everything, committed and buffered, durably (before a snapshot restore). */
  clear(): void;
  /** Bytes the engine uses on disk (or in memory), for metrics. */
  sizeBytes(): number;
  /** Releases the engine. Buffered writes are dropped, exactly as a crash would drop them. */
  close(): void;
}

/** Binary keys as one-byte strings: JS string order is then byte order, and Map lookups are cheap. */
export function bytesToLatin1(b: Uint8Array): string {
  return latin1Slice.call(b, 0, b.length);
}

// Node's native latin1 decoder works on any Uint8Array, without wrapping it in a Buffer first.
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice(this: Uint8Array, start: number, end: number): string }).latin1Slice;

export function latin1ToBytes(s: string): Uint8Array {
  return Buffer.from(s, 'latin1');
}

/** Writes buffered until commit, per table, last write of a key wins. */
export class WriteBuffer {
  readonly tables = new Map<TableName, Map<string, { key: Uint8Array; value: Uint8Array | null }>>();
  private count = 0;

  constructor() {
    for (const t of TABLES) this.tables.set(t, new Map());
  }

  table(name: TableName): Map<string, { key: Uint8Array; value: Uint8Array | null }> {
    const t = this.tables.get(name);
    assert(t !== undefined, `unknown backend table ${name}`);
    return t;
  }

  set(table: TableName, key: Uint8Array, value: Uint8Array | null): void {
    this.table(table).set(bytesToLatin1(key), { key, value });
    this.count++;
  }

  /** undefined: not buffered; null: buffered removal. */
  lookup(table: TableName, key: Uint8Array): Uint8Array | null | undefined {
    const w = this.table(table).get(bytesToLatin1(key));
    return w === undefined ? undefined : w.value;
  }

  size(): number {
    return this.count;
  }

  reset(): void {
    for (const t of this.tables.values()) t.clear();
    this.count = 0;
  }
}
