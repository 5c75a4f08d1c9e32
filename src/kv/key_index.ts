// One key's history in memory (etcd's keyIndex): the revisions of its stored versions, oldest first, where a
// tombstone ends a generation. Kept compact (one flat number array) because there is one per key.

import { assert } from '../util/assert.js';

/** Numbers per entry in `revs`: main, sub (negative for a tombstone), stored size in bytes. */
const STRIDE = 3;

export class KeyIndex {
  /** The key as a one-byte string (byte order = string order). */
  readonly key: string;
  /**
   * Triples [main, sub, bytes]; a tombstone stores its sub as -(sub + 1). Mains strictly increase. The size lets
   * compaction account freed bytes (deterministically, for the quota) without reading the records.
   */
  revs: number[] = [];
  /** Create revision, version and lease of the live generation; all 0 while the key is deleted. */
  createRev = 0;
  version = 0;
  lease = 0;

  constructor(key: string) {
    this.key = key;
  }

  get entries(): number {
    return this.revs.length / STRIDE;
  }

  main(i: number): number {
    return this.revs[STRIDE * i] as number;
  }

  sub(i: number): number {
    const s = this.revs[STRIDE * i + 1] as number;
    return s < 0 ? -s - 1 : s;
  }

  size(i: number): number {
    return this.revs[STRIDE * i + 2] as number;
  }

  isTombstone(i: number): boolean {
    return (this.revs[STRIDE * i + 1] as number) < 0;
  }

  /** The key exists now (its latest entry is a put). */
  isLive(): boolean {
    const n = this.revs.length;
    return n > 0 && (this.revs[n - 2] as number) >= 0;
  }

  lastMain(): number {
    return this.revs.length === 0 ? 0 : (this.revs[this.revs.length - STRIDE] as number);
  }

  private append(main: number, sub: number, size: number): void {
    const r = this.revs;
    // Short histories get exact-size array literals: push would reserve ~16 spare slots per key.
    switch (r.length) {
      case 0: this.revs = [main, sub, size]; break;
      case 3: this.revs = [r[0] as number, r[1] as number, r[2] as number, main, sub, size]; break;
      default: r.push(main, sub, size);
    }
  }

  put(main: number, sub: number, size: number, createRev: number, version: number, lease: number): void {
    if (!(main > this.lastMain())) assert(false, `KeyIndex.put: revision ${main} not above ${this.lastMain()}`);
    this.append(main, sub, size);
    this.createRev = createRev;
    this.version = version;
    this.lease = lease;
  }

  tombstone(main: number, sub: number, size: number): void {
    assert(this.isLive(), 'KeyIndex.tombstone: key is not live');
    if (!(main > this.lastMain())) assert(false, `KeyIndex.tombstone: revision ${main} not above ${this.lastMain()}`);
    this.append(main, -sub - 1, size);
    this.createRev = 0;
    this.version = 0;
    this.lease = 0;
  }

  /** Index of the latest entry with main <= atRev, or -1. */
  findAt(atRev: number): number {
    const revs = this.revs;
    let i = this.entries - 1;
    if (i < 16) {
      while (i >= 0 && (revs[STRIDE * i] as number) > atRev) i--;
      return i;
    }
    let lo = 0;
    let hi = i;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if ((revs[STRIDE * mid] as number) <= atRev) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }

  /** Index of the version visible at atRev, or -1 when the key does not exist at atRev. */
  liveAt(atRev: number): number {
    const i = this.findAt(atRev);
    return i >= 0 && !this.isTombstone(i) ? i : -1;
  }

  /**
   * Drops every entry with main <= atRev except the one visible at atRev (if the key exists then), calling
   * `removed` for each dropped entry. Returns whether the index is now empty (the key can be forgotten).
   */
  compact(atRev: number, removed: (main: number, sub: number, size: number) => void): boolean {
    const at = this.findAt(atRev);
    if (at < 0) return this.revs.length === 0;
    const keepFrom = this.isTombstone(at) ? at + 1 : at;
    for (let i = 0; i < keepFrom; i++) removed(this.main(i), this.sub(i), this.size(i));
    if (keepFrom > 0) this.revs = this.revs.slice(STRIDE * keepFrom);
    return this.revs.length === 0;
  }
}
