// The watch hub (etcd mvcc's watchableStore, without its goroutines): hands each applied revision to the
// synced watchers of every stream, and lets behind watchers catch up from the store's history.
// Nothing here reads a clock or starts a timer: the server calls syncWatchers() and tickProgress().

import { assert } from '../util/assert.js';
import type { Revision } from '../util/branded.js';
import type { Event, RevisionChanges, WatchableHistory } from './types.js';
import { resolveWatchLimits, type WatchLimits } from './watch_limits.js';
import { WatchStream, type SyncBudget, type WatchSink, type WatchStreamHost } from './watch_stream.js';
import { keyString, type Watcher } from './watcher.js';
import { WatcherGroup } from './watcher_group.js';

export interface WatchHubStats {
  readonly streams: number;
  readonly watchers: number;
  readonly syncedWatchers: number;
  /** Watchers replaying history: started in the past, or fell behind a consumer that did not drain. */
  readonly unsyncedWatchers: number;
  readonly queuedResponses: number;
  readonly queuedResponseBytes: number;
}

export class WatchHub implements WatchStreamHost {
  readonly limits: WatchLimits;
  readonly synced = new WatcherGroup();
  private readonly streams = new Set<WatchStream>();
  /** Streams with catch-up work or a deferred progress request, in round-robin order. */
  private readonly pending = new Set<WatchStream>();
  private lastRevision: Revision;

  /**
   * `history` is the store. From here on the store calls `notify` once for every revision it applies, in
   * order, after the revision is readable through `history`.
   */
  constructor(
    readonly history: WatchableHistory,
    limits: Partial<WatchLimits> = {},
  ) {
    this.limits = resolveWatchLimits(limits);
    this.lastRevision = history.currentRevision();
  }

  /** A new watch stream (one gRPC Watch call) whose responses go to `sink`. */
  newStream(sink: WatchSink): WatchStream {
    const stream = new WatchStream(this, sink);
    this.streams.add(stream);
    return stream;
  }

  /** The last revision handed to the hub. */
  revision(): Revision {
    return this.lastRevision;
  }

  /**
   * The store applied one revision. `changes.events` are in applied order, each with `prevKv` filled
   * (null where the key did not exist); the hub strips it for watchers that did not ask.
   */
  notify(changes: RevisionChanges): void {
    const rev = changes.revision;
    assert(rev === this.lastRevision + 1, `WatchHub.notify: revision ${rev} does not follow ${this.lastRevision}`);
    const readable = this.history.currentRevision();
    assert(readable >= rev, `WatchHub.notify: revision ${rev} is not readable yet (history is at ${readable})`);
    this.lastRevision = rev;
    if (this.synced.size === 0) return;
    const byWatcher = new Map<Watcher, Event[]>();
    for (const event of changes.events) {
      assert(event.kv.modRevision === rev, `WatchHub.notify: event at ${event.kv.modRevision} in revision ${rev}`);
      this.synced.forEachCovering(keyString(event.kv.key), (w) => {
        // A watcher that caught up through this revision from history already has it.
        if (rev < w.minRevision) return;
        const events = byWatcher.get(w);
        if (events === undefined) byWatcher.set(w, [event]);
        else events.push(event);
      });
    }
    for (const [w, events] of byWatcher) w.stream.deliver(w, rev, events);
  }

  /**
   * One catch-up round (etcd's syncWatchers pass): behind watchers replay from history into the room
   * their streams have, within a bounded number of history reads, and deferred progress requests are
   * answered. Returns how many watchers are still behind; the server calls again soon while that is
   * non-zero (etcd: every 100 ms, sooner while a pass makes headway).
   */
  syncWatchers(): number {
    const budget: SyncBudget = { reads: this.limits.syncRoundReadsMax };
    for (const stream of [...this.pending]) {
      this.pending.delete(stream);
      if (budget.reads > 0) stream.syncRound(budget);
      // Still pending: to the back of the line, so every stream gets its turn.
      if (stream.needsSync()) this.pending.add(stream);
    }
    let behind = 0;
    for (const stream of this.pending) behind += stream.unsyncedCount;
    return behind;
  }

  /** The periodic progress tick for every stream; a server wanting etcd's per-stream jitter calls WatchStream.tickProgress itself. */
  tickProgress(): void {
    for (const stream of this.streams) stream.tickProgress();
  }

  /**
   * The store was replaced by a snapshot: revisions may have jumped and history below the snapshot is
   * gone. Every watcher replays from where it was (or is told it was compacted) on the next rounds.
   */
  restored(): void {
    const last = this.lastRevision;
    this.lastRevision = this.history.currentRevision();
    for (const stream of this.streams) stream.restore(last);
  }

  stats(): WatchHubStats {
    let watchers = 0;
    let unsyncedWatchers = 0;
    let queuedResponses = 0;
    let queuedResponseBytes = 0;
    for (const s of this.streams) {
      watchers += s.watcherCount;
      unsyncedWatchers += s.unsyncedCount;
      queuedResponses += s.queuedResponses;
      queuedResponseBytes += s.queuedResponseBytes;
    }
    return {
      streams: this.streams.size,
      watchers,
      syncedWatchers: this.synced.size,
      unsyncedWatchers,
      queuedResponses,
      queuedResponseBytes,
    };
  }

  // WatchStreamHost: calls from the streams.

  needsSync(stream: WatchStream): void {
    this.pending.add(stream);
  }

  closed(stream: WatchStream): void {
    this.streams.delete(stream);
    this.pending.delete(stream);
  }
}
