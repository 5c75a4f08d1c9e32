// One client's watch stream (etcd's serverWatchStream with mvcc's watchStream): the watchers it holds, the
// ids it assigns, and the one ordered queue of responses to its consumer, which pushes back when full.

import { assert } from '../util/assert.js';
import { revision, type Revision } from '../util/branded.js';
import type { Event, WatchableHistory } from './types.js';
import { WATCH_STREAM_CONTROL_BACKLOG_MAX, type WatchLimits } from './watch_limits.js';
import {
  AUTO_WATCH_ID,
  INVALID_WATCH_ID,
  WatchCancelReason,
  WatchFilterType,
  eventFieldBytes,
  fragmentResponse,
  responseEnvelopeBytes,
  watchResponse,
  watchResponseBytes,
  type WatchCreateRequest,
  type WatchResponse,
} from './watch_response.js';
import { Watcher, WatcherState, watchRange } from './watcher.js';
import type { WatcherGroup } from './watcher_group.js';

/** Where a stream's responses go: the server's side of one gRPC Watch call. */
export interface WatchSink {
  /**
   * Takes one response, which is then the sink's to deliver. Returns false when the consumer wants no
   * more until the stream's `ready()` is called, as a Node writable's `write()` returns false until 'drain'.
   */
  send(response: WatchResponse): boolean;
}

/** What a stream needs from its hub. */
export interface WatchStreamHost {
  readonly history: WatchableHistory;
  readonly limits: WatchLimits;
  readonly synced: WatcherGroup;
  /** The last revision handed to the hub: every synced watcher has been given all its events up to it. */
  revision(): Revision;
  /** The stream has catch-up work or a deferred progress request for the next sync round. */
  needsSync(stream: WatchStream): void;
  closed(stream: WatchStream): void;
}

/** History reads shared by the watchers of one catch-up round. */
export interface SyncBudget {
  reads: number;
}

/** History reads a create may spend at once: a short replay is then done before the create returns. */
export const WATCH_CREATE_READS_MAX = 2;

interface Queued {
  readonly response: WatchResponse;
  readonly bytes: number;
}

/** One revision's worth of a replay, after the watcher's filters. */
interface ReplayRevision {
  readonly revision: Revision;
  readonly events: readonly Event[];
  readonly bytes: number;
}

const NO_BYTES = new Uint8Array(0);
/** The queue's consumed head is cut off once it is this long and more than half the array. */
const QUEUE_COMPACT_HEAD_MIN = 1024;

export class WatchStream {
  private readonly watchers = new Map<number, Watcher>();
  /** Behind watchers in catch-up order; one that is still behind after its turn goes to the back. */
  private readonly unsynced = new Set<Watcher>();
  private readonly progressWatchers = new Set<Watcher>();
  private nextId = 0;
  private queue: (Queued | undefined)[] = [];
  private head = 0;
  private queuedBytes = 0;
  private writable = true;
  private flushing = false;
  private isClosed = false;
  /** A progress request waits until every watcher is synced, so it never runs ahead of their events. */
  private progressAllPending = false;

  constructor(
    private readonly host: WatchStreamHost,
    private readonly sink: WatchSink,
  ) {}

  get closed(): boolean {
    return this.isClosed;
  }
  get watcherCount(): number {
    return this.watchers.size;
  }
  get unsyncedCount(): number {
    return this.unsynced.size;
  }
  get queuedResponses(): number {
    return this.queue.length - this.head;
  }
  get queuedResponseBytes(): number {
    return this.queuedBytes;
  }

  /**
   * False when a consumer that does not drain has let answers to requests pile up: the server should
   * stop reading this stream's requests until `ready()`, so a client that never reads cannot grow it.
   */
  get acceptingRequests(): boolean {
    return this.queuedResponses < this.host.limits.streamQueueResponsesMax + WATCH_STREAM_CONTROL_BACKLOG_MAX;
  }

