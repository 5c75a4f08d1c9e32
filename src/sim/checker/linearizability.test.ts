// Tests of the linearizability checker: hand-written legal and illegal KV histories, the bounds, seeded
// random histories (real executions and mutated ones), speed, and the revision/real-time check.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { Prng } from '../../util/prng.js';
import { UNKNOWN, type Operation, type Unknown } from './history.js';
import { kvModel, type KvInput, type KvOutput } from './model.js';
import { checkLinearizability, checkRevisionsRespectRealTime } from './linearizability.js';
import { generateKvHistory, mutateKvHistory } from './random_history.js';

type KvOp = Operation<KvInput, KvOutput>;

/** Builds histories tersely: times are [call, return]; a return of null means the outcome is unknown. */
class H {
  readonly ops: KvOp[] = [];
  private add(client: number, key: string, input: KvInput, output: KvOutput | Unknown, call: number, ret: number | null): this {
    const unknown = ret === null;
    this.ops.push({ id: this.ops.length, clientId: client, key, input, output: unknown ? UNKNOWN : output, callTime: call, returnTime: unknown ? Infinity : ret });
    return this;
  }
  put(c: number, value: string, call: number, ret: number | null, key = 'k', revision?: number): this {
    return this.add(c, key, { kind: 'put', value }, revision === undefined ? { kind: 'put' } : { kind: 'put', revision }, call, ret);
  }
  get(c: number, value: string | null, call: number, ret: number, key = 'k', revision?: number): this {
    return this.add(c, key, { kind: 'get' }, revision === undefined ? { kind: 'get', value } : { kind: 'get', value, revision }, call, ret);
  }
  cas(c: number, expected: string | null, value: string, ok: boolean, call: number, ret: number | null, key = 'k'): this {
    return this.add(c, key, { kind: 'cas', expected, value }, { kind: 'cas', ok }, call, ret);
  }
  del(c: number, deleted: boolean | undefined, call: number, ret: number | null, key = 'k'): this {
    return this.add(c, key, { kind: 'delete' }, deleted === undefined ? { kind: 'delete' } : { kind: 'delete', deleted }, call, ret);
  }
}

const check = (h: H) => checkLinearizability(kvModel, h.ops);

function seedFromEnv(fallback: number): number {
  const env = process.env['SEED'];
  return env === undefined ? fallback : Number(env);
}

test('a sequential history is linearizable and the witness is its order', () => {
  const h = new H().put(1, 'a', 0, 1).get(2, 'a', 2, 3).cas(1, 'a', 'b', true, 4, 5).get(2, 'b', 6, 7).del(3, true, 8, 9).get(1, null, 10, 11);
  const r = check(h);
  assert.equal(r.result, 'ok', r.message);
  assert.deepEqual(r.keys[0]?.order.map((op) => op.id), [0, 1, 2, 3, 4, 5]);
});

test('an empty history is linearizable', () => {
  assert.equal(checkLinearizability(kvModel, []).result, 'ok');
});

