// Applies ZooKeeper commands to the MVCC store, deterministically and in ONE revision per command: every op is
// first played against an overlay of the znodes it touches (so a multi either passes every check or changes
// nothing), then the overlay is written. The rules are ZooKeeper's PrepRequestProcessor and DataTree.

import { latin1ToBytes } from '../../storage/backend/backend.js';
import type { MvccStore } from '../mvcc.js';
import type { ZkCommand, ZkErrorName, ZkOp, ZkOpResult, ZkApplyResult, ZkStatView } from './zk_command.js';
import { type Znode, type ZkAcl, type ZkId, aclAllows, decodeZnode, encodeSession, encodeZnode, OPEN_ACL, ZK_PERM } from './zk_node.js';
import { invalidPathReason, isNodeKey, markerKey, nodeKey, parentOf, pathOfKey, sequenceSuffix, sessionKey } from './zk_path.js';

/** Longest TTL of a TTL node (ZooKeeper's EphemeralType.TTL max: 2^40 - 1 ms). */
export const ZK_TTL_MS_MAX = 2 ** 40 - 1;
/** Largest znode data (ZooKeeper's jute.maxbuffer default). */
export const ZK_DATA_BYTES_MAX = 1024 * 1024;

export interface ZkApplyContext {
  readonly mvcc: MvccStore;
  /** Whether the lease (session) exists. */
  leaseExists(id: number): boolean;
  /** Grants a lease picked from the log index (as leaseGrant with id 0 does); returns its id and TTL. */
  grantLease(index: number, ttlSeconds: number): { id: number; ttlSeconds: number };
  /** Runs `body` as one write of the store (one revision if it changes anything). */
  write<T>(body: () => T): T;
}

class ZkFail extends Error {
  constructor(readonly zkError: ZkErrorName) {
    super(zkError);
  }
}

function rootNode(): Znode {
  return {
    data: new Uint8Array(0), czxid: 0, mzxid: 0, ctime: 0, mtime: 0, version: 0, cversion: 0, aversion: 0,
    ephemeralOwner: 0, numChildren: 0, pzxid: 0, kind: 0, ttlMs: 0, acl: OPEN_ACL,
  };
}

/** The znode at `path` in the store, or null; "/" always exists. */
export function readZnode(mvcc: MvccStore, path: string): Znode | null {
  const kv = mvcc.getLive(nodeKey(path));
  if (kv === null) return path === '/' ? rootNode() : null;
  return decodeZnode(kv.value, kv.createRevision);
}

export function statOf(n: Znode): ZkStatView {
  return {
    czxid: n.czxid, mzxid: n.mzxid, ctime: n.ctime, mtime: n.mtime, version: n.version, cversion: n.cversion,
    aversion: n.aversion, ephemeralOwner: n.ephemeralOwner, dataLength: n.data.length, numChildren: n.numChildren,
    pzxid: n.pzxid,
  };
}

/** The znodes a command touches, with their pending state (null: deleted). */
class Overlay {
  readonly nodes = new Map<string, Znode | null>();
  /** Paths deleted and created again in this command: written as a delete, then a create (a new czxid). */
  readonly recreated = new Set<string>();
  readonly markers = new Map<string, boolean>();
  constructor(private readonly mvcc: MvccStore) {}

  get(path: string): Znode | null {
    if (this.nodes.has(path)) return this.nodes.get(path) ?? null;
    const n = readZnode(this.mvcc, path);
    this.nodes.set(path, n);
    return n;
  }

  set(path: string, n: Znode | null): void {
    if (n !== null && this.nodes.has(path) && this.nodes.get(path) === null && readZnode(this.mvcc, path) !== null) this.recreated.add(path);
    this.nodes.set(path, n);
  }
}

function checkVersion(expected: number, actual: number): void {
  if (expected !== -1 && expected !== actual) throw new ZkFail('BadVersion');
}

function checkPath(path: string, sequential = false): void {
  if (typeof path !== 'string' || invalidPathReason(path, sequential) !== null) throw new ZkFail('BadArguments');
}

