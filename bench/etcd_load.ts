// Our own load generator for the etcd v3 gRPC API, shaped like etcd's tools/benchmark: N clients, each an
// outstanding-request loop, share a few gRPC channels spread over the cluster's endpoints; one row gives
// throughput, a latency distribution and every error by gRPC code.

import * as grpc from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';
import { etcdMethod } from '../src/wire/etcd_proto.js';
import { Prng } from '../src/util/prng.js';

/** Bytes of every value written. */
export const VALUE_BYTES = 256;
/** Keys are chosen uniformly from this many. */
export const KEY_COUNT = 10_000;
/** Most gRPC channels (TCP connections) of one row; a multiple of 3 so a 3-member cluster gets an even share. */
export const CONNS_MAX = 6;
/** Deadline of one request; a request past it counts as a DEADLINE_EXCEEDED error. */
export const REQUEST_DEADLINE_MS = 10_000;
/** After a failed request the client waits this long, so a dead endpoint does not turn into a busy loop. */
export const ERROR_BACKOFF_MS = 20;
/** How long a row may take to drain its in-flight requests after the window closes. */
export const DRAIN_TIMEOUT_MS = REQUEST_DEADLINE_MS + 2_000;
/** Clients used to write every key once before the rows (not measured). */
export const PREFILL_CLIENTS = 64;
/** Bound of the prefill (10,000 puts); a cluster slower than ~100 puts/s fails it. */
export const PREFILL_TIMEOUT_MS = 100_000;
/** Seed of the key choices, so two sides of one run see the same key sequence per client. */
export const LOAD_SEED = 0x6d65_7269;
/** Error kinds whose first messages a row keeps for the report. */
const ERROR_MESSAGE_SAMPLES = 1;

const KEY_PREFIX = 'bench/key/';
const KEY_DIGITS = 5;

// etcd's Compare enums (rpc.proto).
const COMPARE_EQUAL = 0;
const COMPARE_TARGET_MOD = 2;

export type Workload =
  | { readonly kind: 'put' }
  | { readonly kind: 'range'; readonly serializable: boolean }
  | { readonly kind: 'txn-cas' };

export interface LoadSpec {
  readonly workload: Workload;
  readonly clients: number;
  /** Requests run but are not measured for this long first. */
  readonly warmupMs: number;
  readonly measureMs: number;
  /** Called when the measured window opens and closes (the driver samples CPU there). */
  readonly onWindowStart?: () => void;
  readonly onWindowEnd?: () => void;
}

export interface ErrorTally {
  count: number;
  firstMessages: string[];
}

export interface LoadResult {
  /** Requests that succeeded and completed inside the window. */
  readonly ops: number;
  readonly windowSeconds: number;
  readonly opsPerSecond: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** Every failed request of the row (warm-up and drain included), by gRPC code name or check name. */
  readonly errors: ReadonlyMap<string, ErrorTally>;
  readonly errorCount: number;
  /** txn-cas only: transactions of the window whose compare was false (a conflict, not an error). */
  readonly casFailed: number;
  readonly conns: number;
}

interface Message {
  readonly [field: string]: unknown;
}

type Outcome = { readonly ok: true; readonly casFailed: boolean } | { readonly ok: false; readonly kind: string; readonly message: string };

export function benchKey(i: number): Buffer {
  return Buffer.from(KEY_PREFIX + i.toString().padStart(KEY_DIGITS, '0'));
}

/** The value of the p-th percentile (0 < p ≤ 100) of ascending samples, nearest rank. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] ?? Number.NaN;
}

function grpcCodeName(code: number): string {
  const name = (grpc.status as unknown as Record<number, string | undefined>)[code];
  return name ?? `code ${code}`;
}

function field(m: unknown, name: string): unknown {
  return typeof m === 'object' && m !== null ? (m as Message)[name] : undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A generator bound to one cluster: the encoded keys, the value, the methods, and the last mod_revision seen
 * of each key (shared by all clients, for txn compare-and-swap).
 */
export class EtcdLoad {
  private readonly keys: readonly Buffer[] = Array.from({ length: KEY_COUNT }, (_, i) => benchKey(i));
  private readonly value: Buffer;
  private readonly modRevisions: string[] = new Array<string>(KEY_COUNT).fill('0');
  private readonly put = etcdMethod('kv', 'Put');
  private readonly range = etcdMethod('kv', 'Range');
  private readonly txn = etcdMethod('kv', 'Txn');

  /** `endpoints` are host:port. */
  constructor(private readonly endpoints: readonly string[]) {
    if (endpoints.length === 0) throw new Error('EtcdLoad needs at least one endpoint (host:port)');
    const rng = new Prng(LOAD_SEED);
    this.value = Buffer.from(Array.from({ length: VALUE_BYTES }, () => rng.int(256)));
  }

