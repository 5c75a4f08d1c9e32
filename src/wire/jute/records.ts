// The jute records of zookeeper.jute that Meridian's ZooKeeper server and client exchange, with their
// decoders (untrusted input: bounds-checked by JuteReader) and encoders. Field order follows zookeeper.jute.

import { JuteDecodeError, type JuteReader, type JuteWriter } from './jute_buffer.js';
import { OpCode } from './zk_codes.js';

export interface Stat {
  readonly czxid: number;
  readonly mzxid: number;
  readonly ctime: number;
  readonly mtime: number;
  readonly version: number;
  readonly cversion: number;
  readonly aversion: number;
  readonly ephemeralOwner: number;
  readonly dataLength: number;
  readonly numChildren: number;
  readonly pzxid: number;
}

export interface Id {
  readonly scheme: string;
  readonly id: string;
}

export interface Acl {
  readonly perms: number;
  readonly id: Id;
}

export interface ConnectRequest {
  readonly protocolVersion: number;
  readonly lastZxidSeen: number;
  readonly timeOut: number;
  readonly sessionId: number;
  readonly passwd: Buffer;
  /** Absent in old clients' requests (null then); a server answers with the field only when asked with it. */
  readonly readOnly: boolean | null;
}

export interface ConnectResponse {
  readonly protocolVersion: number;
  readonly timeOut: number;
  readonly sessionId: number;
  readonly passwd: Uint8Array;
  readonly readOnly: boolean | null;
}

export interface RequestHeader {
  readonly xid: number;
  readonly type: number;
}

export interface ReplyHeader {
  readonly xid: number;
  readonly zxid: number;
  readonly err: number;
}

export interface WatcherEvent {
  readonly type: number;
  readonly state: number;
  readonly path: string;
}

export interface CreateRequest {
  readonly path: string;
  readonly data: Buffer;
  readonly acl: Acl[];
  readonly flags: number;
  /** createTTL only; 0 otherwise. */
  readonly ttl: number;
}

export interface SetWatches {
  readonly relativeZxid: number;
  readonly dataWatches: string[];
  readonly existWatches: string[];
  readonly childWatches: string[];
  readonly persistentWatches: string[];
  readonly persistentRecursiveWatches: string[];
}

/** One operation of a multi / multiRead request. */
export type MultiOp =
  | { readonly type: typeof OpCode.create | typeof OpCode.create2 | typeof OpCode.createContainer | typeof OpCode.createTTL; readonly create: CreateRequest }
  | { readonly type: typeof OpCode.delete; readonly path: string; readonly version: number }
  | { readonly type: typeof OpCode.setData; readonly path: string; readonly data: Buffer; readonly version: number }
  | { readonly type: typeof OpCode.check; readonly path: string; readonly version: number }
  | { readonly type: typeof OpCode.getData | typeof OpCode.getChildren; readonly path: string };

/** One result of a multi / multiRead response. */
export type MultiResult =
  | { readonly type: typeof OpCode.create; readonly path: string }
  | { readonly type: typeof OpCode.create2; readonly path: string; readonly stat: Stat }
  | { readonly type: typeof OpCode.delete | typeof OpCode.check }
  | { readonly type: typeof OpCode.setData; readonly stat: Stat }
  | { readonly type: typeof OpCode.getData; readonly data: Uint8Array; readonly stat: Stat }
  | { readonly type: typeof OpCode.getChildren; readonly children: string[] }
  | { readonly type: typeof OpCode.error; readonly err: number };

/** Most operations one multi may carry (ZooKeeper bounds it only by jute.maxbuffer; this keeps one command small). */
export const MULTI_OPS_MAX = 1000;

// ---------------------------------------------------------------- readers

export function readStat(r: JuteReader): Stat {
  return {
    czxid: r.long(), mzxid: r.long(), ctime: r.long(), mtime: r.long(), version: r.int(), cversion: r.int(),
    aversion: r.int(), ephemeralOwner: r.long(), dataLength: r.int(), numChildren: r.int(), pzxid: r.long(),
  };
}

export function readAcl(r: JuteReader): Acl {
  const perms = r.int();
  return { perms, id: { scheme: r.string(), id: r.string() } };
}

