// Barriers (etcd's recipes): a barrier blocks waiters while its key exists; a double barrier lets a group of
// `count` processes enter together and leave together.

import type { Client } from '../client.js';
import { MeridianClientError } from '../errors.js';
import type { Lease } from '../lease.js';
import { Compare, Op } from '../txn.js';
import { type SessionOptions, sessionLease, waitDelete, waitDeletes } from './wait.js';

export class Barrier {
  constructor(private readonly client: Client, readonly key: string) {}

  /** Raises the barrier (creates its key); false if it was already up. */
  async hold(): Promise<boolean> {
    const r = await this.client.txn().if(Compare.absent(this.key)).then(Op.put(this.key, '')).commit();
    return r.succeeded;
  }

  /** Lowers the barrier: every waiter goes on. */
  async release(): Promise<void> {
    await this.client.delete(this.key);
  }

  /** Resolves once the barrier is down (at once if it is not up). */
  async wait(options: { readonly signal?: AbortSignal } = {}): Promise<void> {
    const r = await this.client.range(this.key);
    if (r.kvs.length === 0) return;
    await waitDelete(this.client, this.key, r.header.revision, options.signal);
  }
}

/**
 * etcd's DoubleBarrier: `enter()` returns once `count` processes entered, `leave()` once all of them left.
 * Each process holds a key under the prefix with its lease, so a crashed process does not block the rest forever.
 */
export class DoubleBarrier {
  readonly prefix: string;
  private lease: Lease | null = null;
  private owned = false;
  private myKey: string | null = null;

  constructor(private readonly client: Client, name: string, readonly count: number, private readonly options: SessionOptions = {}) {
    this.prefix = name.endsWith('/') ? name : `${name}/`;
  }

  private get readyKey(): string {
    return `${this.prefix}ready`;
  }

  private get waitersPrefix(): string {
    return `${this.prefix}waiters/`;
  }

  async enter(options: { readonly signal?: AbortSignal } = {}): Promise<void> {
    const { lease, owned } = await sessionLease(this.client, this.options);
    this.lease = lease;
    this.owned = owned;
    this.myKey = `${this.waitersPrefix}${lease.id.toString(16)}`;
    await this.client.put(this.myKey, '', { lease: lease.id });
    const waiters = await this.client.getPrefix(this.waitersPrefix, { countOnly: true });
    if (waiters.count >= this.count) {
      await this.client.put(this.readyKey, '');
      return;
    }
    // Wait for the last one in to raise the ready key.
    const w = this.client.watch(this.readyKey, { startRevision: waiters.header.revision + 1, noDelete: true });
    const stop = (): void => w.cancel();
    options.signal?.addEventListener('abort', stop, { once: true });
    try {
      for await (const _ev of w) return;
    } finally {
      options.signal?.removeEventListener('abort', stop);
      w.cancel();
    }
    throw new MeridianClientError('Timeout', `double barrier ${this.prefix}: enter() was aborted before ${this.count} processes entered`);
  }

  /**
   * Leaves: the process removes its key; the last one out lowers the ready key. (A simpler protocol than
   * etcd's, which has the lowest key wait for the others: waiting for every key under the prefix created at
   * any revision is the same condition, and each pass waits for one deletion.)
   */
  async leave(options: { readonly signal?: AbortSignal } = {}): Promise<void> {
    if (this.myKey === null) throw new MeridianClientError('NotHeld', `double barrier ${this.prefix}: leave() before enter()`);
    await this.client.delete(this.myKey);
    this.myKey = null;
    const rest = await this.client.getPrefix(this.waitersPrefix, { countOnly: true });
    if (rest.count > 0) await waitDeletes(this.client, this.waitersPrefix, Number.MAX_SAFE_INTEGER, options.signal);
    await this.client.delete(this.readyKey);
    if (this.owned) await this.lease?.revoke();
    this.lease = null;
  }
}

export function barrier(client: Client, key: string): Barrier {
  return new Barrier(client, key);
}

export function doubleBarrier(client: Client, name: string, count: number, options: SessionOptions = {}): DoubleBarrier {
  return new DoubleBarrier(client, name, count, options);
}
