// Linearizability checking of recorded histories: Wing & Gong's search with Lowe's memoisation (as in
// porcupine and Knossos), per key (P-compositionality), bounded in steps and time; plus a global check
// that the revisions answers carry respect real time.

import { performance } from 'node:perf_hooks';
import { assert } from '../../util/assert.js';
import { isUnknown, partitionByKey, type History, type Operation } from './history.js';
import type { KvInput, KvOutput, Model } from './model.js';

/**
 * Search steps allowed per key before the verdict for that key is 'unknown': a few seconds at most on a
 * loaded machine. Legal histories typically need a few steps per operation.
 */
export const CHECK_STEPS_PER_KEY_MAX_DEFAULT = 2_000_000;
/** How often (in search steps) the clock is read against the time bound: reading it is not free. */
export const CLOCK_CHECK_INTERVAL_STEPS = 1024;
/** Operations of a linearizable prefix listed in a message (the ones closest to the failure). */
export const MESSAGE_PREFIX_OPS_MAX = 12;
/** Revision violations kept in a result (all are counted). */
export const REVISION_VIOLATIONS_KEPT_MAX = 20;

export type Verdict = 'ok' | 'illegal' | 'unknown';

export interface CheckOptions {
  /** Default CHECK_STEPS_PER_KEY_MAX_DEFAULT. */
  readonly maxStepsPerKey?: number;
  /** A bound on the whole check's wall time; none by default, so verdicts replay exactly. */
  readonly timeoutMs?: number;
  /** The clock the time bound is measured with; default `performance.now`. */
  readonly now?: () => number;
}

export interface KeyCheck<Input, Output> {
  readonly key: string;
  readonly result: Verdict;
  /** Operations searched (unknown read-only operations are dropped first). */
  readonly opCount: number;
  readonly steps: number;
  /**
   * 'ok': a witness order of every operation that took effect. 'illegal' and 'unknown': the longest
   * linearizable prefix the search found.
   */
  readonly order: readonly Operation<Input, Output>[];
  /** 'illegal': the first operation that could not be placed after `order`. */
  readonly blocker: Operation<Input, Output> | null;
  /** The model state after `order`, described. */
  readonly stateAfterOrder: string;
  readonly message: string;
}

export interface LinearizabilityResult<Input, Output> {
  /** 'illegal' if any key is illegal, else 'unknown' if any key hit a bound, else 'ok'. */
  readonly result: Verdict;
  readonly keys: readonly KeyCheck<Input, Output>[];
  /** The first illegal key, for the failure message. */
  readonly illegal: KeyCheck<Input, Output> | null;
  readonly message: string;
  readonly steps: number;
  readonly elapsedMs: number;
}

interface Budget {
  readonly maxSteps: number;
  readonly started: number;
  readonly deadline: number;
  readonly now: () => number;
}

/** Checks a history key by key; pure apart from reading the clock for the optional time bound. */
export function checkLinearizability<State, Input, Output>(
  model: Model<State, Input, Output>,
  history: History<Input, Output>,
  options: CheckOptions = {},
): LinearizabilityResult<Input, Output> {
  const budget = makeBudget(options);
  const keys: KeyCheck<Input, Output>[] = [];
  for (const [key, ops] of partitionByKey(history)) keys.push(checkPartition(model, key, ops, budget));

  const illegal = keys.find((k) => k.result === 'illegal') ?? null;
  const unknownKeys = keys.filter((k) => k.result === 'unknown');
  const result: Verdict = illegal !== null ? 'illegal' : unknownKeys.length > 0 ? 'unknown' : 'ok';
  const steps = keys.reduce((sum, k) => sum + k.steps, 0);
  let message: string;
  if (illegal !== null) message = illegal.message;
  else if (unknownKeys.length > 0) message = `${unknownKeys.length} of ${keys.length} keys undecided: ${unknownKeys.map((k) => k.message).join('; ')}`;
  else message = `linearizable: ${history.length} operations over ${keys.length} keys`;
  return { result, keys, illegal, message, steps, elapsedMs: budget.now() - budget.started };
}