  /**
   * WatchCreateRequest. Always answers with one `created` response, in request order: with the new id, or
   * with id -1, `canceled` and a reason when refused. Returns the id given, or -1.
   */
  create(request: WatchCreateRequest): number {
    this.notInSink('create');
    if (this.isClosed) return INVALID_WATCH_ID;
    const current = this.host.revision();
    const startRevision = request.startRevision ?? 0;
    assert(Number.isInteger(startRevision), `WatchStream.create: start revision ${startRevision} is not an integer`);
    // etcd refuses a negative start revision as compacted, before looking at anything else.
    if (startRevision < 0) return this.refuse(WatchCancelReason.Compacted, current);
    const range = watchRange(request.key, request.rangeEnd ?? NO_BYTES);
    if (range === null) return this.refuse(WatchCancelReason.EmptyRange, current);
    const requestedId = request.watchId ?? AUTO_WATCH_ID;
    assert(Number.isSafeInteger(requestedId), `WatchStream.create: watch id ${requestedId} is not a safe integer`);
    if (requestedId !== AUTO_WATCH_ID && this.watchers.has(requestedId)) {
      return this.refuse(WatchCancelReason.DuplicateId, current);
    }
    if (this.watchers.size >= this.host.limits.watchersPerStreamMax) {
      return this.refuse(WatchCancelReason.TooManyWatchers, current);
    }
    const id = requestedId !== AUTO_WATCH_ID ? requestedId : this.takeAutoId();
    // As etcd: "now" and future starts are live at once; a past start replays from history first.
    const live = startRevision === 0 || startRevision > current;
    const filters = request.filters ?? [];
    const w = new Watcher({
      id,
      stream: this,
      range,
      startRevision: revision(startRevision),
      minRevision: revision(live ? Math.max(current + 1, startRevision) : startRevision),
      state: live ? WatcherState.Synced : WatcherState.Unsynced,
      noPut: filters.includes(WatchFilterType.NoPut),
      noDelete: filters.includes(WatchFilterType.NoDelete),
      prevKv: request.prevKv ?? false,
      fragment: request.fragment ?? false,
      progressNotify: request.progressNotify ?? false,
    });
    this.watchers.set(id, w);
    if (w.progressNotify) this.progressWatchers.add(w);
    if (live) this.host.synced.add(w);
    else this.unsynced.add(w);
    this.enqueue(watchResponse({ headerRevision: current, watchId: id, created: true }));
    if (!live) {
      this.catchUp(w, { reads: WATCH_CREATE_READS_MAX });
      if (w.state === WatcherState.Unsynced) this.host.needsSync(this);
    }
    return id;
  }

  /** WatchCancelRequest. A known id is answered with `canceled`; an unknown one with nothing, as etcd does. */
  cancel(watchId: number): void {
    this.notInSink('cancel');
    if (this.isClosed) return;
    const w = this.watchers.get(watchId);
    if (w === undefined) return;
    this.remove(w);
    this.enqueue(watchResponse({ headerRevision: this.host.revision(), watchId, canceled: true }));
    this.maybeSendProgressAll();
  }

  /**
   * WatchProgressRequest: one response with id -1 and no events at the current revision, sent once every
   * watcher of the stream is synced. etcd drops the request when one is not; we defer it instead, so a
   * client waiting for it is answered. A stream without watchers is answered with nothing, as etcd.
   */
  requestProgress(): void {
    this.notInSink('requestProgress');
    if (this.isClosed) return;
    this.progressAllPending = true;
    this.maybeSendProgressAll();
    if (this.progressAllPending) this.host.needsSync(this);
  }

  /**
   * The periodic progress tick (etcd's progress ticker; the server calls it every interval): each synced
   * `progress_notify` watcher that received no events since the last tick gets an empty response.
   */
  tickProgress(): void {
    this.notInSink('tickProgress');
    if (this.isClosed) return;
    const current = this.host.revision();
    for (const w of this.progressWatchers) {
      // As etcd: no progress below the start revision, which could be read as "resume from here".
      if (w.progressDue && w.state === WatcherState.Synced && current >= w.startRevision && this.hasRoom()) {
        this.enqueue(watchResponse({ headerRevision: current, watchId: w.id }));
      }
      w.progressDue = true;
    }
  }

  /** The consumer can take more: send what is queued, then let behind watchers catch up into the room left. */
  ready(): void {
    this.notInSink('ready');
    if (this.isClosed) return;
    this.writable = true;
    this.flush();
    this.syncRound({ reads: this.host.limits.syncRoundReadsMax });
  }

  /** Ends the stream: every watcher goes, queued responses are dropped, and later calls do nothing. */
  close(): void {
    this.notInSink('close');
    if (this.isClosed) return;
    for (const w of [...this.watchers.values()]) this.remove(w);
    this.isClosed = true;
    this.queue = [];
    this.head = 0;
    this.queuedBytes = 0;
    this.progressAllPending = false;
    this.host.closed(this);
  }

  /** Whether the next sync round has work here. */
  needsSync(): boolean {
    return !this.isClosed && (this.unsynced.size > 0 || this.progressAllPending);
  }

