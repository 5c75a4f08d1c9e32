// Sequential specifications the linearizability checker replays histories against, and the one-key
// register that models Meridian's key-value API (get, put, compare-and-swap, delete).

import { unreachable } from '../../util/assert.js';
import { isUnknown, type Operation, type Unknown } from './history.js';

export type StepResult<State> = { readonly ok: true; readonly state: State } | { readonly ok: false };

/** A deterministic sequential specification. States are treated as immutable values. */
export interface Model<State, Input, Output> {
  init(): State;
  /**
   * Applies `input` to `state`. `ok` says whether the specification allows `output` as the answer. With an
   * UNKNOWN output the operation took effect with whatever answer the specification gives.
   */
  step(state: State, input: Input, output: Output | Unknown): StepResult<State>;
  /** Memoisation: states equal under `equal` must have the same `hash` (a 32-bit integer). */
  equal(a: State, b: State): boolean;
  hash(state: State): number;
  /** True when the input never changes the state: such an operation with an UNKNOWN output can be dropped. */
  readOnly?(input: Input): boolean;
  /**
   * Equal keys mean equal inputs. Unknown operations with equal inputs are interchangeable once called, so
   * the checker tries them in call order only; without this, each one is tried as if it were different.
   */
  inputKey?(input: Input): string;
  /**
   * Optionally rewrites one key's operations into an equivalent set the search handles faster (same ids,
   * same count): linearizable exactly when the original is. An operation whose output is UNKNOWN has
   * returnTime +Infinity on entry (optional: it may never take effect); the rewrite may give it a finite
   * return time when it provably took effect by then.
   */
  prepare?(ops: readonly Operation<Input, Output>[]): Operation<Input, Output>[];
  describeOperation(input: Input, output: Output | Unknown): string;
  describeState(state: State): string;
}

export type KvInput =
  | { readonly kind: 'get' }
  | { readonly kind: 'put'; readonly value: string }
  /** Succeeds when the key's value is `expected`; `expected: null` means "the key does not exist". */
  | { readonly kind: 'cas'; readonly expected: string | null; readonly value: string }
  | { readonly kind: 'delete' };

/**
 * `revision` is the store revision at which the operation took effect or the read was served; the model
 * ignores it (see checkRevisionsRespectRealTime). `deleted`, when recorded, says whether a delete removed
 * a key; the model checks it.
 */
export type KvOutput =
  | { readonly kind: 'get'; readonly value: string | null; readonly revision?: number }
  | { readonly kind: 'put'; readonly revision?: number }
  | { readonly kind: 'cas'; readonly ok: boolean; readonly revision?: number }
  | { readonly kind: 'delete'; readonly deleted?: boolean; readonly revision?: number };

/** The value of one key; null when the key does not exist. */
export type KvState = string | null;

const NULL_STATE_HASH = 0x6b43a9b5;

/** FNV-1a over UTF-16 code units: cheap and good enough to spread register values over memo buckets. */
function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function show(value: string | null): string {
  return value === null ? 'nil' : JSON.stringify(value);
}

function stepKv(state: KvState, input: KvInput, output: KvOutput | Unknown): StepResult<KvState> {
  const unknown = isUnknown(output);
  if (!unknown && output.kind !== input.kind) return { ok: false };
  switch (input.kind) {
    case 'get':
      if (unknown) return { ok: true, state };
      return output.kind === 'get' && output.value === state ? { ok: true, state } : { ok: false };
    case 'put':
      return { ok: true, state: input.value };
    case 'cas': {
      const succeeds = state === input.expected;
      if (!unknown && output.kind === 'cas' && output.ok !== succeeds) return { ok: false };
      return { ok: true, state: succeeds ? input.value : state };
    }
    case 'delete':
      if (!unknown && output.kind === 'delete' && output.deleted !== undefined && output.deleted !== (state !== null)) {
        return { ok: false };
      }
      return { ok: true, state: null };
    default:
      return unreachable(input, 'kv input');
  }
}