/** ZooKeeper's fixupACL: validates entries and replaces the `auth` scheme by the session's authenticated ids. */
function fixAcl(acl: readonly ZkAcl[], auth: readonly ZkId[]): ZkAcl[] {
  if (!Array.isArray(acl) || acl.length === 0) throw new ZkFail('InvalidACL');
  const out: ZkAcl[] = [];
  for (const a of acl) {
    if (!Number.isInteger(a.perms) || (a.perms & ~31) !== 0 || a.perms === 0) throw new ZkFail('InvalidACL');
    if (a.id.scheme === 'world' && a.id.id === 'anyone') out.push(a);
    else if (a.id.scheme === 'digest' && a.id.id.includes(':')) out.push(a);
    else if (a.id.scheme === 'auth') {
      const ids = auth.filter((id) => id.scheme === 'digest');
      if (ids.length === 0) throw new ZkFail('InvalidACL');
      for (const id of ids) out.push({ perms: a.perms, id });
    } else throw new ZkFail('InvalidACL');
  }
  return out;
}

function requirePerm(n: Znode, cmd: ZkCommand, perm: number): void {
  if (!aclAllows(n.acl, cmd.auth, perm)) throw new ZkFail('NoAuth');
}

function playCreate(o: Overlay, ctx: ZkApplyContext, cmd: ZkCommand, op: Extract<ZkOp, { op: 'create' }>, rev: number): ZkOpResult {
  checkPath(op.path, op.sequential);
  if (op.data.length > ZK_DATA_BYTES_MAX) throw new ZkFail('BadArguments');
  const ttl = op.mode === 'ttl';
  if (ttl ? !(op.ttlMs > 0 && op.ttlMs <= ZK_TTL_MS_MAX) : op.ttlMs !== 0) throw new ZkFail('BadArguments');
  if (op.mode === 'container' && op.sequential) throw new ZkFail('BadArguments');
  const acl = fixAcl(op.acl, cmd.auth);
  if (op.path === '/') throw new ZkFail('NodeExists');
  const parentPath = parentOf(op.path);
  const parent = o.get(parentPath);
  if (parent === null) throw new ZkFail('NoNode');
  requirePerm(parent, cmd, ZK_PERM.create);
  const path = op.sequential ? op.path + sequenceSuffix(parent.cversion) : op.path;
  if (o.get(path) !== null) throw new ZkFail('NodeExists');
  if (parent.ephemeralOwner !== 0) throw new ZkFail('NoChildrenForEphemerals');
  const ephemeral = op.mode === 'ephemeral';
  if (ephemeral && (cmd.session === 0 || !ctx.leaseExists(cmd.session))) throw new ZkFail('SessionExpired');
  const node: Znode = {
    data: op.data, czxid: rev, mzxid: rev, ctime: cmd.time, mtime: cmd.time, version: 0, cversion: 0, aversion: 0,
    ephemeralOwner: ephemeral ? cmd.session : 0, numChildren: 0, pzxid: rev,
    kind: op.mode === 'container' ? 1 : ttl ? 2 : 0, ttlMs: ttl ? op.ttlMs : 0, acl,
  };
  o.set(path, node);
  if (node.kind !== 0) o.markers.set(path, true);
  o.set(parentPath, { ...parent, cversion: parent.cversion + 1, numChildren: parent.numChildren + 1, pzxid: rev });
  return { ok: true, op: 'create', path, stat: statOf(node) };
}

function playDelete(o: Overlay, cmd: ZkCommand, path: string, version: number, rev: number): ZkOpResult {
  checkPath(path);
  if (path === '/') throw new ZkFail('BadArguments');
  const node = o.get(path);
  if (node === null) throw new ZkFail('NoNode');
  const parentPath = parentOf(path);
  const parent = o.get(parentPath);
  if (parent === null) throw new ZkFail('NoNode');
  requirePerm(parent, cmd, ZK_PERM.delete);
  checkVersion(version, node.version);
  if (node.numChildren > 0) throw new ZkFail('NotEmpty');
  o.set(path, null);
  if (node.kind !== 0) o.markers.set(path, false);
  o.set(parentPath, { ...parent, cversion: parent.cversion + 1, numChildren: parent.numChildren - 1, pzxid: rev });
  return { ok: true, op: 'delete', path, stat: null };
}

