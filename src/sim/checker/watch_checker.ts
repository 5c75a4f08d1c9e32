// Checks what watchers received against the store's linearized write history: ordered, unique, atomic per
// revision, reliable (no gaps), correct prev_kv, progress notifications never ahead, compaction honest.

import { Buffer } from 'node:buffer';
import { assert } from '../../util/assert.js';
import type { Revision } from '../../util/branded.js';
import { EventType, type Event, type KeyValue, type RevisionChanges } from '../../kv/types.js';

/** Violations kept per watcher; one broken watcher usually breaks many events after the first. */
export const WATCH_VIOLATIONS_PER_WATCHER_MAX = 20;
/** Missed events named in one gap message. */
const GAP_EVENTS_SHOWN_MAX = 3;

export interface WatchFilters {
  readonly noPut?: boolean;
  readonly noDelete?: boolean;
}

/** One response as the watcher received it: a batch of events, or a progress notification. */
export type WatchResponseRecord =
  | { readonly kind: 'events'; readonly events: readonly Event[] }
  | { readonly kind: 'progress'; readonly revision: Revision };

/** What one watcher asked for and what it received, in order. */
export interface WatchRecord {
  readonly name: string;
  /**
   * The first revision it asked for. A watch created "from now" (start revision 0) records the revision
   * in the created response's header plus one.
   */
  readonly startRevision: Revision;
  /** etcd range rules: empty rangeEnd = just `key`; rangeEnd "\0" = every key >= key. */
  readonly key: Uint8Array;
  readonly rangeEnd: Uint8Array;
  readonly filters?: WatchFilters;
  readonly prevKv: boolean;
  readonly responses: readonly WatchResponseRecord[];
  /** Set when the server cancelled the watch because the revisions it still needed were compacted. */
  readonly compactRevision?: Revision;
  /** Set when the run ended quiescent: every matching event up to here must have been delivered. */
  readonly expectedThrough?: Revision;
}

export type WatchViolationKind =
  | 'never-happened'
  | 'unexpected'
  | 'wrong-event'
  | 'duplicate'
  | 'out-of-order'
  | 'gap'
  | 'split-revision'
  | 'bad-prev-kv'
  | 'progress-ahead'
  | 'progress-backwards'
  | 'bad-compaction'
  | 'incomplete';

export interface WatchViolation {
  readonly kind: WatchViolationKind;
  readonly watcher: string;
  readonly revision: number;
  readonly message: string;
}

export interface WatchCheckResult {
  readonly ok: boolean;
  /** Per watcher at most WATCH_VIOLATIONS_PER_WATCHER_MAX, in the order found. */
  readonly violations: readonly WatchViolation[];
}

/** One event of the history with what a prev_kv watcher must receive alongside it. */
interface HistoryEvent {
  readonly id: string;
  readonly revision: number;
  readonly key: string;
  readonly event: Event;
  /** The key's value before this event, from replaying the history (not from the event itself). */
  readonly prevKv: KeyValue | null;
}

