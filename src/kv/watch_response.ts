// The watch API's request and response shapes (etcdserverpb WatchCreateRequest / WatchResponse), their
// encoded sizes, and the splitting of a large response into fragments as etcd's sendFragments does.

import { Buffer } from 'node:buffer';
import { assert } from '../util/assert.js';
import { revision, type Revision } from '../util/branded.js';
import type { Event, KeyValue } from './types.js';
import { WATCH_RESPONSE_HEADER_BYTES } from './watch_limits.js';

/** WatchCreateRequest.FilterType: which events the server leaves out for a watcher. */
export const WatchFilterType = {
  NoPut: 0,
  NoDelete: 1,
} as const;
export type WatchFilterType = (typeof WatchFilterType)[keyof typeof WatchFilterType];

/** etcd's InvalidWatchID: the id of a refused create, and of a progress notification for a whole stream. */
export const INVALID_WATCH_ID = -1;

/** etcd's AutoWatchID: a create carrying it gets the stream's next free id. */
export const AUTO_WATCH_ID = 0;

/** The `cancel_reason` texts, copied from etcd where etcd has one. */
export const WatchCancelReason = {
  /** rpctypes.ErrCompacted: etcd answers a negative start revision with it. */
  Compacted: 'etcdserver: mvcc: required revision has been compacted',
  /** mvcc.ErrEmptyWatcherRange: key >= range_end. */
  EmptyRange: 'mvcc: watcher range is empty',
  /** mvcc.ErrWatcherDuplicateID: a client-chosen id already in use on the stream. */
  DuplicateId: 'mvcc: duplicate watch ID provided on the WatchStream',
  /** Ours: etcd has no per-stream bound. */
  TooManyWatchers: 'etcdserver: too many watchers on the watch stream',
} as const;
export type WatchCancelReason = (typeof WatchCancelReason)[keyof typeof WatchCancelReason];

/**
 * A client's request for a new watcher (etcdserverpb.WatchCreateRequest). An unset field reads as
 * protobuf's zero value, as on the wire.
 */
export interface WatchCreateRequest {
  /** Empty means "\0", the smallest key (as etcd). */
  readonly key: Uint8Array;
  /** Empty: just `key`; "\0": every key >= `key`; otherwise the exclusive end of [key, rangeEnd). */
  readonly rangeEnd?: Uint8Array;
  /** Inclusive first revision to deliver; 0 means "now" (the current revision + 1); negative is refused. */
  readonly startRevision?: number;
  readonly progressNotify?: boolean;
  /** Unknown values are ignored, as etcd does. */
  readonly filters?: readonly number[];
  readonly prevKv?: boolean;
  /** 0 (AUTO_WATCH_ID) lets the stream choose. */
  readonly watchId?: number;
  readonly fragment?: boolean;
}

/** One message to the client (etcdserverpb.WatchResponse); the server adds cluster id, member id and raft term. */
export interface WatchResponse {
  /** The response header's revision. */
  readonly headerRevision: Revision;
  readonly watchId: number;
  readonly created: boolean;
  readonly canceled: boolean;
  /** Set (non-zero) only when the watcher is canceled because the revisions it needs are compacted. */
  readonly compactRevision: Revision;
  readonly cancelReason: string;
  /** True on every piece of a split response but the last. */
  readonly fragment: boolean;
  readonly events: readonly Event[];
}

const NO_EVENTS: readonly Event[] = Object.freeze([]);

/** A response with every field at its zero value but those given. */
export function watchResponse(fields: Partial<WatchResponse> & Pick<WatchResponse, 'headerRevision' | 'watchId'>): WatchResponse {
  return {
    created: false,
    canceled: false,
    compactRevision: revision(0),
    cancelReason: '',
    fragment: false,
    events: NO_EVENTS,
    ...fields,
  };
}

/** True for a response that carries no events and no control flag: a progress notification. */
export function isProgressNotification(r: WatchResponse): boolean {
  return r.events.length === 0 && !r.created && !r.canceled && r.compactRevision === 0;
}

// Encoded sizes follow protobuf's rules: every field number used here is below 16, so a tag is one byte;
// zero values are not written; a negative int64 takes ten bytes.

function varintBytes(n: number): number {
  if (n < 0) return 10;
  let bytes = 1;
  let rest = Math.floor(n / 128);
  while (rest > 0) {
    bytes++;
    rest = Math.floor(rest / 128);
  }
  return bytes;
}

function intFieldBytes(n: number): number {
  return n === 0 ? 0 : 1 + varintBytes(n);
}

function lengthFieldBytes(length: number): number {
  return 1 + varintBytes(length) + length;
}

function bytesFieldBytes(length: number): number {
  return length === 0 ? 0 : lengthFieldBytes(length);
}

function keyValueBytes(kv: KeyValue): number {
  return (
    bytesFieldBytes(kv.key.byteLength) +
    intFieldBytes(kv.createRevision) +
    intFieldBytes(kv.modRevision) +
    intFieldBytes(kv.version) +
    bytesFieldBytes(kv.value.byteLength) +
    intFieldBytes(kv.lease)
  );
}

/** Encoded size of one mvccpb.Event. */
export function eventBytes(event: Event): number {
  let bytes = intFieldBytes(event.type) + lengthFieldBytes(keyValueBytes(event.kv));
  if (event.prevKv !== null) bytes += lengthFieldBytes(keyValueBytes(event.prevKv));
  return bytes;
}

/** Encoded size of one event as an element of WatchResponse.events (field 11). */
export function eventFieldBytes(event: Event): number {
  return lengthFieldBytes(eventBytes(event));
}

/** Encoded size of a response without its events (the header counted at its worst case). */
export function responseEnvelopeBytes(r: WatchResponse): number {
  return (
    WATCH_RESPONSE_HEADER_BYTES +
    intFieldBytes(r.watchId) +
    (r.created ? 2 : 0) +
    (r.canceled ? 2 : 0) +
    intFieldBytes(r.compactRevision) +
    bytesFieldBytes(Buffer.byteLength(r.cancelReason, 'utf8')) +
    (r.fragment ? 2 : 0)
  );
}

/** Encoded size of a whole response, as the server will put it on the wire (within the header's bound). */
export function watchResponseBytes(r: WatchResponse): number {
  let bytes = responseEnvelopeBytes(r);
  for (const event of r.events) bytes += eventFieldBytes(event);
  return bytes;
}

/**
 * Splits a response of at least `maxBytes` into pieces, each below `maxBytes` unless it holds a single
 * event, all marked `fragment` but the last (etcd's sendFragments). A response below the bound, or with
 * fewer than two events, is returned whole.
 */
export function fragmentResponse(r: WatchResponse, maxBytes: number): WatchResponse[] {
  if (r.events.length < 2 || watchResponseBytes(r) < maxBytes) return [r];
  const envelope = responseEnvelopeBytes({ ...r, fragment: true });
  assert(envelope < maxBytes, `fragmentResponse: envelope of ${envelope} bytes does not fit in ${maxBytes}`);
  const pieces: WatchResponse[] = [];
  let events: Event[] = [];
  let bytes = envelope;
  for (const event of r.events) {
    const add = eventFieldBytes(event);
    if (events.length > 0 && bytes + add >= maxBytes) {
      pieces.push({ ...r, fragment: true, events });
      events = [];
      bytes = envelope;
    }
    events.push(event);
    bytes += add;
  }
  pieces.push({ ...r, fragment: false, events });
  assert(pieces.length >= 2, 'fragmentResponse: a response at the bound must split');
  return pieces;
}
