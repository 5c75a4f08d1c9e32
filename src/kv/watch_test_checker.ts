// TEST SCAFFOLDING ONLY: checks what one watch stream's consumer received against the full write history
// and the requests the client made (TESTING.md "Watch checks"). It recomputes everything it expects —
// ids, starts, matching, filters, prev_kv — on its own, sharing no logic with the hub.

import { Buffer } from 'node:buffer';
import { EventType, type Event, type KeyValue, type RevisionChanges } from './types.js';
import {
  INVALID_WATCH_ID,
  WatchCancelReason,
  WatchFilterType,
  isProgressNotification,
  watchResponseBytes,
  type WatchCreateRequest,
  type WatchResponse,
} from './watch_response.js';
import type { WatchSink } from './watch_stream.js';

/** A consumer that records every response; while `blocked`, it takes each response but asks for no more. */
export class RecordingSink implements WatchSink {
  readonly received: WatchResponse[] = [];
  blocked = false;

  send(response: WatchResponse): boolean {
    this.received.push(response);
    return !this.blocked;
  }
}

/** What the client asked of one stream, in order. */
export class StreamScript {
  readonly creates: WatchCreateRequest[] = [];
  /** Cancel requests per id not yet matched to a `canceled` response. */
  readonly cancels = new Map<number, number>();
  progressRequests = 0;

  create(request: WatchCreateRequest): WatchCreateRequest {
    this.creates.push(request);
    return request;
  }

  cancel(id: number): void {
    this.cancels.set(id, (this.cancels.get(id) ?? 0) + 1);
  }
}

export interface CheckOptions {
  readonly responseBytesMax: number;
  readonly watchersPerStreamMax: number;
  /** The highest revision compacted during the run. */
  readonly compactedUpTo: number;
  /** When given, the stream was drained at this revision: every live watcher must have all its events up to it. */
  readonly drainedAt?: number;
}

interface Expected {
  readonly revision: number;
  readonly event: Event;
}

interface Incarnation {
  readonly id: number;
  readonly request: WatchCreateRequest;
  readonly firstRevision: number;
  readonly expected: readonly Expected[];
  delivered: number;
  /** The revision of an unfinished fragment chain. */
  chain: number | null;
}

function str(b: Uint8Array | undefined): string {
  return b === undefined ? '' : Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
}

function kvText(kv: KeyValue | null): string {
  if (kv === null) return 'null';
  return `${str(kv.key)}=${str(kv.value)}@c${kv.createRevision}/m${kv.modRevision}/v${kv.version}/l${kv.lease}`;
}

function eventText(e: Event): string {
  return `${e.type === EventType.Put ? 'PUT' : 'DEL'} ${kvText(e.kv)} prev ${kvText(e.prevKv)}`;
}

/** Every event of the history with its previous value, recomputed by replaying the writes. */
function withPrevious(log: readonly RevisionChanges[]): Expected[] {
  const state = new Map<string, KeyValue>();
  const out: Expected[] = [];
  for (const changes of log) {
    for (const e of changes.events) {
      const k = str(e.kv.key);
      out.push({ revision: changes.revision, event: { type: e.type, kv: e.kv, prevKv: state.get(k) ?? null } });
      if (e.type === EventType.Put) state.set(k, e.kv);
      else state.delete(k);
    }
  }
  return out;
}

function covers(request: WatchCreateRequest, key: string): boolean {
  const start = request.key.byteLength === 0 ? '\0' : str(request.key);
  const end = str(request.rangeEnd);
  if (end === '') return key === start;
  if (end === '\0') return key >= start;
  return key >= start && key < end;
}

function wanted(request: WatchCreateRequest, all: readonly Expected[], firstRevision: number): Expected[] {
  const filters = request.filters ?? [];
  const out: Expected[] = [];
  for (const x of all) {
    if (x.revision < firstRevision || !covers(request, str(x.event.kv.key))) continue;
    if (x.event.type === EventType.Put && filters.includes(WatchFilterType.NoPut)) continue;
    if (x.event.type === EventType.Delete && filters.includes(WatchFilterType.NoDelete)) continue;
    out.push(request.prevKv === true ? x : { revision: x.revision, event: { ...x.event, prevKv: null } });
  }
  return out;
}

