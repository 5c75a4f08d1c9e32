// Point-in-time snapshots of the whole state machine: captured cheaply (a backend read view), streamed as
// checksummed chunks while applies go on, and restored on another member.
//
// Chunk: "MKVS" | u8 format | u32 sequence | frames | u32 CRC-32C of everything before it.
// Frame: u8 table index | uvarint key length | key | uvarint value length | value.
// The last chunk ends with an end frame: u8 0xff | uvarint number of records in the whole stream.

import { crc32c } from '@node-rs/crc32';
import { assert } from '../util/assert.js';
import type { Revision } from '../util/branded.js';
import { type Backend, type BackendReadView, TABLES } from '../storage/backend/backend.js';
import { BadSnapshotError } from './errors.js';
import { SNAPSHOT_CHUNK_BYTES } from './limits.js';
import { varintSize, writeVarint } from './varint.js';

const MAGIC = 0x4d4b5653; // "MKVS"
const FORMAT = 1;
const HEADER_BYTES = 9;
const END_FRAME = 0xff;
const RESTORE_BATCH_RECORDS = 10_000;
/** Meta key present while a restore is in progress. */
export const RESTORING_KEY = new TextEncoder().encode('restoring');


class ChunkBuilder {
  private parts: Uint8Array[] = [];
  private bytes = HEADER_BYTES;
  constructor(private readonly seq: number) {}

  size(): number {
    return this.bytes;
  }

  add(part: Uint8Array): void {
    this.parts.push(part);
    this.bytes += part.length;
  }

  finish(): Uint8Array {
    const out = Buffer.allocUnsafe(this.bytes + 4);
    out.writeUInt32BE(MAGIC, 0);
    out[4] = FORMAT;
    out.writeUInt32BE(this.seq, 5);
    let pos = HEADER_BYTES;
    for (const p of this.parts) {
      out.set(p, pos);
      pos += p.length;
    }
    out.writeUInt32BE(crc32c(out.subarray(0, pos)) >>> 0, pos);
    return out;
  }
}

function frame(table: number, key: Uint8Array, value: Uint8Array): Uint8Array {
  const out = Buffer.allocUnsafe(1 + varintSize(key.length) + key.length + varintSize(value.length) + value.length);
  out[0] = table;
  let pos = writeVarint(out, 1, key.length);
  out.set(key, pos);
  pos = writeVarint(out, pos + key.length, value.length);
  out.set(value, pos);
  return out;
}


/** A captured state: holds a backend read view until released. */
export class KvSnapshot {
  private released = false;

  constructor(
    private readonly view: BackendReadView,
    /** The log index the state includes: the snapshot's Raft index. */
    readonly appliedIndex: number,
    readonly revision: Revision,
  ) {}

  /** The snapshot as a stream of self-checking chunks of about `maxChunkBytes` each. */
  *chunks(maxChunkBytes = SNAPSHOT_CHUNK_BYTES): Generator<Uint8Array> {
    let seq = 0;
    let chunk = new ChunkBuilder(seq);
    let records = 0;
    for (let t = 0; t < TABLES.length; t++) {
      for (const { key, value } of this.view.entries(TABLES[t] as (typeof TABLES)[number])) {
        assert(!this.released, 'KvSnapshot streamed after release');
        const f = frame(t, key, value);
        if (chunk.size() > HEADER_BYTES && chunk.size() + f.length > maxChunkBytes) {
          yield chunk.finish();
          chunk = new ChunkBuilder(++seq);
        }
        chunk.add(f);
        records++;
      }
    }
    const end = Buffer.allocUnsafe(1 + varintSize(records));
    end[0] = END_FRAME;
    writeVarint(end, 1, records);
    chunk.add(end);
    yield chunk.finish();
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.view.release();
  }
}

class FrameReader {
  pos = HEADER_BYTES;
  constructor(private readonly buf: Uint8Array, private readonly end: number, private readonly seq: number) {}
  more(): boolean {
    return this.pos < this.end;
  }
  byte(): number {
    if (this.pos >= this.end) throw new BadSnapshotError(`chunk ${this.seq} truncated at byte ${this.pos}`);
    return this.buf[this.pos++] as number;
  }
  uvarint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.byte();
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return result;
      scale *= 0x80;
    }
    throw new BadSnapshotError(`chunk ${this.seq}: varint too long at byte ${this.pos}`);
  }
  bytes(): Uint8Array {
    const n = this.uvarint();
    if (n > this.end - this.pos) throw new BadSnapshotError(`chunk ${this.seq}: length ${n} overruns the chunk at byte ${this.pos}`);
    const out = this.buf.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}

/** Replaces the backend's whole content with the snapshot's; commits. Throws BadSnapshotError on bad input. */
export function restoreBackend(backend: Backend, chunks: Iterable<Uint8Array>): void {
  backend.clear();
  // Batches commit as they go; the marker makes a crash mid-restore visible instead of a half-filled store.
  backend.put('meta', RESTORING_KEY, new Uint8Array([1]));
  backend.commit();
  let expectSeq = 0;
  let records = 0;
  let ended = false;
  for (const chunk of chunks) {
    if (ended) throw new BadSnapshotError(`data after the end frame (chunk ${expectSeq})`);
    if (chunk.length < HEADER_BYTES + 4) throw new BadSnapshotError(`chunk ${expectSeq} is ${chunk.length} bytes`);
    const dv = new DataView(chunk.buffer, chunk.byteOffset, chunk.length);
    if (dv.getUint32(0) !== MAGIC || chunk[4] !== FORMAT) throw new BadSnapshotError(`chunk ${expectSeq} has a bad header`);
    if (dv.getUint32(5) !== expectSeq) throw new BadSnapshotError(`chunk ${dv.getUint32(5)} arrived where ${expectSeq} was expected`);
    const bodyEnd = chunk.length - 4;
    if ((crc32c(chunk.subarray(0, bodyEnd)) >>> 0) !== dv.getUint32(bodyEnd)) throw new BadSnapshotError(`chunk ${expectSeq} fails its checksum`);
    const r = new FrameReader(chunk, bodyEnd, expectSeq);
    while (r.more()) {
      const t = r.byte();
      if (t === END_FRAME) {
        const total = r.uvarint();
        if (total !== records) throw new BadSnapshotError(`stream holds ${records} records, its end frame says ${total}`);
        if (r.more()) throw new BadSnapshotError(`bytes after the end frame in chunk ${expectSeq}`);
        ended = true;
        break;
      }
      const table = TABLES[t];
      if (table === undefined) throw new BadSnapshotError(`unknown table ${t} in chunk ${expectSeq}`);
      backend.put(table, r.bytes(), r.bytes());
      if (++records % RESTORE_BATCH_RECORDS === 0) backend.commit();
    }
    expectSeq++;
  }
  if (!ended) throw new BadSnapshotError(`stream ended after ${expectSeq} chunks without its end frame`);
  backend.delete('meta', RESTORING_KEY);
  backend.commit();
}