test('stale read: a read after a completed overwrite returns the old value', () => {
  const r = check(new H().put(1, 'a', 0, 1).put(1, 'b', 2, 3).get(2, 'a', 4, 5));
  assert.equal(r.result, 'illegal');
  assert.equal(r.illegal?.blocker?.id, 2);
  assert.deepEqual(r.illegal?.order.map((op) => op.id), [0, 1]);
  assert.equal(r.illegal?.stateAfterOrder, '"b"');
  assert.match(r.message, /#2 c2 get\(\) -> "a" \[4, 5\] could not be placed/);
  assert.match(r.message, /prefix: #0 c1 put\("a"\) -> ok \[0, 1\]; #1 c1 put\("b"\)/);
});

test('lost write: an acknowledged put is not visible to a later read', () => {
  const r = check(new H().put(1, 'a', 0, 1).get(2, null, 2, 3));
  assert.equal(r.result, 'illegal');
  assert.equal(r.illegal?.blocker?.id, 1);
});

test('duplicate write: a value comes back after it was overwritten', () => {
  const r = check(new H().put(1, 'a', 0, 1).put(2, 'b', 2, 3).get(3, 'b', 4, 5).get(3, 'a', 6, 7));
  assert.equal(r.result, 'illegal');
  assert.equal(r.illegal?.blocker?.id, 3);
});

test('a read of a value never written', () => {
  const r = check(new H().put(1, 'a', 0, 10).get(2, 'z', 1, 2));
  assert.equal(r.result, 'illegal');
  assert.equal(r.illegal?.blocker?.id, 1);
  assert.deepEqual(r.illegal?.order.map((op) => op.id), [0]);
});

test('a cas that succeeded when it should have failed', () => {
  assert.equal(check(new H().put(1, 'a', 0, 1).cas(2, 'b', 'c', true, 2, 3)).result, 'illegal');
  // And one that failed when it should have succeeded.
  assert.equal(check(new H().put(1, 'a', 0, 1).cas(2, 'a', 'c', false, 2, 3)).result, 'illegal');
  // Create-if-absent on an existing key.
  assert.equal(check(new H().put(1, 'a', 0, 1).cas(2, null, 'c', true, 2, 3)).result, 'illegal');
});

test('a cas is legal when a concurrent write can be ordered before it', () => {
  assert.equal(check(new H().put(1, 'a', 0, 5).put(2, 'b', 1, 2).cas(3, 'b', 'c', true, 3, 4).get(3, 'a', 6, 7)).result, 'ok');
});

test('a delete that reports the wrong outcome', () => {
  assert.equal(check(new H().del(1, true, 0, 1)).result, 'illegal');
  assert.equal(check(new H().put(1, 'a', 0, 1).del(1, false, 2, 3)).result, 'illegal');
  assert.equal(check(new H().put(1, 'a', 0, 1).del(1, undefined, 2, 3).del(2, undefined, 4, 5).get(1, null, 6, 7)).result, 'ok');
});

test('concurrent writes allow many orders; the reads fix one', () => {
  const values = ['a', 'b', 'c', 'd', 'e'];
  for (const seen of values) {
    const h = new H();
    values.forEach((v, i) => h.put(i, v, 0, 10));
    assert.equal(check(h.get(6, seen, 11, 12).get(7, seen, 13, 14)).result, 'ok', `reading ${seen}`);
  }
  const flip = new H();
  values.forEach((v, i) => flip.put(i, v, 0, 10));
  assert.equal(check(flip.get(6, 'a', 11, 12).get(7, 'b', 13, 14)).result, 'illegal');
  // Reads concurrent with the writes may see them take effect one by one, in any order.
  const during = new H();
  values.forEach((v, i) => during.put(i, v, 0, 10));
  during.get(6, 'c', 1, 2).get(6, 'a', 3, 4).get(6, 'e', 5, 6).get(7, 'e', 11, 12);
  assert.equal(check(during).result, 'ok');
  // ... but never go back to one already overwritten by what a read saw in between.
  const back = new H();
  values.forEach((v, i) => back.put(i, v, 0, 10));
  back.get(6, 'c', 1, 2).get(6, 'a', 3, 4).get(6, 'c', 5, 6);
  assert.equal(check(back).result, 'illegal');
});

test('calls before returns on ties: operations that touch in time are concurrent', () => {
  assert.equal(check(new H().put(1, 'a', 0, 5).get(2, null, 5, 6)).result, 'ok');
  assert.equal(check(new H().put(1, 'a', 0, 5).get(2, null, 6, 7)).result, 'illegal');
});

test('an unknown write may take effect later than any known operation', () => {
  const h = new H().put(1, 'a', 0, null).get(2, null, 1, 2).get(2, null, 3, 4).get(3, 'a', 100, 101).get(2, 'a', 102, 103);
  assert.equal(check(h).result, 'ok');
});

test('an unknown write may never take effect', () => {
  assert.equal(check(new H().put(1, 'a', 0, null).get(2, null, 1, 2).get(2, null, 50, 60)).result, 'ok');
  assert.equal(check(new H().cas(1, null, 'a', false, 0, null).get(2, null, 1, 2)).result, 'ok');
});

test('an unknown write cannot take effect before its call or be undone', () => {
  assert.equal(check(new H().get(2, 'a', 0, 1).put(1, 'a', 2, null)).result, 'illegal');
  assert.equal(check(new H().put(1, 'a', 0, null).get(2, 'a', 1, 2).get(2, null, 3, 4)).result, 'illegal');
});

test('several unknown writes in flight at once', () => {
  const h = new H().put(0, 'seed', 0, 1);
  for (let c = 1; c <= 8; c++) h.put(c, `u${c}`, 2, null);
  h.get(9, 'u5', 10, 11).get(9, 'u2', 12, 13).get(9, 'u2', 14, 15).get(9, 'u7', 16, 17);
  assert.equal(check(h).result, 'ok');
  h.get(9, 'u5', 18, 19);
  assert.equal(check(h).result, 'illegal');
});

test('unknown reads are dropped: they constrain nothing', () => {
  const h = new H().put(1, 'a', 0, 1);
  h.ops.push({ id: 1, clientId: 2, key: 'k', input: { kind: 'get' }, output: UNKNOWN, callTime: 0, returnTime: Infinity });
  const r = check(h);
  assert.equal(r.result, 'ok');
  assert.equal(r.keys[0]?.opCount, 1);
});

test('an illegal key hidden among legal keys is found and named', () => {
  const h = new H();
  for (let k = 0; k < 10; k++) {
    const key = `key${k}`;
    h.put(1, `a${k}`, 10 * k, 10 * k + 4, key).put(2, `b${k}`, 10 * k + 1, 10 * k + 3, key).get(3, `a${k}`, 10 * k + 5, 10 * k + 6, key);
  }
  h.put(1, 'x', 200, 201, 'key7').get(2, 'a7', 202, 203, 'key7');
  const r = check(h);
  assert.equal(r.result, 'illegal');
  assert.equal(r.illegal?.key, 'key7');
  assert.equal(r.keys.filter((k) => k.result === 'ok').length, 9);
  assert.match(r.message, /key "key7": not linearizable/);
});

test("the step bound gives 'unknown', and illegal beats unknown", () => {
  const h = new H();
  for (let c = 0; c < 8; c++) h.put(c, `v${c}`, 0, 100);
  for (let c = 0; c < 8; c++) h.get(c + 10, `v${(c * 3) % 8}`, 1, 99);
  const r = checkLinearizability(kvModel, h.ops, { maxStepsPerKey: 10 });
  assert.equal(r.result, 'unknown');
  assert.match(r.message, /search bound reached after 10 steps/);
  assert.equal(checkLinearizability(kvModel, h.ops).result !== 'unknown', true);
  h.put(1, 'z', 0, 1, 'other').get(1, null, 2, 3, 'other');
  assert.equal(checkLinearizability(kvModel, h.ops, { maxStepsPerKey: 10 }).result, 'illegal');
});

test("the time bound gives 'unknown' for keys left unchecked", () => {
  let clock = 0;
  const h = new H().put(1, 'a', 0, 1, 'a').put(1, 'b', 0, 1, 'b');
  // Each clock read advances 10 ms: the bound is spent after the first key.
  const r = checkLinearizability(kvModel, h.ops, { timeoutMs: 15, now: () => (clock += 10) });
  assert.equal(r.result, 'unknown');
  assert.equal(r.keys[0]?.result, 'ok');
  assert.equal(r.keys[1]?.result, 'unknown');
});

test('random histories from real executions are linearizable; mutated ones mostly are not (seeded)', () => {
  const seed = seedFromEnv(0x5eed_0001);
  console.log(`linearizability random test SEED=${seed}`);
  const prng = new Prng(seed);
  const rounds = 40;
  let illegal = 0;
  for (let round = 0; round < rounds; round++) {
    const history = generateKvHistory(prng, {
      ops: 100 + prng.int(150),
      keys: 1 + prng.int(3),
      clients: 2 + prng.int(4),
      unknownRate: prng.pick([0, 0.05, 0.1]),
      valuePool: prng.pick([0, 0, 3]),
    });
    const ok = checkLinearizability(kvModel, history);
    assert.equal(ok.result, 'ok', `SEED=${seed} round ${round}: ${ok.message}`);
    assert.equal(checkRevisionsRespectRealTime(history).ok, true, `SEED=${seed} round ${round}`);
    const mutation = mutateKvHistory(prng, history);
    assert.ok(mutation !== null);
    const { history: mutated, mutated: id } = mutation;
    const bad = checkLinearizability(kvModel, mutated);
    assert.notEqual(bad.result, 'unknown', `SEED=${seed} round ${round}: mutation of #${id} undecided`);
    if (bad.result === 'illegal') illegal++;
  }
  console.log(`  ${illegal} of ${rounds} mutated histories illegal`);
  assert.ok(illegal >= rounds * 0.6, `SEED=${seed}: only ${illegal} of ${rounds} mutations caught`);
});

/**
 * The oracle: tries every order that respects real time (an op may go next unless a required op that is
 * not yet placed returned before it was called), leaving out any unknown op. Exponential: tiny histories.
 */
function bruteForce(ops: readonly KvOp[]): boolean {
  const live = ops.filter((op) => !(op.output === UNKNOWN && op.input.kind === 'get'));
  const required = (op: KvOp): boolean => op.output !== UNKNOWN;
  const placed = new Set<number>();
  const search = (state: string | null): boolean => {
    if (live.every((op) => placed.has(op.id) || !required(op))) return true;
    for (const op of live) {
      if (placed.has(op.id)) continue;
      if (live.some((other) => !placed.has(other.id) && required(other) && other.returnTime < op.callTime)) continue;
      const stepped = kvModel.step(state, op.input, op.output);
      if (!stepped.ok) continue;
      placed.add(op.id);
      const found = search(stepped.state);
      placed.delete(op.id);
      if (found) return true;
    }
    return false;
  };
  return search(null);
}

function randomOutput(prng: Prng, input: KvInput): KvOutput {
  switch (input.kind) {
    case 'get':
      return { kind: 'get', value: prng.pick([null, 'v0', 'v1', 'v2']) };
    case 'put':
      return { kind: 'put' };
    case 'cas':
      return { kind: 'cas', ok: prng.chance(0.5) };
    case 'delete':
      return prng.chance(0.5) ? { kind: 'delete' } : { kind: 'delete', deleted: prng.chance(0.5) };
  }
}

test('the checker agrees with a brute-force oracle on small histories (seeded)', () => {
  const seed = seedFromEnv(0x5eed_0003);
  console.log(`linearizability oracle test SEED=${seed}`);
  const prng = new Prng(seed);
  const rounds = 600;
  const verdicts = { ok: 0, illegal: 0 };
  for (let round = 0; round < rounds; round++) {
    let history = generateKvHistory(prng, {
      ops: 3 + prng.int(6),
      keys: 1,
      clients: 1 + prng.int(4),
      unknownRate: prng.pick([0, 0.2, 0.4]),
      valuePool: prng.pick([0, 2, 3]),
      latencyMax: prng.pick([2, 5, 20]),
    });
    const style = prng.int(3);
    if (style === 1) history = mutateKvHistory(prng, history)?.history ?? history;
    if (style === 2) history = history.map((op) => (op.output === UNKNOWN ? op : { ...op, output: randomOutput(prng, op.input) }));
    const expected = bruteForce(history);
    const got = checkLinearizability(kvModel, history).result;
    assert.equal(got, expected ? 'ok' : 'illegal', `SEED=${seed} round ${round}: ${JSON.stringify(history, (_k, v: unknown) => (v === UNKNOWN ? '?' : v))}`);
    verdicts[expected ? 'ok' : 'illegal']++;
  }
  console.log(`  oracle verdicts: ${verdicts.ok} ok, ${verdicts.illegal} illegal`);
  assert.ok(verdicts.ok > rounds / 5 && verdicts.illegal > rounds / 5, 'both verdicts well represented');
});

test('2,000 operations over 10 keys with 5 clients check in well under a second', () => {
  const seed = seedFromEnv(0x5eed_0002);
  console.log(`linearizability speed test SEED=${seed}`);
  const history = generateKvHistory(new Prng(seed), { ops: 2000, keys: 10, clients: 5, unknownRate: 0.02 });
  const started = performance.now();
  const r = checkLinearizability(kvModel, history);
  const elapsedMs = performance.now() - started;
  console.log(`  checked in ${elapsedMs.toFixed(1)} ms, ${r.steps} steps`);
  assert.equal(r.result, 'ok', r.message);
  // Generous against a loaded machine; typically a few tens of milliseconds.
  assert.ok(elapsedMs < 2000, `took ${elapsedMs} ms`);
});

test('revisions respect real time', () => {
  const good = new H().put(1, 'a', 0, 1, 'x', 2).get(2, 'a', 2, 3, 'x', 2).put(3, 'b', 4, 5, 'y', 3).get(1, 'a', 4, 6, 'x', 3);
  assert.equal(checkRevisionsRespectRealTime(good.ops).ok, true);
  // A read after a write that returned cannot report an older revision.
  const staleRead = new H().put(1, 'a', 0, 1, 'x', 5).get(2, null, 2, 3, 'y', 4);
  const r = checkRevisionsRespectRealTime(staleRead.ops);
  assert.equal(r.ok, false);
  assert.equal(r.violations[0]?.earlier.id, 0);
  assert.equal(r.violations[0]?.later.id, 1);
  assert.match(r.violations[0]?.message ?? '', /#1 .* reports revision 4, but #0 .* returned revision 5/);
  // Two writes in real-time order cannot share a revision; concurrent ones are not compared.
  assert.equal(checkRevisionsRespectRealTime(new H().put(1, 'a', 0, 1, 'x', 5).put(2, 'b', 2, 3, 'y', 5).ops).ok, false);
  assert.equal(checkRevisionsRespectRealTime(new H().put(1, 'a', 0, 2, 'x', 5).put(2, 'b', 1, 3, 'y', 4).ops).ok, true);
  // A write after a read of revision 5 must create a revision above 5; a read may share it.
  assert.equal(checkRevisionsRespectRealTime(new H().get(1, null, 0, 1, 'x', 5).put(2, 'b', 2, 3, 'y', 5).ops).ok, false);
  assert.equal(checkRevisionsRespectRealTime(new H().get(1, null, 0, 1, 'x', 5).get(2, null, 2, 3, 'y', 5).ops).ok, true);
  // Unknown operations and answers without a revision are ignored.
  assert.equal(checkRevisionsRespectRealTime(new H().put(1, 'a', 0, null, 'x').put(2, 'b', 2, 3, 'y').get(2, null, 4, 5, 'y', 1).ops).ok, true);
});