  /** Writes every key once with PREFILL_CLIENTS clients, so ranges find them and CAS knows their revisions. */
  async prefill(): Promise<{ errorCount: number; errors: ReadonlyMap<string, ErrorTally> }> {
    const channels = this.openChannels(PREFILL_CLIENTS);
    const errors = new Map<string, ErrorTally>();
    let next = 0;
    let written = 0;
    let errorCount = 0;
    const deadlineAt = Date.now() + PREFILL_TIMEOUT_MS;
    const loop = async (channel: grpc.Client): Promise<void> => {
      while (next < KEY_COUNT) {
        const i = next++;
        // Retry a key until it is written: the range rows assume every key exists.
        for (;;) {
          if (Date.now() >= deadlineAt) return;
          const outcome = await this.doPut(channel, i);
          if (outcome.ok) break;
          errorCount++;
          tally(errors, outcome.kind, outcome.message);
          await sleep(ERROR_BACKOFF_MS);
        }
        written++;
      }
    };
    try {
      await Promise.all(Array.from({ length: PREFILL_CLIENTS }, (_, c) => loop(pick(channels, c))));
    } finally {
      for (const ch of channels) ch.close();
    }
    if (written < KEY_COUNT) throw new Error(`Prefill wrote ${written} of ${KEY_COUNT} keys in ${PREFILL_TIMEOUT_MS} ms; errors: ${formatErrors(errors)}`);
    return { errorCount, errors };
  }

  /** Runs one row: warm-up, then the measured window, then a bounded drain. */
  async run(spec: LoadSpec): Promise<LoadResult> {
    if (!Number.isInteger(spec.clients) || spec.clients < 1) throw new Error(`clients must be a positive integer, got ${spec.clients}`);
    const channels = this.openChannels(spec.clients);
    const errors = new Map<string, ErrorTally>();
    const latencies: number[] = [];
    let errorCount = 0;
    let casFailed = 0;
    const start = performance.now();
    const windowStart = start + spec.warmupMs;
    const windowEnd = windowStart + spec.measureMs;
    const startTimer = setTimeout(() => spec.onWindowStart?.(), spec.warmupMs);
    const endTimer = setTimeout(() => spec.onWindowEnd?.(), spec.warmupMs + spec.measureMs);
    const rootRng = new Prng(LOAD_SEED);

    const loop = async (channel: grpc.Client, rng: Prng): Promise<void> => {
      while (performance.now() < windowEnd) {
        const t0 = performance.now();
        const outcome = await this.once(spec.workload, channel, rng);
        const t1 = performance.now();
        if (!outcome.ok) {
          errorCount++;
          tally(errors, outcome.kind, outcome.message);
          await sleep(ERROR_BACKOFF_MS);
          continue;
        }
        if (t1 < windowStart || t1 >= windowEnd) continue;
        latencies.push(t1 - t0);
        if (outcome.casFailed) casFailed++;
      }
    };

    const loops = Promise.all(Array.from({ length: spec.clients }, (_, c) => loop(pick(channels, c), rootRng.fork())));
    let drainTimer: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      loops.then(() => true),
      new Promise<boolean>((resolve) => {
        drainTimer = setTimeout(() => resolve(false), spec.warmupMs + spec.measureMs + DRAIN_TIMEOUT_MS);
      }),
    ]);
    clearTimeout(drainTimer);
    clearTimeout(startTimer);
    clearTimeout(endTimer);
    for (const ch of channels) ch.close();
    if (!drained) {
      errorCount++;
      tally(errors, 'DRAIN_TIMEOUT', `requests still in flight ${DRAIN_TIMEOUT_MS} ms after the window closed`);
    }
    return summarize({ latencies, errors, errorCount, casFailed, measureMs: spec.measureMs, conns: channels.length });
  }

  private openChannels(clients: number): grpc.Client[] {
    const conns = Math.min(clients, CONNS_MAX);
    // A local subchannel pool per channel, so each one really is its own TCP connection (grpc-js shares
    // connections between channels with equal targets and options otherwise).
    return Array.from({ length: conns }, (_, i) => new grpc.Client(pick(this.endpoints, i), grpc.credentials.createInsecure(), {
      'grpc.use_local_subchannel_pool': 1,
    }));
  }

  private once(workload: Workload, channel: grpc.Client, rng: Prng): Promise<Outcome> {
    const i = rng.int(KEY_COUNT);
    switch (workload.kind) {
      case 'put': return this.doPut(channel, i);
      case 'range': return this.doRange(channel, i, workload.serializable);
      case 'txn-cas': return this.doCas(channel, i);
    }
  }

  private async doPut(channel: grpc.Client, i: number): Promise<Outcome> {
    const res = await unary(channel, this.put, { key: this.keys[i], value: this.value });
    if (!res.ok) return res;
    const revision = field(field(res.value, 'header'), 'revision');
    if (typeof revision !== 'string') return { ok: false, kind: 'BAD_RESPONSE', message: 'PutResponse has no header.revision' };
    this.modRevisions[i] = revision;
    return { ok: true, casFailed: false };
  }

  private async doRange(channel: grpc.Client, i: number, serializable: boolean): Promise<Outcome> {
    const res = await unary(channel, this.range, { key: this.keys[i], serializable });
    if (!res.ok) return res;
    const kvs = field(res.value, 'kvs');
    if (!Array.isArray(kvs) || kvs.length !== 1) {
      return { ok: false, kind: 'WRONG_RESULT', message: `range of ${String(this.keys[i])} returned ${Array.isArray(kvs) ? kvs.length : 'no'} kvs, expected 1` };
    }
    const value = field(kvs[0], 'value');
    if (!Buffer.isBuffer(value) || value.length !== VALUE_BYTES) {
      return { ok: false, kind: 'WRONG_RESULT', message: `range of ${String(this.keys[i])} returned a value of ${Buffer.isBuffer(value) ? value.length : '?'} bytes, expected ${VALUE_BYTES}` };
    }
    return { ok: true, casFailed: false };
  }

  /** Compare mod_revision with the last one seen, then put; on a conflict the failure branch reads the key back. */
  private async doCas(channel: grpc.Client, i: number): Promise<Outcome> {
    const key = this.keys[i];
    const request = {
      compare: [{ result: COMPARE_EQUAL, target: COMPARE_TARGET_MOD, key, mod_revision: this.modRevisions[i] }],
      success: [{ request_put: { key, value: this.value } }],
      failure: [{ request_range: { key } }],
    };
    const res = await unary(channel, this.txn, request);
    if (!res.ok) return res;
    const succeeded = field(res.value, 'succeeded');
    if (succeeded === true) {
      const revision = field(field(res.value, 'header'), 'revision');
      if (typeof revision !== 'string') return { ok: false, kind: 'BAD_RESPONSE', message: 'TxnResponse has no header.revision' };
      this.modRevisions[i] = revision;
      return { ok: true, casFailed: false };
    }
    const responses = field(res.value, 'responses');
    const kvs = Array.isArray(responses) ? field(field(responses[0], 'response_range'), 'kvs') : undefined;
    const modRevision = Array.isArray(kvs) ? field(kvs[0], 'mod_revision') : undefined;
    if (typeof modRevision !== 'string') {
      return { ok: false, kind: 'WRONG_RESULT', message: `failed CAS on ${String(key)} returned no current mod_revision` };
    }
    this.modRevisions[i] = modRevision;
    return { ok: true, casFailed: true };
  }
}

