// The client's connection to the cluster: one gRPC channel per member, the member list with each member's DC,
// the choice of member (own DC first), and unary calls with deadlines and bounded, jittered failover retries.

import * as grpc from '@grpc/grpc-js';
import { etcdMethod, type ServiceKey } from '../wire/etcd_proto.js';
import { assert } from '../util/assert.js';
import { asGrpcFailure, EtcdMessage, fromGrpc, GrpcStatus, MeridianClientError } from './errors.js';
import {
  CONNECT_DEFAULTS, MEMBER_REFRESH_INTERVAL_MS_MIN, RECONNECT_BACKOFF_MS_INITIAL, RECONNECT_BACKOFF_MS_MAX,
  STATUS_FETCH_TIMEOUT_MS, STATUS_PORT_OFFSET_DEFAULT, WATCH_BUFFERED_EVENTS_MAX,
} from './limits.js';

/** A decoded protobuf message as proto-loader hands it out (field names as in the .proto). */
export type PbMessage = Record<string, unknown>;

export interface ConnectOptions {
  /** Seed members, as `host:port` or `http://host:port`; the rest are learned from the member list. */
  readonly endpoints: readonly string[];
  /** The client's own data center: members there are preferred. Empty or absent: no preference. */
  readonly dc?: string;
  /** How long to wait for a connection to one member before trying the next. */
  readonly dialTimeoutMs?: number;
  /** The deadline of one call, retries and failovers included. */
  readonly requestTimeoutMs?: number;
  /** Attempts of one call across members before giving up (each a different member while any is untried). */
  readonly retryAttemptsMax?: number;
  /** Base of the jittered exponential back-off between attempts. */
  readonly retryBackoffMsBase?: number;
  /** Cap of that back-off. */
  readonly retryBackoffMsMax?: number;
  /** How long a member that failed is passed over (unless every member failed). */
  readonly memberDownMs?: number;
  /** Learn the members (MemberList) and their DCs (the members' HTTP status) on connect and after failovers. */
  readonly discoverMembers?: boolean;
  /** A member's HTTP status endpoint is on its client port plus this (Meridian's default is 2). */
  readonly statusPortOffset?: number;
  /** Randomness for jitter; tests pass a seeded one. */
  readonly random?: () => number;
  /** Events one watcher may buffer for a consumer that is not reading before it fails with SlowConsumer. */
  readonly watchBufferedEventsMax?: number;
}

/** What the client knows of one member. */
export interface MemberEndpoint {
  /** host:port of its client (gRPC) listener. */
  readonly address: string;
  /** Member id (decimal string, as etcd's uint64), or null for a seed not yet matched to a member. */
  readonly memberId: string | null;
  readonly name: string;
  /** Its data center, or '' when unknown. */
  readonly dc: string;
  /** Whether it is a learner (non-voting; serves reads and watches). */
  readonly isLearner: boolean;
}

interface EndpointState {
  info: MemberEndpoint;
  channel: grpc.Client | null;
  /** Passed over until this time (ms, this process's monotonic clock). */
  downUntilMs: number;
  /** Failures in a row: the back-off of this member grows with them. */
  failures: number;
}

export interface UnaryOptions {
  /** What the call does, for error messages ("put config/a"). */
  readonly action: string;
  /**
   * Whether the call changes state. Reads are retried on another member after any transport or availability
   * failure. A write is retried only when it provably never reached a member's log: the connection was never
   * established (so nothing was sent), or a member answered that it refused the request before proposing it
   * ("no leader": the proposal was dropped; "too many requests": refused at the door). After a write was sent
   * on a live connection, a broken connection or a timeout leaves its outcome unknown, and retrying could apply
   * it twice (a second lease, a second sequential key), so the caller gets `OutcomeUnknown` / `Timeout`.
   */
  readonly write: boolean;
  readonly metadata?: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
}

export interface UnaryResult {
  readonly response: PbMessage;
  /** Response headers (initial metadata) of the call, flattened to strings. */
  readonly metadata: Readonly<Record<string, string>>;
  readonly endpoint: string;
}