/** Checks operations that all share one key (already one partition); `key` names it in messages. */
export function checkKey<State, Input, Output>(
  model: Model<State, Input, Output>,
  key: string,
  history: History<Input, Output>,
  options: CheckOptions = {},
): KeyCheck<Input, Output> {
  return checkPartition(model, key, history, makeBudget(options));
}

function makeBudget(options: CheckOptions): Budget {
  const now = options.now ?? (() => performance.now());
  const maxSteps = options.maxStepsPerKey ?? CHECK_STEPS_PER_KEY_MAX_DEFAULT;
  assert(Number.isInteger(maxSteps) && maxSteps > 0, `checkLinearizability: maxStepsPerKey must be a positive integer, got ${maxSteps}`);
  const started = now();
  return { maxSteps, started, deadline: started + (options.timeoutMs ?? Infinity), now };
}

function checkPartition<State, Input, Output>(
  model: Model<State, Input, Output>,
  key: string,
  history: History<Input, Output>,
  budget: Budget,
): KeyCheck<Input, Output> {
  // A read-only operation whose answer is unknown constrains nothing.
  const ops = history.filter((op) => !(isUnknown(op.output) && model.readOnly?.(op.input) === true));
  const byId = new Map<number, Operation<Input, Output>>();
  for (const op of ops) {
    assert(Number.isFinite(op.callTime), `checkLinearizability: operation #${op.id} has call time ${op.callTime}`);
    assert(isUnknown(op.output) || (Number.isFinite(op.returnTime) && op.returnTime >= op.callTime),
      `checkLinearizability: operation #${op.id} returns at ${op.returnTime}, before its call at ${op.callTime}`);
    assert(!byId.has(op.id), `checkLinearizability: two operations with id #${op.id}`);
    byId.set(op.id, op);
  }
  if (budget.now() > budget.deadline) {
    return keyResult(model, key, ops, 'unknown', 0, [], null, model.init(), 'time bound reached before this key was checked');
  }
  // An unknown op may take effect at any time after its call, or never: it has no deadline.
  const normalized = ops.map((op) => (isUnknown(op.output) && op.returnTime !== Infinity ? { ...op, returnTime: Infinity } : op));
  const prepared = model.prepare?.(normalized) ?? normalized;
  assert(prepared.length === ops.length, 'checkLinearizability: model.prepare changed the number of operations');
  const outcome = new Search(model, key, prepared, budget).run();
  // Messages name the operations as recorded, not as the model rewrote them.
  const original = (i: number): Operation<Input, Output> => {
    const op = byId.get(prepared[i]?.id ?? -1);
    assert(op !== undefined, `checkLinearizability: prepare changed the id of operation ${i}`);
    return op;
  };
  const why = outcome.result === 'unknown' ? `search bound reached after ${outcome.steps} steps` : '';
  const blocker = outcome.blocker >= 0 ? original(outcome.blocker) : null;
  const order = outcome.order.map(original);
  return keyResult(model, key, ops, outcome.result, outcome.steps, order, blocker, replay(model, order) ?? outcome.state, why);
}

/** The state after applying `order` as recorded; null if the model rejects it (it never should). */
function replay<State, Input, Output>(model: Model<State, Input, Output>, order: readonly Operation<Input, Output>[]): State | null {
  let state = model.init();
  for (const op of order) {
    const stepped = model.step(state, op.input, op.output);
    if (!stepped.ok) return null;
    state = stepped.state;
  }
  return state;
}

interface SearchOutcome<State> {
  readonly result: Verdict;
  readonly steps: number;
  /** Indices into the searched ops: the witness ('ok') or the longest linearizable prefix found. */
  readonly order: readonly number[];
  /** 'illegal': the index of the first op that could not be placed after `order`; else -1. */
  readonly blocker: number;
  readonly state: State;
}

