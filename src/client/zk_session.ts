// The project client's ZooKeeper-style session: a typed ZooKeeper client over the jute codec, for Meridian (and
// any ZooKeeper 3.6+ server). create/get/set/exists/children/delete/multi/sync, one-shot watches (callbacks),
// persistent and recursive watches (async iterators), digest auth, and reconnection to another member within the
// session timeout, which keeps the session and its ephemerals and re-registers watches.

import { connect, type Socket } from 'node:net';
import { assert } from '../util/assert.js';
import { JuteReader, JuteWriter, JUTE_MAX_BUFFER_BYTES } from '../wire/jute/jute_buffer.js';
import {
  type Acl, type MultiOp, type MultiResult, readConnectResponse, readMultiResponse, readReplyHeader, readStat,
  readWatcherEvent, type Stat, writeAcl, writeConnectRequest, writeCreateRequest, writeMultiRequest,
  writeRequestHeader, writeSetWatches,
} from '../wire/jute/records.js';
import { AddWatchMode, CreateFlag, ErrorCode, EventType, OpCode, WatcherType, Xid } from '../wire/jute/zk_codes.js';
import { connectionLoss, sessionExpired, ZkError } from './zk_errors.js';
import { ZkWatchRegistry, type ZkWatchEvent, type ZkWatchStream } from './zk_watch.js';

export type { Stat } from '../wire/jute/records.js';
export type { ZkWatchEvent, ZkWatchStream } from './zk_watch.js';

export const ZK_SESSION_TIMEOUT_MS_DEFAULT = 10_000;
export const ZK_CONNECT_TIMEOUT_MS_DEFAULT = 2_000;
/** Passes over the endpoint list the first connect makes before giving up. */
export const ZK_CONNECT_ROUNDS_MAX = 5;

export const OPEN_ACL_UNSAFE: readonly Acl[] = Object.freeze([{ perms: 31, id: { scheme: 'world', id: 'anyone' } }]);

export type ZkSessionState = 'connecting' | 'connected' | 'disconnected' | 'expired' | 'closed';

export interface ZkSessionOptions {
  /** "host:port" of each member's ZooKeeper port; tried in order, then round robin on reconnects. */
  readonly endpoints: readonly string[];
  readonly sessionTimeoutMs?: number;
  /** How long one connection attempt may take. */
  readonly connectTimeoutMs?: number;
  readonly onStateChange?: (state: ZkSessionState) => void;
}

export interface CreateOptions {
  readonly ephemeral?: boolean;
  readonly sequential?: boolean;
  readonly container?: boolean;
  /** A TTL node: deleted once it has had no children and no change for this long. */
  readonly ttlMs?: number;
  readonly acl?: readonly Acl[];
}

export type ZkWatcher = (event: ZkWatchEvent) => void;

export type ZkMultiOp =
  | { readonly op: 'create'; readonly path: string; readonly data?: Uint8Array; readonly options?: CreateOptions }
  | { readonly op: 'delete'; readonly path: string; readonly version?: number }
  | { readonly op: 'set'; readonly path: string; readonly data: Uint8Array; readonly version?: number }
  | { readonly op: 'check'; readonly path: string; readonly version: number };

export type ZkMultiResult =
  | { readonly op: 'create'; readonly path: string; readonly stat: Stat | null }
  | { readonly op: 'delete' | 'check' }
  | { readonly op: 'set'; readonly stat: Stat };

export type ZkReadResult =
  | { readonly op: 'get'; readonly data: Buffer; readonly stat: Stat }
  | { readonly op: 'children'; readonly children: string[] }
  | { readonly op: 'error'; readonly error: ZkError };

/** A failed multi: the first failing op's error, with ZooKeeper's per-op codes. */
export class ZkMultiError extends ZkError {
  constructor(zkCode: number, readonly codes: readonly number[]) {
    super(zkCode, 'commit a multi');
  }
}

interface Pending {
  readonly xid: number;
  readonly action: string;
  readonly resolve: (r: JuteReader, zxid: number) => void;
  readonly reject: (err: Error) => void;
}

function createFlags(o: CreateOptions): { flags: number; type: number } {
  const ttl = o.ttlMs !== undefined && o.ttlMs > 0;
  if (o.ephemeral === true) return { flags: o.sequential === true ? CreateFlag.EphemeralSequential : CreateFlag.Ephemeral, type: OpCode.create2 };
  if (o.container === true) return { flags: CreateFlag.Container, type: OpCode.createContainer };
  if (ttl) return { flags: o.sequential === true ? CreateFlag.PersistentSequentialWithTtl : CreateFlag.PersistentWithTtl, type: OpCode.createTTL };
  return { flags: o.sequential === true ? CreateFlag.PersistentSequential : CreateFlag.Persistent, type: OpCode.create2 };
}

