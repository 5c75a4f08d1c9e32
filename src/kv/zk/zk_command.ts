// The ZooKeeper commands that enter the replicated log (inside the 'zk' Command variant) and their results.
// A command carries everything apply needs that is not replicated state: the proposer's wall-clock time (for
// ctime/mtime/TTL, so every member agrees) and the session's authenticated ids (for ACL checks, as ZooKeeper's
// leader checks them before the transaction). Encoding: u32 JSON length, the JSON ops, then each op's data bytes.

import { BadCommandError } from '../errors.js';
import type { ZkAcl, ZkId } from './zk_node.js';

/** Most operations in one command (a multi); ZooKeeper bounds multis only by jute.maxbuffer. */
export const ZK_OPS_MAX = 1000;

export type ZkCreateMode = 'persistent' | 'ephemeral' | 'container' | 'ttl';

export type ZkOp =
  | {
    readonly op: 'create'; readonly path: string; readonly data: Uint8Array; readonly acl: readonly ZkAcl[];
    readonly mode: ZkCreateMode; readonly sequential: boolean; readonly ttlMs: number;
  }
  | { readonly op: 'delete'; readonly path: string; readonly version: number }
  | { readonly op: 'setData'; readonly path: string; readonly data: Uint8Array; readonly version: number }
  | { readonly op: 'check'; readonly path: string; readonly version: number }
  | { readonly op: 'setAcl'; readonly path: string; readonly acl: readonly ZkAcl[]; readonly version: number }
  /** Opens a session: a lease with the timeout's TTL and a session record holding the password. */
  | { readonly op: 'createSession'; readonly timeoutMs: number; readonly passwd: Uint8Array }
  /** The leader's cleanup of an empty container, or of a TTL node past its TTL (checked again at apply). */
  | { readonly op: 'reap'; readonly path: string };

export interface ZkCommand {
  readonly ops: readonly ZkOp[];
  /** A multi: all or nothing, with per-op results. */
  readonly multi: boolean;
  /** Proposer's wall-clock time in ms. */
  readonly time: number;
  /** Session that issued the command (owner of ephemerals it creates); 0 for none. */
  readonly session: number;
  readonly auth: readonly ZkId[];
}

/** ZooKeeper's error names (the wire layer maps them onto codes). */
export type ZkErrorName =
  | 'NoNode' | 'NodeExists' | 'BadVersion' | 'NotEmpty' | 'NoChildrenForEphemerals' | 'BadArguments' | 'NoAuth'
  | 'InvalidACL' | 'SessionExpired' | 'RuntimeInconsistency' | 'Unimplemented' | 'OK';

export interface ZkStatView {
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

export type ZkOpResult =
  | { readonly ok: true; readonly op: ZkOp['op']; readonly path: string; readonly stat: ZkStatView | null; readonly sessionId?: number; readonly timeoutMs?: number }
  | { readonly ok: false; readonly op: ZkOp['op']; readonly error: ZkErrorName };

export interface ZkApplyResult {
  /** The store revision after the command (the zxid of its changes when it made any). */
  readonly revision: number;
  readonly results: readonly ZkOpResult[];
}

type JsonOp = Record<string, unknown> & { op: string };

export function encodeZkCommand(c: ZkCommand): Uint8Array {
  const datas: Uint8Array[] = [];
  const ops: JsonOp[] = c.ops.map((o) => {
    if (o.op === 'create' || o.op === 'setData') {
      datas.push(o.data);
      return { ...o, data: o.data.length };
    }
    if (o.op === 'createSession') {
      datas.push(o.passwd);
      return { ...o, passwd: o.passwd.length };
    }
    return { ...o };
  });
  const json = Buffer.from(JSON.stringify({ ops, multi: c.multi, time: c.time, session: c.session, auth: c.auth }));
  return Buffer.concat([u32(json.length), json, ...datas]);
}

function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n, 0);
  return b;
}

/** Decodes a command from the log; it was encoded by a member, but a bad one still ends as BadCommandError. */
export function decodeZkCommand(payload: Uint8Array): ZkCommand {
  const b = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  if (b.length < 4) throw new BadCommandError('zk command is too short');
  const n = b.readUInt32BE(0);
  if (4 + n > b.length) throw new BadCommandError('zk command header is truncated');
  let raw: { ops: JsonOp[]; multi: boolean; time: number; session: number; auth: ZkId[] };
  try {
    raw = JSON.parse(b.subarray(4, 4 + n).toString('utf8')) as typeof raw;
  } catch {
    throw new BadCommandError('zk command header is not JSON');
  }
  if (!Array.isArray(raw.ops) || raw.ops.length > ZK_OPS_MAX) throw new BadCommandError('zk command has bad ops');
  let off = 4 + n;
  const take = (len: unknown): Uint8Array => {
    if (typeof len !== 'number' || len < 0 || off + len > b.length) throw new BadCommandError('zk command data is truncated');
    const out = b.subarray(off, off + len);
    off += len;
    return out;
  };
  const ops = raw.ops.map((o): ZkOp => {
    if (o.op === 'create' || o.op === 'setData') return { ...o, data: take(o['data']) } as unknown as ZkOp;
    if (o.op === 'createSession') return { ...o, passwd: take(o['passwd']) } as unknown as ZkOp;
    return o as unknown as ZkOp;
  });
  return { ops, multi: raw.multi === true, time: Number(raw.time), session: Number(raw.session), auth: Array.isArray(raw.auth) ? raw.auth : [] };
}