export function readConnectRequest(r: JuteReader): ConnectRequest {
  const protocolVersion = r.int();
  const lastZxidSeen = r.long();
  const timeOut = r.int();
  const sessionId = r.long();
  const passwd = r.buffer();
  const readOnly = r.remaining() > 0 ? r.bool() : null;
  return { protocolVersion, lastZxidSeen, timeOut, sessionId, passwd, readOnly };
}

export function readConnectResponse(r: JuteReader): ConnectResponse {
  const protocolVersion = r.int();
  const timeOut = r.int();
  const sessionId = r.long();
  const passwd = Buffer.from(r.buffer());
  const readOnly = r.remaining() > 0 ? r.bool() : null;
  return { protocolVersion, timeOut, sessionId, passwd, readOnly };
}

export function readRequestHeader(r: JuteReader): RequestHeader {
  return { xid: r.int(), type: r.int() };
}

export function readReplyHeader(r: JuteReader): ReplyHeader {
  return { xid: r.int(), zxid: r.long(), err: r.int() };
}

export function readWatcherEvent(r: JuteReader): WatcherEvent {
  return { type: r.int(), state: r.int(), path: r.string() };
}

export function readCreateRequest(r: JuteReader, withTtl: boolean): CreateRequest {
  const path = r.string();
  const data = r.buffer();
  const acl = r.vector(readAcl);
  const flags = r.int();
  return { path, data, acl, flags, ttl: withTtl ? r.long() : 0 };
}

export function readSetWatches(r: JuteReader, version2: boolean): SetWatches {
  const relativeZxid = r.long();
  const str = (x: JuteReader): string => x.string();
  const dataWatches = r.vector(str);
  const existWatches = r.vector(str);
  const childWatches = r.vector(str);
  const persistentWatches = version2 ? r.vector(str) : [];
  const persistentRecursiveWatches = version2 ? r.vector(str) : [];
  return { relativeZxid, dataWatches, existWatches, childWatches, persistentWatches, persistentRecursiveWatches };
}

/** A multi request: (MultiHeader, op)* then a MultiHeader with done = true. */
export function readMultiRequest(r: JuteReader): MultiOp[] {
  const ops: MultiOp[] = [];
  for (;;) {
    const type = r.int();
    const done = r.bool();
    r.int(); // err: always -1 in requests
    if (done) return ops;
    if (ops.length >= MULTI_OPS_MAX) throw new JuteDecodeError(`Cannot read multi: more than ${MULTI_OPS_MAX} operations`);
    ops.push(readMultiOp(r, type));
  }
}

function readMultiOp(r: JuteReader, type: number): MultiOp {
  switch (type) {
    case OpCode.create: case OpCode.create2: case OpCode.createContainer:
      return { type, create: readCreateRequest(r, false) };
    case OpCode.createTTL:
      return { type, create: readCreateRequest(r, true) };
    case OpCode.delete: return { type, path: r.string(), version: r.int() };
    case OpCode.setData: return { type, path: r.string(), data: r.buffer(), version: r.int() };
    case OpCode.check: return { type, path: r.string(), version: r.int() };
    case OpCode.getData: case OpCode.getChildren: {
      const path = r.string();
      r.bool(); // watch: multiRead sets none
      return { type, path };
    }
    default: throw new JuteDecodeError(`Cannot read multi: operation type ${type} is not allowed in a multi`);
  }
}

export function readMultiResponse(r: JuteReader): MultiResult[] {
  const out: MultiResult[] = [];
  for (;;) {
    const type = r.int();
    const done = r.bool();
    const err = r.int();
    if (done) return out;
    if (out.length >= MULTI_OPS_MAX) throw new JuteDecodeError(`Cannot read multi response: more than ${MULTI_OPS_MAX} results`);
    out.push(readMultiResult(r, type, err));
  }
}

