// Leases with automatic keep-alive: one LeaseKeepAlive stream per client renews every kept lease at a third of
// its TTL; a lease is reported lost when a member says it is gone or when no renewal was confirmed within its TTL.

import type * as grpc from '@grpc/grpc-js';
import { etcdMethod } from '../wire/etcd_proto.js';
import { type LeaseId, leaseId } from '../util/branded.js';
import type { Connection, PbMessage } from './connection.js';
import { MeridianClientError } from './errors.js';
import { headerFromPb, type ResponseHeader } from './kv.js';
import { LEASE_KEEPALIVE_DIVISOR, LEASE_KEEPALIVE_MS_MIN, LEASE_RECONNECT_ATTEMPTS_MAX } from './limits.js';

export interface LeaseTimeToLive {
  readonly id: LeaseId;
  /** Seconds left. */
  readonly ttlSeconds: number;
  readonly grantedTtlSeconds: number;
  /** Keys attached (when asked for). */
  readonly keys: readonly Buffer[];
}

export interface GrantOptions {
  /** Renew automatically until revoked, closed or lost (default true). */
  readonly keepAlive?: boolean;
  /** Ask for this lease id (0 or absent: the cluster picks). */
  readonly id?: number;
}

type LostListener = (err: MeridianClientError) => void;

/** A granted lease. Attach keys with `put(key, value, { lease: lease.id })`. */
export class Lease {
  /** Resolves (never rejects) with the reason once the lease is lost; never settles for a lease revoked or closed first. */
  readonly lost: Promise<MeridianClientError>;
  private resolveLost!: (err: MeridianClientError) => void;
  private lostError: MeridianClientError | null = null;
  private released = false;
  private readonly listeners: LostListener[] = [];
  /** This process's monotonic time (ms) before which the lease is known to live: last confirmed send + TTL. */
  expiresAtMs: number;
  /** Send times of keep-alives not yet answered, oldest first (the stream answers in order). */
  readonly pendingSentMs: number[] = [];
  timer: NodeJS.Timeout | null = null;
  private readonly onceWaiters: { resolve: (ttl: number) => void; reject: (e: unknown) => void }[] = [];

  constructor(
    readonly id: LeaseId,
    /** The TTL the cluster granted, in seconds. */
    readonly ttlSeconds: number,
    readonly header: ResponseHeader,
    grantedAtMs: number,
    private readonly manager: LeaseManager,
  ) {
    this.expiresAtMs = grantedAtMs + ttlSeconds * 1000;
    this.lost = new Promise((resolve) => {
      this.resolveLost = resolve;
    });
  }

  get isLost(): boolean {
    return this.lostError !== null;
  }

  /** Calls `listener` once when the lease is lost (at once if it already is). */
  onLost(listener: LostListener): void {
    if (this.lostError !== null) listener(this.lostError);
    else this.listeners.push(listener);
  }

  /** Renews once now; resolves with the TTL the cluster answered (rejects with LeaseNotFound if gone). */
  keepAliveOnce(): Promise<number> {
    if (this.lostError !== null) return Promise.reject(this.lostError);
    return new Promise((resolve, reject) => {
      this.onceWaiters.push({ resolve, reject });
      this.manager.sendKeepAlive(this);
    });
  }

  timeToLive(options: { readonly keys?: boolean } = {}): Promise<LeaseTimeToLive | null> {
    return this.manager.timeToLive(this.id, options);
  }

  /** Revokes the lease: its keys are deleted. Stops the keep-alive first. */
  async revoke(): Promise<void> {
    this.release();
    await this.manager.revoke(this.id);
  }

