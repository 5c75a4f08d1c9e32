// Leader election (etcd's concurrency.Election): candidates put a key under the election's prefix with their
// lease; the candidate with the oldest key leads. The leader proclaims values and resigns; anyone can read
// the leader or observe each change of leader or value as an async iterator.

import type { Client } from '../client.js';
import { MeridianClientError } from '../errors.js';
import type { Bytes, KeyValue } from '../kv.js';
import type { Lease } from '../lease.js';
import { Compare, Op } from '../txn.js';
import type { Revision } from '../../util/branded.js';
import { type SessionOptions, sessionLease, waitDeletes } from './wait.js';

export interface Leader {
  readonly key: string;
  readonly value: Buffer;
  /** The leader key's create revision: larger for every later leader (a fencing token, as the lock's). */
  readonly revision: Revision;
}

const leaderOf = (kv: KeyValue): Leader => ({ key: kv.key.toString(), value: kv.value, revision: kv.createRevision });

export class Election {
  readonly prefix: string;
  private key: string | null = null;
  private rev: Revision | null = null;
  private lease: Lease | null = null;
  private ownsLease = false;

  constructor(private readonly client: Client, name: string, private readonly options: SessionOptions = {}) {
    this.prefix = name.endsWith('/') ? name : `${name}/`;
  }

  /** Waits until this candidate leads, announcing `value`; resolves with its leadership. */
  async campaign(value: Bytes, options: { readonly signal?: AbortSignal } = {}): Promise<Leader> {
    const { lease, owned } = await sessionLease(this.client, this.options);
    this.lease = lease;
    this.ownsLease = owned;
    const key = `${this.prefix}${lease.id.toString(16)}`;
    const r = await this.client.txn().if(Compare.absent(key)).then(Op.put(key, value, { lease: lease.id })).else(Op.get(key)).commit();
    let rev = r.header.revision;
    if (!r.succeeded) {
      const got = r.responses[0];
      const existing = got?.type === 'get' ? got.result.kvs[0] : undefined;
      if (existing === undefined) throw new MeridianClientError('NotHeld', `election ${this.prefix}: the candidate key vanished; campaign again`);
      rev = existing.createRevision;
    }
    this.key = key;
    this.rev = rev;
    if (!r.succeeded) await this.proclaim(value);
    try {
      await waitDeletes(this.client, this.prefix, rev - 1, options.signal);
    } catch (err) {
      await this.resign().catch(() => undefined);
      throw err;
    }
    const mine = await this.client.get(key);
    if (mine === null || mine.createRevision !== rev) {
      throw new MeridianClientError('NotHeld', `election ${this.prefix}: the candidate key vanished while waiting (its lease expired); campaign again`);
    }
    return leaderOf(mine);
  }

  /** Sets the leader's value; fails with NotHeld unless this candidate still leads. */
  async proclaim(value: Bytes): Promise<void> {
    const { key, rev, lease } = this.held('proclaim');
    const r = await this.client.txn().if(Compare.createRevision(key, '=', rev)).then(Op.put(key, value, { lease: lease.id })).commit();
    if (!r.succeeded) {
      this.key = null;
      throw new MeridianClientError('NotHeld', `election ${this.prefix}: proclaim failed, this candidate no longer holds ${key}; campaign again`);
    }
  }

  /** Gives up leadership (or candidacy); the next candidate takes over. */
  async resign(): Promise<void> {
    if (this.key === null || this.rev === null) return;
    const key = this.key;
    const rev = this.rev;
    this.key = null;
    this.rev = null;
    await this.client.txn().if(Compare.createRevision(key, '=', rev)).then(Op.delete(key)).commit();
    if (this.ownsLease) await this.lease?.revoke();
    this.lease = null;
  }

  /** The current leader, or null when there is none. */
  async leader(): Promise<Leader | null> {
    const r = await this.client.getPrefix(this.prefix, { sort: { target: 'create', order: 'ascend' }, limit: 1 });
    const first = r.kvs[0];
    return first === undefined ? null : leaderOf(first);
  }

  /**
   * Every change of leader or of the leader's value, starting with the current leader. Leaving the loop (or
   * aborting the signal) stops observing.
   */
  async *observe(options: { readonly signal?: AbortSignal } = {}): AsyncGenerator<Leader> {
    const { signal } = options;
    let last: Leader | null = null;
    while (signal?.aborted !== true) {
      const r = await this.client.getPrefix(this.prefix, { sort: { target: 'create', order: 'ascend' }, limit: 1 });
      const first = r.kvs[0];
      if (first === undefined) {
        // No leader: wait for the first candidate's key.
        const w = this.client.watch(this.prefix, { prefix: true, startRevision: r.header.revision + 1, noDelete: true });
        const stop = (): void => w.cancel();
        signal?.addEventListener('abort', stop, { once: true });
        try {
          for await (const _ev of w) break;
        } finally {
          signal?.removeEventListener('abort', stop);
        }
        continue;
      }
      let current = leaderOf(first);
      if (last === null || last.key !== current.key || !last.value.equals(current.value)) yield current;
      last = current;
      // Follow the leader's key until it goes.
      const w = this.client.watch(current.key, { startRevision: r.header.revision + 1 });
      const stop = (): void => w.cancel();
      signal?.addEventListener('abort', stop, { once: true });
      try {
        for await (const ev of w) {
          if (ev.type === 'delete') break;
          current = leaderOf(ev.kv);
          if (!current.value.equals(last.value)) yield current;
          last = current;
        }
      } finally {
        signal?.removeEventListener('abort', stop);
        w.cancel();
      }
    }
  }

  private held(action: string): { key: string; rev: Revision; lease: Lease } {
    if (this.key === null || this.rev === null || this.lease === null) {
      throw new MeridianClientError('NotHeld', `election ${this.prefix}: ${action} needs a successful campaign() first`);
    }
    return { key: this.key, rev: this.rev, lease: this.lease };
  }
}

export function election(client: Client, name: string, options: SessionOptions = {}): Election {
  return new Election(client, name, options);
}
