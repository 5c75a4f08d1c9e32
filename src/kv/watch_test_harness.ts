// TEST SCAFFOLDING ONLY: a hub on the in-memory TestHistory with recording consumers, so a test writes,
// watches and drains in a few lines and then checks every stream against the full history.

import { assert } from '../util/assert.js';
import type { Event, RevisionChanges } from './types.js';
import { WatchHub } from './watch_hub.js';
import { resolveWatchLimits, type WatchLimits } from './watch_limits.js';
import type { WatchCreateRequest, WatchResponse } from './watch_response.js';
import type { WatchStream } from './watch_stream.js';
import { RecordingSink, StreamScript, checkWatchStream } from './watch_test_checker.js';
import { TestHistory, type TestWrite } from './watch_test_history.js';

/** Sync rounds a drain may take before the test is declared stuck. */
const DRAIN_ROUNDS_MAX = 10_000;

export class HarnessStream {
  readonly sink = new RecordingSink();
  readonly script = new StreamScript();
  readonly stream: WatchStream;

  constructor(hub: WatchHub) {
    this.stream = hub.newStream(this.sink);
  }

  create(request: WatchCreateRequest): number {
    return this.stream.create(this.script.create(request));
  }

  cancel(id: number): void {
    this.script.cancel(id);
    this.stream.cancel(id);
  }

  requestProgress(): void {
    this.script.progressRequests++;
    this.stream.requestProgress();
  }

  get responses(): readonly WatchResponse[] {
    return this.sink.received;
  }

  /** Every event received for `id`, in order. */
  events(id: number): Event[] {
    return this.responses.filter((r) => r.watchId === id).flatMap((r) => r.events);
  }
}

export class WatchHarness {
  readonly history = new TestHistory();
  readonly hub: WatchHub;
  readonly limits: WatchLimits;
  readonly streams: HarnessStream[] = [];
  compactedUpTo = 0;

  constructor(limits: Partial<WatchLimits> = {}) {
    this.limits = resolveWatchLimits(limits);
    this.hub = new WatchHub(this.history, this.limits);
  }

  openStream(): HarnessStream {
    const s = new HarnessStream(this.hub);
    this.streams.push(s);
    return s;
  }

  /** Applies one transaction and hands it to the hub, as the store will. */
  write(...writes: TestWrite[]): RevisionChanges | null {
    const changes = this.history.apply(writes);
    if (changes !== null) this.hub.notify(changes);
    return changes;
  }

  put(key: string, value: string): RevisionChanges | null {
    return this.write({ op: 'put', key, value });
  }

  del(key: string, rangeEnd?: string): RevisionChanges | null {
    return this.write(rangeEnd === undefined ? { op: 'delete', key } : { op: 'delete', key, rangeEnd });
  }

  compact(rev: number): void {
    this.history.compact(rev);
    this.compactedUpTo = Math.max(this.compactedUpTo, rev);
  }

  /** Unblocks every consumer and runs sync rounds until no watcher is behind; returns the rounds taken. */
  drain(): number {
    for (const s of this.streams) {
      s.sink.blocked = false;
      s.stream.ready();
    }
    for (let round = 1; round <= DRAIN_ROUNDS_MAX; round++) {
      if (this.hub.syncWatchers() === 0 && this.hub.stats().unsyncedWatchers === 0) return round;
    }
    assert(false, `drain: watchers still behind after ${DRAIN_ROUNDS_MAX} rounds`);
  }

  /** Checks every stream; `drained` adds that every live watcher has all its events up to now. */
  check(drained: boolean): string[] {
    const errors: string[] = [];
    for (const [i, s] of this.streams.entries()) {
      const found = checkWatchStream(this.history.log, s.script, s.responses, {
        responseBytesMax: this.limits.responseBytesMax,
        watchersPerStreamMax: this.limits.watchersPerStreamMax,
        compactedUpTo: this.compactedUpTo,
        // A closed stream was cut off: what it got must be right, but it need not be complete.
        ...(drained && !s.stream.closed ? { drainedAt: this.history.currentRevision() } : {}),
      });
      errors.push(...found.map((e) => `stream ${i}: ${e}`));
    }
    return errors;
  }
}