const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.initial_reconnect_backoff_ms': RECONNECT_BACKOFF_MS_INITIAL,
  'grpc.max_reconnect_backoff_ms': RECONNECT_BACKOFF_MS_MAX,
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.max_receive_message_length': 32 * 1024 * 1024,
};

/** `http://host:port` / `host:port` → `host:port`. */
export function normalizeAddress(endpoint: string): string {
  const trimmed = endpoint.trim().replace(/^(https?|grpc):\/\//, '').replace(/\/+$/, '');
  assert(/^[^/\s]+:\d+$/.test(trimmed), `endpoint ${JSON.stringify(endpoint)} is not host:port or http://host:port`);
  return trimmed;
}

function flattenMetadata(md: grpc.Metadata | null): Record<string, string> {
  const out: Record<string, string> = {};
  if (md === null) return out;
  for (const [k, v] of Object.entries(md.getMap())) out[k] = Buffer.isBuffer(v) ? v.toString() : String(v);
  return out;
}

/**
 * What a failed attempt means (see UnaryOptions.write for the rule): 'retry' on another member, 'unknown' when a
 * write was sent and its outcome cannot be known, 'fail' when the answer is final.
 */
export function retryVerdict(err: unknown, write: boolean): 'retry' | 'unknown' | 'fail' {
  const f = asGrpcFailure(err);
  if (f === null) return write ? 'unknown' : 'retry';
  // Refused before proposing: the request never entered the log.
  if (f.details === EtcdMessage.noLeader || f.details === EtcdMessage.tooManyRequests) return 'retry';
  if (f.details === EtcdMessage.notSupportedForLearner) return 'retry';
  if (f.code === GrpcStatus.Unavailable) {
    // grpc-js fails a call that never got a transport with this text: nothing was sent.
    if (f.details.startsWith('No connection established')) return 'retry';
    return write ? 'unknown' : 'retry';
  }
  // Deadline exceeded ends the call (the deadline covers every attempt); anything else is the server's answer.
  return 'fail';
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class Connection {
  readonly dc: string;
  readonly dialTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly watchBufferedEventsMax: number;
  private readonly retryAttemptsMax: number;
  private readonly backoffBaseMs: number;
  private readonly backoffMaxMs: number;
  private readonly memberDownMs: number;
  private readonly statusPortOffset: number;
  private readonly discover: boolean;
  private readonly random: () => number;
  private states: EndpointState[];
  private closed = false;
  private lastRefreshMs = -Infinity;
  private refreshing: Promise<void> | null = null;
  /** The member the last successful call went to (for streams and for tests). */
  private lastUsed: string | null = null;

  constructor(options: ConnectOptions) {
    assert(options.endpoints.length > 0, 'connect() needs at least one endpoint');
    this.dc = options.dc ?? '';
    this.dialTimeoutMs = options.dialTimeoutMs ?? CONNECT_DEFAULTS.dialTimeoutMs;
    this.requestTimeoutMs = options.requestTimeoutMs ?? CONNECT_DEFAULTS.requestTimeoutMs;
    this.retryAttemptsMax = options.retryAttemptsMax ?? CONNECT_DEFAULTS.retryAttemptsMax;
    this.backoffBaseMs = options.retryBackoffMsBase ?? CONNECT_DEFAULTS.retryBackoffMsBase;
    this.backoffMaxMs = options.retryBackoffMsMax ?? CONNECT_DEFAULTS.retryBackoffMsMax;
    this.memberDownMs = options.memberDownMs ?? CONNECT_DEFAULTS.memberDownMs;
    this.statusPortOffset = options.statusPortOffset ?? STATUS_PORT_OFFSET_DEFAULT;
    this.discover = options.discoverMembers ?? true;
    this.random = options.random ?? Math.random;
    this.watchBufferedEventsMax = options.watchBufferedEventsMax ?? WATCH_BUFFERED_EVENTS_MAX;
    assert(this.watchBufferedEventsMax >= 1, 'watchBufferedEventsMax must be at least 1');
    assert(this.dialTimeoutMs > 0 && this.requestTimeoutMs > 0, 'timeouts must be positive');
    assert(this.retryAttemptsMax >= 1, 'retryAttemptsMax must be at least 1');
    assert(this.backoffBaseMs >= 0 && this.backoffMaxMs >= this.backoffBaseMs, 'back-off bounds are inverted');
    const seen = new Set<string>();
    this.states = [];
    for (const e of options.endpoints) {
      const address = normalizeAddress(e);
      if (seen.has(address)) continue;
      seen.add(address);
      this.states.push({ info: { address, memberId: null, name: '', dc: '', isLearner: false }, channel: null, downUntilMs: 0, failures: 0 });
    }
  }

  /** The members as last learned, in the order the client prefers them. */
  members(): MemberEndpoint[] {
    return this.preferenceOrder().map((s) => s.info);
  }

  /** The member the last successful call went to. */
  currentEndpoint(): string | null {
    return this.lastUsed;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Members in preference order: those not recently failed before those that did; among them, the client's
   * own DC first; then the configured/learned order, so the choice is stable and a call sticks to one member.
   */
  private preferenceOrder(): EndpointState[] {
    const now = performance.now();
    const rank = (s: EndpointState): number => (s.downUntilMs > now ? 2 : 0) + (this.dc !== '' && s.info.dc !== this.dc ? 1 : 0);
    return this.states.map((s, i) => ({ s, i })).sort((a, b) => rank(a.s) - rank(b.s) || a.i - b.i).map((x) => x.s);
  }

  /** The member a new call or stream should use now, skipping those in `exclude` while others remain. */
  pick(exclude: ReadonlySet<string> = new Set()): { address: string; channel: grpc.Client } {
    this.checkOpen();
    const order = this.preferenceOrder();
    const s = order.find((x) => !exclude.has(x.info.address)) ?? order[0];
    assert(s !== undefined, 'the endpoint list is never empty');
    return { address: s.info.address, channel: this.channelOf(s) };
  }

  private channelOf(s: EndpointState): grpc.Client {
    if (s.channel === null) s.channel = new grpc.Client(s.info.address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
    return s.channel;
  }

  /** Records that a member failed: it is passed over for a while that grows with failures in a row. */
  markDown(address: string): void {
    const s = this.states.find((x) => x.info.address === address);
    if (s === undefined) return;
    s.failures++;
    s.downUntilMs = performance.now() + Math.min(this.memberDownMs * s.failures, this.memberDownMs * 8);
    if (this.lastUsed === address) this.lastUsed = null;
  }

  markUp(address: string): void {
    const s = this.states.find((x) => x.info.address === address);
    if (s !== undefined) {
      s.failures = 0;
      s.downUntilMs = 0;
    }
    this.lastUsed = address;
  }

  /**
   * For a long-lived stream (watch, lease keep-alive): picks a member and waits until its channel connects. On
   * failure marks the member down, waits the back-off of attempt `failedAttempts`, and returns null.
   */
  async connectForStream(failedAttempts: number): Promise<{ address: string; channel: grpc.Client } | null> {
    const { address, channel } = this.pick();
    if (await this.waitConnected(channel, Date.now() + this.dialTimeoutMs)) return { address, channel };
    this.markDown(address);
    await new Promise((r) => setTimeout(r, this.backoffMs(failedAttempts + 1)));
    return null;
  }

  /** Jittered exponential back-off for attempt n (0-based): uniformly in [d/2, d], d = min(max, base·2^n). */
  backoffMs(attempt: number): number {
    const d = Math.min(this.backoffMaxMs, this.backoffBaseMs * 2 ** Math.min(attempt, 16));
    return d / 2 + this.random() * (d / 2);
  }

  /**
   * Resolves true once the channel is connected, false as soon as a connection attempt failed or the deadline
   * passed. (grpc-js's own waitForReady waits out the whole deadline through refused connections.)
   */
  waitConnected(channel: grpc.Client, deadlineMs: number): Promise<boolean> {
    const ch = channel.getChannel();
    return new Promise((resolve) => {
      let sawConnecting = false;
      const check = (): void => {
        let state: grpc.connectivityState;
        try {
          state = ch.getConnectivityState(true);
        } catch {
          resolve(false);
          return;
        }
        if (state === grpc.connectivityState.READY) return resolve(true);
        if (state === grpc.connectivityState.CONNECTING) sawConnecting = true;
        if (state === grpc.connectivityState.SHUTDOWN) return resolve(false);
        if (state === grpc.connectivityState.TRANSIENT_FAILURE && sawConnecting) return resolve(false);
        if (Date.now() >= deadlineMs) return resolve(false);
        ch.watchConnectivityState(state, deadlineMs, (err) => {
          if (err !== undefined) resolve(false);
          else check();
        });
      };
      check();
    });
  }

  /** One unary call with failover; see UnaryOptions.write for which failures are retried. */
  async unary(service: ServiceKey, method: string, request: object, options: UnaryOptions): Promise<UnaryResult> {
    this.checkOpen();
    const deadlineMs = Date.now() + (options.timeoutMs ?? this.requestTimeoutMs);
    const tried = new Set<string>();
    let last: MeridianClientError | null = null;
    for (let attempt = 0; attempt < this.retryAttemptsMax; attempt++) {
      if (attempt > 0) {
        // A full round over every member failed: back off before the next round, within the deadline.
        if (tried.size >= this.states.length) {
          tried.clear();
          const wait = Math.min(this.backoffMs(attempt), deadlineMs - Date.now());
          if (wait > 0) await sleep(wait);
        }
      }
      this.checkOpen();
      if (Date.now() >= deadlineMs) break;
      const { address, channel } = this.pick(tried);
      tried.add(address);
      const connected = await this.waitConnected(channel, Math.min(deadlineMs, Date.now() + this.dialTimeoutMs));
      if (!connected) {
        // Nothing was sent: safe to try another member, write or not.
        this.markDown(address);
        last = new MeridianClientError('Unavailable', `${options.action} failed: cannot connect to ${address} within ${this.dialTimeoutMs} ms`, { endpoint: address });
        continue;
      }
      try {
        const result = await this.callOnce(channel, service, method, request, options, deadlineMs, address);
        this.markUp(address);
        return result;
      } catch (err) {
        const verdict = retryVerdict(err, options.write);
        const error = fromGrpc(options.action, err, address);
        if (verdict === 'fail') throw error;
        if (verdict === 'unknown') {
          this.markDown(address);
          throw new MeridianClientError('OutcomeUnknown', `${options.action}: outcome unknown, the write was sent to ${address} and then failed (${error.grpcDetails ?? error.message}); it may or may not have been applied: read to find out before retrying`, { cause: err, endpoint: address, grpcCode: error.grpcCode, grpcDetails: error.grpcDetails });
        }
        this.markDown(address);
        last = error;
        // The member list may have changed (a member replaced or moved): learn it again, at most once per interval.
        this.refreshMembers().catch(() => undefined);
      }
    }
    const why = last === null ? '' : `; last error: ${last.message}`;
    const code = last?.code === 'NoLeader' ? 'NoLeader' : Date.now() >= deadlineMs ? 'Timeout' : 'Unavailable';
    throw new MeridianClientError(code, `${options.action} failed on every member tried (${this.retryAttemptsMax} attempts, ${options.timeoutMs ?? this.requestTimeoutMs} ms deadline)${why}`, { cause: last, endpoint: last?.endpoint ?? null });
  }

  private callOnce(
    channel: grpc.Client, service: ServiceKey, method: string, request: object, options: UnaryOptions, deadlineMs: number, address: string,
  ): Promise<UnaryResult> {
    const def = etcdMethod(service, method);
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries(options.metadata ?? {})) md.set(k, v);
    return new Promise((resolve, reject) => {
      let headers: grpc.Metadata | null = null;
      const call = channel.makeUnaryRequest(def.path, def.requestSerialize, def.responseDeserialize, request, md, { deadline: deadlineMs }, (err, value) => {
        if (err !== null || value === undefined) reject(err ?? new Error(`${method}: empty response`));
        else resolve({ response: value as PbMessage, metadata: flattenMetadata(headers), endpoint: address });
      });
      call.on('metadata', (m: grpc.Metadata) => {
        headers = m;
      });
    });
  }

  /**
   * Learns the members (MemberList) and their DCs (the answering member's HTTP /v1/status, since etcd's Member
   * message has no DC field). Keeps channels to members it already knew. At most once per refresh interval
   * unless forced; a failure leaves the list as it was.
   */
  async refreshMembers(force = false): Promise<void> {
    if (!this.discover || this.closed) return;
    if (!force && performance.now() - this.lastRefreshMs < MEMBER_REFRESH_INTERVAL_MS_MIN) return;
    if (this.refreshing !== null) return this.refreshing;
    this.lastRefreshMs = performance.now();
    this.refreshing = this.doRefresh().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async doRefresh(): Promise<void> {
    const { response, endpoint } = await this.unary('cluster', 'MemberList', { linearizable: false }, { action: 'list members', write: false });
    const list = Array.isArray(response['members']) ? (response['members'] as PbMessage[]) : [];
    const dcs = await this.fetchDcs(endpoint);
    const next: EndpointState[] = [];
    for (const m of list) {
      const urls = Array.isArray(m['clientURLs']) ? (m['clientURLs'] as string[]) : [];
      const first = urls[0];
      if (first === undefined) continue; // not started yet: nothing to dial
      const address = normalizeAddress(first);
      const memberId = String(m['ID']);
      const extra = dcs.get(address);
      const info: MemberEndpoint = {
        address, memberId, name: String(m['name'] ?? ''), dc: extra?.dc ?? '', isLearner: m['isLearner'] === true,
      };
      const old = this.states.find((s) => s.info.address === address);
      next.push(old === undefined ? { info, channel: null, downUntilMs: 0, failures: 0 } : { ...old, info });
    }
    if (next.length === 0 || this.closed) return;
    // Keep the order the client knew (the seeds as given), new members after: preference stays stable.
    const position = (s: EndpointState): number => {
      const i = this.states.findIndex((x) => x.info.address === s.info.address);
      return i < 0 ? Number.MAX_SAFE_INTEGER : i;
    };
    next.sort((a, b) => position(a) - position(b));
    for (const s of this.states) {
      if (!next.some((n) => n.info.address === s.info.address)) s.channel?.close();
    }
    this.states = next;
  }

  /** Member address → DC from one member's HTTP status; empty when the endpoint has none. */
  private async fetchDcs(address: string): Promise<Map<string, { dc: string }>> {
    const out = new Map<string, { dc: string }>();
    const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
    try {
      const res = await fetch(`http://${host}:${port + this.statusPortOffset}/v1/status`, { signal: AbortSignal.timeout(STATUS_FETCH_TIMEOUT_MS) });
      if (!res.ok) return out;
      const body = (await res.json()) as { members?: { clientUrls?: unknown; dc?: unknown }[] };
      for (const m of body.members ?? []) {
        const urls = Array.isArray(m.clientUrls) ? m.clientUrls : [];
        if (typeof urls[0] === 'string' && typeof m.dc === 'string') out.set(normalizeAddress(urls[0]), { dc: m.dc });
      }
    } catch {
      // No status endpoint (a stock etcd member, or another port): DCs stay unknown and no member is preferred.
    }
    return out;
  }

  private checkOpen(): void {
    if (this.closed) throw new MeridianClientError('Closed', 'the client is closed; connect() again to make calls');
  }

  close(): void {
    this.closed = true;
    for (const s of this.states) s.channel?.close();
  }
}
