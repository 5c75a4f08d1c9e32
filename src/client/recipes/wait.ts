// What the recipes share: waiting, through a watch, for a key to be deleted (etcd's concurrency waitDelete and
// waitDeletes), and the session lease a recipe holds its keys with.

import type { Client } from '../client.js';
import { MeridianClientError } from '../errors.js';
import type { Bytes } from '../kv.js';
import type { Lease } from '../lease.js';
import { RECIPE_SESSION_TTL_SECONDS } from '../limits.js';

export interface SessionOptions {
  /** Hold the recipe's keys with this lease (kept alive by its owner); absent: the recipe grants its own. */
  readonly lease?: Lease;
  /** TTL of the lease the recipe grants for itself (default RECIPE_SESSION_TTL_SECONDS). */
  readonly ttlSeconds?: number;
}

/** The lease given, or a new kept-alive one the caller then owns. */
export async function sessionLease(client: Client, options: SessionOptions): Promise<{ lease: Lease; owned: boolean }> {
  if (options.lease !== undefined) return { lease: options.lease, owned: false };
  return { lease: await client.grant(options.ttlSeconds ?? RECIPE_SESSION_TTL_SECONDS), owned: true };
}

/** Rejects when the signal aborts; the rejection names what was being waited for. */
function abortPromise(signal: AbortSignal | undefined, what: string): { promise: Promise<never>; dispose: () => void } {
  if (signal === undefined) return { promise: new Promise<never>(() => undefined), dispose: () => undefined };
  let onAbort = (): void => undefined;
  const promise = new Promise<never>((_, reject) => {
    onAbort = () => reject(new MeridianClientError('Timeout', `${what}: aborted (${String(signal.reason)})`, { cause: signal.reason }));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  promise.catch(() => undefined);
  return { promise, dispose: () => signal.removeEventListener('abort', onAbort) };
}

/** Resolves once `key` is deleted after `revision` (the revision at which the caller saw it exist). */
export async function waitDelete(client: Client, key: Bytes, revision: number, signal?: AbortSignal): Promise<void> {
  const watcher = client.watch(key, { startRevision: revision + 1, noPut: true });
  const abort = abortPromise(signal, `wait for the deletion of ${String(key)}`);
  try {
    const deleted = (async () => {
      for await (const ev of watcher) {
        if (ev.type === 'delete') return;
      }
      throw new MeridianClientError('Closed', `the watch on ${String(key)} ended before the key was deleted`);
    })();
    await Promise.race([deleted, abort.promise]);
  } finally {
    abort.dispose();
    watcher.cancel();
  }
}

/**
 * Resolves once every key under `prefix` created before `maxCreateRevision` + 1 is gone: waits for the newest
 * such key's deletion, then looks again (etcd's waitDeletes). Each pass waits for one deletion, so the loop
 * runs at most once per key that was ahead of the caller.
 */
export async function waitDeletes(client: Client, prefix: Bytes, maxCreateRevision: number, signal?: AbortSignal): Promise<void> {
  for (;;) {
    if (signal?.aborted === true) throw new MeridianClientError('Timeout', `wait for the keys before revision ${maxCreateRevision + 1}: aborted`);
    const r = await client.getPrefix(prefix, { maxCreateRevision, sort: { target: 'create', order: 'descend' }, limit: 1 });
    const last = r.kvs[0];
    if (last === undefined) return;
    await waitDelete(client, last.key, r.header.revision, signal);
  }
}
