// Seeded generators of KV histories for testing the checker itself: histories recorded from a real
// sequential execution with overlapping calls (always linearizable), and single-answer mutations of them.

import { assert } from '../../util/assert.js';
import type { Prng } from '../../util/prng.js';
import { UNKNOWN, isUnknown, type Operation, type Unknown } from './history.js';
import type { KvInput, KvOutput } from './model.js';

export interface RandomHistoryOptions {
  readonly clients: number;
  readonly keys: number;
  readonly ops: number;
  /** Chance that a client never learns an operation's outcome. */
  readonly unknownRate: number;
  /** Values drawn from a pool this small repeat often, which exercises the memo; 0 = every value unique. */
  readonly valuePool: number;
  /** Latest time, after its call, at which an operation takes effect and after that returns. */
  readonly latencyMax: number;
}

export const RANDOM_HISTORY_DEFAULTS: RandomHistoryOptions = {
  clients: 5,
  keys: 10,
  ops: 2000,
  unknownRate: 0.02,
  valuePool: 0,
  latencyMax: 10,
};

/** How long a client waits before it gives up on a call and issues its next one. */
const CLIENT_TIMEOUT = 50;
/** An unknown write takes effect within this long after its call, if at all. */
const UNKNOWN_EFFECT_DELAY_MAX = 200;

interface Planned {
  readonly id: number;
  readonly clientId: number;
  readonly key: string;
  readonly input: KvInput;
  readonly callTime: number;
  readonly returnTime: number;
  /** When the operation takes effect; Infinity if it never does. */
  readonly effectTime: number;
  readonly unknown: boolean;
}

/**
 * Plans each client's sequence of calls, picks a point inside each call at which it takes effect, then runs
 * the operations against a real store in that order to fill in the answers and revisions.
 */
export function generateKvHistory(prng: Prng, options: Partial<RandomHistoryOptions> = {}): Operation<KvInput, KvOutput>[] {
  const o = { ...RANDOM_HISTORY_DEFAULTS, ...options };
  assert(o.clients > 0 && o.keys > 0 && o.latencyMax >= 2, 'generateKvHistory: bad options');
  const clientTime = new Array<number>(o.clients).fill(0);
  const planned: Planned[] = [];
  let valueCounter = 0;
  const nextValue = (): string => (o.valuePool > 0 ? `v${prng.int(o.valuePool)}` : `v${valueCounter++}`);
  for (let id = 0; id < o.ops; id++) {
    const clientId = prng.int(o.clients);
    const callTime = (clientTime[clientId] ?? 0) + prng.int(3);
    const key = `k${prng.int(o.keys)}`;
    const input = randomInput(prng, nextValue, () => (prng.chance(0.5) ? null : `v${prng.int(Math.max(valueCounter, o.valuePool, 1))}`));
    const unknown = prng.chance(o.unknownRate);
    let effectTime: number;
    let returnTime: number;
    if (unknown) {
      effectTime = prng.chance(0.5) ? callTime + 1 + prng.int(UNKNOWN_EFFECT_DELAY_MAX) : Infinity;
      returnTime = Infinity;
      clientTime[clientId] = callTime + CLIENT_TIMEOUT;
    } else {
      effectTime = callTime + 1 + prng.int(o.latencyMax - 1);
      returnTime = effectTime + prng.int(o.latencyMax);
      clientTime[clientId] = returnTime;
    }
    planned.push({ id, clientId, key, input, callTime, returnTime, effectTime, unknown });
  }
  return execute(planned);
}

function randomInput(prng: Prng, nextValue: () => string, expected: () => string | null): KvInput {
  const r = prng.int(10);
  if (r < 4) return { kind: 'get' };
  if (r < 7) return { kind: 'put', value: nextValue() };
  if (r < 9) return { kind: 'cas', expected: expected(), value: nextValue() };
  return { kind: 'delete' };
}

function execute(planned: readonly Planned[]): Operation<KvInput, KvOutput>[] {
  // Effect times may tie; break ties by id so the execution order is fixed.
  const order = planned.filter((p) => p.effectTime !== Infinity).sort((a, b) => a.effectTime - b.effectTime || a.id - b.id);
  const store = new Map<string, string>();
  let revision = 1;
  const outputs = new Map<number, KvOutput>();
  for (const p of order) {
    const current = store.get(p.key) ?? null;
    let output: KvOutput;
    switch (p.input.kind) {
      case 'get':
        output = { kind: 'get', value: current, revision };
        break;
      case 'put':
        store.set(p.key, p.input.value);
        output = { kind: 'put', revision: ++revision };
        break;
      case 'cas': {
        const ok = current === p.input.expected;
        if (ok) store.set(p.key, p.input.value);
        output = { kind: 'cas', ok, revision: ok ? ++revision : revision };
        break;
      }
      case 'delete':
        store.delete(p.key);
        output = { kind: 'delete', deleted: current !== null, revision: current !== null ? ++revision : revision };
        break;
    }
    outputs.set(p.id, output);
  }
  return planned.map((p) => {
    const output: KvOutput | Unknown = p.unknown ? UNKNOWN : (outputs.get(p.id) ?? UNKNOWN);
    assert(p.unknown || !isUnknown(output), `generateKvHistory: operation #${p.id} never executed`);
    return { id: p.id, clientId: p.clientId, key: p.key, input: p.input, output, callTime: p.callTime, returnTime: p.returnTime };
  });
}

/** Attempts at finding an operation whose answer can be changed, before giving up. */
const MUTATION_ATTEMPTS_MAX = 1000;

/**
 * Changes one known answer: a read returns a value nobody wrote or another key's value, a cas or delete
 * reports the opposite outcome. Usually (not always) makes the history non-linearizable. Null when no
 * operation has an answer that can be changed.
 */
export function mutateKvHistory(
  prng: Prng,
  history: readonly Operation<KvInput, KvOutput>[],
): { history: Operation<KvInput, KvOutput>[]; mutated: number } | null {
  for (let attempt = 0; attempt < MUTATION_ATTEMPTS_MAX; attempt++) {
    const victim = prng.pick(history);
    const output = victim.output;
    if (isUnknown(output)) continue;
    let changed: KvOutput;
    if (output.kind === 'get') {
      const other = prng.pick(history);
      const otherValue = other.input.kind === 'put' || other.input.kind === 'cas' ? other.input.value : null;
      const value = prng.chance(0.5) || otherValue === output.value ? `never-written-${attempt}` : otherValue;
      changed = { ...output, value };
    } else if (output.kind === 'cas') {
      changed = { ...output, ok: !output.ok };
    } else if (output.kind === 'delete' && output.deleted !== undefined) {
      changed = { ...output, deleted: !output.deleted };
    } else {
      continue;
    }
    const copy = history.map((op) => (op.id === victim.id ? { ...op, output: changed } : op));
    return { history: copy, mutated: victim.id };
  }
  return null;
}
