// ZooKeeper watches on one member: one-shot data/exist and child watches, persistent and persistent-recursive
// watches, fired from the store's applied changes (every member serves watches from its own applied state).

import { EventType } from '../../wire/jute/zk_codes.js';
import { isNodeKey, isSessionKey, parentOf, pathOfKey, sessionIdOfKey } from '../../kv/zk/zk_path.js';
import { decodeZnode } from '../../kv/zk/zk_node.js';
import { EventType as KvEventType, type RevisionChanges } from '../../kv/types.js';
import { bytesToLatin1 } from '../../storage/backend/backend.js';

/** Whoever receives watch events: one client connection. */
export interface WatchTarget {
  notify(type: EventType, path: string, zxid: number): void;
}

export type WatchKind = 'data' | 'child' | 'persistent' | 'recursive';

/** Most watch registrations a member keeps (every kind, every connection); beyond it new ones are refused. */
export const ZK_WATCHES_MAX = 1_000_000;

export class ZkWatches {
  private readonly tables: Record<WatchKind, Map<string, Set<WatchTarget>>> = {
    data: new Map(), child: new Map(), persistent: new Map(), recursive: new Map(),
  };
  private count = 0;

  constructor(private readonly sessionGone: (sessionId: number) => void) {}

  add(kind: WatchKind, path: string, target: WatchTarget): boolean {
    const table = this.tables[kind];
    let set = table.get(path);
    if (set === undefined) {
      if (this.count >= ZK_WATCHES_MAX) return false;
      set = new Set();
      table.set(path, set);
    }
    if (!set.has(target)) {
      set.add(target);
      this.count++;
    }
    return true;
  }

  has(kind: WatchKind, path: string, target: WatchTarget): boolean {
    return this.tables[kind].get(path)?.has(target) ?? false;
  }

  remove(kind: WatchKind, path: string, target: WatchTarget): boolean {
    const set = this.tables[kind].get(path);
    if (set === undefined || !set.delete(target)) return false;
    this.count--;
    if (set.size === 0) this.tables[kind].delete(path);
    return true;
  }

  /** Drops every watch of a closed connection. */
  removeTarget(target: WatchTarget): void {
    for (const kind of Object.keys(this.tables) as WatchKind[]) {
      for (const path of [...this.tables[kind].keys()]) this.remove(kind, path, target);
    }
  }

  size(): number {
    return this.count;
  }

  /** Takes the one-shot watchers of `path` in `kind` (they fire once) into `out`. */
  private take(kind: 'data' | 'child', path: string, out: Set<WatchTarget>): void {
    const set = this.tables[kind].get(path);
    if (set === undefined) return;
    this.tables[kind].delete(path);
    this.count -= set.size;
    for (const t of set) out.add(t);
  }

  /**
   * Fires one event: each connection hears it once, whichever of its watches (data, child, persistent, recursive on
   * an ancestor) matched, as ZooKeeper's DataTree passes the already-notified set from one watch table to the next.
   */
  private trigger(path: string, type: EventType, zxid: number): void {
    const targets = new Set<WatchTarget>();
    if (type === EventType.NodeChildrenChanged) this.take('child', path, targets);
    else {
      this.take('data', path, targets);
      if (type === EventType.NodeDeleted) this.take('child', path, targets);
    }
    for (const t of this.tables.persistent.get(path) ?? []) targets.add(t);
    // A recursive watch on the path or any ancestor sees creates, deletes and data changes below it.
    if (type !== EventType.NodeChildrenChanged && this.tables.recursive.size > 0) {
      for (let p = path; ; p = parentOf(p)) {
        for (const t of this.tables.recursive.get(p) ?? []) targets.add(t);
        if (p === '/') break;
      }
    }
    for (const t of targets) t.notify(type, path, zxid);
  }

  /** One applied revision: turns key changes into ZooKeeper events (ZooKeeper's DataTree triggers). */
  onChanges(changes: RevisionChanges): void {
    const zxid = changes.revision;
    for (const ev of changes.events) {
      const key = bytesToLatin1(ev.kv.key);
      if (isSessionKey(key)) {
        if (ev.type === KvEventType.Delete) this.sessionGone(sessionIdOfKey(key));
        continue;
      }
      if (!isNodeKey(key)) continue;
      const path = pathOfKey(key);
      if (ev.type === KvEventType.Delete) {
        this.trigger(path, EventType.NodeDeleted, zxid);
        if (path !== '/') this.trigger(parentOf(path), EventType.NodeChildrenChanged, zxid);
      } else if (ev.kv.version === 1 && path !== '/') {
        this.trigger(path, EventType.NodeCreated, zxid);
        this.trigger(parentOf(path), EventType.NodeChildrenChanged, zxid);
      } else if (decodeZnode(ev.kv.value, ev.kv.createRevision).mzxid === zxid) {
        // A put that only changed the Stat (a child came or went, an ACL) is no data change.
        this.trigger(path, EventType.NodeDataChanged, zxid);
      }
    }
  }
}