/** 32-bit finaliser of MurmurHash3: spreads op indices and state hashes over the memo's buckets. */
function mix32(x: number): number {
  let h = x >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Memo entries that share the applied required ops and the state. */
interface CacheGroup<State> {
  readonly bits: Uint32Array;
  readonly state: State;
  /** Per optional class, how many members were applied: the minimal vectors seen (an antichain). */
  readonly counts: Int32Array[];
}

/**
 * The backtracking search over one key, in flat typed arrays for speed. Required ops (finite return time)
 * sit in the event list. Optional ops (return time +Infinity: an unknown outcome) are kept apart: at a dead
 * end (a return whose op is not applied) the search tries the optional ops called before that return, and
 * only then backs off. Trying required ops first reaches configurations with few optional ops applied
 * first, which the memo's inclusion test then uses.
 */
class Search<State, Input, Output> {
  private readonly n: number;
  /** Event list of required ops: entries 0..2k-1 in time order, entry 2k is the head sentinel; -1 ends it. */
  private readonly head: number;
  private readonly next: Int32Array;
  private readonly prev: Int32Array;
  private readonly entryOp: Int32Array;
  /** For a call entry, its return entry; -1 for a return entry. */
  private readonly returnOf: Int32Array;
  /** For a required op, its call entry; -1 for an optional op. */
  private readonly callEntryOf: Int32Array;
  /** Time of each entry: an optional op may be applied before a return when it was called no later. */
  private readonly entryTime: Float64Array;
  private readonly required: Uint8Array;
  /**
   * Zobrist keys: the hash of the applied required ops is the XOR of their keys, updated in O(1).
   * Optional ops are left out: the memo compares them by class counts, by inclusion (see remember).
   */
  private readonly zobrist: Uint32Array;
  /** The applied required ops (optional ops are tracked by class counts). */
  private readonly bits: Uint32Array;
  private setHash = 0;
  private readonly cache = new Map<number, CacheGroup<State>[]>();
  /**
   * Optional ops with equal inputs form a class and are applied in call order only (symmetry reduction),
   * so the applied members of a class are always a prefix of `classMembers[c]`.
   */
  private readonly classOf: Int32Array;
  private readonly classMembers: number[][] = [];
  private classApplied = new Int32Array(0);
  private readonly stackOp: Int32Array;
  /** For an optional op on the stack: the return entry it was applied in front of. */
  private readonly stackBarrier: Int32Array;
  private readonly stackState: State[] = [];
  private depth = 0;
  private state: State;
  private steps = 0;
  // The longest linearizable prefix seen, captured lazily when the search first backs off from it.
  private bestDepth = 0;
  private bestDirty = true;
  private bestOrder: number[] = [];
  private bestState: State;
  private bestBlocker = -1;

  constructor(
    private readonly model: Model<State, Input, Output>,
    private readonly key: string,
    private readonly ops: readonly Operation<Input, Output>[],
    private readonly budget: Budget,
  ) {
    const n = ops.length;
    this.n = n;
    this.required = Uint8Array.from(ops, (op) => (op.returnTime === Infinity ? 0 : 1));
    const entries = 2 * this.required.reduce((sum, k) => sum + k, 0);
    this.head = entries;
    this.next = new Int32Array(entries + 1);
    this.prev = new Int32Array(entries + 1);
    this.entryOp = new Int32Array(entries);
    this.returnOf = new Int32Array(entries);
    this.entryTime = new Float64Array(entries);
    this.callEntryOf = new Int32Array(n).fill(-1);
    this.zobrist = new Uint32Array(n);
    this.bits = new Uint32Array(Math.ceil(n / 32));
    this.classOf = new Int32Array(n).fill(-1);
    this.stackOp = new Int32Array(n);
    this.stackBarrier = new Int32Array(n);
    this.state = model.init();
    this.bestState = this.state;
    for (let op = 0; op < n; op++) {
      if (this.required[op] === 0) continue;
      this.zobrist[op] = mix32(op + 1);
    }
    this.buildEventList();
    this.buildOptionalClasses();
    // The empty configuration dominates any later one that applies only optional ops and comes back to it.
    this.remember(this.state);
  }

  private op(i: number): Operation<Input, Output> {
    const op = this.ops[i];
    assert(op !== undefined, `Search: no operation at index ${i}`);
    return op;
  }

  private buildEventList(): void {
    const events: { op: number; call: boolean; time: number }[] = [];
    for (let op = 0; op < this.n; op++) {
      if (this.required[op] === 0) continue;
      events.push({ op, call: true, time: this.op(op).callTime }, { op, call: false, time: this.op(op).returnTime });
    }
    // Calls before returns on ties: operations that touch in time count as concurrent.
    events.sort((a, b) => a.time - b.time || Number(b.call) - Number(a.call) || a.op - b.op);
    events.forEach((event, pos) => {
      this.entryOp[pos] = event.op;
      this.entryTime[pos] = event.time;
      this.returnOf[pos] = -1;
      if (event.call) this.callEntryOf[event.op] = pos;
      else this.returnOf[this.callEntryOf[event.op] ?? -1] = pos;
      this.next[pos] = pos + 1 < events.length ? pos + 1 : -1;
      this.prev[pos] = pos === 0 ? this.head : pos - 1;
    });
    this.next[this.head] = events.length > 0 ? 0 : -1;
    this.prev[this.head] = -1;
  }

  private buildOptionalClasses(): void {
    const classByKey = new Map<string, number>();
    const optionalOps: number[] = [];
    for (let op = 0; op < this.n; op++) if (this.required[op] === 0) optionalOps.push(op);
    optionalOps.sort((a, b) => this.op(a).callTime - this.op(b).callTime || a - b);
    for (const op of optionalOps) {
      const key = this.model.inputKey?.(this.op(op).input) ?? `#${op}`;
      let c = classByKey.get(key);
      if (c === undefined) {
        c = this.classMembers.length;
        classByKey.set(key, c);
        this.classMembers.push([]);
      }
      this.classOf[op] = c;
      this.classMembers[c]?.push(op);
    }
    this.classApplied = new Int32Array(this.classMembers.length);
  }

  run(): SearchOutcome<State> {
    let requiredRemaining = this.head / 2;
    let entry = this.next[this.head] ?? -1;
    // -1 while walking the event list; otherwise the next optional class to try in front of `barrier`.
    let nextClass = -1;
    let barrier = -1;
    for (;;) {
      // Optional ops left over never took effect (or took effect last, which nobody observed).
      if (requiredRemaining === 0) return this.finish('ok');
      if (this.steps >= this.budget.maxSteps) return this.finish('unknown');
      this.steps++;
      if (this.steps % CLOCK_CHECK_INTERVAL_STEPS === 0 && this.budget.now() > this.budget.deadline) return this.finish('unknown');
      if (nextClass < 0) {
        assert(entry >= 0, `Search: fell off the event list of key ${this.key}`);
        if ((this.returnOf[entry] ?? -1) >= 0) {
          if (this.maybeApply(this.entryOp[entry] ?? -1, -1)) {
            requiredRemaining--;
            entry = this.next[this.head] ?? -1;
          } else {
            entry = this.next[entry] ?? -1;
          }
        } else {
          // A return of an op not yet applied: before backing off, try the optional ops.
          barrier = entry;
          nextClass = 0;
        }
        continue;
      }
      if (nextClass < this.classMembers.length) {
        const op = this.optionalCandidate(nextClass, barrier);
        if (op >= 0 && this.maybeApply(op, barrier)) {
          nextClass = -1;
          entry = this.next[this.head] ?? -1;
        } else {
          nextClass++;
        }
        continue;
      }
      // Nothing can go in front of `barrier`: this order cannot be extended.
      if (this.bestDirty) this.captureBest(this.entryOp[barrier] ?? -1);
      if (this.depth === 0) return this.finish('illegal');
      const undone = this.undoLast();
      if (this.required[undone] === 1) {
        requiredRemaining++;
        nextClass = -1;
        entry = this.next[this.callEntryOf[undone] ?? -1] ?? -1;
      } else {
        nextClass = (this.classOf[undone] ?? -1) + 1;
        barrier = this.stackBarrier[this.depth] ?? -1;
      }
    }
  }

  /** The first unapplied op of optional class `c` if it was called no later than the `barrier` return. */
  private optionalCandidate(c: number, barrier: number): number {
    const op = this.classMembers[c]?.[this.classApplied[c] ?? 0];
    if (op === undefined) return -1;
    return this.op(op).callTime <= (this.entryTime[barrier] ?? -Infinity) ? op : -1;
  }

  /** Applies `op` if the model accepts it and the resulting (set, state) pair is new. */
  private maybeApply(op: number, barrier: number): boolean {
    const o = this.op(op);
    const stepped = this.model.step(this.state, o.input, o.output);
    if (!stepped.ok) return false;
    this.mark(op, 1);
    if (!this.remember(stepped.state)) {
      this.mark(op, -1);
      return false;
    }
    this.stackOp[this.depth] = op;
    this.stackBarrier[this.depth] = barrier;
    this.stackState[this.depth] = this.state;
    this.depth++;
    this.state = stepped.state;
    if (this.required[op] === 1) this.lift(this.callEntryOf[op] ?? -1);
    if (this.depth > this.bestDepth) {
      this.bestDepth = this.depth;
      this.bestDirty = true;
    }
    return true;
  }

  /** Pops the last applied op, restoring the state before it; returns the op. */
  private undoLast(): number {
    this.depth--;
    const op = this.stackOp[this.depth] ?? -1;
    const state = this.stackState[this.depth];
    assert(state !== undefined, 'Search: empty stack slot');
    this.state = state;
    this.mark(op, -1);
    if (this.required[op] === 1) this.unlift(this.callEntryOf[op] ?? -1);
    return op;
  }

  /** Records `op` as applied (+1) or not (-1): a bit and the set hash, or its class's count. */
  private mark(op: number, delta: 1 | -1): void {
    if (this.required[op] === 0) {
      const c = this.classOf[op] ?? -1;
      this.classApplied[c] = (this.classApplied[c] ?? 0) + delta;
      return;
    }
    const word = op >>> 5;
    this.bits[word] = (this.bits[word] ?? 0) ^ (1 << (op & 31));
    this.setHash = (this.setHash ^ (this.zobrist[op] ?? 0)) >>> 0;
  }

  /**
   * Adds (applied set, state) to the memo; false if it is dominated by a configuration already seen.
   * Lowe's memo drops exact repeats. Optional ops let it drop more: they are never due, so a configuration
   * with the same required ops and state but a subset of the optional ops applied can do everything this
   * one can. Without this, k unknown writes in flight cost 2^k on an illegal history.
   */
  private remember(state: State): boolean {
    const hash = (this.setHash ^ mix32(this.model.hash(state) ^ 0x5bd1e995)) >>> 0;
    let bucket = this.cache.get(hash);
    if (bucket === undefined) {
      bucket = [];
      this.cache.set(hash, bucket);
    }
    let group = bucket.find((g) => sameBits(g.bits, this.bits) && this.model.equal(g.state, state));
    if (group === undefined) {
      group = { bits: this.bits.slice(), state, counts: [] };
      bucket.push(group);
    } else {
      const counts = group.counts;
      let kept = 0;
      for (const seen of counts) {
        if (countsAtMost(seen, this.classApplied)) return false;
        // An entry this configuration dominates is no longer needed.
        if (!countsAtMost(this.classApplied, seen)) counts[kept++] = seen;
      }
      counts.length = kept;
    }
    group.counts.push(this.classApplied.slice());
    return true;
  }

  /** Unlinks a call and its return from the event list; the removed nodes keep their links for unlift. */
  private lift(call: number): void {
    this.unlink(call);
    this.unlink(this.returnOf[call] ?? -1);
  }

  private unlift(call: number): void {
    this.relink(this.returnOf[call] ?? -1);
    this.relink(call);
  }

  private unlink(e: number): void {
    const p = this.prev[e] ?? -1;
    const nx = this.next[e] ?? -1;
    this.next[p] = nx;
    if (nx >= 0) this.prev[nx] = p;
  }

  private relink(e: number): void {
    const p = this.prev[e] ?? -1;
    const nx = this.next[e] ?? -1;
    this.next[p] = e;
    if (nx >= 0) this.prev[nx] = e;
  }

  private captureBest(blocker: number): void {
    this.bestOrder = Array.from(this.stackOp.subarray(0, this.depth));
    this.bestState = this.state;
    this.bestBlocker = blocker;
    this.bestDirty = false;
  }

  private finish(result: Verdict): SearchOutcome<State> {
    if (result === 'ok') return { result, steps: this.steps, order: Array.from(this.stackOp.subarray(0, this.depth)), blocker: -1, state: this.state };
    if (this.bestDirty) this.captureBest(-1);
    const blocker = result === 'illegal' ? this.bestBlocker : -1;
    return { result, steps: this.steps, order: this.bestOrder, blocker, state: this.bestState };
  }
}

function sameBits(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Whether every class count in `a` is at most the one in `b`. */
function countsAtMost(a: Int32Array, b: Int32Array): boolean {
  for (let i = 0; i < a.length; i++) if ((a[i] ?? 0) > (b[i] ?? 0)) return false;
  return true;
}

function keyResult<State, Input, Output>(
  model: Model<State, Input, Output>,
  key: string,
  ops: readonly Operation<Input, Output>[],
  result: Verdict,
  steps: number,
  order: readonly Operation<Input, Output>[],
  blocker: Operation<Input, Output> | null,
  state: State,
  why: string,
): KeyCheck<Input, Output> {
  const stateAfterOrder = model.describeState(state);
  let message: string;
  if (result === 'ok') {
    message = `key ${JSON.stringify(key)}: linearizable (${ops.length} operations, ${steps} steps)`;
  } else if (result === 'unknown') {
    message = `key ${JSON.stringify(key)}: undecided, ${why} (longest linearizable prefix ${order.length} of ${ops.length} operations)`;
  } else {
    const failed = blocker === null ? 'no operation could be placed' : `operation ${describeOp(model, blocker)} could not be placed`;
    message =
      `key ${JSON.stringify(key)}: not linearizable: ${failed} after the longest linearizable prefix ` +
      `(${order.length} of ${ops.length} operations), which leaves state ${stateAfterOrder}.\n` +
      `  prefix: ${describeOrder(model, order)}`;
  }
  return { key, result, opCount: ops.length, steps, order, blocker, stateAfterOrder, message };
}

/** `#17 c2 get() -> "b" [105, 110]`: how messages name an operation. */
export function describeOp<State, Input, Output>(model: Model<State, Input, Output>, op: Operation<Input, Output>): string {
  const ret = isUnknown(op.output) ? '?' : String(op.returnTime);
  return `#${op.id} c${op.clientId} ${model.describeOperation(op.input, op.output)} [${op.callTime}, ${ret}]`;
}

function describeOrder<State, Input, Output>(model: Model<State, Input, Output>, order: readonly Operation<Input, Output>[]): string {
  if (order.length === 0) return '(empty)';
  const shown = order.slice(-MESSAGE_PREFIX_OPS_MAX).map((op) => describeOp(model, op));
  const hidden = order.length - shown.length;
  return (hidden > 0 ? `(${hidden} earlier) ... ` : '') + shown.join('; ');
}

// ---- revisions against real time ----

/** How to read revisions from a history's outputs. */
export interface RevisionView<Input, Output> {
  /** The revision the answer carries, if any (never asked of an UNKNOWN output). */
  revision(input: Input, output: Output): number | undefined;
  /** True when the operation created a new revision (a write that took effect). */
  createdRevision(input: Input, output: Output): boolean;
}

/**
 * For the KV model: put and a successful cas always create a revision; a delete only when it is recorded
 * as having removed a key (etcd does not bump the revision for a delete of nothing).
 */
export const kvRevisionView: RevisionView<KvInput, KvOutput> = {
  revision: (_input, output) => output.revision,
  createdRevision: (_input, output) =>
    output.kind === 'put' || (output.kind === 'cas' && output.ok) || (output.kind === 'delete' && output.deleted === true),
};

export interface RevisionViolation<Input, Output> {
  readonly earlier: Operation<Input, Output>;
  readonly later: Operation<Input, Output>;
  readonly message: string;
}

export interface RevisionCheckResult<Input, Output> {
  readonly ok: boolean;
  readonly violationCount: number;
  /** The first REVISION_VIOLATIONS_KEPT_MAX violations in call order of the later operation. */
  readonly violations: readonly RevisionViolation<Input, Output>[];
}

interface RevisionedOp<Input, Output> {
  readonly op: Operation<Input, Output>;
  readonly revision: number;
  readonly created: boolean;
}

/**
 * If A returned before B was called then rev(A) <= rev(B), across all keys. When B created a revision it
 * must be strictly greater: every revision an answer reports existed when that answer was sent, and B's
 * new revision was made after it.
 */
export function checkRevisionsRespectRealTime(history: History<KvInput, KvOutput>): RevisionCheckResult<KvInput, KvOutput>;
export function checkRevisionsRespectRealTime<Input, Output>(
  history: History<Input, Output>,
  view: RevisionView<Input, Output>,
): RevisionCheckResult<Input, Output>;
export function checkRevisionsRespectRealTime<Input, Output>(
  history: History<Input, Output>,
  view?: RevisionView<Input, Output>,
): RevisionCheckResult<Input, Output> {
  // Without a view the history is a KV history (the first overload).
  const v = view ?? (kvRevisionView as unknown as RevisionView<Input, Output>);
  const ops: RevisionedOp<Input, Output>[] = [];
  for (const op of history) {
    if (isUnknown(op.output)) continue;
    const revision = v.revision(op.input, op.output);
    if (revision === undefined) continue;
    ops.push({ op, revision, created: v.createdRevision(op.input, op.output) });
  }
  const byReturn = [...ops].sort((a, b) => a.op.returnTime - b.op.returnTime || a.op.id - b.op.id);
  const byCall = [...ops].sort((a, b) => a.op.callTime - b.op.callTime || a.op.id - b.op.id);
  const violations: RevisionViolation<Input, Output>[] = [];
  let violationCount = 0;
  let returned = 0;
  let highest: RevisionedOp<Input, Output> | null = null;
  for (const later of byCall) {
    // Sweep in every operation that returned strictly before this call, keeping the highest revision.
    for (let done = byReturn[returned]; done !== undefined && done.op.returnTime < later.op.callTime; done = byReturn[++returned]) {
      if (highest === null || done.revision > highest.revision) highest = done;
    }
    if (highest === null) continue;
    const bad = later.created ? later.revision <= highest.revision : later.revision < highest.revision;
    if (!bad) continue;
    violationCount++;
    if (violations.length >= REVISION_VIOLATIONS_KEPT_MAX) continue;
    const need = later.created ? `a new revision above ${highest.revision}` : `revision >= ${highest.revision}`;
    violations.push({
      earlier: highest.op,
      later: later.op,
      message:
        `operation #${later.op.id} (key ${JSON.stringify(later.op.key)}, called at ${later.op.callTime}) reports revision ${later.revision}, ` +
        `but #${highest.op.id} (key ${JSON.stringify(highest.op.key)}) returned revision ${highest.revision} at ${highest.op.returnTime}, before it was called: expected ${need}`,
    });
  }
  return { ok: violationCount === 0, violationCount, violations };
}