function playReap(o: Overlay, cmd: ZkCommand, path: string, rev: number): ZkOpResult {
  checkPath(path);
  const node = o.get(path);
  if (node === null) throw new ZkFail('NoNode');
  const due = node.numChildren === 0 && (node.kind === 1 ? node.cversion > 0 : node.kind === 2 && cmd.time > node.mtime + node.ttlMs);
  if (!due) throw new ZkFail('NotEmpty');
  // The leader's cleanup bypasses ACLs, as ZooKeeper's ContainerManager does.
  return playDelete(o, { ...cmd, auth: [{ scheme: 'super', id: '' }] }, path, -1, rev);
}

function playOp(o: Overlay, ctx: ZkApplyContext, cmd: ZkCommand, op: ZkOp, rev: number): ZkOpResult {
  switch (op.op) {
    case 'create': return playCreate(o, ctx, cmd, op, rev);
    case 'delete': return playDelete(o, cmd, op.path, op.version, rev);
    case 'reap': return playReap(o, cmd, op.path, rev);
    case 'setData': {
      checkPath(op.path);
      if (op.data.length > ZK_DATA_BYTES_MAX) throw new ZkFail('BadArguments');
      const node = o.get(op.path);
      if (node === null) throw new ZkFail('NoNode');
      requirePerm(node, cmd, ZK_PERM.write);
      checkVersion(op.version, node.version);
      const next = { ...node, data: op.data, version: node.version + 1, mzxid: rev, mtime: cmd.time };
      o.set(op.path, next);
      return { ok: true, op: 'setData', path: op.path, stat: statOf(next) };
    }
    case 'check': {
      checkPath(op.path);
      const node = o.get(op.path);
      if (node === null) throw new ZkFail('NoNode');
      checkVersion(op.version, node.version);
      return { ok: true, op: 'check', path: op.path, stat: null };
    }
    case 'setAcl': {
      checkPath(op.path);
      const acl = fixAcl(op.acl, cmd.auth);
      const node = o.get(op.path);
      if (node === null) throw new ZkFail('NoNode');
      requirePerm(node, cmd, ZK_PERM.admin);
      checkVersion(op.version, node.aversion);
      const next = { ...node, acl, aversion: node.aversion + 1 };
      o.set(op.path, next);
      return { ok: true, op: 'setAcl', path: op.path, stat: statOf(next) };
    }
    case 'createSession': throw new ZkFail('BadArguments');
  }
}

function writeOverlay(mvcc: MvccStore, o: Overlay): void {
  for (const path of o.recreated) {
    const ki = mvcc.index.get(nodeKey(path));
    if (ki !== undefined && ki.isLive()) mvcc.delete(ki);
  }
  for (const [path, node] of o.nodes) {
    const key = nodeKey(path);
    if (node === null) {
      const ki = mvcc.index.get(key);
      if (ki !== undefined && ki.isLive()) mvcc.delete(ki);
    } else {
      const before = mvcc.getLive(key);
      // Untouched reads stay unwritten: only a changed znode costs a version.
      if (before !== null && !o.recreated.has(path) && Buffer.compare(Buffer.from(before.value), Buffer.from(encodeZnode(node))) === 0) continue;
      mvcc.put(latin1ToBytes(key), encodeZnode(node), node.ephemeralOwner);
    }
  }
  for (const [path, present] of o.markers) {
    const key = markerKey(path);
    if (present) mvcc.put(latin1ToBytes(key), new Uint8Array(0), 0);
    else {
      const ki = mvcc.index.get(key);
      if (ki !== undefined && ki.isLive()) mvcc.delete(ki);
    }
  }
}

