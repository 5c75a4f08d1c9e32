// A znode as stored in the MVCC store: its data, the Stat fields the store does not already keep (czxid is the
// key's create revision), its kind and its ACL, in a compact binary value checked when decoded.

import { assert } from '../../util/assert.js';

export interface ZkId {
  readonly scheme: string;
  readonly id: string;
}

export interface ZkAcl {
  readonly perms: number;
  readonly id: ZkId;
}

export const ZK_PERM_ALL = 31;
export const ZK_PERM = { read: 1, write: 2, create: 4, delete: 8, admin: 16 } as const;
/** world:anyone with every permission: ZooKeeper's OPEN_ACL_UNSAFE, the default. */
export const OPEN_ACL: readonly ZkAcl[] = Object.freeze([{ perms: ZK_PERM_ALL, id: { scheme: 'world', id: 'anyone' } }]);

/** 0 normal, 1 container, 2 TTL. */
export type ZnodeKind = 0 | 1 | 2;

export interface Znode {
  data: Uint8Array;
  czxid: number;
  mzxid: number;
  ctime: number;
  mtime: number;
  version: number;
  cversion: number;
  aversion: number;
  ephemeralOwner: number;
  numChildren: number;
  pzxid: number;
  kind: ZnodeKind;
  ttlMs: number;
  acl: readonly ZkAcl[];
}

const FORMAT = 1;
/** format, kind, 6 doubles, 4 int32s, acl length. */
const HEADER_BYTES = 2 + 6 * 8 + 4 * 4 + 4;

function isOpenAcl(acl: readonly ZkAcl[]): boolean {
  const a = acl[0];
  return acl.length === 1 && a !== undefined && a.perms === ZK_PERM_ALL && a.id.scheme === 'world' && a.id.id === 'anyone';
}

export function encodeZnode(n: Znode): Uint8Array {
  const acl = isOpenAcl(n.acl) ? Buffer.alloc(0) : Buffer.from(JSON.stringify(n.acl));
  const out = Buffer.allocUnsafe(HEADER_BYTES + acl.length + n.data.length);
  let o = 0;
  out[o++] = FORMAT;
  out[o++] = n.kind;
  for (const v of [n.mzxid, n.ctime, n.mtime, n.ephemeralOwner, n.pzxid, n.ttlMs]) o = out.writeDoubleBE(v, o);
  for (const v of [n.version, n.cversion, n.aversion, n.numChildren]) o = out.writeInt32BE(v | 0, o);
  o = out.writeUInt32BE(acl.length, o);
  out.set(acl, o);
  out.set(n.data, o + acl.length);
  return out;
}

/** Decodes a stored znode; `czxid` is the key's create revision. Stored values are ours: a bad one is a bug. */
export function decodeZnode(value: Uint8Array, czxid: number): Znode {
  const b = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  assert(b.length >= HEADER_BYTES && b[0] === FORMAT, 'a stored znode has a bad header');
  const kind = b[1];
  assert(kind === 0 || kind === 1 || kind === 2, 'a stored znode has a bad kind');
  let o = 2;
  const d = (): number => {
    const v = b.readDoubleBE(o);
    o += 8;
    return v;
  };
  const i = (): number => {
    const v = b.readInt32BE(o);
    o += 4;
    return v;
  };
  const mzxid = d(), ctime = d(), mtime = d(), ephemeralOwner = d(), pzxid = d(), ttlMs = d();
  const version = i(), cversion = i(), aversion = i(), numChildren = i();
  const aclLen = b.readUInt32BE(o);
  o += 4;
  assert(o + aclLen <= b.length, 'a stored znode has a bad ACL length');
  const acl = aclLen === 0 ? OPEN_ACL : (JSON.parse(b.subarray(o, o + aclLen).toString('utf8')) as ZkAcl[]);
  return {
    data: b.subarray(o + aclLen), czxid, mzxid, ctime, mtime, version, cversion, aversion, ephemeralOwner, numChildren,
    pzxid, kind, ttlMs, acl,
  };
}

/** Whether `auth` (the session's ids, world:anyone implied) holds `perm` on a node with `acl`. */
export function aclAllows(acl: readonly ZkAcl[], auth: readonly ZkId[], perm: number): boolean {
  for (const a of acl) {
    if ((a.perms & perm) === 0) continue;
    if (a.id.scheme === 'world' && a.id.id === 'anyone') return true;
    if (auth.some((id) => id.scheme === a.id.scheme && id.id === a.id.id)) return true;
  }
  return false;
}

/** A session record: the negotiated timeout and the password a reconnect must present. */
export interface ZkSessionRecord {
  readonly id: number;
  readonly timeoutMs: number;
  readonly passwd: Uint8Array;
}

export function encodeSession(timeoutMs: number, passwd: Uint8Array): Uint8Array {
  const out = Buffer.allocUnsafe(4 + passwd.length);
  out.writeUInt32BE(timeoutMs, 0);
  out.set(passwd, 4);
  return out;
}

export function decodeSession(id: number, value: Uint8Array): ZkSessionRecord {
  const b = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  assert(b.length >= 4, 'a stored session record is too short');
  return { id, timeoutMs: b.readUInt32BE(0), passwd: b.subarray(4) };
}
