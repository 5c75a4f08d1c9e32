// The simulated network between members: one-way latency per DC pair with jitter, loss, duplication,
// and partitions (symmetric, one-way, whole-DC) as a set of blocked directed links.

import type { NodeId } from '../util/branded.js';
import type { Prng } from '../util/prng.js';
import type { EventQueue } from './event_queue.js';

export interface LinkFaults {
  /** Probability that a message is lost. */
  dropRate: number;
  /** Probability that a message is delivered twice. */
  duplicateRate: number;
  /** Extra one-way delay added to every message, and jitter drawn uniformly on top. */
  extraDelayMs: number;
  jitterMs: number;
}

export const NO_LINK_FAULTS: LinkFaults = { dropRate: 0, duplicateRate: 0, extraDelayMs: 0, jitterMs: 0 };

export class SimNetwork {
  /** Directed links that are cut, as "from>to" keys, each with the number of faults cutting it. */
  private readonly cut = new Map<string, number>();
  faults: LinkFaults = { ...NO_LINK_FAULTS };
  sent = 0;
  dropped = 0;
  duplicated = 0;

  constructor(
    private readonly queue: EventQueue,
    private readonly prng: Prng,
    /** One-way base latency between two members (ms). */
    private readonly latencyMs: (from: NodeId, to: NodeId) => number,
  ) {}

  isCut(from: NodeId, to: NodeId): boolean {
    return (this.cut.get(`${from}>${to}`) ?? 0) > 0;
  }

  /** Cuts the directed links; returns a function that restores them. */
  cutLinks(links: readonly (readonly [NodeId, NodeId])[]): () => void {
    for (const [a, b] of links) this.cut.set(`${a}>${b}`, (this.cut.get(`${a}>${b}`) ?? 0) + 1);
    let healed = false;
    return () => {
      if (healed) return;
      healed = true;
      for (const [a, b] of links) {
        const k = `${a}>${b}`;
        const n = (this.cut.get(k) ?? 0) - 1;
        if (n <= 0) this.cut.delete(k);
        else this.cut.set(k, n);
      }
    };
  }

  healAll(): void {
    this.cut.clear();
    this.faults = { ...NO_LINK_FAULTS };
  }

  /**
   * Sends a message; `deliver` runs at the receiver after the link delay unless the link is cut (at send
   * or at arrival) or the message is lost. `onLost` (if given) runs at the sender when the message is lost.
   * A message that is not `duplicable` is never delivered twice.
   */
  send(from: NodeId, to: NodeId, deliver: () => void, onLost?: () => void, duplicable = true): void {
    this.sent++;
    const copies = duplicable && this.prng.chance(this.faults.duplicateRate) ? 2 : 1;
    if (copies === 2) this.duplicated++;
    for (let i = 0; i < copies; i++) {
      if (this.isCut(from, to) || this.prng.chance(this.faults.dropRate)) {
        this.dropped++;
        if (onLost !== undefined && i === 0) this.queue.schedule(this.latencyMs(from, to), onLost);
        continue;
      }
      const delay = this.latencyMs(from, to) + this.faults.extraDelayMs + this.prng.float() * this.faults.jitterMs;
      this.queue.schedule(delay, () => {
        if (this.isCut(from, to)) {
          // Cut while in flight: lost, and the sender learns it (a snapshot stream reports its failure).
          this.dropped++;
          if (i === 0) onLost?.();
          return;
        }
        deliver();
      });
    }
  }
}