/** Applies one ZooKeeper command. Expected failures are results; the store changes only if every op passed. */
export function applyZkCommand(ctx: ZkApplyContext, index: number, cmd: ZkCommand): ZkApplyResult {
  const first = cmd.ops[0];
  if (first !== undefined && first.op === 'createSession') return applyCreateSession(ctx, index, cmd, first);
  const o = new Overlay(ctx.mvcc);
  const rev = ctx.mvcc.currentRevision() + 1;
  const results: ZkOpResult[] = [];
  let failedAt = -1;
  for (const op of cmd.ops) {
    try {
      results.push(playOp(o, ctx, cmd, op, rev));
    } catch (err) {
      if (!(err instanceof ZkFail)) throw err;
      results.push({ ok: false, op: op.op, error: err.zkError });
      failedAt = results.length - 1;
      break;
    }
  }
  if (failedAt >= 0) {
    // ZooKeeper's report of a failed multi: OK before the failing op, its error, then RuntimeInconsistency.
    const out = cmd.ops.map((op, i): ZkOpResult => {
      const r = results[i];
      if (i === failedAt && r !== undefined) return r;
      return { ok: false, op: op.op, error: i < failedAt ? 'OK' : 'RuntimeInconsistency' };
    });
    return { revision: ctx.mvcc.currentRevision(), results: out };
  }
  ctx.write(() => writeOverlay(ctx.mvcc, o));
  return { revision: ctx.mvcc.currentRevision(), results };
}

/** Lowest and highest negotiated session timeout (ZooKeeper: 2 and 20 ticks; here with a 1 s tick, 2 s to 60 s). */
export const ZK_SESSION_TIMEOUT_MS_MIN = 2000;
export const ZK_SESSION_TIMEOUT_MS_MAX = 60_000;

/**
 * The server renews a session's lease at most once per this fraction of its timeout, whatever the client sends;
 * the lease's TTL is the timeout plus this fraction, so the session never ends sooner than its timeout after the
 * client's last request or ping, and at most (1 + fraction) × timeout (plus the leader's expiry bound) after it.
 */
export const ZK_RENEW_EVERY_FRACTION = 1 / 3;

function applyCreateSession(ctx: ZkApplyContext, index: number, cmd: ZkCommand, op: Extract<ZkOp, { op: 'createSession' }>): ZkApplyResult {
  const timeoutMs = Math.round(Math.min(Math.max(op.timeoutMs, ZK_SESSION_TIMEOUT_MS_MIN), ZK_SESSION_TIMEOUT_MS_MAX));
  // A session is a lease of whole seconds, never shorter than the timeout plus the renewal headroom.
  const lease = ctx.grantLease(index, Math.ceil((timeoutMs * (1 + ZK_RENEW_EVERY_FRACTION)) / 1000));
  ctx.write(() => ctx.mvcc.put(latin1ToBytes(sessionKey(lease.id)), encodeSession(timeoutMs, op.passwd), lease.id));
  void cmd;
  return {
    revision: ctx.mvcc.currentRevision(),
    results: [{ ok: true, op: 'createSession', path: '', stat: null, sessionId: lease.id, timeoutMs }],
  };
}

/**
 * After a session's lease was revoked (its ephemerals deleted in the open write at `rev`): the parents of deleted
 * znodes that remain get their child count, cversion and pzxid updated in the same revision, as ZooKeeper's
 * killSession does.
 */
export function fixParentsAfterRevoke(mvcc: MvccStore, deletedKeys: readonly string[], rev: number): void {
  const deleted = new Set<string>();
  for (const k of deletedKeys) if (isNodeKey(k)) deleted.add(pathOfKey(k));
  const parents = new Map<string, number>();
  for (const p of deleted) {
    if (p === '/') continue;
    const parent = parentOf(p);
    if (!deleted.has(parent)) parents.set(parent, (parents.get(parent) ?? 0) + 1);
  }
  for (const [path, n] of [...parents].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const node = readZnode(mvcc, path);
    if (node === null) continue;
    const next = { ...node, cversion: node.cversion + n, numChildren: node.numChildren - n, pzxid: rev };
    mvcc.put(latin1ToBytes(nodeKey(path)), encodeZnode(next), node.ephemeralOwner);
  }
}