function keyString(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

function showKey(bytes: Uint8Array): string {
  return JSON.stringify(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
}

function eventId(revision: number, key: string): string {
  return `${revision}\u0000${key}`;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

function inRange(key: Uint8Array, start: Uint8Array, end: Uint8Array): boolean {
  if (end.length === 0) return compareBytes(key, start) === 0;
  if (end.length === 1 && end[0] === 0) return compareBytes(key, start) >= 0;
  return compareBytes(key, start) >= 0 && compareBytes(key, end) < 0;
}

function sameKv(a: KeyValue | null, b: KeyValue | null): boolean {
  if (a === null || b === null) return a === b;
  return (
    compareBytes(a.key, b.key) === 0 &&
    compareBytes(a.value, b.value) === 0 &&
    a.createRevision === b.createRevision &&
    a.modRevision === b.modRevision &&
    a.version === b.version &&
    a.lease === b.lease
  );
}

function showKv(kv: KeyValue | null): string {
  if (kv === null) return 'none';
  return `{key ${showKey(kv.key)}, value ${showKey(kv.value)}, create ${kv.createRevision}, mod ${kv.modRevision}, version ${kv.version}, lease ${kv.lease}}`;
}

/** The linearized write history, replayed once so every watcher is checked against the same index. */
export class WatchHistory {
  readonly events: readonly HistoryEvent[];
  readonly lastRevision: number;
  private readonly byId = new Map<string, HistoryEvent>();

  /** `changes` must be the store's whole history from its first revision, in revision order. */
  constructor(changes: readonly RevisionChanges[]) {
    const events: HistoryEvent[] = [];
    const current = new Map<string, KeyValue>();
    let last = 0;
    for (const change of changes) {
      assert(change.revision > last, `WatchHistory: revision ${change.revision} follows ${last}`);
      last = change.revision;
      for (const event of change.events) {
        const key = keyString(event.kv.key);
        const id = eventId(change.revision, key);
        assert(!this.byId.has(id), `WatchHistory: key ${showKey(event.kv.key)} changes twice at revision ${change.revision}`);
        const record: HistoryEvent = { id, revision: change.revision, key, event, prevKv: current.get(key) ?? null };
        if (event.type === EventType.Put) current.set(key, event.kv);
        else current.delete(key);
        this.byId.set(id, record);
        events.push(record);
      }
    }
    this.events = events;
    this.lastRevision = last;
  }

  find(revision: number, key: Uint8Array): HistoryEvent | undefined {
    return this.byId.get(eventId(revision, keyString(key)));
  }

  /** Why the watcher should not receive `e`, or null if it should. */
  excludes(w: WatchRecord, e: HistoryEvent): string | null {
    if (e.revision < w.startRevision) return `it is before the start revision ${w.startRevision}`;
    if (!inRange(e.event.kv.key, w.key, w.rangeEnd)) return 'its key is outside the watched range';
    if (e.event.type === EventType.Put && w.filters?.noPut === true) return 'puts are filtered out';
    if (e.event.type === EventType.Delete && w.filters?.noDelete === true) return 'deletes are filtered out';
    return null;
  }
}

/** Checks every watcher against one history. */
export function checkWatches(changes: readonly RevisionChanges[] | WatchHistory, watchers: readonly WatchRecord[]): WatchCheckResult {
  const history = changes instanceof WatchHistory ? changes : new WatchHistory(changes);
  const violations = watchers.flatMap((w) => checkWatch(history, w).violations);
  return { ok: violations.length === 0, violations };
}

/** Checks one watcher. */
export function checkWatch(history: WatchHistory, watcher: WatchRecord): WatchCheckResult {
  assert(watcher.startRevision >= 1, `checkWatch: watcher ${watcher.name} starts at revision ${watcher.startRevision}`);
  const check = new WatcherCheck(history, watcher);
  check.run();
  return { ok: check.violations.length === 0, violations: check.violations };
}

/** The walk over one watcher's responses; state that the checks share lives here. */
class WatcherCheck {
  readonly violations: WatchViolation[] = [];
  /** The events this watcher must receive, in order. */
  private readonly expected: HistoryEvent[];
  private readonly position = new Map<string, number>();
  /** Every event id delivered at any time: tells a reordering from a loss. */
  private readonly deliveredEver = new Set<string>();
  private readonly delivered = new Set<string>();
  private readonly reorderReported = new Set<string>();
  /** The response each revision was delivered in (atomicity). */
  private readonly responseOf = new Map<number, number>();
  /** Index into `expected` of the next event due in order. */
  private nextDue = 0;
  /** All of `expected` before this index has been delivered. */
  private firstUndelivered = 0;
  private lastDeliveredRevision = 0;
  private lastProgress = 0;

  constructor(
    private readonly history: WatchHistory,
    private readonly w: WatchRecord,
  ) {
    this.expected = history.events.filter((e) => history.excludes(w, e) === null);
    this.expected.forEach((e, i) => this.position.set(e.id, i));
    for (const r of w.responses) {
      if (r.kind === 'events') for (const ev of r.events) this.deliveredEver.add(eventId(ev.kv.modRevision, keyString(ev.kv.key)));
    }
  }

  run(): void {
    this.w.responses.forEach((response, index) => {
      if (response.kind === 'progress') this.checkProgress(response.revision);
      else for (const event of response.events) this.checkEvent(event, index);
    });
    this.checkEnd();
  }

  private report(kind: WatchViolationKind, revision: number, what: string): void {
    if (this.violations.length >= WATCH_VIOLATIONS_PER_WATCHER_MAX) return;
    const w = this.w;
    const range = w.rangeEnd.length === 0 ? `key ${showKey(w.key)}` : `range [${showKey(w.key)}, ${showKey(w.rangeEnd)})`;
    this.violations.push({ kind, watcher: w.name, revision, message: `watcher ${JSON.stringify(w.name)} (${range} from ${w.startRevision}): ${kind}: ${what}` });
  }

  private checkEvent(event: Event, response: number): void {
    const revision = event.kv.modRevision;
    const where = `${event.type === EventType.Put ? 'put' : 'delete'} of ${showKey(event.kv.key)} at revision ${revision}`;
    const record = this.history.find(revision, event.kv.key);
    if (record === undefined) return this.report('never-happened', revision, `received a ${where}, which the history does not contain`);
    const why = this.history.excludes(this.w, record);
    if (why !== null) return this.report('unexpected', revision, `received a ${where}, but ${why}`);
    if (this.delivered.has(record.id)) return this.report('duplicate', revision, `received the ${where} again`);
    this.delivered.add(record.id);
    this.lastDeliveredRevision = Math.max(this.lastDeliveredRevision, revision);
    this.checkPosition(record, where);
    const earlier = this.responseOf.get(revision);
    if (earlier !== undefined && earlier !== response) {
      this.report('split-revision', revision, `revision ${revision} arrived in responses ${earlier} and ${response}`);
    }
    this.responseOf.set(revision, response);
    if (event.type !== record.event.type || !sameKv(event.kv, record.event.kv)) {
      this.report('wrong-event', revision, `received ${showKv(event.kv)}, the history has ${showKv(record.event.kv)}`);
    }
    const prevKv = this.w.prevKv ? record.prevKv : null;
    if (!sameKv(event.prevKv, prevKv)) {
      this.report('bad-prev-kv', revision, `the ${where} came with prev_kv ${showKv(event.prevKv)}, expected ${showKv(prevKv)}`);
    }
  }

  /** In order against the expected sequence: skipped events are gaps, or reorderings if they come later. */
  private checkPosition(record: HistoryEvent, where: string): void {
    const pos = this.position.get(record.id) ?? -1;
    if (pos < this.nextDue) {
      if (!this.reorderReported.has(record.id)) this.report('out-of-order', record.revision, `received the ${where} after later events`);
      return;
    }
    const missed: HistoryEvent[] = [];
    for (let i = this.nextDue; i < pos; i++) {
      const skipped = this.expected[i];
      assert(skipped !== undefined, 'checkPosition: index out of range');
      if (this.deliveredEver.has(skipped.id)) {
        if (this.reorderReported.has(skipped.id)) continue;
        this.reorderReported.add(skipped.id);
        this.report('out-of-order', record.revision, `received the ${where} before the event of ${showKey(skipped.event.kv.key)} at revision ${skipped.revision}`);
      } else {
        missed.push(skipped);
      }
    }
    if (missed.length > 0) {
      const shown = missed.slice(0, GAP_EVENTS_SHOWN_MAX).map((e) => `${showKey(e.event.kv.key)}@${e.revision}`).join(', ');
      const more = missed.length > GAP_EVENTS_SHOWN_MAX ? ` and ${missed.length - GAP_EVENTS_SHOWN_MAX} more` : '';
      this.report('gap', missed[0]?.revision ?? record.revision, `${missed.length} event(s) never delivered before the ${where}: ${shown}${more}`);
    }
    this.nextDue = pos + 1;
  }

  /** A progress notification at P promises every event up to P has been delivered. */
  private checkProgress(revision: number): void {
    if (revision < this.lastProgress) {
      this.report('progress-backwards', revision, `progress notification at ${revision} after one at ${this.lastProgress}`);
    }
    this.lastProgress = Math.max(this.lastProgress, revision);
    if (revision > this.history.lastRevision) {
      this.report('progress-ahead', revision, `progress notification at ${revision}, beyond the last revision ${this.history.lastRevision}`);
      return;
    }
    while (this.firstUndelivered < this.expected.length && this.delivered.has(this.expected[this.firstUndelivered]?.id ?? '')) this.firstUndelivered++;
    const pending = this.expected[this.firstUndelivered];
    if (pending !== undefined && pending.revision <= revision) {
      this.report('progress-ahead', revision, `progress notification at ${revision} before the event of ${showKey(pending.event.kv.key)} at revision ${pending.revision} was delivered`);
    }
  }

  private checkEnd(): void {
    const compact = this.w.compactRevision;
    if (compact !== undefined) {
      // etcd cancels a watcher only when the next revision it needs is below the compaction point.
      const needed = Math.max(this.w.startRevision, this.lastDeliveredRevision + 1, this.lastProgress + 1);
      if (compact <= needed || compact > this.history.lastRevision) {
        this.report('bad-compaction', compact, `cancelled as compacted at ${compact}, but it needed revision ${needed} next (last revision ${this.history.lastRevision})`);
      }
      return;
    }
    const through = this.w.expectedThrough;
    if (through === undefined) return;
    // Events skipped before a later delivery were reported as gaps already; this is the missing tail.
    const missing = this.expected.slice(this.nextDue).filter((e) => e.revision <= through && !this.delivered.has(e.id));
    const first = missing[0];
    if (first !== undefined) {
      this.report('incomplete', first.revision, `${missing.length} event(s) up to revision ${through} never delivered, the first ${showKey(first.event.kv.key)}@${first.revision}`);
    }
  }
}
