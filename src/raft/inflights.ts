// The window of MsgApp messages sent to one follower and not yet acknowledged (flow control).

import { assert } from '../util/assert.js';
import type { LogIndex } from '../util/branded.js';

export class Inflights {
  private start = 0;
  private count = 0;
  private bytes = 0;
  private readonly indexes: Float64Array;
  private readonly sizes: Float64Array;

  constructor(
    readonly capacity: number,
    readonly maxBytes: number,
  ) {
    assert(capacity > 0, `Inflights: capacity must be positive, got ${capacity}`);
    this.indexes = new Float64Array(capacity);
    this.sizes = new Float64Array(capacity);
  }

  /** Records a message whose last entry is `index` and whose entries hold `bytes`. */
  add(index: LogIndex, bytes: number): void {
    assert(!this.full(), 'Inflights.add: window is full');
    const slot = (this.start + this.count) % this.capacity;
    this.indexes[slot] = index;
    this.sizes[slot] = bytes;
    this.count++;
    this.bytes += bytes;
  }

  /** Frees every message whose last index is ≤ `to` (they were acknowledged). */
  freeLE(to: LogIndex): void {
    while (this.count > 0 && (this.indexes[this.start] as number) <= to) {
      this.bytes -= this.sizes[this.start] as number;
      this.start = (this.start + 1) % this.capacity;
      this.count--;
    }
    if (this.count === 0) this.start = 0;
  }

  /** Frees the oldest message, whatever its index. */
  freeFirstOne(): void {
    if (this.count === 0) return;
    this.freeLE(this.indexes[this.start] as LogIndex);
  }

  full(): boolean {
    return this.count === this.capacity || (this.maxBytes > 0 && this.bytes >= this.maxBytes);
  }

  size(): number {
    return this.count;
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
    this.bytes = 0;
  }
}