  /** Hub: one live revision's events of `w`'s range. Queued if there is room, else `w` falls behind. */
  deliver(w: Watcher, rev: Revision, events: readonly Event[]): void {
    this.notInSink('deliver');
    assert(w.stream === this && w.state === WatcherState.Synced, `deliver: watcher ${w.id} is not synced here`);
    assert(rev >= w.minRevision, `deliver: revision ${rev} is below watcher ${w.id}'s next revision ${w.minRevision}`);
    const selected = w.select(events);
    if (selected.length === 0) {
      w.advanceTo(revision(rev + 1));
      return;
    }
    if (!this.hasRoom()) {
      this.fallBehind(w, rev);
      return;
    }
    this.enqueueEvents(w, watchResponse({ headerRevision: rev, watchId: w.id, events: selected }));
    w.advanceTo(revision(rev + 1));
  }

  /** Hub: the store was restored from a snapshot; every synced watcher replays from where it was. */
  restore(lastRevision: Revision): void {
    this.notInSink('restore');
    for (const w of this.watchers.values()) {
      if (w.state !== WatcherState.Synced) continue;
      assert(this.host.synced.delete(w), `restore: synced watcher ${w.id} missing from the group`);
      w.state = WatcherState.Unsynced;
      // A synced watcher has everything up to the last revision handed to the hub.
      w.advanceTo(revision(Math.max(w.minRevision, lastRevision + 1)));
      this.unsynced.add(w);
    }
    if (this.needsSync()) this.host.needsSync(this);
  }

  /** One catch-up round: behind watchers replay from history, in turn, while the budget and the queue allow. */
  syncRound(budget: SyncBudget): void {
    this.notInSink('syncRound');
    if (this.isClosed) return;
    for (const w of [...this.unsynced]) {
      if (budget.reads <= 0 || !this.hasRoom()) break;
      if (w.state !== WatcherState.Unsynced) continue;
      this.catchUp(w, budget);
      if (w.state === WatcherState.Unsynced) {
        this.unsynced.delete(w);
        this.unsynced.add(w);
      }
    }
    this.maybeSendProgressAll();
  }

  private takeAutoId(): number {
    // etcd (3.5) numbers watchers per stream from 0, skipping ids a client chose.
    while (this.watchers.has(this.nextId)) this.nextId++;
    return this.nextId++;
  }

  private refuse(reason: WatchCancelReason, current: Revision): number {
    this.enqueue(
      watchResponse({ headerRevision: current, watchId: INVALID_WATCH_ID, created: true, canceled: true, cancelReason: reason }),
    );
    return INVALID_WATCH_ID;
  }

  private remove(w: Watcher): void {
    if (w.state === WatcherState.Synced) {
      assert(this.host.synced.delete(w), `remove: synced watcher ${w.id} missing from the group`);
    } else {
      assert(w.state === WatcherState.Unsynced && this.unsynced.delete(w), `remove: watcher ${w.id} is ${w.state}`);
    }
    w.state = WatcherState.Canceled;
    this.watchers.delete(w.id);
    this.progressWatchers.delete(w);
  }

  private fallBehind(w: Watcher, rev: Revision): void {
    assert(this.host.synced.delete(w), `fallBehind: synced watcher ${w.id} missing from the group`);
    w.state = WatcherState.Unsynced;
    w.advanceTo(rev);
    this.unsynced.add(w);
    this.host.needsSync(this);
  }

  private makeSynced(w: Watcher): void {
    assert(this.unsynced.delete(w), `makeSynced: watcher ${w.id} is not behind`);
    w.state = WatcherState.Synced;
    this.host.synced.add(w);
  }

  /** Replays `w` from history until it is synced, canceled, out of budget, or the queue is full. */
  private catchUp(w: Watcher, budget: SyncBudget): void {
    const { history, limits } = this.host;
    while (w.state === WatcherState.Unsynced && budget.reads > 0 && this.hasRoom()) {
      const current = this.host.revision();
      if (w.minRevision > current) {
        this.makeSynced(w);
        return;
      }
      const compacted = history.compactRevision();
      if (w.minRevision <= compacted) {
        this.cancelCompacted(w, compacted, current);
        return;
      }
      budget.reads--;
      const batch = history.changes(w.minRevision, current, w.range.keyBytes, w.range.rangeEndBytes, limits.catchUpBatchEventsMax);
      if (batch.length === 0) {
        w.advanceTo(revision(current + 1));
        this.makeSynced(w);
        return;
      }
      this.enqueueReplay(w, batch, current);
    }
  }

  /**
   * The history can no longer replay what `w` needs. etcd's compact_revision is "the minimum revision
   * available": the first revision a new watcher may start from, which is one past the compacted one.
   */
  private cancelCompacted(w: Watcher, compacted: Revision, current: Revision): void {
    this.remove(w);
    this.enqueue(
      watchResponse({ headerRevision: current, watchId: w.id, canceled: true, compactRevision: revision(compacted + 1) }),
    );
  }