/** How many of `expected` are at or below `rev`. */
function countThrough(expected: readonly Expected[], rev: number): number {
  let lo = 0;
  let hi = expected.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((expected[mid]?.revision ?? Infinity) <= rev) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Returns every violation found; an empty list means the stream passed. */
export function checkWatchStream(
  log: readonly RevisionChanges[],
  script: StreamScript,
  responses: readonly WatchResponse[],
  options: CheckOptions,
): string[] {
  return new StreamChecker(log, script, options).run(responses);
}

class StreamChecker {
  private readonly all: Expected[];
  private readonly active = new Map<number, Incarnation>();
  private readonly cancels: Map<number, number>;
  private createIndex = 0;
  private nextAutoId = 0;
  private progressAnswers = 0;
  private readonly errors: string[] = [];
  private at = 0;

  constructor(
    log: readonly RevisionChanges[],
    private readonly script: StreamScript,
    private readonly options: CheckOptions,
  ) {
    this.all = withPrevious(log);
    this.cancels = new Map(script.cancels);
  }

  run(responses: readonly WatchResponse[]): string[] {
    for (const [i, r] of responses.entries()) {
      this.at = i;
      if (r.created) this.onCreated(r);
      else if (r.canceled) this.onCanceled(r);
      else if (isProgressNotification(r)) this.onProgress(r);
      else if (r.events.length > 0) this.onEvents(r);
      else this.fail(`a response that is none of created, canceled, progress or events`);
      if (this.errors.length >= 20) break;
    }
    this.atEnd();
    return this.errors;
  }

  private fail(message: string): void {
    this.errors.push(`response #${this.at}: ${message}`);
  }

  private onCreated(r: WatchResponse): void {
    const request = this.script.creates[this.createIndex++];
    if (request === undefined) return this.fail('created without a create request');
    const why = this.refusal(request);
    if (r.canceled || why !== null) {
      if (!r.canceled || why === null) return this.fail(`create #${this.createIndex - 1}: refused "${r.cancelReason}", expected ${why ?? 'acceptance'}`);
      if (r.watchId !== INVALID_WATCH_ID || r.cancelReason !== why) this.fail(`refusal ${JSON.stringify(r)}, expected id -1 and "${why}"`);
      return;
    }
    const id = this.takeId(request);
    if (r.watchId !== id) return this.fail(`create #${this.createIndex - 1}: got id ${r.watchId}, expected ${id}`);
    const start = request.startRevision ?? 0;
    const firstRevision = start === 0 || start > r.headerRevision ? Math.max(r.headerRevision + 1, start) : start;
    this.active.set(id, { id, request, firstRevision, expected: wanted(request, this.all, firstRevision), delivered: 0, chain: null });
  }

  private refusal(request: WatchCreateRequest): string | null {
    if ((request.startRevision ?? 0) < 0) return WatchCancelReason.Compacted;
    const end = str(request.rangeEnd);
    const key = request.key.byteLength === 0 ? '\0' : str(request.key);
    if (end !== '' && end !== '\0' && key >= end) return WatchCancelReason.EmptyRange;
    const chosen = request.watchId ?? 0;
    if (chosen !== 0 && this.active.has(chosen)) return WatchCancelReason.DuplicateId;
    if (this.active.size >= this.options.watchersPerStreamMax) return WatchCancelReason.TooManyWatchers;
    return null;
  }

  private takeId(request: WatchCreateRequest): number {
    const chosen = request.watchId ?? 0;
    if (chosen !== 0) return chosen;
    while (this.active.has(this.nextAutoId)) this.nextAutoId++;
    return this.nextAutoId++;
  }

  private onCanceled(r: WatchResponse): void {
    const w = this.active.get(r.watchId);
    if (w === undefined) return this.fail(`canceled for watch ${r.watchId}, which is not active`);
    if (w.chain !== null) this.fail(`watch ${w.id} canceled inside a fragment chain`);
    this.active.delete(w.id);
    if (r.compactRevision === 0) {
      const asked = this.cancels.get(w.id) ?? 0;
      if (asked === 0) return this.fail(`watch ${w.id} canceled without a cancel request or compaction`);
      this.cancels.set(w.id, asked - 1);
      return;
    }
    // Told it was compacted: its next needed revision must really be gone, and the answer the first that is not.
    const last = w.expected[w.delivered - 1];
    const needs = Math.max(w.firstRevision, last === undefined ? 0 : last.revision + 1);
    if (r.compactRevision - 1 < needs) this.fail(`watch ${w.id} told compacted at ${r.compactRevision} but needs only ${needs}`);
    if (r.compactRevision - 1 > this.options.compactedUpTo) {
      this.fail(`watch ${w.id} told compacted at ${r.compactRevision}; history compacted only to ${this.options.compactedUpTo}`);
    }
  }

  private onProgress(r: WatchResponse): void {
    let covered: Incarnation[];
    if (r.watchId === INVALID_WATCH_ID) {
      if (++this.progressAnswers > this.script.progressRequests) this.fail('a stream progress notification nobody asked for');
      covered = [...this.active.values()];
    } else {
      const w = this.active.get(r.watchId);
      if (w === undefined) return this.fail(`progress for watch ${r.watchId}, which is not active`);
      if (w.request.progressNotify !== true) this.fail(`progress for watch ${w.id}, which did not ask for progress_notify`);
      covered = [w];
    }
    for (const w of covered) this.checkNotAhead(w, r.headerRevision, 'progress');
  }

  /** A header revision promises every event up to it has been delivered: it must never run ahead. */
  private checkNotAhead(w: Incarnation, rev: number, what: string): void {
    if (w.chain !== null) this.fail(`${what} for watch ${w.id} inside a fragment chain`);
    const owed = countThrough(w.expected, rev);
    if (w.delivered < owed) {
      const missing = w.expected[w.delivered];
      this.fail(`${what} at ${rev} for watch ${w.id} ahead of delivery: next owed ${missing === undefined ? '?' : eventText(missing.event)} @${missing?.revision}`);
    }
  }

  private onEvents(r: WatchResponse): void {
    const w = this.active.get(r.watchId);
    if (w === undefined) return this.fail(`events for watch ${r.watchId}, which is not active`);
    if ((r.fragment || w.chain !== null) && w.request.fragment !== true) this.fail(`fragment for watch ${w.id}, which did not ask`);
    if (r.fragment && r.events.length > 1 && watchResponseBytes(r) >= this.options.responseBytesMax) {
      this.fail(`fragment of ${watchResponseBytes(r)} bytes for watch ${w.id} is not below ${this.options.responseBytesMax}`);
    }
    if (w.chain === null && !this.atBoundary(w)) this.fail(`watch ${w.id}: response starts inside a revision`);
    for (const event of r.events) {
      const want = w.expected[w.delivered];
      const got = eventText(event);
      if (want === undefined || eventText(want.event) !== got || want.revision !== event.kv.modRevision) {
        return this.fail(`watch ${w.id} got ${got} @${event.kv.modRevision}, expected ${want === undefined ? 'nothing' : `${eventText(want.event)} @${want.revision}`}`);
      }
      if (w.chain !== null && want.revision !== w.chain) this.fail(`watch ${w.id}: fragment chain spans revisions ${w.chain} and ${want.revision}`);
      if (r.fragment) w.chain = want.revision;
      w.delivered++;
    }
    const lastRevision = w.expected[w.delivered - 1]?.revision ?? 0;
    if (r.headerRevision < lastRevision) this.fail(`watch ${w.id}: header ${r.headerRevision} below its last event ${lastRevision}`);
    if (r.fragment) return;
    w.chain = null;
    if (!this.atBoundary(w)) this.fail(`watch ${w.id}: response ends inside revision ${lastRevision}`);
    this.checkNotAhead(w, r.headerRevision, 'header');
  }

  private atBoundary(w: Incarnation): boolean {
    const before = w.expected[w.delivered - 1];
    const next = w.expected[w.delivered];
    return before === undefined || next === undefined || before.revision !== next.revision;
  }

  private atEnd(): void {
    this.at = -1;
    const drainedAt = this.options.drainedAt;
    if (drainedAt === undefined) return;
    if (this.createIndex !== this.script.creates.length) {
      this.fail(`${this.script.creates.length - this.createIndex} create requests were never answered`);
    }
    for (const w of this.active.values()) this.checkNotAhead(w, drainedAt, 'drained stream');
  }
}
