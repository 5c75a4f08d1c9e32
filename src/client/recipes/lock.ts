// A distributed lock (etcd's concurrency.Mutex): each contender puts a key under the lock's prefix with its
// lease and waits for the key with the next-lower create revision to go. The grant carries a fencing token, the
// key's create revision, which only grows from holder to holder: storage that remembers the highest token it
// saw can refuse writes from a holder whose lease expired while it still thought it held the lock.

import type { Client } from '../client.js';
import { MeridianClientError } from '../errors.js';
import type { KeyValue, ResponseHeader } from '../kv.js';
import type { Lease } from '../lease.js';
import { Compare, Op } from '../txn.js';
import type { Revision } from '../../util/branded.js';
import { type SessionOptions, sessionLease, waitDeletes } from './wait.js';

export interface LockGrant {
  /** The key that holds the lock (prefix + lease id in hex). */
  readonly key: string;
  /** The key's create revision: larger for every later grant of this lock. Pass it to fenced resources. */
  readonly fencingToken: Revision;
  /** The lease the key lives with: losing it loses the lock (see `lease.lost`). */
  readonly lease: Lease;
  /** Deletes the key, letting the next contender in. */
  release(): Promise<void>;
}

export interface AcquireOptions {
  /** Stop waiting when this aborts (the key is removed again). */
  readonly signal?: AbortSignal;
}

export class Lock {
  readonly prefix: string;

  constructor(private readonly client: Client, name: string, private readonly options: SessionOptions = {}) {
    this.prefix = name.endsWith('/') ? name : `${name}/`;
  }

  /** Waits until this contender holds the lock. A lease the lock granted itself is revoked on release. */
  async acquire(options: AcquireOptions = {}): Promise<LockGrant> {
    const { lease, owned } = await sessionLease(this.client, this.options);
    const key = `${this.prefix}${lease.id.toString(16)}`;
    try {
      const myRev = await this.enqueue(key, lease);
      await waitDeletes(this.client, this.prefix, myRev - 1, options.signal);
      // The lease may have expired while waiting: then the key is gone and the lock is not ours.
      const mine = await this.client.get(key);
      if (mine === null || mine.createRevision !== myRev) {
        throw new MeridianClientError('NotHeld', `lock ${this.prefix}: the key ${key} vanished while waiting (its lease expired); acquire again`);
      }
      return {
        key, fencingToken: mine.createRevision, lease,
        release: async () => {
          await this.client.txn().if(Compare.createRevision(key, '=', myRev)).then(Op.delete(key)).commit();
          if (owned) await lease.revoke();
        },
      };
    } catch (err) {
      // Leave the queue, so no one waits behind a contender that gave up.
      await this.client.delete(key).catch(() => undefined);
      if (owned) await lease.revoke().catch(() => undefined);
      throw err;
    }
  }

  /** Puts this contender's key unless it exists; its create revision is the place in the queue. */
  private async enqueue(key: string, lease: Lease): Promise<Revision> {
    const r = await this.client.txn().if(Compare.absent(key)).then(Op.put(key, '', { lease: lease.id })).else(Op.get(key)).commit();
    if (r.succeeded) return r.header.revision;
    const got = r.responses[0];
    const existing: KeyValue | undefined = got?.type === 'get' ? got.result.kvs[0] : undefined;
    if (existing === undefined) throw new MeridianClientError('NotHeld', `lock ${this.prefix}: the key ${key} vanished while entering the queue; acquire again`);
    return existing.createRevision;
  }

  /** The current holder's key and fencing token, or null when the lock is free. */
  async holder(): Promise<{ readonly key: string; readonly fencingToken: Revision; readonly header: ResponseHeader } | null> {
    const r = await this.client.getPrefix(this.prefix, { sort: { target: 'create', order: 'ascend' }, limit: 1 });
    const first = r.kvs[0];
    return first === undefined ? null : { key: first.key.toString(), fencingToken: first.createRevision, header: r.header };
  }
}

/** A lock named `name` (its keys live under `name/`). */
export function lock(client: Client, name: string, options: SessionOptions = {}): Lock {
  return new Lock(client, name, options);
}
