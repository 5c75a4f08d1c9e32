// ZooKeeper paths and where znodes live in the MVCC store. Every ZooKeeper key starts with ZK_KEY_PREFIX
// ("\0zk\0"): a NUL-led prefix no etcd client writes by accident (etcdctl cannot even type it), so the two APIs
// share one store without colliding. Under it:
//   "n" + parent + "\0" + name   a znode ("/" is "n\0"), so the children of P are the one range [nP\0, nP\x01);
//   "s" + 16 hex digits          a session record, attached to the session's lease;
//   "c" + path                   a marker for a container or TTL znode, so the leader finds them without a scan.

import { assert } from '../../util/assert.js';

export const ZK_KEY_PREFIX = '\0zk\0';
const NODE = `${ZK_KEY_PREFIX}n`;
const SESSION = `${ZK_KEY_PREFIX}s`;
const MARKER = `${ZK_KEY_PREFIX}c`;

/** Longest path accepted, in bytes (ZooKeeper bounds it only by jute.maxbuffer; this keeps keys small). */
export const ZK_PATH_BYTES_MAX = 4096;

/** Why a path is invalid (ZooKeeper's PathUtils rules), or null when it is fine. */
export function invalidPathReason(path: string, sequential = false): string | null {
  if (path.length === 0) return 'path must not be empty';
  if (path[0] !== '/') return 'path must start with /';
  if (Buffer.byteLength(path) > ZK_PATH_BYTES_MAX) return `path is longer than ${ZK_PATH_BYTES_MAX} bytes`;
  if (path.length === 1) return null;
  if (path.endsWith('/') && !sequential) return 'path must not end with /';
  const parts = path.split('/');
  for (let i = 1; i < parts.length; i++) {
    const p = parts[i] ?? '';
    if (p === '' && !(sequential && i === parts.length - 1)) return 'empty node name';
    if (p === '.' || p === '..') return 'relative paths are not allowed';
  }
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === 0) return 'null character not allowed';
    if ((c > 0 && c < 0x1f) || (c > 0x7f && c < 0x9f) || (c >= 0xd800 && c <= 0xf8ff) || (c >= 0xfff0 && c <= 0xffff)) {
      return `invalid character at ${i}`;
    }
  }
  return null;
}

export function parentOf(path: string): string {
  assert(path.length > 1, 'parentOf("/")');
  const i = path.lastIndexOf('/');
  return i === 0 ? '/' : path.slice(0, i);
}

export function nameOf(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

export function joinPath(parent: string, name: string): string {
  return parent === '/' ? `/${name}` : `${parent}/${name}`;
}

function latin1(s: string): string {
  return Buffer.from(s, 'utf8').toString('latin1');
}

/** The store key (a one-byte-per-char string, as the MVCC index keeps keys) of the znode at `path`. */
export function nodeKey(path: string): string {
  if (path === '/') return `${NODE}\0`;
  return `${NODE}${latin1(parentOf(path))}\0${latin1(nameOf(path))}`;
}

/** The key range [start, end) holding exactly the children of `path`. */
export function childrenRange(path: string): { start: string; end: string } {
  const p = `${NODE}${latin1(path)}`;
  return { start: `${p}\0`, end: `${p}\x01` };
}

/** Every znode key. */
export function allNodesRange(): { start: string; end: string } {
  return { start: NODE, end: `${ZK_KEY_PREFIX}o` };
}

export function isNodeKey(key: string): boolean {
  return key.startsWith(NODE);
}

/** The path of a znode key. */
export function pathOfKey(key: string): string {
  assert(isNodeKey(key), 'pathOfKey of a non-znode key');
  const rest = Buffer.from(key.slice(NODE.length), 'latin1').toString('utf8');
  const nul = rest.indexOf('\0');
  const parent = rest.slice(0, nul);
  const name = rest.slice(nul + 1);
  if (parent === '') return '/';
  return joinPath(parent, name);
}

export function sessionKey(id: number): string {
  return `${SESSION}${id.toString(16).padStart(16, '0')}`;
}

export function isSessionKey(key: string): boolean {
  return key.startsWith(SESSION);
}

export function sessionIdOfKey(key: string): number {
  return parseInt(key.slice(SESSION.length), 16);
}

export function sessionsRange(): { start: string; end: string } {
  return { start: SESSION, end: `${ZK_KEY_PREFIX}t` };
}

export function markerKey(path: string): string {
  return `${MARKER}${latin1(path)}`;
}

export function markersRange(): { start: string; end: string } {
  return { start: MARKER, end: `${ZK_KEY_PREFIX}d` };
}

export function pathOfMarker(key: string): string {
  return Buffer.from(key.slice(MARKER.length), 'latin1').toString('utf8');
}

/** ZooKeeper's sequential suffix: the parent's cversion, ten digits, zero padded (%010d; negative after overflow). */
export function sequenceSuffix(cversion: number): string {
  return cversion < 0 ? `-${String(-cversion).padStart(9, '0')}` : String(cversion).padStart(10, '0');
}
