// The hub's index of synced watchers by what they watch (etcd mvcc's watcherGroup), so an applied event
// finds its watchers without visiting every watcher.

import { assert } from '../util/assert.js';
import type { Watcher } from './watcher.js';

/** All watchers of one identical range; many clients watching one prefix share an entry. */
interface RangeEntry {
  readonly start: string;
  /** '' = unbounded. */
  readonly end: string;
  readonly watchers: Set<Watcher>;
}

function compareRange(aStart: string, aEnd: string, bStart: string, bEnd: string): number {
  if (aStart !== bStart) return aStart < bStart ? -1 : 1;
  if (aEnd === bEnd) return 0;
  // '' (unbounded) sorts after every bounded end of the same start.
  if (aEnd === '') return 1;
  if (bEnd === '') return -1;
  return aEnd < bEnd ? -1 : 1;
}

export class WatcherGroup {
  private readonly byKey = new Map<string, Set<Watcher>>();
  /** Sorted by (start, end), so a lookup stops at the first range starting past the key. */
  private readonly ranges: RangeEntry[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(w: Watcher): void {
    const { key, end } = w.range;
    if (end === null) {
      let set = this.byKey.get(key);
      if (set === undefined) {
        set = new Set();
        this.byKey.set(key, set);
      }
      assert(!set.has(w), `WatcherGroup.add: watcher ${w.id} added twice`);
      set.add(w);
    } else {
      const i = this.search(key, end);
      const found = this.ranges[i];
      if (found !== undefined && compareRange(found.start, found.end, key, end) === 0) {
        assert(!found.watchers.has(w), `WatcherGroup.add: watcher ${w.id} added twice`);
        found.watchers.add(w);
      } else {
        this.ranges.splice(i, 0, { start: key, end, watchers: new Set([w]) });
      }
    }
    this.count++;
  }

  /** Removes `w`; returns whether it was here. */
  delete(w: Watcher): boolean {
    const { key, end } = w.range;
    if (end === null) {
      const set = this.byKey.get(key);
      if (set === undefined || !set.delete(w)) return false;
      if (set.size === 0) this.byKey.delete(key);
    } else {
      const i = this.search(key, end);
      const found = this.ranges[i];
      if (found === undefined || compareRange(found.start, found.end, key, end) !== 0) return false;
      if (!found.watchers.delete(w)) return false;
      if (found.watchers.size === 0) this.ranges.splice(i, 1);
    }
    this.count--;
    return true;
  }

  /** Calls `fn` for every watcher whose range holds `key` (a keyString), each once. */
  forEachCovering(key: string, fn: (w: Watcher) => void): void {
    const set = this.byKey.get(key);
    if (set !== undefined) for (const w of set) fn(w);
    for (const entry of this.ranges) {
      if (entry.start > key) break;
      if (entry.end === '' || key < entry.end) for (const w of entry.watchers) fn(w);
    }
  }

  /** Index of the entry for (start, end), or where it would be inserted. */
  private search(start: string, end: string): number {
    let lo = 0;
    let hi = this.ranges.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const entry = this.ranges[mid];
      assert(entry !== undefined, 'WatcherGroup.search: index out of bounds');
      if (compareRange(entry.start, entry.end, start, end) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
