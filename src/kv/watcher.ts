// One watcher (etcd mvcc's watcher): the keys it watches, the events it wants, and how far it has been served.

import { Buffer } from 'node:buffer';
import { assert } from '../util/assert.js';
import type { Revision } from '../util/branded.js';
import { EventType, type Event } from './types.js';
import type { WatchStream } from './watch_stream.js';

/**
 * synced: receives each revision live from the hub. unsynced: behind, replays from history when its
 * stream has room. canceled: gone; nothing more is sent for it.
 */
export const WatcherState = {
  Synced: 'synced',
  Unsynced: 'unsynced',
  Canceled: 'canceled',
} as const;
export type WatcherState = (typeof WatcherState)[keyof typeof WatcherState];

/** Keys as latin1 strings: one char per byte, so `<` on strings is byte order, and they key a Map. */
export function keyString(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
}

/** The watched keys, normalized as etcd's server does before it reaches mvcc. */
export interface WatchRange {
  /** Request form, for WatchableHistory.changes: key never empty. */
  readonly keyBytes: Uint8Array;
  /** Request form: empty = just the key, [0] = every key >= key, otherwise the exclusive end. */
  readonly rangeEndBytes: Uint8Array;
  readonly key: string;
  /** null: just `key`; '': every key >= `key`; otherwise the exclusive end. */
  readonly end: string | null;
}

const SMALLEST_KEY = Uint8Array.of(0);
const FROM_KEY_END = Uint8Array.of(0);
const NO_END = new Uint8Array(0);

/** Normalizes a request's key and range end; null when the range is empty (key >= end). */
export function watchRange(key: Uint8Array, rangeEnd: Uint8Array): WatchRange | null {
  const keyBytes = key.byteLength === 0 ? SMALLEST_KEY : key;
  const k = keyString(keyBytes);
  if (rangeEnd.byteLength === 0) return { keyBytes, rangeEndBytes: NO_END, key: k, end: null };
  if (rangeEnd.byteLength === 1 && rangeEnd[0] === 0) return { keyBytes, rangeEndBytes: FROM_KEY_END, key: k, end: '' };
  const end = keyString(rangeEnd);
  if (k >= end) return null;
  return { keyBytes, rangeEndBytes: rangeEnd, key: k, end };
}

export interface WatcherOptions {
  readonly id: number;
  readonly stream: WatchStream;
  readonly range: WatchRange;
  /** As requested: 0 means "from now". */
  readonly startRevision: Revision;
  readonly minRevision: Revision;
  readonly state: WatcherState;
  readonly noPut: boolean;
  readonly noDelete: boolean;
  readonly prevKv: boolean;
  readonly fragment: boolean;
  readonly progressNotify: boolean;
}

export class Watcher {
  readonly id: number;
  readonly stream: WatchStream;
  readonly range: WatchRange;
  readonly startRevision: Revision;
  readonly noPut: boolean;
  readonly noDelete: boolean;
  readonly prevKv: boolean;
  readonly fragment: boolean;
  readonly progressNotify: boolean;
  /** The lowest revision not yet handed to the stream for this watcher: it has everything below. */
  minRevision: Revision;
  state: WatcherState;
  /**
   * etcd's per-watcher progress flag: true when no events went out since the last periodic tick, so the
   * next tick owes a progress notification.
   */
  progressDue = true;

  constructor(o: WatcherOptions) {
    this.id = o.id;
    this.stream = o.stream;
    this.range = o.range;
    this.startRevision = o.startRevision;
    this.minRevision = o.minRevision;
    this.state = o.state;
    this.noPut = o.noPut;
    this.noDelete = o.noDelete;
    this.prevKv = o.prevKv;
    this.fragment = o.fragment;
    this.progressNotify = o.progressNotify;
  }

  /** Whether `key` (a keyString) is in the watched range. */
  covers(key: string): boolean {
    const { key: start, end } = this.range;
    if (end === null) return key === start;
    return key >= start && (end === '' || key < end);
  }

  /**
   * The events of one or more revisions this watcher is to receive, in order: filters applied, and
   * prevKv removed unless asked for. The events are those of its range already.
   */
  select(events: readonly Event[]): Event[] {
    const out: Event[] = [];
    for (const event of events) {
      if (this.noPut && event.type === EventType.Put) continue;
      if (this.noDelete && event.type === EventType.Delete) continue;
      out.push(this.prevKv || event.prevKv === null ? event : { type: event.type, kv: event.kv, prevKv: null });
    }
    return out;
  }

  /** Moves the served mark forward; it never goes back but for a replay after a fall-back. */
  advanceTo(next: Revision): void {
    assert(next >= this.minRevision, `watcher ${this.id}: served mark would go back from ${this.minRevision} to ${next}`);
    this.minRevision = next;
  }
}
