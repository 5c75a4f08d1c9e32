// The state machine's public data types, shaped as etcd's mvccpb so the server maps them one to one.

import type { LeaseId, Revision } from '../util/branded.js';

/** A key's state at one revision (mvccpb.KeyValue). */
export interface KeyValue {
  readonly key: Uint8Array;
  /** Revision of the last creation of this key (of the current generation). */
  readonly createRevision: Revision;
  /** Revision of the last modification of this key. */
  readonly modRevision: Revision;
  /** Number of modifications since creation; a delete resets it to 0. */
  readonly version: number;
  readonly value: Uint8Array;
  /** 0 when the key has no lease. */
  readonly lease: LeaseId;
}

export const EventType = {
  Put: 0,
  Delete: 1,
} as const;
export type EventType = (typeof EventType)[keyof typeof EventType];

/** One change at one revision (mvccpb.Event). For a delete, `kv` holds the key and the delete's modRevision. */
export interface Event {
  readonly type: EventType;
  readonly kv: KeyValue;
  /** The key's value before this event, when asked for and it existed. */
  readonly prevKv: KeyValue | null;
}

/** Every change made at one main revision: what watchers receive from the store after each apply. */
export interface RevisionChanges {
  readonly revision: Revision;
  readonly events: readonly Event[];
}

/**
 * What the watch hub needs from the MVCC store to replay history for a watcher that starts in the past
 * or fell behind. Implemented by the store.
 */
export interface WatchableHistory {
  /** The latest applied main revision. */
  currentRevision(): Revision;
  /** Revisions below this have been compacted away and can no longer be replayed. */
  compactRevision(): Revision;
  /**
   * Changes with main revision in [fromRev, toRev] touching keys in [key, rangeEnd) (etcd range rules:
   * empty rangeEnd = just `key`, rangeEnd "\0" = every key >= key), in revision order, each revision's
   * events in the order they were applied, at most `maxEvents` events (a revision is never split).
   * `prevKv` is filled for every event. Requires fromRev > compactRevision().
   */
  changes(fromRev: Revision, toRev: Revision, key: Uint8Array, rangeEnd: Uint8Array, maxEvents: number): RevisionChanges[];
}