export class ZkSession {
  private socket: Socket | null = null;
  private state: ZkSessionState = 'connecting';
  private sessionIdValue = 0;
  private passwd: Uint8Array = new Uint8Array(16);
  private timeoutMs: number;
  private lastZxid = 0;
  private xid = 1;
  private pending: Pending[] = [];
  private endpointIndex = 0;
  private ready: Promise<void> = Promise.resolve();
  private readonly watches = new ZkWatchRegistry((path, kind) => this.removeServerWatch(path, kind));
  private readonly auths: { scheme: string; auth: Uint8Array }[] = [];
  private pingTimer: NodeJS.Timeout | null = null;
  private lastHeardMs = 0;

  private constructor(private readonly opts: ZkSessionOptions) {
    assert(opts.endpoints.length > 0, 'ZkSession needs at least one endpoint');
    this.timeoutMs = opts.sessionTimeoutMs ?? ZK_SESSION_TIMEOUT_MS_DEFAULT;
  }

  /** Opens a new session through the first member that answers. */
  static async connect(opts: ZkSessionOptions): Promise<ZkSession> {
    const s = new ZkSession(opts);
    await s.establish(opts.endpoints.length * ZK_CONNECT_ROUNDS_MAX, Infinity);
    return s;
  }

  get sessionId(): number {
    return this.sessionIdValue;
  }

  /** The timeout the server negotiated. */
  get sessionTimeoutMs(): number {
    return this.timeoutMs;
  }

  get currentState(): ZkSessionState {
    return this.state;
  }

  private setState(s: ZkSessionState): void {
    if (this.state === s) return;
    this.state = s;
    this.opts.onStateChange?.(s);
  }

  // ------------------------------------------------------------ connection

  /** Connects to members in turn until one takes the session (a new one when sessionId is 0). */
  private async establish(attempts: number, deadlineMs: number): Promise<void> {
    let last: unknown = null;
    for (let i = 0; i < attempts && Date.now() < deadlineMs; i++) {
      const endpoint = this.opts.endpoints[this.endpointIndex % this.opts.endpoints.length] ?? '';
      this.endpointIndex++;
      try {
        await this.connectTo(endpoint);
        return;
      } catch (err) {
        last = err;
        if (err instanceof ZkError && err.zkCode === ErrorCode.SessionExpired) throw err;
      }
    }
    throw new ZkError(ErrorCode.ConnectionLoss, `connect to any of ${this.opts.endpoints.join(',')}`, { cause: last });
  }

  private connectTo(endpoint: string): Promise<void> {
    const colon = endpoint.lastIndexOf(':');
    const host = endpoint.slice(0, colon);
    const port = Number(endpoint.slice(colon + 1));
    return new Promise<void>((resolve, reject) => {
      const socket = connect(port, host);
      socket.setNoDelay(true);
      let buf: Buffer = Buffer.alloc(0);
      let handshaken = false;
      const timer = setTimeout(() => fail(connectionLoss(`connect to ${endpoint}: timed out`)), this.opts.connectTimeoutMs ?? ZK_CONNECT_TIMEOUT_MS_DEFAULT);
      const fail = (err: Error): void => {
        clearTimeout(timer);
        socket.destroy();
        if (!handshaken) reject(err);
      };
      socket.on('error', (err) => fail(err));
      socket.on('close', () => {
        clearTimeout(timer);
        if (!handshaken) reject(connectionLoss(`connect to ${endpoint}: closed`));
        else if (this.socket === socket) this.onDisconnect();
      });
      socket.on('connect', () => {
        const w = new JuteWriter(64);
        writeConnectRequest(w, { protocolVersion: 0, lastZxidSeen: this.lastZxid, timeOut: this.timeoutMs, sessionId: this.sessionIdValue, passwd: Buffer.from(this.passwd), readOnly: false });
        socket.write(w.frame());
      });
      socket.on('data', (chunk: Buffer) => {
        buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
        while (buf.length >= 4) {
          const len = buf.readInt32BE(0);
          if (len < 0 || len > JUTE_MAX_BUFFER_BYTES) return fail(connectionLoss(`read from ${endpoint}: bad frame length ${len}`));
          if (buf.length < 4 + len) break;
          const frame = buf.subarray(4, 4 + len);
          buf = buf.subarray(4 + len);
          this.lastHeardMs = Date.now();
          if (handshaken) {
            this.onFrame(frame);
            continue;
          }
          const res = readConnectResponse(new JuteReader(frame));
          clearTimeout(timer);
          if (res.timeOut <= 0) {
            this.setState('expired');
            socket.destroy();
            this.failAll(sessionExpired('reconnect'));
            return reject(sessionExpired(`resume session ${this.sessionIdValue.toString(16)}`));
          }
          handshaken = true;
          this.socket = socket;
          this.sessionIdValue = res.sessionId;
          this.passwd = res.passwd;
          this.timeoutMs = res.timeOut;
          this.setState('connected');
          this.startPings();
          this.restoreOnConnection();
          resolve();
        }
      });
    });
  }

