// The simulator's virtual clock: a binary heap of events ordered by time, then by insertion (so ties replay exactly).

import { assert } from '../util/assert.js';

const SETTLE_YIELDS_MAX = 10_000;

/** Lets every queued microtask (and the promise chains they start) run. */
function yieldToMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

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

  /** Asynchronous work in flight (simulated disk I/O): it must finish before the clock moves on. */
  private inFlight = 0;

  /**
   * Registers a promise of simulated work. Simulated I/O completes in microtasks, without real time;
   * the loop lets those settle after each event, so the run stays deterministic.
   */
  track<T>(work: Promise<T>): Promise<T> {
    this.inFlight++;
    const done = (): void => {
      this.inFlight--;
    };
    work.then(done, done);
    return work;
  }

  /** Runs events until the clock passes `untilMs` or the queue is empty; returns events run. */
  async runUntil(untilMs: number): Promise<number> {
    let n = 0;
    while (this.heap.length > 0) {
      const top = this.heap[0] as Event;
      if (top.time > untilMs) break;
      this.pop();
      this.now = top.time;
      top.run();
      n++;
      // A bounded number of yields: simulated I/O never waits on anything outside the simulation.
      for (let i = 0; this.inFlight > 0; i++) {
        assert(i < SETTLE_YIELDS_MAX, `simulated work did not settle after ${SETTLE_YIELDS_MAX} yields`);
        await yieldToMicrotasks();
      }
    }
    this.executed += n;
    if (this.now < untilMs) this.now = untilMs;
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
