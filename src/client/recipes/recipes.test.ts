// The recipes against one real member process over gRPC: lock exclusion and fencing tokens that grow
// from holder to holder, election handover and observation, barrier and double barrier.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { TestCluster } from '../testing.js';
import { Prng } from '../../util/prng.js';
import { type Client, connect, MeridianClientError } from '../index.js';
import { barrier, doubleBarrier, election, type Leader, lock, type LockGrant } from './index.js';

const WAIT_MS = 5_000;
const SEED = Number(process.env['SEED'] ?? Date.now() % 1_000_000);

let cluster: TestCluster;
let clients: Client[];

before(async () => {
  console.log(`recipes.test SEED=${SEED}`);
  cluster = await TestCluster.start(['dc1']);
  clients = await Promise.all([0, 1, 2].map(() => connect({ endpoints: cluster.endpoints(), requestTimeoutMs: 3_000 })));
});

after(async () => {
  for (const c of clients) c.close();
  await cluster.destroy();
});

const client = (i: number): Client => clients[i] as Client;

function within<T>(p: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  })]).finally(() => clearTimeout(timer));
}

/** Whether `p` is still pending after the event loop ran a few turns (never sleeps on a timer). */
async function pending(p: Promise<unknown>): Promise<boolean> {
  let settled = false;
  p.then(() => (settled = true), () => (settled = true));
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  return !settled;
}

test('lock: exclusive, granted in queue order, fencing token grows from holder to holder', async () => {
  const rng = new Prng(SEED);
  let inside = 0;
  const tokens: number[] = [];
  const rounds = 3;
  // Three contenders on three clients take the lock `rounds` times each; never two inside at once.
  await within(Promise.all([0, 1, 2].map(async (i) => {
    for (let r = 0; r < rounds; r++) {
      const grant = await lock(client(i), 'locks/a', { ttlSeconds: 5 }).acquire();
      inside++;
      assert.equal(inside, 1, 'two holders at once');
      tokens.push(grant.fencingToken);
      for (let k = rng.int(3); k >= 0; k--) await client(i).put('locks/a-data', `${i}-${r}`);
      inside--;
      await grant.release();
    }
  })), 'nine lock rounds', 20_000);
  assert.equal(tokens.length, 9);
  for (let i = 1; i < tokens.length; i++) assert.ok((tokens[i] as number) > (tokens[i - 1] as number), `fencing tokens ${tokens.join(',')} do not grow`);
  assert.equal(await lock(client(0), 'locks/a').holder(), null);
});

test('lock: a waiter gets the lock when the holder releases; an aborted waiter leaves the queue; the holder is visible', async () => {
  const first = await lock(client(0), 'locks/b', { ttlSeconds: 5 }).acquire();
  const l = lock(client(1), 'locks/b', { ttlSeconds: 5 });
  const holder = await l.holder();
  assert.equal(holder?.fencingToken, first.fencingToken);
  const ac = new AbortController();
  const aborted = lock(client(2), 'locks/b', { ttlSeconds: 5 }).acquire({ signal: ac.signal });
  const second = l.acquire();
  assert.ok(await pending(second), 'a second holder while the first holds the lock');
  ac.abort('test gives up');
  await assert.rejects(aborted, (e: unknown) => e instanceof MeridianClientError && e.code === 'Timeout');
  await first.release();
  const g2: LockGrant = await within(second, 'the waiter to get the lock');
  assert.ok(g2.fencingToken > first.fencingToken);
  await g2.release();
});

test('lock: a holder whose lease expires loses the lock to the next, whose token is larger', async () => {
  const lease = await client(0).grant(1, { keepAlive: false });
  const stale = await lock(client(0), 'locks/c', { lease }).acquire();
  const next = await within(lock(client(1), 'locks/c', { ttlSeconds: 5 }).acquire(), 'the lock after the lease expired');
  assert.ok(next.fencingToken > stale.fencingToken, 'a fenced resource refuses the stale holder');
  await next.release();
});

test('election: campaign, leader, proclaim, observe, resign hands over to the next candidate', async () => {
  const e0 = election(client(0), 'elect/x', { ttlSeconds: 5 });
  const e1 = election(client(1), 'elect/x', { ttlSeconds: 5 });
  const observer = election(client(2), 'elect/x');
  assert.equal(await observer.leader(), null);
  const seen: string[] = [];
  const ac = new AbortController();
  const observing = (async () => {
    for await (const l of observer.observe({ signal: ac.signal })) {
      seen.push(l.value.toString());
      if (seen.length >= 3) break;
    }
  })();
  const lead0 = await within(e0.campaign('n0'), 'the first campaign');
  const waiting = e1.campaign('n1');
  assert.ok(await pending(waiting), 'two leaders at once');
  assert.equal((await observer.leader())?.value.toString(), 'n0');
  await e0.proclaim('n0-v2');
  assert.equal((await observer.leader())?.value.toString(), 'n0-v2');
  await e0.resign();
  const lead1: Leader = await within(waiting, 'the handover');
  assert.equal(lead1.value.toString(), 'n1');
  assert.ok(lead1.revision > lead0.revision);
  await within(observing, 'the observer to see three values');
  ac.abort();
  assert.deepEqual(seen, ['n0', 'n0-v2', 'n1']);
  await assert.rejects(e0.proclaim('late'), (e: unknown) => e instanceof MeridianClientError && e.code === 'NotHeld');
  await e1.resign();
  assert.equal(await observer.leader(), null);
});

test('barrier: hold blocks waiters until release', async () => {
  const b = barrier(client(0), 'barrier/one');
  await within(b.wait(), 'a wait on a barrier that is down');
  assert.equal(await b.hold(), true);
  assert.equal(await b.hold(), false);
  const waits = [barrier(client(1), 'barrier/one').wait(), barrier(client(2), 'barrier/one').wait()];
  assert.ok(await pending(Promise.race(waits)), 'a waiter passed a raised barrier');
  await b.release();
  await within(Promise.all(waits), 'the waiters after release');
});

test('double barrier: three processes enter together and leave together', async () => {
  const bs = [0, 1, 2].map((i) => doubleBarrier(client(i), 'dbarrier/g', 3, { ttlSeconds: 5 }));
  const e0 = bs[0]?.enter() as Promise<void>;
  const e1 = bs[1]?.enter() as Promise<void>;
  assert.ok(await pending(Promise.race([e0, e1])), 'entered before all three arrived');
  await within(Promise.all([e0, e1, bs[2]?.enter()]), 'all three to enter');
  const l0 = bs[0]?.leave() as Promise<void>;
  assert.ok(await pending(l0), 'left before the others');
  await within(Promise.all([l0, bs[1]?.leave(), bs[2]?.leave()]), 'all three to leave');
  assert.equal((await client(0).getPrefix('dbarrier/g/')).count, 0);
});