  /** After a (re)connect: authenticate again and re-register watches, changes since lastZxid firing at once. */
  private restoreOnConnection(): void {
    for (const a of this.auths) this.sendAuth(a.scheme, a.auth);
    const sw = this.watches.forSetWatches(this.lastZxid);
    if (sw === null) return;
    this.request(OpCode.setWatches2, 'restore watches', (w) => writeSetWatches(w, sw, true), () => undefined).catch(() => undefined);
  }

  private startPings(): void {
    this.stopPings();
    // ZooKeeper's client pings after a third of the timeout idle, and gives a server two thirds to answer.
    const every = Math.max(100, Math.floor(this.timeoutMs / 3));
    this.pingTimer = setInterval(() => {
      const socket = this.socket;
      if (socket === null) return;
      if (Date.now() - this.lastHeardMs > (2 * this.timeoutMs) / 3) {
        socket.destroy();
        return;
      }
      const w = new JuteWriter(16);
      writeRequestHeader(w, { xid: Xid.Ping, type: OpCode.ping });
      socket.write(w.frame());
    }, every);
    this.pingTimer.unref();
  }

  private stopPings(): void {
    if (this.pingTimer !== null) clearInterval(this.pingTimer);
    this.pingTimer = null;
  }

  private failAll(err: Error): void {
    const pending = this.pending;
    this.pending = [];
    for (const p of pending) p.reject(err);
  }

  /** The connection dropped: fail what was in flight (its outcome is unknown), then reconnect within the timeout. */
  private onDisconnect(): void {
    this.socket = null;
    this.stopPings();
    this.failAll(connectionLoss('finish a request: the connection dropped'));
    if (this.state === 'closed' || this.state === 'expired') return;
    this.setState('disconnected');
    const deadline = Date.now() + this.timeoutMs;
    this.ready = this.establish(this.opts.endpoints.length * ZK_CONNECT_ROUNDS_MAX, deadline).catch((err: unknown) => {
      if (this.state !== 'closed') this.setState('expired');
      this.watches.expire();
      throw err;
    });
    this.ready.catch(() => undefined);
  }

  private onFrame(frame: Buffer): void {
    const r = new JuteReader(frame);
    const h = readReplyHeader(r);
    if (h.zxid > 0) this.lastZxid = Math.max(this.lastZxid, h.zxid);
    if (h.xid === Xid.Ping || h.xid === Xid.Auth) return;
    if (h.xid === Xid.Notification) {
      const ev = readWatcherEvent(r);
      this.watches.dispatch(ev.type, ev.path);
      return;
    }
    const p = this.pending.shift();
    if (p === undefined || p.xid !== h.xid) {
      // Out of order: the server broke FIFO; start over on another member.
      this.socket?.destroy();
      return;
    }
    if (h.err !== 0) p.reject(new ZkError(h.err, p.action));
    else p.resolve(r, h.zxid);
  }

  private send(type: number, body: (w: JuteWriter) => void, action: string, decode: (r: JuteReader) => void, reject: (err: Error) => void): void {
    const socket = this.socket;
    if (socket === null) return reject(connectionLoss(action));
    const xid = this.xid++;
    const w = new JuteWriter(128);
    writeRequestHeader(w, { xid, type });
    body(w);
    this.pending.push({ xid, action, resolve: (r) => decode(r), reject });
    socket.write(w.frame());
  }

