// Snapshot files (etcd's snap/snapshotter.go): one checksummed file per snapshot, named by term and
// index, written under a temporary name, synced, renamed and the directory synced; old ones pruned.
//
// File layout (little endian): 0 magic "MRDNSNAP"  8 u32 version  12 u32 crc32c of [16, end)
// 16 u32 metadata bytes  20 u32 zero  24 u64 data bytes  32 metadata  32+M data.
// Metadata: u64 index, u64 term, u8 autoLeave, 3 zero bytes, then voters, learners, votersOutgoing,
// learnersNext, each a u32 count and that many u64 node ids.

import { join } from 'node:path';
import { crc32c } from '@node-rs/crc32';
import { assert } from '../util/assert.js';
import { logIndex, nodeId, term, type LogIndex, type NodeId, type Term } from '../util/branded.js';
import type { ConfState, Snapshot } from '../raft/types.js';
import { SNAPSHOT_METADATA_BYTES_MAX, STORAGE_FORMAT_VERSION } from './constants.js';
import { getU64, putU64 } from './codec.js';
import { StorageCorruptionError } from './errors.js';
import type { FileSystem } from './file_system.js';

const MAGIC = new TextEncoder().encode('MRDNSNAP');
const HEADER_BYTES = 32;
const METADATA_FIXED_BYTES = 20;
const ID_BYTES = 8;
const SNAPSHOT_NAME = /^([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;

export interface SnapshotFile {
  readonly name: string;
  readonly path: string;
  readonly term: Term;
  readonly index: LogIndex;
}

const hex16 = (n: number): string => n.toString(16).padStart(16, '0');

export function snapshotFileName(t: Term, index: LogIndex): string {
  return `${hex16(t)}-${hex16(index)}.snap`;
}

export function parseSnapshotFileName(name: string): { term: Term; index: LogIndex } | null {
  const m = SNAPSHOT_NAME.exec(name);
  if (m === null) return null;
  const t = Number.parseInt(m[1] as string, 16);
  const i = Number.parseInt(m[2] as string, 16);
  if (!Number.isSafeInteger(t) || !Number.isSafeInteger(i)) return null;
  return { term: term(t), index: logIndex(i) };
}

function confLists(cs: ConfState): readonly (readonly NodeId[])[] {
  return [cs.voters, cs.learners, cs.votersOutgoing, cs.learnersNext];
}

/** The header and metadata of a snapshot file; the data follows them unchanged. */
export function encodeSnapshotHead(snap: Snapshot): Uint8Array {
  const md = snap.metadata;
  const lists = confLists(md.confState);
  const mdBytes = METADATA_FIXED_BYTES + lists.reduce((n, l) => n + 4 + l.length * ID_BYTES, 0);
  assert(mdBytes <= SNAPSHOT_METADATA_BYTES_MAX, `snapshot metadata of ${mdBytes} bytes exceeds ${SNAPSHOT_METADATA_BYTES_MAX}`);
  const head = new Uint8Array(HEADER_BYTES + mdBytes);
  const view = new DataView(head.buffer);
  head.set(MAGIC, 0);
  view.setUint32(8, STORAGE_FORMAT_VERSION, true);
  view.setUint32(16, mdBytes, true);
  putU64(view, 24, snap.data.byteLength);
  putU64(view, HEADER_BYTES, md.index);
  putU64(view, HEADER_BYTES + 8, md.term);
  view.setUint8(HEADER_BYTES + 16, md.confState.autoLeave ? 1 : 0);
  let at = HEADER_BYTES + METADATA_FIXED_BYTES;
  for (const list of lists) {
    view.setUint32(at, list.length, true);
    at += 4;
    for (const id of list) {
      putU64(view, at, id);
      at += ID_BYTES;
    }
  }
  view.setUint32(12, crc32c(snap.data, crc32c(head.subarray(16))), true);
  return head;
}

/** Decodes a whole snapshot file; throws StorageCorruptionError naming `file` and the offset on any defect. */
export function decodeSnapshot(bytes: Uint8Array, file: string): Snapshot {
  const fail = (offset: number, reason: string): never => {
    throw new StorageCorruptionError(file, offset, reason);
  };
  if (bytes.byteLength < HEADER_BYTES) fail(0, `snapshot file of ${bytes.byteLength} bytes is shorter than its header`);
  for (let i = 0; i < MAGIC.byteLength; i++) if (bytes[i] !== MAGIC[i]) fail(0, 'not a snapshot file (bad magic)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8, true);
  if (version !== STORAGE_FORMAT_VERSION) fail(8, `unsupported format version ${version}`);
  const mdBytes = view.getUint32(16, true);
  const dataBytes = getU64(view, 24);
  if (view.getUint32(20, true) !== 0) fail(20, 'reserved header bytes set');
  if (mdBytes < METADATA_FIXED_BYTES || mdBytes > SNAPSHOT_METADATA_BYTES_MAX) fail(16, `bad metadata length ${mdBytes}`);
  if (dataBytes < 0 || HEADER_BYTES + mdBytes + dataBytes !== bytes.byteLength) {
    fail(16, `file is ${bytes.byteLength} bytes but its header describes ${HEADER_BYTES + mdBytes + Math.max(0, dataBytes)}`);
  }
  if (crc32c(bytes.subarray(16)) !== view.getUint32(12, true)) fail(12, 'checksum mismatch');
  const meta = decodeMetadata(new DataView(bytes.buffer, bytes.byteOffset + HEADER_BYTES, mdBytes));
  if (typeof meta === 'string') return fail(HEADER_BYTES, meta);
  return { metadata: meta, data: bytes.subarray(HEADER_BYTES + mdBytes) };
}

function decodeMetadata(view: DataView): Snapshot['metadata'] | string {
  const index = getU64(view, 0);
  const t = getU64(view, 8);
  const autoLeave = view.getUint8(16);
  if (index < 0 || t < 0) return 'snapshot index or term out of range';
  if (autoLeave > 1 || view.getUint8(17) !== 0 || view.getUint16(18, true) !== 0) return 'bad metadata flags';
  const lists: NodeId[][] = [];
  let at = METADATA_FIXED_BYTES;
  for (let l = 0; l < 4; l++) {
    if (at + 4 > view.byteLength) return 'metadata ends inside the configuration';
    const count = view.getUint32(at, true);
    at += 4;
    if (count > (view.byteLength - at) / ID_BYTES) return `configuration list of ${count} ids runs past the metadata`;
    const ids: NodeId[] = [];
    for (let i = 0; i < count; i++, at += ID_BYTES) {
      const id = getU64(view, at);
      if (id < 0) return 'node id out of range';
      ids.push(nodeId(id));
    }
    lists.push(ids);
  }
  if (at !== view.byteLength) return 'unexpected bytes after the configuration';
  const [voters, learners, votersOutgoing, learnersNext] = lists as [NodeId[], NodeId[], NodeId[], NodeId[]];
  return { index: logIndex(index), term: term(t), confState: { voters, learners, votersOutgoing, learnersNext, autoLeave: autoLeave === 1 } };
}



export class Snapshotter {
  constructor(
    private readonly fs: FileSystem,
    readonly dir: string,
  ) {}

  /** Writes the snapshot durably: temporary file, fdatasync, rename, directory fsync. */
  async save(snap: Snapshot): Promise<SnapshotFile> {
    const name = snapshotFileName(snap.metadata.term, snap.metadata.index);
    const path = join(this.dir, name);
    const tmp = `${path}.tmp`;
    if (await this.fs.exists(tmp)) await this.fs.unlink(tmp);
    const head = encodeSnapshotHead(snap);
    const handle = await this.fs.open(tmp, 'create');
    try {
      await handle.write(head, 0);
      if (snap.data.byteLength > 0) await handle.write(snap.data, head.byteLength);
      await handle.datasync();
    } finally {
      await handle.close();
    }
    await this.fs.rename(tmp, path);
    await this.fs.syncDir(this.dir);
    return { name, path, term: snap.metadata.term, index: snap.metadata.index };
  }

  /** Reads and checks a snapshot file; its metadata must agree with its name. */
  async load(file: SnapshotFile): Promise<Snapshot> {
    const snap = decodeSnapshot(await this.fs.readFile(file.path), file.path);
    if (snap.metadata.index !== file.index || snap.metadata.term !== file.term) {
      throw new StorageCorruptionError(
        file.path,
        HEADER_BYTES,
        `holds the snapshot at index ${snap.metadata.index} term ${snap.metadata.term}, its name says index ${file.index} term ${file.term}`,
      );
    }
    return snap;
  }

  /** The snapshot files, newest (highest index) first; removes temporary leftovers of interrupted saves. */
  async list(): Promise<SnapshotFile[]> {
    const files: SnapshotFile[] = [];
    for (const name of await this.fs.readdir(this.dir)) {
      if (name.endsWith('.tmp')) {
        await this.fs.unlink(join(this.dir, name));
        continue;
      }
      const parsed = parseSnapshotFileName(name);
      if (parsed !== null) files.push({ name, path: join(this.dir, name), ...parsed });
    }
    return files.sort((a, b) => b.index - a.index || b.term - a.term);
  }

  /** Deletes all but the newest `retained` snapshot files; returns how many were deleted. */
  async prune(retained: number): Promise<number> {
    assert(retained >= 1, 'prune: the newest snapshot must be retained');
    const doomed = (await this.list()).slice(retained);
    // No directory fsync: a deleted file that reappears after a crash is older than the newest and harmless.
    for (const f of doomed) await this.fs.unlink(f.path);
    return doomed.length;
  }

  async remove(file: SnapshotFile): Promise<void> {
    await this.fs.unlink(file.path);
  }
}