function pick<T>(items: readonly T[], i: number): T {
  const item = items[i % items.length];
  if (item === undefined) throw new Error(`pick from an empty list (index ${i})`);
  return item;
}

function tally(errors: Map<string, ErrorTally>, kind: string, message: string): void {
  const t = errors.get(kind) ?? { count: 0, firstMessages: [] };
  t.count++;
  if (t.firstMessages.length < ERROR_MESSAGE_SAMPLES) t.firstMessages.push(message);
  errors.set(kind, t);
}

/** `KIND×n (first message)`, comma-separated; `none` when empty. */
export function formatErrors(errors: ReadonlyMap<string, ErrorTally>): string {
  if (errors.size === 0) return 'none';
  return [...errors].map(([kind, t]) => `${kind}×${t.count} (${t.firstMessages.join('; ')})`).join(', ');
}

function unary(channel: grpc.Client, method: MethodDefinition<object, object>, request: object): Promise<{ ok: true; value: unknown } | { ok: false; kind: string; message: string }> {
  return new Promise((resolve) => {
    channel.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, request, { deadline: Date.now() + REQUEST_DEADLINE_MS }, (err, value) => {
      if (err !== null) resolve({ ok: false, kind: grpcCodeName(err.code), message: err.details || err.message });
      else if (value === undefined) resolve({ ok: false, kind: 'BAD_RESPONSE', message: `${method.path}: empty response` });
      else resolve({ ok: true, value });
    });
  });
}

function summarize(r: {
  latencies: number[]; errors: Map<string, ErrorTally>; errorCount: number; casFailed: number; measureMs: number; conns: number;
}): LoadResult {
  const sorted = Float64Array.from(r.latencies).sort();
  const windowSeconds = r.measureMs / 1000;
  return {
    ops: sorted.length, windowSeconds, opsPerSecond: sorted.length / windowSeconds,
    p50Ms: percentile(sorted, 50), p90Ms: percentile(sorted, 90), p99Ms: percentile(sorted, 99),
    maxMs: sorted.length === 0 ? Number.NaN : (sorted[sorted.length - 1] ?? Number.NaN),
    errors: r.errors, errorCount: r.errorCount, casFailed: r.casFailed, conns: r.conns,
  };
}