  /** One request, answered in order; waits for a reconnect in progress first. */
  private async request<T>(type: number, action: string, body: (w: JuteWriter) => void, decode: (r: JuteReader) => T): Promise<T> {
    if (this.state === 'closed') throw new ZkError(ErrorCode.SessionExpired, `${action}: the session is closed`);
    if (this.state === 'expired') throw sessionExpired(action);
    await this.ready;
    return new Promise<T>((resolve, reject) => this.send(type, body, action, (r) => {
      try {
        resolve(decode(r));
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    }, reject));
  }

  private sendAuth(scheme: string, auth: Uint8Array): void {
    const socket = this.socket;
    if (socket === null) return;
    const w = new JuteWriter(64);
    writeRequestHeader(w, { xid: Xid.Auth, type: OpCode.auth });
    w.int(0).string(scheme).buffer(auth);
    socket.write(w.frame());
  }

  // ------------------------------------------------------------ the API

  /** Adds credentials to the session (digest: "user:password"); they are sent again after a reconnect. */
  addAuth(scheme: string, auth: string | Uint8Array): void {
    const bytes = typeof auth === 'string' ? Buffer.from(auth) : auth;
    this.auths.push({ scheme, auth: bytes });
    this.sendAuth(scheme, bytes);
  }

  /** Creates a znode; returns its path (with the sequence suffix for a sequential one) and Stat. */
  create(path: string, data: Uint8Array = new Uint8Array(0), options: CreateOptions = {}): Promise<{ path: string; stat: Stat }> {
    const { flags, type } = createFlags(options);
    const acl = [...(options.acl ?? OPEN_ACL_UNSAFE)];
    return this.request(type, `create ${path}`, (w) => writeCreateRequest(w, { path, data: Buffer.from(data), acl, flags, ttl: options.ttlMs ?? 0 }, type === OpCode.createTTL),
      (r) => ({ path: r.string(), stat: readStat(r) }));
  }

  /** The data and Stat of a znode; `watch` fires once on its next change or deletion. */
  get(path: string, watch?: ZkWatcher): Promise<{ data: Buffer; stat: Stat }> {
    return this.request(OpCode.getData, `get ${path}`, (w) => w.string(path).bool(watch !== undefined), (r) => {
      const out = { data: Buffer.from(r.buffer()), stat: readStat(r) };
      if (watch !== undefined) this.watches.addOneShot('data', path, watch);
      return out;
    });
  }

  /** Sets a znode's data if its version matches (-1: any); returns the new Stat. */
  set(path: string, data: Uint8Array, version = -1): Promise<Stat> {
    return this.request(OpCode.setData, `set ${path}`, (w) => w.string(path).buffer(data).int(version), readStat);
  }

  /** The Stat, or null when absent; `watch` fires once when it is created, changed or deleted. */
  async exists(path: string, watch?: ZkWatcher): Promise<Stat | null> {
    try {
      const stat = await this.request(OpCode.exists, `exists ${path}`, (w) => w.string(path).bool(watch !== undefined), readStat);
      if (watch !== undefined) this.watches.addOneShot('data', path, watch);
      return stat;
    } catch (err) {
      if (err instanceof ZkError && err.zkCode === ErrorCode.NoNode) {
        if (watch !== undefined) this.watches.addOneShot('data', path, watch);
        return null;
      }
      throw err;
    }
  }

  /** Names of the children (unsorted, as ZooKeeper), with the parent's Stat; `watch` fires once on a child change. */
  children(path: string, watch?: ZkWatcher): Promise<{ children: string[]; stat: Stat }> {
    return this.request(OpCode.getChildren2, `list children of ${path}`, (w) => w.string(path).bool(watch !== undefined), (r) => {
      const out = { children: r.vector((x) => x.string()), stat: readStat(r) };
      if (watch !== undefined) this.watches.addOneShot('child', path, watch);
      return out;
    });
  }

  /** Deletes a znode if its version matches (-1: any). */
  delete(path: string, version = -1): Promise<void> {
    return this.request(OpCode.delete, `delete ${path}`, (w) => w.string(path).int(version), () => undefined);
  }

  /** Applies every op or none; throws ZkMultiError with per-op codes when one fails. */
  async multi(ops: readonly ZkMultiOp[]): Promise<ZkMultiResult[]> {
    const wire: MultiOp[] = ops.map((o): MultiOp => {
      switch (o.op) {
        case 'create': {
          const opts = o.options ?? {};
          const { flags, type } = createFlags(opts);
          const t = type as typeof OpCode.create2 | typeof OpCode.createContainer | typeof OpCode.createTTL;
          return { type: t, create: { path: o.path, data: Buffer.from(o.data ?? new Uint8Array(0)), acl: [...(opts.acl ?? OPEN_ACL_UNSAFE)], flags, ttl: opts.ttlMs ?? 0 } };
        }
        case 'delete': return { type: OpCode.delete, path: o.path, version: o.version ?? -1 };
        case 'set': return { type: OpCode.setData, path: o.path, data: Buffer.from(o.data), version: o.version ?? -1 };
        case 'check': return { type: OpCode.check, path: o.path, version: o.version };
      }
    });
    const results = await this.request(OpCode.multi, 'commit a multi', (w) => writeMultiRequest(w, wire), readMultiResponse);
    const failed = results.find((r) => r.type === OpCode.error && r.err !== 0);
    if (failed !== undefined && failed.type === OpCode.error) {
      throw new ZkMultiError(failed.err, results.map((r) => (r.type === OpCode.error ? r.err : 0)));
    }
    return results.map((r: MultiResult): ZkMultiResult => {
      switch (r.type) {
        case OpCode.create: return { op: 'create', path: r.path, stat: null };
        case OpCode.create2: return { op: 'create', path: r.path, stat: r.stat };
        case OpCode.setData: return { op: 'set', stat: r.stat };
        case OpCode.delete: return { op: 'delete' };
        default: return { op: 'check' };
      }
    });
  }

  /** Several reads answered from one state of the member; each result is the data, the children, or its error. */
  multiRead(ops: readonly { readonly op: 'get' | 'children'; readonly path: string }[]): Promise<ZkReadResult[]> {
    const wire: MultiOp[] = ops.map((o) => ({ type: o.op === 'get' ? OpCode.getData : OpCode.getChildren, path: o.path }));
    return this.request(OpCode.multiRead, 'read several znodes', (w) => writeMultiRequest(w, wire), (r) => readMultiResponse(r).map((res): ZkReadResult => {
      if (res.type === OpCode.getData) return { op: 'get', data: Buffer.from(res.data), stat: res.stat };
      if (res.type === OpCode.getChildren) return { op: 'children', children: res.children };
      return { op: 'error', error: new ZkError(res.type === OpCode.error ? res.err : ErrorCode.MarshallingError, 'read in a multiRead') };
    }));
  }

  /** Makes this member catch up with the leader, so the next read is linearizable. */
  sync(path = '/'): Promise<void> {
    return this.request(OpCode.sync, `sync ${path}`, (w) => w.string(path), () => undefined);
  }

  /** Paths of this session's ephemeral znodes under `prefix`. */
  ephemerals(prefix = '/'): Promise<string[]> {
    return this.request(OpCode.getEphemerals, `list ephemerals under ${prefix}`, (w) => w.string(prefix), (r) => r.vector((x) => x.string()));
  }

  /** Every descendant of `path`. */
  descendantCount(path: string): Promise<number> {
    return this.request(OpCode.getAllChildrenNumber, `count descendants of ${path}`, (w) => w.string(path), (r) => r.int());
  }

  getAcl(path: string): Promise<{ acl: Acl[]; stat: Stat }> {
    return this.request(OpCode.getACL, `get the ACL of ${path}`, (w) => w.string(path), (r) => {
      const acl = r.vector((x) => ({ perms: x.int(), id: { scheme: x.string(), id: x.string() } }));
      return { acl, stat: readStat(r) };
    });
  }

  setAcl(path: string, acl: readonly Acl[], version = -1): Promise<Stat> {
    return this.request(OpCode.setACL, `set the ACL of ${path}`, (w) => w.string(path).vector(acl, writeAcl).int(version), readStat);
  }

  /**
   * A persistent watch (every event on `path`; with `recursive`, every create, delete and data change at or below
   * it), as an async iterator; `close()` removes it from the server.
   */
  async watch(path: string, options: { recursive?: boolean } = {}): Promise<ZkWatchStream> {
    const kind = options.recursive === true ? 'recursive' : 'persistent';
    const mode = kind === 'recursive' ? AddWatchMode.PersistentRecursive : AddWatchMode.Persistent;
    await this.request(OpCode.addWatch, `watch ${path}`, (w) => w.string(path).int(mode), () => undefined);
    return this.watches.addStream(kind, path);
  }

  private removeServerWatch(path: string, kind: 'persistent' | 'recursive'): void {
    if (this.state !== 'connected') return;
    this.request(OpCode.removeWatches, `remove the ${kind} watch on ${path}`, (w) => w.string(path).int(WatcherType.Any), () => undefined).catch(() => undefined);
    void kind;
  }

  /** Ends the session: the server deletes its ephemerals at once. */
  async close(): Promise<void> {
    if (this.state === 'closed' || this.state === 'expired') return;
    try {
      if (this.socket !== null) await this.request(OpCode.closeSession, 'close the session', () => undefined, () => undefined);
    } catch {
      // the session ends by timeout instead
    } finally {
      this.setState('closed');
      this.stopPings();
      this.socket?.destroy();
      this.socket = null;
      this.watches.expire();
    }
  }
}

export { EventType };
