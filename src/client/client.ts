// The connection object of Meridian's client: connect() learns the members and their DCs, and the Client holds
// the etcd-model calls (KV, txn, watch, lease) and, created lazily from an injected factory, a ZooKeeper session.

import { Connection, type ConnectOptions, type MemberEndpoint } from './connection.js';
import { MeridianClientError } from './errors.js';
import { type Bytes, type DeleteOptions, type DeleteResult, type KeyValue, KV, type PutOptions, type PutResult, type RangeOptions, type RangeResult, type ReadOptions, type ResponseHeader } from './kv.js';
import { type GrantOptions, type Lease, LeaseManager, type LeaseTimeToLive } from './lease.js';
import { Txn } from './txn.js';
import { WatchManager, type Watcher, type WatchOptions } from './watch.js';
import type { LeaseId } from '../util/branded.js';

/** What the client needs of a ZooKeeper-style session to own it (src/client/zk_session.ts provides one). */
export interface ZkSessionLike {
  close(): Promise<void> | void;
}

/** What a ZooKeeper session factory is told about the cluster. */
export interface ZkSessionContext {
  /** The members in the client's order of preference (own DC first, failed ones last). */
  members(): readonly MemberEndpoint[];
  readonly dc: string;
  readonly dialTimeoutMs: number;
  readonly requestTimeoutMs: number;
}

/** Makes the session `client.zk()` hands out; called once, on first use. */
export type ZkSessionFactory<Z extends ZkSessionLike = ZkSessionLike> = (context: ZkSessionContext, options: Readonly<Record<string, unknown>>) => Promise<Z>;

export interface ClientOptions<Z extends ZkSessionLike = ZkSessionLike> extends ConnectOptions {
  /** Where `client.zk()` gets its ZooKeeper session from; falls back to the registered factory. */
  readonly zk?: ZkSessionFactory<Z>;
}

let registeredZkFactory: ZkSessionFactory | null = null;

/** Registers the process-wide default ZooKeeper session factory (the zk module calls this when imported). */
export function registerZkSessionFactory(factory: ZkSessionFactory | null): void {
  registeredZkFactory = factory;
}

/** Connects to the cluster: reaches one member, learns the members and their DCs. */
export async function connect<Z extends ZkSessionLike = ZkSessionLike>(options: ClientOptions<Z>): Promise<Client<Z>> {
  const client = new Client<Z>(options);
  try {
    await client.refreshMembers();
  } catch (err) {
    client.close();
    throw err;
  }
  return client;
}

export class Client<Z extends ZkSessionLike = ZkSessionLike> {
  readonly kv: KV;
  readonly lease: LeaseManager;
  private readonly conn: Connection;
  private readonly watches: WatchManager;
  private readonly zkFactory: ZkSessionFactory<Z> | null;
  private zkSession: Promise<Z> | null = null;

  /** Prefer connect(), which also checks that a member answers and learns the member list. */
  constructor(options: ClientOptions<Z>) {
    this.conn = new Connection(options);
    this.kv = new KV(this.conn);
    this.lease = new LeaseManager(this.conn);
    this.watches = new WatchManager(this.conn);
    this.zkFactory = options.zk ?? null;
  }

  /** The members as last learned, in the order the client prefers them (own DC first). */
  members(): MemberEndpoint[] {
    return this.conn.members();
  }

  /** The client's own DC ('' when none was given). */
  get dc(): string {
    return this.conn.dc;
  }

  /** The member (host:port) the last successful call went to. */
  currentEndpoint(): string | null {
    return this.conn.currentEndpoint();
  }

  /** The member the watch stream is on, or null while no watcher is open. */
  watchEndpoint(): string | null {
    return this.watches.endpoint;
  }

  /** Re-reads the member list and DCs now. */
  refreshMembers(): Promise<void> {
    return this.conn.refreshMembers(true);
  }

  get(key: Bytes, options?: ReadOptions): Promise<KeyValue | null> {
    return this.kv.get(key, options);
  }

  getString(key: Bytes, options?: ReadOptions): Promise<string | null> {
    return this.kv.getString(key, options);
  }

  range(key: Bytes, options?: RangeOptions): Promise<RangeResult> {
    return this.kv.range(key, options);
  }

  getPrefix(prefix: Bytes, options?: Omit<RangeOptions, 'prefix' | 'rangeEnd'>): Promise<RangeResult> {
    return this.kv.getPrefix(prefix, options);
  }

  put(key: Bytes, value: Bytes, options?: PutOptions): Promise<PutResult> {
    return this.kv.put(key, value, options);
  }

  delete(key: Bytes, options?: DeleteOptions): Promise<DeleteResult> {
    return this.kv.delete(key, options);
  }

  compact(revision: number, options?: { readonly physical?: boolean }): Promise<ResponseHeader> {
    return this.kv.compact(revision, options);
  }

  /** A transaction: `client.txn().if(Compare.value(k, '=', 'a')).then(Op.put(k, 'b')).else(Op.get(k)).commit()`. */
  txn(): Txn {
    return new Txn(this.conn);
  }

  /** Events of a key (or prefix/range) as an async iterator; see WatchOptions. */
  watch(key: Bytes, options?: WatchOptions): Watcher {
    return this.watches.watch(key, options);
  }

  /** A lease of `ttlSeconds`, kept alive automatically unless `keepAlive: false`. */
  grant(ttlSeconds: number, options?: GrantOptions): Promise<Lease> {
    return this.lease.grant(ttlSeconds, options);
  }

  revoke(id: LeaseId | number): Promise<void> {
    return this.lease.revoke(id);
  }

  timeToLive(id: LeaseId | number, options?: { readonly keys?: boolean }): Promise<LeaseTimeToLive | null> {
    return this.lease.timeToLive(id, options);
  }

  /**
   * The client's ZooKeeper-style session, created on first use by the factory given to connect() (or the
   * registered one) and closed with the client.
   */
  zk(options: Readonly<Record<string, unknown>> = {}): Promise<Z> {
    if (this.conn.isClosed) return Promise.reject(new MeridianClientError('Closed', 'the client is closed; connect() again'));
    if (this.zkSession !== null) return this.zkSession;
    const factory = this.zkFactory ?? (registeredZkFactory as ZkSessionFactory<Z> | null);
    if (factory === null) {
      return Promise.reject(new MeridianClientError('NotConfigured', 'no ZooKeeper session factory: pass connect({ zk: ... }) or call registerZkSessionFactory() first'));
    }
    const context: ZkSessionContext = {
      members: () => this.conn.members(), dc: this.conn.dc, dialTimeoutMs: this.conn.dialTimeoutMs, requestTimeoutMs: this.conn.requestTimeoutMs,
    };
    const session = factory(context, options);
    // A failed creation is not cached: the next zk() call tries again.
    this.zkSession = session;
    session.catch(() => {
      if (this.zkSession === session) this.zkSession = null;
    });
    return session;
  }

  /** Closes every stream and channel; kept leases are no longer renewed (they expire after their TTL). */
  close(): void {
    if (this.conn.isClosed) return;
    this.watches.close();
    this.lease.close();
    const zk = this.zkSession;
    this.zkSession = null;
    void zk?.then((s) => s.close(), () => undefined);
    this.conn.close();
  }
}
