// The data directory's identity file: which cluster and member the directory belongs to, so a member
// refuses to start on another's data. Layout (little endian): 0 magic "MRDNIDEN"  8 u32 version
// 12 u32 crc32c of [16, end)  16 u64 member id  24 u32 cluster id bytes  28 u32 zero  32 cluster id (UTF-8).

import { join } from 'node:path';
import { crc32c } from '@node-rs/crc32';
import { assert } from '../util/assert.js';
import { nodeId, type NodeId } from '../util/branded.js';
import { getU64, putU64 } from './codec.js';
import { CLUSTER_ID_BYTES_MAX, STORAGE_FORMAT_VERSION } from './constants.js';
import { StorageCorruptionError, WrongDataDirError } from './errors.js';
import type { FileSystem } from './file_system.js';

export const IDENTITY_FILE = 'identity';
const MAGIC = new TextEncoder().encode('MRDNIDEN');
const HEADER_BYTES = 32;

export interface DataDirIdentity {
  readonly clusterId: string;
  readonly memberId: NodeId;
}

export function encodeIdentity(id: DataDirIdentity): Uint8Array {
  const cluster = new TextEncoder().encode(id.clusterId);
  assert(cluster.byteLength <= CLUSTER_ID_BYTES_MAX, `cluster id longer than ${CLUSTER_ID_BYTES_MAX} bytes`);
  const bytes = new Uint8Array(HEADER_BYTES + cluster.byteLength);
  const view = new DataView(bytes.buffer);
  bytes.set(MAGIC, 0);
  view.setUint32(8, STORAGE_FORMAT_VERSION, true);
  putU64(view, 16, id.memberId);
  view.setUint32(24, cluster.byteLength, true);
  bytes.set(cluster, HEADER_BYTES);
  view.setUint32(12, crc32c(bytes.subarray(16)), true);
  return bytes;
}

export function decodeIdentity(bytes: Uint8Array, file: string): DataDirIdentity {
  const fail = (offset: number, reason: string): never => {
    throw new StorageCorruptionError(file, offset, reason);
  };
  if (bytes.byteLength < HEADER_BYTES) fail(0, `identity file of ${bytes.byteLength} bytes is shorter than its header`);
  for (let i = 0; i < MAGIC.byteLength; i++) if (bytes[i] !== MAGIC[i]) fail(0, 'not an identity file (bad magic)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(8, true) !== STORAGE_FORMAT_VERSION) fail(8, `unsupported format version ${view.getUint32(8, true)}`);
  if (crc32c(bytes.subarray(16)) !== view.getUint32(12, true)) fail(12, 'checksum mismatch');
  const member = getU64(view, 16);
  const len = view.getUint32(24, true);
  if (member < 0) fail(16, 'member id out of range');
  if (len > CLUSTER_ID_BYTES_MAX || HEADER_BYTES + len !== bytes.byteLength || view.getUint32(28, true) !== 0) {
    fail(24, 'bad cluster id length');
  }
  let clusterId = '';
  try {
    clusterId = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(HEADER_BYTES));
  } catch {
    fail(HEADER_BYTES, 'cluster id is not UTF-8');
  }
  return { clusterId, memberId: nodeId(member) };
}

/** The identity recorded in `dir`, or null if the directory has none yet. */
export async function readIdentity(fs: FileSystem, dir: string): Promise<DataDirIdentity | null> {
  const path = join(dir, IDENTITY_FILE);
  if (!(await fs.exists(path))) return null;
  return decodeIdentity(await fs.readFile(path), path);
}

/** Records the identity durably: temporary file, fdatasync, rename, directory fsync. */
export async function writeIdentity(fs: FileSystem, dir: string, id: DataDirIdentity): Promise<void> {
  const path = join(dir, IDENTITY_FILE);
  const tmp = `${path}.tmp`;
  if (await fs.exists(tmp)) await fs.unlink(tmp);
  const handle = await fs.open(tmp, 'create');
  try {
    await handle.write(encodeIdentity(id), 0);
    await handle.datasync();
  } finally {
    await handle.close();
  }
  await fs.rename(tmp, path);
  await fs.syncDir(dir);
}

/** Refuses a directory recorded for another cluster or member, saying whose it is. */
export function checkIdentity(dir: string, found: DataDirIdentity, expected: DataDirIdentity): void {
  if (found.clusterId === expected.clusterId && found.memberId === expected.memberId) return;
  throw new WrongDataDirError(
    `Data directory ${dir} belongs to member ${found.memberId} of cluster "${found.clusterId}"; ` +
      `refusing to start member ${expected.memberId} of cluster "${expected.clusterId}" on it`,
  );
}