  /** Stops keeping the lease alive without revoking it (it expires after its TTL). */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.manager.forget(this);
  }

  /** Called by the manager for each answer to a keep-alive of this lease. */
  renewed(ttlSeconds: number, nowMs: number): void {
    const sent = this.pendingSentMs.shift() ?? nowMs;
    const waiter = this.onceWaiters.shift();
    if (ttlSeconds <= 0) {
      const err = new MeridianClientError('LeaseNotFound', `lease ${this.id} is gone (expired or revoked); grant a new lease and re-create its keys`);
      waiter?.reject(err);
      this.markLost(err);
      return;
    }
    this.expiresAtMs = Math.max(this.expiresAtMs, sent + ttlSeconds * 1000);
    waiter?.resolve(ttlSeconds);
  }

  markLost(err: MeridianClientError): void {
    if (this.lostError !== null || this.released) return;
    this.lostError = new MeridianClientError('LeaseLost', `lease ${this.id} was lost: ${err.message}`, { cause: err });
    for (const w of this.onceWaiters.splice(0)) w.reject(this.lostError);
    this.manager.forget(this);
    this.resolveLost(this.lostError);
    for (const l of this.listeners.splice(0)) l(this.lostError);
  }

  /** Rejects pending keepAliveOnce() calls (the stream broke; they are not answered). */
  streamReset(): void {
    this.pendingSentMs.length = 0;
    const err = new MeridianClientError('Unavailable', `keep-alive of lease ${this.id}: the stream broke; retrying on another member`);
    for (const w of this.onceWaiters.splice(0)) w.reject(err);
  }
}

type KeepAliveCall = grpc.ClientDuplexStream<object, PbMessage>;

export class LeaseManager {
  private readonly kept = new Map<number, Lease>();
  /** Leases not kept alive that wait for the answer to one keepAliveOnce(). */
  private readonly oneShot = new Map<number, Lease>();
  private call: KeepAliveCall | null = null;
  private connecting = false;
  private failedAttempts = 0;
  private closed = false;

  constructor(private readonly conn: Connection) {}

  async grant(ttlSeconds: number, options: GrantOptions = {}): Promise<Lease> {
    const sentMs = performance.now();
    const { response } = await this.conn.unary('lease', 'LeaseGrant', { TTL: ttlSeconds, ID: options.id ?? 0 }, { action: `grant a lease of ${ttlSeconds} s`, write: true });
    const error = String(response['error'] ?? '');
    if (error !== '') throw new MeridianClientError('Server', `grant a lease of ${ttlSeconds} s: ${error}`);
    const lease = new Lease(leaseId(Number(response['ID'])), Number(response['TTL']), headerFromPb(response['header']), sentMs, this);
    if (options.keepAlive !== false) this.keep(lease);
    return lease;
  }

  async revoke(id: LeaseId | number): Promise<void> {
    await this.conn.unary('lease', 'LeaseRevoke', { ID: id }, { action: `revoke lease ${id}`, write: true });
  }

  async timeToLive(id: LeaseId | number, options: { readonly keys?: boolean } = {}): Promise<LeaseTimeToLive | null> {
    const { response } = await this.conn.unary('lease', 'LeaseTimeToLive', { ID: id, keys: options.keys ?? false }, { action: `time-to-live of lease ${id}`, write: false });
    const ttl = Number(response['TTL']);
    if (ttl < 0) return null;
    const keys = Array.isArray(response['keys']) ? (response['keys'] as Buffer[]) : [];
    return { id: leaseId(Number(response['ID'])), ttlSeconds: ttl, grantedTtlSeconds: Number(response['grantedTTL']), keys };
  }

  /** Every lease id the cluster holds. */
  async leases(): Promise<LeaseId[]> {
    const { response } = await this.conn.unary('lease', 'LeaseLeases', {}, { action: 'list leases', write: false });
    const list = Array.isArray(response['leases']) ? (response['leases'] as PbMessage[]) : [];
    return list.map((l) => leaseId(Number(l['ID'])));
  }

  private keep(lease: Lease): void {
    this.kept.set(lease.id, lease);
    this.schedule(lease);
    void this.open();
  }

