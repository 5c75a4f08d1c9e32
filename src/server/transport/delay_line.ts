// The WAN emulation's delay: runs writes after a per-item delay, never out of order, and can drop
// everything still waiting when the connection goes away.

import { assert } from '../../util/assert.js';

interface Item {
  readonly dueMs: number;
  readonly bytes: number;
  readonly messages: number;
  readonly run: () => void;
}

export class DelayLine {
  private items: Item[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | null = null;
  private lastDueMs = 0;
  /** Bytes and messages waiting, counted in the owner's queue bound. */
  bytes = 0;
  messages = 0;

  constructor(private readonly now: () => number) {}

  get size(): number {
    return this.items.length - this.head;
  }

  /** Runs `run` after `delayMs`, but never before anything pushed earlier. */
  push(delayMs: number, bytes: number, messages: number, run: () => void): void {
    assert(delayMs >= 0, `DelayLine.push: negative delay ${delayMs}`);
    const dueMs = Math.max(this.lastDueMs, this.now() + delayMs);
    this.lastDueMs = dueMs;
    this.items.push({ dueMs, bytes, messages, run });
    this.bytes += bytes;
    this.messages += messages;
    if (this.size === 1) this.arm();
  }

  /** Forgets everything waiting without running it; returns how many messages were dropped. */
  clear(): number {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const dropped = this.messages;
    this.items = [];
    this.head = 0;
    this.bytes = 0;
    this.messages = 0;
    return dropped;
  }

  private arm(): void {
    const first = this.items[this.head];
    if (first === undefined) return;
    this.timer = setTimeout(() => this.fire(), Math.max(0, first.dueMs - this.now()));
  }

  private fire(): void {
    this.timer = null;
    const now = this.now();
    // Timers may fire a fraction of a millisecond early; a 1 ms tolerance avoids a busy re-arm.
    for (let item = this.items[this.head]; item !== undefined && item.dueMs <= now + 1; item = this.items[this.head]) {
      this.head++;
      this.bytes -= item.bytes;
      this.messages -= item.messages;
      item.run();
      if (this.timer !== null) return; // run() cleared and re-pushed: that push armed its own timer
    }
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    this.arm();
  }
}