function readMultiResult(r: JuteReader, type: number, err: number): MultiResult {
  switch (type) {
    case OpCode.create: return { type, path: r.string() };
    case OpCode.create2: return { type, path: r.string(), stat: readStat(r) };
    case OpCode.delete: case OpCode.check: return { type };
    case OpCode.setData: return { type, stat: readStat(r) };
    case OpCode.getData: return { type, data: Buffer.from(r.buffer()), stat: readStat(r) };
    case OpCode.getChildren: return { type, children: r.vector((x) => x.string()) };
    case OpCode.error: {
      const e = r.int();
      return { type, err: e === 0 ? err : e };
    }
    default: throw new JuteDecodeError(`Cannot read multi response: result type ${type} is unknown`);
  }
}

// ---------------------------------------------------------------- writers

export function writeStat(w: JuteWriter, s: Stat): void {
  w.long(s.czxid).long(s.mzxid).long(s.ctime).long(s.mtime).int(s.version).int(s.cversion).int(s.aversion)
    .long(s.ephemeralOwner).int(s.dataLength).int(s.numChildren).long(s.pzxid);
}

export function writeAcl(w: JuteWriter, a: Acl): void {
  w.int(a.perms).string(a.id.scheme).string(a.id.id);
}

export function writeConnectRequest(w: JuteWriter, c: ConnectRequest): void {
  w.int(c.protocolVersion).long(c.lastZxidSeen).int(c.timeOut).long(c.sessionId).buffer(c.passwd);
  if (c.readOnly !== null) w.bool(c.readOnly);
}

export function writeConnectResponse(w: JuteWriter, c: ConnectResponse): void {
  w.int(c.protocolVersion).int(c.timeOut).long(c.sessionId).buffer(c.passwd);
  if (c.readOnly !== null) w.bool(c.readOnly);
}

export function writeRequestHeader(w: JuteWriter, h: RequestHeader): void {
  w.int(h.xid).int(h.type);
}

export function writeReplyHeader(w: JuteWriter, h: ReplyHeader): void {
  w.int(h.xid).long(h.zxid).int(h.err);
}

export function writeWatcherEvent(w: JuteWriter, e: WatcherEvent): void {
  w.int(e.type).int(e.state).string(e.path);
}

export function writeCreateRequest(w: JuteWriter, c: CreateRequest, withTtl: boolean): void {
  w.string(c.path).buffer(c.data).vector(c.acl, writeAcl).int(c.flags);
  if (withTtl) w.long(c.ttl);
}

export function writeSetWatches(w: JuteWriter, s: SetWatches, version2: boolean): void {
  const str = (x: JuteWriter, p: string): void => void x.string(p);
  w.long(s.relativeZxid).vector(s.dataWatches, str).vector(s.existWatches, str).vector(s.childWatches, str);
  if (version2) w.vector(s.persistentWatches, str).vector(s.persistentRecursiveWatches, str);
}

export function writeMultiRequest(w: JuteWriter, ops: readonly MultiOp[]): void {
  for (const op of ops) {
    w.int(op.type).bool(false).int(-1);
    switch (op.type) {
      case OpCode.create: case OpCode.create2: case OpCode.createContainer: case OpCode.createTTL:
        writeCreateRequest(w, op.create, op.type === OpCode.createTTL);
        break;
      case OpCode.delete: case OpCode.check: w.string(op.path).int(op.version); break;
      case OpCode.setData: w.string(op.path).buffer(op.data).int(op.version); break;
      case OpCode.getData: case OpCode.getChildren: w.string(op.path).bool(false); break;
    }
  }
  w.int(-1).bool(true).int(-1);
}

export function writeMultiResponse(w: JuteWriter, results: readonly MultiResult[]): void {
  for (const res of results) {
    w.int(res.type).bool(false).int(res.type === OpCode.error ? res.err : 0);
    switch (res.type) {
      case OpCode.create: w.string(res.path); break;
      case OpCode.create2: w.string(res.path); writeStat(w, res.stat); break;
      case OpCode.delete: case OpCode.check: break;
      case OpCode.setData: writeStat(w, res.stat); break;
      case OpCode.getData: w.buffer(res.data); writeStat(w, res.stat); break;
      case OpCode.getChildren: w.vector(res.children, (x, c) => void x.string(c)); break;
      case OpCode.error: w.int(res.err); break;
    }
  }
  w.int(-1).bool(true).int(-1);
}