  /** Queues one history batch as responses of whole revisions, stopping where the queue fills. */
  private enqueueReplay(w: Watcher, batch: readonly { revision: Revision; events: readonly Event[] }[], current: Revision): void {
    const revisions: ReplayRevision[] = [];
    let previous = w.minRevision - 1;
    for (const changes of batch) {
      assert(
        changes.revision > previous && changes.revision <= current,
        `history returned revision ${changes.revision} after ${previous} for a replay up to ${current}`,
      );
      previous = changes.revision;
      const events = w.select(changes.events);
      if (events.length === 0) continue;
      let bytes = 0;
      for (const event of events) bytes += eventFieldBytes(event);
      revisions.push({ revision: changes.revision, events, bytes });
    }
    for (const group of this.packRevisions(w, revisions)) {
      if (!this.hasRoom()) return;
      const first = group[0];
      const last = group[group.length - 1];
      assert(first !== undefined && last !== undefined, 'enqueueReplay: empty group');
      const events = group.length === 1 ? first.events : group.flatMap((r) => r.events);
      // The header claims no more than the watcher has now been given.
      this.enqueueEvents(w, watchResponse({ headerRevision: last.revision, watchId: w.id, events }));
      w.advanceTo(revision(last.revision + 1));
    }
    w.advanceTo(revision(previous + 1));
  }

  /** Groups consecutive revisions into responses under the byte bound; a revision is never split here. */
  private packRevisions(w: Watcher, revisions: readonly ReplayRevision[]): ReplayRevision[][] {
    const limit = this.host.limits.responseBytesMax;
    const envelope = responseEnvelopeBytes(watchResponse({ headerRevision: this.host.revision(), watchId: w.id }));
    const groups: ReplayRevision[][] = [];
    let group: ReplayRevision[] = [];
    let bytes = envelope;
    for (const r of revisions) {
      if (group.length > 0 && bytes + r.bytes >= limit) {
        groups.push(group);
        group = [];
        bytes = envelope;
      }
      group.push(r);
      bytes += r.bytes;
    }
    if (group.length > 0) groups.push(group);
    return groups;
  }

  private enqueueEvents(w: Watcher, response: WatchResponse): void {
    const pieces = w.fragment ? fragmentResponse(response, this.host.limits.responseBytesMax) : [response];
    for (const piece of pieces) this.enqueue(piece);
    w.progressDue = false;
  }

  private maybeSendProgressAll(): void {
    if (!this.progressAllPending) return;
    if (this.watchers.size === 0) {
      this.progressAllPending = false;
      return;
    }
    if (this.unsynced.size > 0 || !this.hasRoom()) return;
    const current = this.host.revision();
    for (const w of this.watchers.values()) if (current < w.startRevision) return;
    this.progressAllPending = false;
    this.enqueue(watchResponse({ headerRevision: current, watchId: INVALID_WATCH_ID }));
  }

  /** Room for more event or progress responses; control responses (created, canceled) are always queued. */
  private hasRoom(): boolean {
    const { streamQueueResponsesMax, streamQueueBytesMax } = this.host.limits;
    return this.queue.length - this.head < streamQueueResponsesMax && this.queuedBytes < streamQueueBytesMax;
  }

  /**
   * A sink must not call back into its stream from `send()`: the call would interleave with a response
   * half queued. The server defers such work (it has no reason to do it) and this catches it if not.
   */
  private notInSink(what: string): void {
    assert(!this.flushing, `WatchStream.${what} called from inside the sink's send()`);
  }

  private enqueue(response: WatchResponse): void {
    assert(!this.isClosed, 'enqueue on a closed stream');
    const bytes = watchResponseBytes(response);
    this.queue.push({ response, bytes });
    this.queuedBytes += bytes;
    if (this.writable) this.flush();
  }

  private flush(): void {
    this.notInSink('flush');
    this.flushing = true;
    try {
      while (this.writable && !this.isClosed && this.head < this.queue.length) {
        const item = this.queue[this.head];
        assert(item !== undefined, 'flush: hole in the queue');
        this.queue[this.head] = undefined;
        this.head++;
        this.queuedBytes -= item.bytes;
        this.writable = this.sink.send(item.response);
      }
      if (this.head === this.queue.length) {
        this.queue = [];
        this.head = 0;
      } else if (this.head >= QUEUE_COMPACT_HEAD_MIN && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
    } finally {
      this.flushing = false;
    }
  }
}
