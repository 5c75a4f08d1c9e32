// One ZooKeeper client connection: 4-byte length framing, the connect handshake (new session through the log, or
// a reconnect with id and password), then requests answered in arrival order (per-session FIFO). Writes are
// proposed through the member at once; a read waits for the session's earlier writes, then reads local state.
// Anything malformed closes this connection only.

import { createHash, randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { leaseId } from '../../util/branded.js';
import { MeridianError } from '../../util/errors.js';
import { JuteDecodeError, JuteReader, JuteWriter, JUTE_MAX_BUFFER_BYTES } from '../../wire/jute/jute_buffer.js';
import {
  type Acl, type ConnectRequest, type MultiOp, type MultiResult, readAcl, readConnectRequest, readCreateRequest,
  readMultiRequest, readRequestHeader, readSetWatches, type SetWatches, writeAcl, writeConnectResponse,
  writeMultiResponse, writeReplyHeader, writeStat, writeWatcherEvent,
} from '../../wire/jute/records.js';
import {
  AddWatchMode, CreateFlag, ErrorCode, EventType, isCreateFlag, KeeperState, OpCode, Perm, WatcherType, Xid,
} from '../../wire/jute/zk_codes.js';
import { statOf, ZK_RENEW_EVERY_FRACTION } from '../../kv/zk/zk_apply.js';
import { encodeZkCommand, type ZkApplyResult, type ZkCreateMode, type ZkOp, type ZkOpResult } from '../../kv/zk/zk_command.js';
import { aclAllows, type Znode, type ZkId } from '../../kv/zk/zk_node.js';
import { invalidPathReason } from '../../kv/zk/zk_path.js';
import { LeaseNotFoundError } from '../../kv/errors.js';
import type { ZkHost } from './zk_session_host.js';
import type { WatchTarget, ZkWatches } from './zk_watches.js';

/** Requests a connection may have in flight before the server stops reading from it. */
export const ZK_PENDING_REQUESTS_MAX = 10_000;
/** Bytes of a session password. */
export const ZK_PASSWORD_BYTES = 16;

/** Counters the four-letter words report (ZooKeeper's ServerStats). */
export interface ZkServerStats {
  received: number;
  sent: number;
  /** Requests received and not yet answered, over every connection. */
  outstanding: number;
  latencyMinMs: number;
  latencyMaxMs: number;
  latencySumMs: number;
  latencyCount: number;
}

export function newZkServerStats(): ZkServerStats {
  return { received: 0, sent: 0, outstanding: 0, latencyMinMs: Infinity, latencyMaxMs: 0, latencySumMs: 0, latencyCount: 0 };
}

/** A ZooKeeper error code as a reply (expected failures of a request). */
class ZkReplyError extends MeridianError {
  constructor(readonly zkCode: number, message: string) {
    super('ERR_ZK_REPLY', message);
  }
}

export interface ZkConnectionContext {
  readonly host: ZkHost;
  readonly watches: ZkWatches;
  readonly stats: ZkServerStats;
  attach(sessionId: number, conn: ZkConnection): void;
  detach(sessionId: number, conn: ZkConnection): void;
  /** Four-letter word answers, or null for an unknown word. */
  fourLetterWord(word: string): string | null;
}

interface Slot {
  frame: Buffer | null;
  readonly startedMs: number;
}

type Exec = { kind: 'read' | 'write' | 'barrier'; run: () => Promise<Buffer> };

const EMPTY = Buffer.alloc(0);

function digestId(user: string, password: string): string {
  return `${user}:${createHash('sha1').update(`${user}:${password}`).digest('base64')}`;
}

function checkPath(path: string): void {
  if (invalidPathReason(path) !== null) throw new ZkReplyError(ErrorCode.BadArguments, `invalid path ${JSON.stringify(path)}`);
}

function modeOf(flags: number, type: number): { mode: ZkCreateMode; sequential: boolean } {
  if (!isCreateFlag(flags)) throw new ZkReplyError(ErrorCode.BadArguments, `create flags ${flags}`);
  if (type === OpCode.createContainer && flags !== CreateFlag.Container) throw new ZkReplyError(ErrorCode.BadArguments, 'createContainer needs the container flag');
  const ttl = flags === CreateFlag.PersistentWithTtl || flags === CreateFlag.PersistentSequentialWithTtl;
  if (type === OpCode.createTTL && !ttl) throw new ZkReplyError(ErrorCode.BadArguments, 'createTTL needs a TTL flag');
  if (type !== OpCode.createTTL && ttl) throw new ZkReplyError(ErrorCode.BadArguments, 'a TTL flag needs createTTL');
  const sequential = flags === CreateFlag.PersistentSequential || flags === CreateFlag.EphemeralSequential || flags === CreateFlag.PersistentSequentialWithTtl;
  const mode: ZkCreateMode = flags === CreateFlag.Ephemeral || flags === CreateFlag.EphemeralSequential ? 'ephemeral'
    : flags === CreateFlag.Container ? 'container' : ttl ? 'ttl' : 'persistent';
  return { mode, sequential };
}

export class ZkConnection implements WatchTarget {
  private buf: Buffer = EMPTY;
  private state: 'new' | 'handshake' | 'connected' | 'closing' | 'closed' = 'new';
  private held: Buffer[] = [];
  sessionId = 0;
  timeoutMs = 0;
  private auth: ZkId[] = [];
  private readonly slots: Slot[] = [];
  private barrier: Promise<unknown> = Promise.resolve();
  private readsRun: Promise<unknown> = Promise.resolve();
  private readsPending = 0;
  private renewing = false;
  private closingSession = false;
  private lastRenewMs = -Infinity;
  lastZxid = 0;

  constructor(private readonly socket: Socket, private readonly ctx: ZkConnectionContext) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => this.destroy());
    socket.on('close', () => this.destroy());
  }

  remoteAddress(): string {
    return `${this.socket.remoteAddress ?? '?'}:${this.socket.remotePort ?? 0}`;
  }

  destroy(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.ctx.watches.removeTarget(this);
    if (this.sessionId !== 0) this.ctx.detach(this.sessionId, this);
    this.socket.destroy();
  }

  // ------------------------------------------------------------ framing

  private isReading(): boolean {
    return this.state !== 'closed' && this.state !== 'closing';
  }

  private onData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    if (this.state === 'new' && this.buf.length >= 4) {
      const word = this.buf.subarray(0, 4).toString('latin1');
      const answer = /^[a-z]{4}$/.test(word) ? this.ctx.fourLetterWord(word) : null;
      if (answer !== null) {
        this.state = 'closing';
        this.socket.end(answer);
        return;
      }
    }
    while (this.buf.length >= 4 && this.isReading()) {
      const len = this.buf.readInt32BE(0);
      if (len < 0 || len > JUTE_MAX_BUFFER_BYTES) return this.destroy();
      if (this.buf.length < 4 + len) break;
      const frame = this.buf.subarray(4, 4 + len);
      this.buf = this.buf.subarray(4 + len);
      this.ctx.stats.received++;
      try {
        this.handleFrame(frame);
      } catch (err) {
        if (err instanceof JuteDecodeError) return this.destroy();
        throw err;
      }
    }
    if (this.slots.length >= ZK_PENDING_REQUESTS_MAX) this.socket.pause();
  }

  private handleFrame(frame: Buffer): void {
    if (this.state === 'new') {
      this.state = 'handshake';
      const req = readConnectRequest(new JuteReader(frame));
      this.handshake(req).catch(() => this.destroy());
      return;
    }
    if (this.state === 'handshake') {
      this.held.push(Buffer.from(frame));
      return;
    }
    this.handleRequest(frame);
  }

  private send(frame: Buffer): void {
    if (this.state === 'closed') return;
    this.ctx.stats.sent++;
    this.socket.write(frame);
  }

  // ------------------------------------------------------------ handshake

  private async handshake(req: ConnectRequest): Promise<void> {
    const { host } = this.ctx;
    // A client that has seen a newer zxid than this member applied must go elsewhere (ZooKeeper refuses too).
    if (req.lastZxidSeen > host.kv().currentRevision()) return this.destroy();
    let sessionId = req.sessionId;
    let timeoutMs: number;
    let passwd: Uint8Array;
    if (sessionId === 0) {
      const res = await this.propose([{ op: 'createSession', timeoutMs: req.timeOut, passwd: randomBytes(ZK_PASSWORD_BYTES) }], false, 0);
      const r = res.results[0];
      if (r === undefined || !r.ok || r.sessionId === undefined || r.timeoutMs === undefined) return this.destroy();
      sessionId = r.sessionId;
      const rec = host.kv().zkView().session(sessionId);
      if (rec === null) return this.destroy();
      timeoutMs = rec.timeoutMs;
      passwd = rec.passwd;
    } else {
      // Revalidate through the leader, as ZooKeeper does: a member behind the log might still hold a session the
      // leader has already expired (its ephemerals gone), and must not bring it back.
      await host.readBarrier();
      const rec = host.kv().zkView().session(sessionId);
      if (rec === null || Buffer.compare(Buffer.from(rec.passwd), req.passwd) !== 0) {
        // ZooKeeper's answer to an expired or unknown session: timeout 0, then the connection closes.
        const w = new JuteWriter(64);
        writeConnectResponse(w, { protocolVersion: 0, timeOut: 0, sessionId: 0, passwd: Buffer.alloc(ZK_PASSWORD_BYTES), readOnly: req.readOnly === null ? null : false });
        this.send(w.frame());
        this.state = 'closing';
        this.socket.end();
        return;
      }
      timeoutMs = rec.timeoutMs;
      passwd = rec.passwd;
    }
    if (this.state !== 'handshake') return;
    this.sessionId = sessionId;
    this.timeoutMs = timeoutMs;
    this.ctx.attach(sessionId, this);
    // A new session's lease was granted just now; a resumed one is renewed, as a ping would.
    if (req.sessionId === 0) this.lastRenewMs = performance.now();
    else this.renew();
    const w = new JuteWriter(64);
    writeConnectResponse(w, { protocolVersion: 0, timeOut: timeoutMs, sessionId, passwd, readOnly: req.readOnly === null ? null : false });
    this.send(w.frame());
    this.state = 'connected';
    const held = this.held;
    this.held = [];
    for (const f of held) {
      if (this.state !== 'connected') break;
      try {
        this.handleRequest(f);
      } catch (err) {
        if (err instanceof JuteDecodeError) return this.destroy();
        throw err;
      }
    }
  }

  /**
   * Renews the session on the leader, at most once per RENEW_EVERY_FRACTION of the timeout (a renewal is a
   * checkpoint through the log, and a forwarded call on a follower: per request it would cost more than the
   * request). The session's lease carries that much headroom over the timeout (zk_apply.ts), so a session still
   * never expires sooner than its timeout after the client's last request or ping.
   */
  private renew(): void {
    const now = performance.now();
    if (this.renewing || now - this.lastRenewMs < this.timeoutMs * ZK_RENEW_EVERY_FRACTION) return;
    this.renewing = true;
    this.lastRenewMs = now;
    this.ctx.host.keepAlive(leaseId(this.sessionId)).then(() => undefined, (err: unknown) => {
      if (err instanceof LeaseNotFoundError) this.destroy();
      else this.lastRenewMs = -Infinity; // not renewed (no leader): the next request or ping tries again
    }).finally(() => {
      this.renewing = false;
    });
  }

  /** The session expired (its record was deleted): the client learns it when it reconnects. */
  expire(): void {
    // A client closing its own session gets its closeSession reply first (the session ends while that applies).
    if (this.closingSession) return;
    this.destroy();
  }

  // ------------------------------------------------------------ requests

  private handleRequest(frame: Buffer): void {
    if (this.state !== 'connected') return;
    const r = new JuteReader(frame);
    const { xid, type } = readRequestHeader(r);
    this.renew();
    const exec = this.decode(xid, type, r);
    const slot: Slot = { frame: null, startedMs: performance.now() };
    this.slots.push(slot);
    this.ctx.stats.outstanding++;
    // FIFO semantics: a read sees the session's earlier writes (it waits for them); a write waits for the
    // session's earlier reads to have read (never for their replies), so a read never sees a later write.
    let started: Promise<Buffer>;
    if (exec.kind === 'read') {
      started = this.barrier.then(() => exec.run());
      this.readsPending++;
      const done = started.then(() => undefined, () => undefined).finally(() => this.readsPending--);
      this.readsRun = Promise.all([this.readsRun, done]);
    } else {
      started = this.readsPending === 0 ? exec.run() : this.readsRun.then(() => exec.run());
      this.barrier = Promise.all([this.barrier, started.catch(() => undefined)]);
    }
    started.then((f) => this.complete(slot, f), (err: unknown) => this.complete(slot, this.errorReply(xid, err)));
  }

  private complete(slot: Slot, frame: Buffer): void {
    slot.frame = frame;
    const stats = this.ctx.stats;
    const ms = performance.now() - slot.startedMs;
    stats.outstanding--;
    stats.latencyCount++;
    stats.latencySumMs += ms;
    stats.latencyMinMs = Math.min(stats.latencyMinMs, ms);
    stats.latencyMaxMs = Math.max(stats.latencyMaxMs, ms);
    while (this.slots.length > 0) {
      const head = this.slots[0];
      if (head === undefined || head.frame === null) break;
      this.slots.shift();
      this.send(head.frame);
    }
    if (this.slots.length < ZK_PENDING_REQUESTS_MAX / 2 && this.socket.isPaused()) this.socket.resume();
  }

  private errorReply(xid: number, err: unknown): Buffer {
    // Anything but a coded reply (no leader, a timeout, a stopping member) means the outcome is unknown: a
    // ConnectionLoss, as a ZooKeeper client sees when its server drops.
    const code = err instanceof ZkReplyError ? err.zkCode : ErrorCode.ConnectionLoss;
    return this.reply(xid, code);
  }

  private zxid(): number {
    this.lastZxid = Math.max(this.lastZxid, this.ctx.host.kv().currentRevision());
    return this.lastZxid;
  }

  private reply(xid: number, err: number, body?: (w: JuteWriter) => void): Buffer {
    const w = new JuteWriter(128);
    writeReplyHeader(w, { xid, zxid: this.zxid(), err });
    if (body !== undefined && err === 0) body(w);
    return w.frame();
  }

  notify(type: EventType, path: string, zxid: number): void {
    const w = new JuteWriter(64);
    writeReplyHeader(w, { xid: Xid.Notification, zxid, err: 0 });
    writeWatcherEvent(w, { type, state: KeeperState.SyncConnected, path });
    this.send(w.frame());
  }

  private async propose(ops: ZkOp[], multi: boolean, session = this.sessionId): Promise<ZkApplyResult> {
    const payload = encodeZkCommand({ ops, multi, time: this.ctx.host.wallNow(), session, auth: this.auth });
    const res = await this.ctx.host.propose({ type: 'zk', payload });
    if (res.type !== 'zk') throw new Error(`a zk command answered ${res.type}`);
    return res.zk;
  }

  private async writeOne(op: ZkOp): Promise<ZkOpResult & { ok: true }> {
    const res = await this.propose([op], false);
    const r = res.results[0];
    if (r === undefined) throw new Error('a zk command answered no result');
    if (!r.ok) throw new ZkReplyError(ErrorCode[r.error], r.error);
    return r;
  }

  private readNode(path: string, perm: number): Znode {
    checkPath(path);
    const node = this.ctx.host.kv().zkView().node(path);
    if (node === null) throw new ZkReplyError(ErrorCode.NoNode, path);
    if (perm !== 0 && !aclAllows(node.acl, this.auth, perm)) throw new ZkReplyError(ErrorCode.NoAuth, path);
    return node;
  }

  private watch(kind: 'data' | 'child', path: string): void {
    this.ctx.watches.add(kind, path, this);
  }

  private decode(xid: number, type: number, r: JuteReader): Exec {
    const gate = this.ctx.host.readGate;
    const read = (run: () => Buffer): Exec => ({ kind: 'read', run: () => (gate === undefined ? Promise.resolve() : gate()).then(run) });
    const write = (run: () => Promise<Buffer>): Exec => ({ kind: 'write', run });
    switch (type) {
      case OpCode.ping:
        return { kind: 'read', run: () => Promise.resolve().then(() => this.reply(xid, 0)) };
      case OpCode.create: case OpCode.create2: case OpCode.createContainer: case OpCode.createTTL: {
        const c = readCreateRequest(r, type === OpCode.createTTL);
        return write(async () => {
          const op = this.createOp(c, type);
          const res = await this.writeOne(op);
          return this.reply(xid, 0, (w) => {
            w.string(res.path);
            if (type !== OpCode.create && res.stat !== null) writeStat(w, res.stat);
          });
        });
      }
      case OpCode.delete: {
        const path = r.string();
        const version = r.int();
        return write(async () => {
          await this.writeOne({ op: 'delete', path, version });
          return this.reply(xid, 0);
        });
      }
      case OpCode.setData: {
        const path = r.string();
        const data = Buffer.from(r.buffer());
        const version = r.int();
        return write(async () => {
          const res = await this.writeOne({ op: 'setData', path, data, version });
          return this.reply(xid, 0, (w) => res.stat !== null && writeStat(w, res.stat));
        });
      }
      case OpCode.check: {
        const path = r.string();
        const version = r.int();
        return write(async () => {
          await this.writeOne({ op: 'check', path, version });
          return this.reply(xid, 0);
        });
      }
      case OpCode.setACL: {
        const path = r.string();
        const acl = r.vector(readAcl);
        const version = r.int();
        return write(async () => {
          const res = await this.writeOne({ op: 'setAcl', path, acl, version });
          return this.reply(xid, 0, (w) => res.stat !== null && writeStat(w, res.stat));
        });
      }
      case OpCode.exists: {
        const path = r.string();
        const watch = r.bool();
        return read(() => {
          checkPath(path);
          const node = this.ctx.host.kv().zkView().node(path);
          if (watch) this.watch('data', path);
          if (node === null) return this.reply(xid, ErrorCode.NoNode);
          return this.reply(xid, 0, (w) => writeStat(w, statOf(node)));
        });
      }
      case OpCode.getData: {
        const path = r.string();
        const watch = r.bool();
        return read(() => {
          const node = this.readNode(path, Perm.Read);
          if (watch) this.watch('data', path);
          return this.reply(xid, 0, (w) => {
            w.buffer(node.data);
            writeStat(w, statOf(node));
          });
        });
      }
      case OpCode.getACL: {
        const path = r.string();
        return read(() => {
          const node = this.readNode(path, 0);
          return this.reply(xid, 0, (w) => {
            w.vector(node.acl as Acl[], writeAcl);
            writeStat(w, statOf(node));
          });
        });
      }
      case OpCode.getChildren: case OpCode.getChildren2: {
        const path = r.string();
        const watch = r.bool();
        return read(() => {
          const node = this.readNode(path, Perm.Read);
          if (watch) this.watch('child', path);
          const children = this.ctx.host.kv().zkView().children(path);
          return this.reply(xid, 0, (w) => {
            w.vector(children, (x, c) => void x.string(c));
            if (type === OpCode.getChildren2) writeStat(w, statOf(node));
          });
        });
      }
      case OpCode.getAllChildrenNumber: {
        const path = r.string();
        return read(() => {
          this.readNode(path, Perm.Read);
          const n = this.ctx.host.kv().zkView().descendantCount(path);
          return this.reply(xid, 0, (w) => void w.int(n));
        });
      }
      case OpCode.getEphemerals: {
        const prefix = r.string();
        return read(() => {
          const paths = this.ctx.host.kv().zkView().ephemerals(this.sessionId, prefix);
          return this.reply(xid, 0, (w) => void w.vector(paths, (x, p) => void x.string(p)));
        });
      }
      case OpCode.sync: {
        const path = r.string();
        return {
          kind: 'barrier',
          run: async () => {
            await this.ctx.host.readBarrier();
            return this.reply(xid, 0, (w) => void w.string(path));
          },
        };
      }
      case OpCode.multi: {
        const ops = readMultiRequest(r);
        const reads = ops.every((o) => o.type === OpCode.getData || o.type === OpCode.getChildren);
        if (reads && ops.length > 0) throw new JuteDecodeError('multi with read operations: use multiRead');
        return write(() => this.multi(xid, ops));
      }
      case OpCode.multiRead: {
        const ops = readMultiRequest(r);
        return read(() => this.multiRead(xid, ops));
      }
      case OpCode.setWatches: case OpCode.setWatches2: {
        const sw = readSetWatches(r, type === OpCode.setWatches2);
        return read(() => {
          this.setWatches(sw);
          return this.reply(xid, 0);
        });
      }
      case OpCode.addWatch: {
        const path = r.string();
        const mode = r.int();
        return read(() => {
          checkPath(path);
          if (mode !== AddWatchMode.Persistent && mode !== AddWatchMode.PersistentRecursive) throw new ZkReplyError(ErrorCode.BadArguments, `addWatch mode ${mode}`);
          this.ctx.watches.add(mode === AddWatchMode.Persistent ? 'persistent' : 'recursive', path, this);
          return this.reply(xid, 0);
        });
      }
      case OpCode.removeWatches: case OpCode.checkWatches: {
        const path = r.string();
        const wtype = r.int();
        return read(() => this.removeWatches(xid, path, wtype, type === OpCode.removeWatches));
      }
      case OpCode.auth: {
        r.int(); // type, unused
        const scheme = r.string();
        const auth = r.buffer().toString('utf8');
        // Applied at once, so every later request (a write proposed before this reply) carries the new id.
        const colon = auth.indexOf(':');
        if (scheme !== 'digest' || colon < 0) {
          // ZooKeeper answers AuthFailed and closes the connection.
          return read(() => {
            setImmediate(() => this.destroy());
            return this.reply(Xid.Auth, ErrorCode.AuthFailed);
          });
        }
        const id = { scheme: 'digest', id: digestId(auth.slice(0, colon), auth.slice(colon + 1)) };
        if (!this.auth.some((a) => a.id === id.id)) this.auth = [...this.auth, id];
        return read(() => this.reply(Xid.Auth, 0));
      }
      case OpCode.closeSession:
        this.closingSession = true;
        return write(async () => {
          await this.ctx.host.propose({ type: 'leaseRevoke', id: leaseId(this.sessionId) }).catch((err: unknown) => {
            if (!(err instanceof LeaseNotFoundError)) throw err;
          });
          this.state = 'closing';
          setImmediate(() => this.socket.end());
          return this.reply(xid, 0);
        });
      default:
        return read(() => this.reply(xid, ErrorCode.Unimplemented));
    }
  }

  private createOp(c: { path: string; data: Buffer; acl: Acl[]; flags: number; ttl: number }, type: number): ZkOp {
    const { mode, sequential } = modeOf(c.flags, type);
    return { op: 'create', path: c.path, data: Buffer.from(c.data), acl: c.acl, mode, sequential, ttlMs: mode === 'ttl' ? c.ttl : 0 };
  }

  private async multi(xid: number, ops: MultiOp[]): Promise<Buffer> {
    const zkOps: ZkOp[] = [];
    for (const op of ops) {
      switch (op.type) {
        case OpCode.create: case OpCode.create2: case OpCode.createContainer: case OpCode.createTTL:
          zkOps.push(this.createOp(op.create, op.type));
          break;
        case OpCode.delete: zkOps.push({ op: 'delete', path: op.path, version: op.version }); break;
        case OpCode.setData: zkOps.push({ op: 'setData', path: op.path, data: Buffer.from(op.data), version: op.version }); break;
        case OpCode.check: zkOps.push({ op: 'check', path: op.path, version: op.version }); break;
        default: throw new ZkReplyError(ErrorCode.BadArguments, 'a read in a multi');
      }
    }
    const res = zkOps.length === 0 ? { revision: 0, results: [] } : await this.propose(zkOps, true);
    const results: MultiResult[] = res.results.map((r, i): MultiResult => {
      if (!r.ok) return { type: OpCode.error, err: ErrorCode[r.error] };
      const t = ops[i]?.type;
      if (r.op === 'create') {
        return t === OpCode.create || r.stat === null ? { type: OpCode.create, path: r.path } : { type: OpCode.create2, path: r.path, stat: r.stat };
      }
      if (r.op === 'setData' && r.stat !== null) return { type: OpCode.setData, stat: r.stat };
      return { type: r.op === 'delete' ? OpCode.delete : OpCode.check };
    });
    return this.reply(xid, 0, (w) => writeMultiResponse(w, results));
  }

  private multiRead(xid: number, ops: MultiOp[]): Buffer {
    const results: MultiResult[] = ops.map((op): MultiResult => {
      try {
        if (op.type === OpCode.getData) {
          const node = this.readNode(op.path, Perm.Read);
          return { type: OpCode.getData, data: node.data, stat: statOf(node) };
        }
        if (op.type === OpCode.getChildren) {
          this.readNode(op.path, Perm.Read);
          return { type: OpCode.getChildren, children: this.ctx.host.kv().zkView().children(op.path) };
        }
        return { type: OpCode.error, err: ErrorCode.BadArguments };
      } catch (err) {
        if (err instanceof ZkReplyError) return { type: OpCode.error, err: err.zkCode };
        throw err;
      }
    });
    return this.reply(xid, 0, (w) => writeMultiResponse(w, results));
  }

  /** Watches a reconnecting client re-registers: any change since relativeZxid fires at once (ZooKeeper's setWatches). */
  private setWatches(sw: SetWatches): void {
    const view = this.ctx.host.kv().zkView();
    const rel = sw.relativeZxid;
    for (const path of sw.dataWatches) {
      const node = invalidPathReason(path) === null ? view.node(path) : null;
      if (node === null) this.notify(EventType.NodeDeleted, path, rel);
      else if (node.mzxid > rel) this.notify(EventType.NodeDataChanged, path, rel);
      else this.watch('data', path);
    }
    for (const path of sw.existWatches) {
      const node = invalidPathReason(path) === null ? view.node(path) : null;
      if (node !== null) this.notify(EventType.NodeCreated, path, rel);
      else this.watch('data', path);
    }
    for (const path of sw.childWatches) {
      const node = invalidPathReason(path) === null ? view.node(path) : null;
      if (node === null) this.notify(EventType.NodeDeleted, path, rel);
      else if (node.pzxid > rel) this.notify(EventType.NodeChildrenChanged, path, rel);
      else this.watch('child', path);
    }
    for (const path of sw.persistentWatches) this.ctx.watches.add('persistent', path, this);
    for (const path of sw.persistentRecursiveWatches) this.ctx.watches.add('recursive', path, this);
  }

  private removeWatches(xid: number, path: string, wtype: number, remove: boolean): Buffer {
    checkPath(path);
    const kinds: ('data' | 'child' | 'persistent' | 'recursive')[] =
      wtype === WatcherType.Children ? ['child'] : wtype === WatcherType.Data ? ['data'] : ['data', 'child', 'persistent', 'recursive'];
    if (wtype !== WatcherType.Children && wtype !== WatcherType.Data && wtype !== WatcherType.Any) throw new ZkReplyError(ErrorCode.BadArguments, `watcher type ${wtype}`);
    const found = kinds.filter((k) => this.ctx.watches.has(k, path, this));
    if (found.length === 0) return this.reply(xid, ErrorCode.NoWatcher);
    if (remove) for (const k of found) this.ctx.watches.remove(k, path, this);
    return this.reply(xid, 0);
  }
}
