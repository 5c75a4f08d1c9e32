// The data of a Raft snapshot: the member list and the MVCC store's self-checking chunks, framed with
// lengths. Decoding never trusts a length.

import { MeridianError } from '../../util/errors.js';
import type { MemberInfo } from '../etcd/backend.js';
import { parseMembers } from './membership.js';

const MAGIC = 0x4d534e50; // "MSNP"
const VERSION = 1;
/** A snapshot header (the member list) longer than this is malformed. */
export const SNAPSHOT_HEADER_BYTES_MAX = 4 * 1024 * 1024;
/** Chunks in one snapshot, at most. */
export const SNAPSHOT_CHUNKS_MAX = 1_000_000;

export class BadSnapshotDataError extends MeridianError {
  constructor(message: string) {
    super('ERR_BAD_SNAPSHOT_DATA', `Cannot decode snapshot data: ${message}`);
  }
}

export interface SnapshotContents {
  readonly members: readonly MemberInfo[];
  readonly kvChunks: readonly Uint8Array[];
}

export function encodeSnapshotData(members: readonly MemberInfo[], kvChunks: readonly Uint8Array[]): Uint8Array {
  const header = new TextEncoder().encode(JSON.stringify(members));
  let size = 4 + 1 + 4 + header.byteLength + 4;
  for (const c of kvChunks) size += 4 + c.byteLength;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let o = 0;
  view.setUint32(o, MAGIC);
  view.setUint8(o + 4, VERSION);
  view.setUint32(o + 5, header.byteLength);
  o += 9;
  out.set(header, o);
  o += header.byteLength;
  view.setUint32(o, kvChunks.length);
  o += 4;
  for (const c of kvChunks) {
    view.setUint32(o, c.byteLength);
    out.set(c, o + 4);
    o += 4 + c.byteLength;
  }
  return out;
}

export function decodeSnapshotData(data: Uint8Array): SnapshotContents {
  // An empty snapshot (a new cluster's index 0) holds nothing.
  if (data.byteLength === 0) return { members: [], kvChunks: [] };
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const need = (o: number, n: number, what: string): void => {
    if (o + n > data.byteLength) throw new BadSnapshotDataError(`truncated reading ${what} at byte ${o} of ${data.byteLength}`);
  };
  need(0, 9, 'the header');
  if (view.getUint32(0) !== MAGIC) throw new BadSnapshotDataError('bad magic number');
  if (view.getUint8(4) !== VERSION) throw new BadSnapshotDataError(`version ${view.getUint8(4)} is not supported`);
  const headerLen = view.getUint32(5);
  if (headerLen > SNAPSHOT_HEADER_BYTES_MAX) throw new BadSnapshotDataError(`member list of ${headerLen} bytes is too large`);
  let o = 9;
  need(o, headerLen, 'the member list');
  let members: MemberInfo[];
  try {
    members = parseMembers(JSON.parse(new TextDecoder().decode(data.subarray(o, o + headerLen))));
  } catch (err) {
    throw new BadSnapshotDataError(`member list is not JSON: ${(err as Error).message}`);
  }
  o += headerLen;
  need(o, 4, 'the chunk count');
  const count = view.getUint32(o);
  o += 4;
  if (count > SNAPSHOT_CHUNKS_MAX) throw new BadSnapshotDataError(`${count} chunks is more than ${SNAPSHOT_CHUNKS_MAX}`);
  const kvChunks: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    need(o, 4, `the length of chunk ${i}`);
    const len = view.getUint32(o);
    o += 4;
    need(o, len, `chunk ${i}`);
    kvChunks.push(data.subarray(o, o + len));
    o += len;
  }
  if (o !== data.byteLength) throw new BadSnapshotDataError(`${data.byteLength - o} trailing bytes`);
  return { members, kvChunks };
}
