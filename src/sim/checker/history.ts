// Recorded client operations: what the linearizability checker judges. Clients record each call and its
// outcome (or UNKNOWN when the call timed out or the connection broke) with monotonic times.

import { assert } from '../../util/assert.js';

/**
 * The outcome of an operation whose result the client never learned. An unknown write may have taken
 * effect at any time after its call, or never.
 */
export const UNKNOWN: unique symbol = Symbol('meridian.checker.unknown');
export type Unknown = typeof UNKNOWN;

export function isUnknown<O>(output: O | Unknown): output is Unknown {
  return output === UNKNOWN;
}

/** One client operation on one key. Times come from one monotonic clock shared by every client. */
export interface Operation<Input, Output> {
  /** Unique within a history; the checker's messages name operations by it (`#17`). */
  readonly id: number;
  readonly clientId: number;
  /** The partition key: operations on different keys are checked independently. */
  readonly key: string;
  readonly input: Input;
  readonly output: Output | Unknown;
  readonly callTime: number;
  /** +Infinity when the output is UNKNOWN: the operation may take effect at any point after its call. */
  readonly returnTime: number;
}

export type History<Input, Output> = readonly Operation<Input, Output>[];

/** A handle on an operation in flight, returned by `HistoryRecorder.call`. */
export interface PendingOperation {
  readonly id: number;
}

interface MutableOperation<Input, Output> {
  id: number;
  clientId: number;
  key: string;
  input: Input;
  output: Output | Unknown;
  callTime: number;
  returnTime: number;
  done: boolean;
}

/**
 * Collects a history as clients run: `const op = rec.call(client, key, input, now)`, then
 * `rec.ret(op, output, now)` or `rec.unknown(op)`. Operations still in flight when the history is read
 * count as unknown, since the run ended before their outcome was known.
 */
export class HistoryRecorder<Input, Output> {
  private readonly ops: MutableOperation<Input, Output>[] = [];

  call(clientId: number, key: string, input: Input, now: number): PendingOperation {
    assert(Number.isFinite(now), `HistoryRecorder.call: call time must be finite, got ${now}`);
    const id = this.ops.length;
    this.ops.push({ id, clientId, key, input, output: UNKNOWN, callTime: now, returnTime: Infinity, done: false });
    return { id };
  }

  ret(pending: PendingOperation, output: Output, now: number): void {
    const op = this.open(pending, 'ret');
    assert(Number.isFinite(now) && now >= op.callTime, `HistoryRecorder.ret: operation #${op.id} returns at ${now}, before its call at ${op.callTime}`);
    op.output = output;
    op.returnTime = now;
    op.done = true;
  }

  /** The call timed out or its connection broke: the outcome stays unknown. */
  unknown(pending: PendingOperation): void {
    const op = this.open(pending, 'unknown');
    op.done = true;
  }

  get size(): number {
    return this.ops.length;
  }

  /** A snapshot of every operation recorded so far, in call order. */
  history(): Operation<Input, Output>[] {
    return this.ops.map((op) => ({
      id: op.id,
      clientId: op.clientId,
      key: op.key,
      input: op.input,
      output: op.output,
      callTime: op.callTime,
      returnTime: op.returnTime,
    }));
  }

  private open(pending: PendingOperation, what: string): MutableOperation<Input, Output> {
    const op = this.ops[pending.id];
    assert(op !== undefined, `HistoryRecorder.${what}: no operation #${pending.id}`);
    assert(!op.done, `HistoryRecorder.${what}: operation #${pending.id} already completed`);
    return op;
  }
}

/** Splits a history by key (P-compositionality), keys in sorted order so every run checks them alike. */
export function partitionByKey<Input, Output>(history: History<Input, Output>): Map<string, Operation<Input, Output>[]> {
  const byKey = new Map<string, Operation<Input, Output>[]>();
  for (const op of history) {
    let ops = byKey.get(op.key);
    if (ops === undefined) {
      ops = [];
      byKey.set(op.key, ops);
    }
    ops.push(op);
  }
  return new Map([...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
