// The bytes of a Maintenance.Snapshot stream, which `etcdctl snapshot save` writes to a file as it arrives:
// the kv snapshot's chunks, each behind a 4-byte big-endian length, then zeros up to a multiple of 512 bytes
// (at least 4, so a zero length ends the chunks), then the SHA-256 of everything before it. etcd's files have
// the same outer shape (a page-aligned database, then its SHA-256), and etcdctl refuses any other size.

import { createHash } from 'node:crypto';
import { MeridianError } from '../../util/errors.js';

/** etcdctl accepts a snapshot only if its size modulo this is the SHA-256 size (etcd's hasChecksum). */
export const SNAPSHOT_FILE_ALIGN_BYTES = 512;
export const SNAPSHOT_SHA_BYTES = 32;
const LENGTH_BYTES = 4;

export class BadSnapshotFileError extends MeridianError {
  constructor(detail: string) {
    super('ErrBadSnapshotFile', `Cannot read snapshot file: ${detail}`);
    this.name = 'BadSnapshotFileError';
  }
}

/** One chunk as it goes on the stream: its length, then its bytes. */
export function frameSnapshotChunk(chunk: Uint8Array): Uint8Array {
  const out = Buffer.allocUnsafe(LENGTH_BYTES + chunk.length);
  out.writeUInt32BE(chunk.length, 0);
  out.set(chunk, LENGTH_BYTES);
  return out;
}

/** The zeros that end the chunks and align the stream, once `written` bytes of framed chunks went out. */
export function snapshotPadding(written: number): Uint8Array {
  let pad = (SNAPSHOT_FILE_ALIGN_BYTES - (written % SNAPSHOT_FILE_ALIGN_BYTES)) % SNAPSHOT_FILE_ALIGN_BYTES;
  if (pad < LENGTH_BYTES) pad += SNAPSHOT_FILE_ALIGN_BYTES;
  return new Uint8Array(pad);
}

/** The kv snapshot chunks of a saved file, after checking its size, its SHA-256 and its framing. */
export function decodeSnapshotFile(data: Uint8Array): Uint8Array[] {
  if (data.length % SNAPSHOT_FILE_ALIGN_BYTES !== SNAPSHOT_SHA_BYTES) throw new BadSnapshotFileError(`size ${data.length} is not 512k+32`);
  const body = data.subarray(0, data.length - SNAPSHOT_SHA_BYTES);
  const sha = createHash('sha256').update(body).digest();
  if (!sha.equals(data.subarray(body.length))) throw new BadSnapshotFileError('SHA-256 mismatch');
  const view = Buffer.from(body.buffer, body.byteOffset, body.length);
  const chunks: Uint8Array[] = [];
  let at = 0;
  for (;;) {
    if (at + LENGTH_BYTES > view.length) throw new BadSnapshotFileError(`no end of chunks before byte ${at}`);
    const length = view.readUInt32BE(at);
    at += LENGTH_BYTES;
    if (length === 0) break;
    if (at + length > view.length) throw new BadSnapshotFileError(`chunk at byte ${at - LENGTH_BYTES} runs past the end`);
    chunks.push(view.subarray(at, at + length));
    at += length;
  }
  if (view.subarray(at).some((b) => b !== 0)) throw new BadSnapshotFileError(`non-zero padding after byte ${at}`);
  return chunks;
}
