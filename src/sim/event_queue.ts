// The simulator's virtual clock: a binary heap of events ordered by time, then by insertion (so ties replay exactly).

import { assert } from '../util/assert.js';

interface Event {
  readonly time: number;
  readonly seq: number;
  readonly run: () => void;
}

export class EventQueue {
  private heap: Event[] = [];
  private seq = 0;
  /** Virtual milliseconds since the simulation began. */
  now = 0;
  /** Events run so far. */
  executed = 0;

  schedule(delayMs: number, run: () => void): void {
    assert(delayMs >= 0 && Number.isFinite(delayMs), `schedule: bad delay ${delayMs}`);
    this.push({ time: this.now + delayMs, seq: this.seq++, run });
  }

  get size(): number {
    return this.heap.length;
  }

  /** Runs events until the clock passes `untilMs` or the queue is empty; returns events run. */
  runUntil(untilMs: number, maxEvents = Number.MAX_SAFE_INTEGER): number {
    let n = 0;
    while (this.heap.length > 0 && n < maxEvents) {
      const top = this.heap[0] as Event;
      if (top.time > untilMs) break;
      this.pop();
      this.now = top.time;
      top.run();
      n++;
    }
    this.executed += n;
    if (this.now < untilMs && n < maxEvents) this.now = untilMs;
    return n;
  }

  private push(e: Event): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(e, h[p] as Event)) break;
      h[i] = h[p] as Event;
      i = p;
    }
    h[i] = e;
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop() as Event;
    if (h.length === 0) return;
    let i = 0;
    const n = h.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && less(h[r] as Event, h[l] as Event) ? r : l;
      if (!less(h[c] as Event, last)) break;
      h[i] = h[c] as Event;
      i = c;
    }
    h[i] = last;
  }
}

function less(a: Event, b: Event): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}