  private schedule(lease: Lease): void {
    const periodMs = Math.max(LEASE_KEEPALIVE_MS_MIN, (lease.ttlSeconds * 1000) / LEASE_KEEPALIVE_DIVISOR);
    lease.timer = setTimeout(() => {
      lease.timer = null;
      if (!this.kept.has(lease.id)) return;
      if (performance.now() > lease.expiresAtMs) {
        lease.markLost(new MeridianClientError('LeaseLost', `no keep-alive of lease ${lease.id} was confirmed within its TTL of ${lease.ttlSeconds} s`));
        return;
      }
      this.sendKeepAlive(lease);
      this.schedule(lease);
    }, periodMs);
    lease.timer.unref();
  }

  sendKeepAlive(lease: Lease): void {
    if (this.call === null) {
      if (!this.kept.has(lease.id)) this.oneShot.set(lease.id, lease);
      // Sent once the stream is open (streamReset() rejects a one-shot wait if the stream never opens).
      void this.open().then(() => {
        if (this.call !== null) this.write(lease);
        else lease.streamReset();
      });
      return;
    }
    if (!this.kept.has(lease.id)) this.oneShot.set(lease.id, lease);
    this.write(lease);
  }

  private write(lease: Lease): void {
    lease.pendingSentMs.push(performance.now());
    this.call?.write({ ID: lease.id });
  }

  forget(lease: Lease): void {
    this.kept.delete(lease.id);
    if (lease.timer !== null) clearTimeout(lease.timer);
    lease.timer = null;
    if (this.kept.size === 0 && this.oneShot.size === 0) this.closeCall();
  }

  private async open(): Promise<void> {
    if (this.connecting || this.call !== null || this.closed) return;
    this.connecting = true;
    try {
      while ((this.kept.size > 0 || this.oneShot.size > 0) && !this.closed) {
        if (this.failedAttempts >= LEASE_RECONNECT_ATTEMPTS_MAX) {
          // Renewals are impossible; each lease is lost when its TTL runs out (the expiry check says so).
          this.failedAttempts = 0;
          return;
        }
        const picked = await this.conn.connectForStream(this.failedAttempts);
        if (picked !== null) {
          this.startCall(picked.channel, picked.address);
          return;
        }
        this.failedAttempts++;
      }
    } finally {
      this.connecting = false;
    }
  }

  private startCall(channel: grpc.Client, address: string): void {
    const def = etcdMethod('lease', 'LeaseKeepAlive');
    const call = channel.makeBidiStreamRequest(def.path, def.requestSerialize, (b: Buffer) => def.responseDeserialize(b) as PbMessage) as KeepAliveCall;
    this.call = call;
    call.on('data', (m: PbMessage) => {
      if (this.call !== call) return;
      this.failedAttempts = 0;
      const id = Number(m['ID']);
      const lease = this.kept.get(id) ?? this.oneShot.get(id);
      this.oneShot.delete(id);
      lease?.renewed(Number(m['TTL']), performance.now());
      if (this.kept.size === 0 && this.oneShot.size === 0) this.closeCall();
    });
    const broken = (): void => {
      if (this.call !== call) return;
      this.call = null;
      for (const l of this.kept.values()) l.streamReset();
      for (const l of this.oneShot.values()) l.streamReset();
      this.oneShot.clear();
      if (this.closed || this.kept.size === 0) return;
      this.conn.markDown(address);
      this.failedAttempts++;
      setTimeout(() => {
        void this.open().then(() => {
          // Renew at once on the new stream: the outage may have eaten into the TTL.
          for (const l of this.kept.values()) this.sendKeepAlive(l);
        });
      }, this.conn.backoffMs(this.failedAttempts));
    };
    call.on('error', broken);
    call.on('end', broken);
  }

  private closeCall(): void {
    const call = this.call;
    this.call = null;
    call?.cancel();
  }

  close(): void {
    this.closed = true;
    for (const l of [...this.kept.values()]) l.release();
    this.closeCall();
  }
}
