// Runnable example of docs/client.md: two workers take turns holding a lock; a store that keeps the highest
// fencing token it saw refuses a write from a holder that lost the lock.
// Run against a local cluster (`npm start`): node dist/src/client/examples/lock_fencing.js [host:port,...]

import { fileURLToPath } from 'node:url';
import { connect, election, lock } from '../index.js';

/** A resource that accepts a write only with a fencing token at least as high as any it saw. */
class FencedStore {
  private highest = 0;
  readonly writes: string[] = [];
  write(token: number, what: string): boolean {
    if (token < this.highest) return false;
    this.highest = token;
    this.writes.push(what);
    return true;
  }
}

export async function lockFencing(endpoints: readonly string[]): Promise<string[]> {
  const lines: string[] = [];
  const a = await connect({ endpoints });
  const b = await connect({ endpoints });
  try {
    const store = new FencedStore();
    const first = await lock(a, 'jobs/nightly', { ttlSeconds: 10 }).acquire();
    lines.push(`a holds the lock with token ${first.fencingToken}`);
    store.write(first.fencingToken, 'a: step 1');
    const waiting = lock(b, 'jobs/nightly', { ttlSeconds: 10 }).acquire();
    await first.release();
    const second = await waiting;
    lines.push(`b holds the lock with token ${second.fencingToken}`);
    store.write(second.fencingToken, 'b: step 1');
    // a still believes it holds the lock (a long GC pause, say): its stale token is refused.
    lines.push(`a's late write accepted: ${store.write(first.fencingToken, 'a: step 2')}`);
    await second.release();

    // Leader election: the first campaigner leads; the second takes over when it resigns.
    const ea = election(a, 'services/scheduler', { ttlSeconds: 10 });
    const eb = election(b, 'services/scheduler', { ttlSeconds: 10 });
    await ea.campaign('a');
    const next = eb.campaign('b');
    lines.push(`leader: ${(await eb.leader())?.value.toString()}`);
    await ea.resign();
    lines.push(`leader after resign: ${(await next).value.toString()}`);
    await eb.resign();
  } finally {
    a.close();
    b.close();
  }
  return lines;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const endpoints = (process.argv[2] ?? '127.0.0.1:2379,127.0.0.1:22379,127.0.0.1:32379').split(',');
  for (const line of await lockFencing(endpoints)) console.log(line);
}
