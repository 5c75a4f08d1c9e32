// Client-side watch bookkeeping of the ZooKeeper-style session: one-shot watchers by path and kind, persistent
// and recursive watch streams (async iterators), the dispatch of server notifications (ZooKeeper's
// ZKWatchManager rules), and the list to re-register after a reconnect.

import type { SetWatches } from '../wire/jute/records.js';
import { EventType } from '../wire/jute/zk_codes.js';

export type ZkWatchEventType = 'created' | 'deleted' | 'dataChanged' | 'childrenChanged';

export interface ZkWatchEvent {
  readonly type: ZkWatchEventType;
  readonly path: string;
}

/** Events a stream buffers for a consumer that does not read; beyond it the oldest are dropped and `overflowed` set. */
export const ZK_WATCH_STREAM_BUFFER_MAX = 10_000;

export interface ZkWatchStream extends AsyncIterable<ZkWatchEvent> {
  /** Whether events were dropped because the consumer fell behind. */
  readonly overflowed: boolean;
  close(): void;
}

const TYPE_NAMES: Record<number, ZkWatchEventType> = {
  [EventType.NodeCreated]: 'created', [EventType.NodeDeleted]: 'deleted',
  [EventType.NodeDataChanged]: 'dataChanged', [EventType.NodeChildrenChanged]: 'childrenChanged',
};

class Stream implements ZkWatchStream {
  private readonly queue: ZkWatchEvent[] = [];
  private wake: (() => void) | null = null;
  private closed = false;
  overflowed = false;

  constructor(readonly kind: 'persistent' | 'recursive', readonly path: string, private readonly onClose: (s: Stream) => void) {}

  push(ev: ZkWatchEvent): void {
    if (this.closed) return;
    if (this.queue.length >= ZK_WATCH_STREAM_BUFFER_MAX) {
      this.queue.shift();
      this.overflowed = true;
    }
    this.queue.push(ev);
    this.wake?.();
  }

  end(): void {
    this.closed = true;
    this.wake?.();
  }

  close(): void {
    if (this.closed) return;
    this.end();
    this.onClose(this);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<ZkWatchEvent> {
    for (;;) {
      const ev = this.queue.shift();
      if (ev !== undefined) {
        yield ev;
        continue;
      }
      if (this.closed) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = null;
    }
  }
}

function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

export class ZkWatchRegistry {
  private readonly data = new Map<string, Set<(e: ZkWatchEvent) => void>>();
  private readonly child = new Map<string, Set<(e: ZkWatchEvent) => void>>();
  private readonly streams = new Set<Stream>();

  constructor(private readonly removed: (path: string, kind: 'persistent' | 'recursive') => void) {}

  addOneShot(kind: 'data' | 'child', path: string, fn: (e: ZkWatchEvent) => void): void {
    const table = kind === 'data' ? this.data : this.child;
    let set = table.get(path);
    if (set === undefined) table.set(path, (set = new Set()));
    set.add(fn);
  }

  addStream(kind: 'persistent' | 'recursive', path: string): ZkWatchStream {
    const s = new Stream(kind, path, (x) => {
      this.streams.delete(x);
      if (![...this.streams].some((o) => o.kind === x.kind && o.path === x.path)) this.removed(x.path, x.kind);
    });
    this.streams.add(s);
    return s;
  }

  private fire(table: Map<string, Set<(e: ZkWatchEvent) => void>>, path: string, ev: ZkWatchEvent): void {
    const set = table.get(path);
    if (set === undefined) return;
    table.delete(path);
    for (const fn of set) fn(ev);
  }

  /** A notification from the server. */
  dispatch(type: number, path: string): void {
    const name = TYPE_NAMES[type];
    if (name === undefined) return;
    const ev: ZkWatchEvent = { type: name, path };
    if (type === EventType.NodeChildrenChanged) this.fire(this.child, path, ev);
    else {
      this.fire(this.data, path, ev);
      if (type === EventType.NodeDeleted) this.fire(this.child, path, ev);
    }
    for (const s of this.streams) {
      if (s.kind === 'persistent' ? s.path === path : type !== EventType.NodeChildrenChanged && isAtOrBelow(path, s.path)) s.push(ev);
    }
  }

  /** What to re-register on a new connection, or null when nothing is watched. */
  forSetWatches(relativeZxid: number): SetWatches | null {
    if (this.data.size === 0 && this.child.size === 0 && this.streams.size === 0) return null;
    const uniq = (kind: 'persistent' | 'recursive'): string[] => [...new Set([...this.streams].filter((s) => s.kind === kind).map((s) => s.path))];
    return {
      relativeZxid, dataWatches: [...this.data.keys()], existWatches: [], childWatches: [...this.child.keys()],
      persistentWatches: uniq('persistent'), persistentRecursiveWatches: uniq('recursive'),
    };
  }

  /** The session ended: streams finish, one-shot watchers are dropped. */
  expire(): void {
    this.data.clear();
    this.child.clear();
    for (const s of this.streams) s.end();
    this.streams.clear();
  }
}

function isAtOrBelow(path: string, root: string): boolean {
  if (root === '/') return true;
  for (let p = path; ; p = parentOf(p)) {
    if (p === root) return true;
    if (p === '/') return false;
  }
}
