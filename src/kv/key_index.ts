// One key's history in memory (etcd's keyIndex): the revisions of its stored versions, oldest first, where a
// tombstone ends a generation. Kept compact (one flat number array) because there is one per key.

import { assert } from '../util/assert.js';

/** Numbers per entry in `revs`: main, sub (negative for a tombstone), stored size in bytes. */
const STRIDE = 3;

export class KeyIndex {
  /** The key as a one-byte string (byte order = string order). */
  readonly key: string;
  /**
   * With two or more entries: triples [main, sub, bytes], oldest first; a tombstone stores its sub as
   * -(sub + 1); mains strictly increase. The size lets compaction account freed bytes (deterministically, for
   * the quota) without reading the records. With one entry (most keys, once compacted) it lives in m0/s0/z0
   * and revs is null, saving an array per key; m0 0 means no entry.
   */
  private revs: number[] | null = null;
  private m0 = 0;
  private s0 = 0;
  private z0 = 0;
  /** Create revision, version and lease of the live generation; all 0 while the key is deleted. */
  createRev = 0;
  version = 0;
  lease = 0;

  constructor(key: string) {
    this.key = key;
  }

  get entries(): number {
    return this.revs !== null ? this.revs.length / STRIDE : this.m0 === 0 ? 0 : 1;
  }

  main(i: number): number {
    return this.revs !== null ? (this.revs[STRIDE * i] as number) : this.m0;
  }

  private rawSub(i: number): number {
    return this.revs !== null ? (this.revs[STRIDE * i + 1] as number) : this.s0;
  }

  sub(i: number): number {
    const s = this.rawSub(i);
    return s < 0 ? -s - 1 : s;
  }

  size(i: number): number {
    return this.revs !== null ? (this.revs[STRIDE * i + 2] as number) : this.z0;
  }

  isTombstone(i: number): boolean {
    return this.rawSub(i) < 0;
  }

  /** The key exists now (its latest entry is a put). */
  isLive(): boolean {
    const n = this.entries;
    return n > 0 && this.rawSub(n - 1) >= 0;
  }

  lastMain(): number {
    const n = this.entries;
    return n === 0 ? 0 : this.main(n - 1);
  }

  private append(main: number, sub: number, size: number): void {
    const r = this.revs;
    if (r !== null) {
      r.push(main, sub, size);
    } else if (this.m0 === 0) {
      this.m0 = main;
      this.s0 = sub;
      this.z0 = size;
    } else {
      // An exact-size literal: push would reserve ~16 spare slots per key.
      this.revs = [this.m0, this.s0, this.z0, main, sub, size];
      this.m0 = 0;
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
    if (revs === null) return this.m0 !== 0 && this.m0 <= atRev ? 0 : -1;
    let i = revs.length / STRIDE - 1;
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
    if (at < 0) return this.entries === 0;
    const keepFrom = this.isTombstone(at) ? at + 1 : at;
    if (keepFrom === 0) return false;
    for (let i = 0; i < keepFrom; i++) removed(this.main(i), this.sub(i), this.size(i));
    const left = this.entries - keepFrom;
    const r = this.revs;
    if (left === 0) {
      this.revs = null;
      this.m0 = 0;
    } else if (left === 1 && r !== null) {
      this.m0 = r[r.length - 3] as number;
      this.s0 = r[r.length - 2] as number;
      this.z0 = r[r.length - 1] as number;
      this.revs = null;
    } else if (r !== null) {
      this.revs = r.slice(STRIDE * keepFrom);
    }
    return left === 0;
  }
}