function describeKvOutput(output: KvOutput | Unknown): string {
  if (isUnknown(output)) return '?';
  const rev = output.revision === undefined ? '' : ` @${output.revision}`;
  switch (output.kind) {
    case 'get':
      return `${show(output.value)}${rev}`;
    case 'put':
      return `ok${rev}`;
    case 'cas':
      return `${output.ok ? 'ok' : 'failed'}${rev}`;
    case 'delete':
      return `${output.deleted === undefined ? 'ok' : output.deleted ? 'deleted' : 'absent'}${rev}`;
    default:
      return unreachable(output, 'kv output');
  }
}

function describeKvInput(input: KvInput): string {
  switch (input.kind) {
    case 'get':
      return 'get()';
    case 'put':
      return `put(${show(input.value)})`;
    case 'cas':
      return `cas(${show(input.expected)} -> ${show(input.value)})`;
    case 'delete':
      return 'delete()';
    default:
      return unreachable(input, 'kv input');
  }
}

/** Prefix of the stand-in for values no operation reads (see prepareKv); made unique per partition. */
const UNREAD_VALUE_PREFIX = '\u0000unread';

function writtenValue(input: KvInput): string | null {
  return input.kind === 'put' || input.kind === 'cas' ? input.value : null;
}

/**
 * Two rewrites of one key's operations that keep linearizability exactly and tame unknown writes.
 *
 * 1. Values that no get returns and no cas expects are told apart by nothing: every step compares the
 *    state only with values that are read or expected, or with nil. They all become one stand-in value, so
 *    states that differ only in such values meet in the memo, and unknown writes of them become alike.
 * 2. An unknown write of a value no other operation writes, which some get or successful cas then saw,
 *    took effect (and, for a cas, succeeded) before the first of those observers returned: it gets that
 *    return time as its deadline instead of being optional (the reduction etcd's robustness tests use).
 */
export function prepareKv(ops: readonly Operation<KvInput, KvOutput>[]): Operation<KvInput, KvOutput>[] {
  const writers = new Map<string, number>();
  const read = new Set<string>();
  const firstSeenAt = new Map<string, number>();
  for (const op of ops) {
    const written = writtenValue(op.input);
    if (written !== null) writers.set(written, (writers.get(written) ?? 0) + 1);
    if (op.input.kind === 'cas' && op.input.expected !== null) read.add(op.input.expected);
    const out = op.output;
    if (isUnknown(out)) continue;
    let seen: string | null = null;
    if (out.kind === 'get') seen = out.value;
    else if (out.kind === 'cas' && out.ok && op.input.kind === 'cas') seen = op.input.expected;
    if (seen === null) continue;
    read.add(seen);
    firstSeenAt.set(seen, Math.min(firstSeenAt.get(seen) ?? Infinity, op.returnTime));
  }
  let unread = UNREAD_VALUE_PREFIX;
  while (writers.has(unread) || read.has(unread)) unread += '_';
  return ops.map((op) => {
    const written = writtenValue(op.input);
    if (written === null) return op;
    if (!read.has(written)) return { ...op, input: { ...op.input, value: unread } };
    const deadline = firstSeenAt.get(written) ?? Infinity;
    if (!isUnknown(op.output) || writers.get(written) !== 1 || deadline === Infinity || deadline < op.callTime) return op;
    const output: KvOutput | Unknown = op.input.kind === 'cas' ? { kind: 'cas', ok: true } : op.output;
    return { ...op, output, returnTime: deadline };
  });
}

/** A register per key, starting absent: the model of Meridian's KV API checked per key. */
export const kvModel: Model<KvState, KvInput, KvOutput> = {
  init: () => null,
  step: stepKv,
  equal: (a, b) => a === b,
  hash: (state) => (state === null ? NULL_STATE_HASH : hashString(state)),
  readOnly: (input) => input.kind === 'get',
  inputKey: describeKvInput,
  prepare: prepareKv,
  describeOperation: (input, output) => `${describeKvInput(input)} -> ${describeKvOutput(output)}`,
  describeState: show,
};
