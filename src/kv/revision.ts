// How a key's version is stored in the backend: the key is its revision {main, sub} as 12 big-endian bytes (so
// the kv table is in revision order, like etcd's), the value a small record with the rest of mvccpb.KeyValue.

import { assert } from '../util/assert.js';
import { type LeaseId, leaseId, revision } from '../util/branded.js';
import { MAX_SUB_REVISION } from './limits.js';
import type { KeyValue } from './types.js';
import { varintSize, writeVarint } from './varint.js';

export const REV_KEY_BYTES = 12;
const RECORD_FORMAT = 1;
const FLAG_TOMBSTONE = 1;
const TWO_32 = 0x1_0000_0000;
const subarray = Uint8Array.prototype.subarray;

export function revKey(main: number, sub: number, into: Uint8Array = new Uint8Array(REV_KEY_BYTES)): Uint8Array {
  if (!(Number.isSafeInteger(main) && main >= 0)) assert(false, `revKey: bad main revision ${main}`);
  if (!(Number.isInteger(sub) && sub >= 0 && sub <= MAX_SUB_REVISION)) assert(false, `revKey: bad sub revision ${sub}`);
  const b = into;
  const hi = Math.floor(main / TWO_32);
  const lo = main % TWO_32;
  b[0] = hi >>> 24; b[1] = hi >>> 16; b[2] = hi >>> 8; b[3] = hi;
  b[4] = lo >>> 24; b[5] = lo >>> 16; b[6] = lo >>> 8; b[7] = lo;
  b[8] = sub >>> 24; b[9] = sub >>> 16; b[10] = sub >>> 8; b[11] = sub;
  return b;
}

export function revKeyMain(key: Uint8Array): number {
  if (!(key.length === REV_KEY_BYTES)) assert(false, `revKey of ${key.length} bytes`);
  const v = new DataView(key.buffer, key.byteOffset, key.length);
  return v.getUint32(0) * TWO_32 + v.getUint32(4);
}

export function revKeySub(key: Uint8Array): number {
  if (!(key.length === REV_KEY_BYTES)) assert(false, `revKey of ${key.length} bytes`);
  return new DataView(key.buffer, key.byteOffset, key.length).getUint32(8);
}

/** One stored version: what the kv table holds under a revision key. */
export interface StoredRecord {
  readonly tombstone: boolean;
  readonly kv: KeyValue;
}



/**
 * Records are written into large slabs: one small Buffer per put means one ArrayBuffer (or at least one view
 * object kept alive until the batch commits) per put, which costs more to allocate and collect than the record
 * itself. A slab is freed once every record in it is committed and unreferenced.
 */
const SLAB_BYTES = 256 * 1024;
let slab = new Uint8Array(SLAB_BYTES);
let slabPos = 0;

/** Where writeRecord put its record: the slab, the offset in it and the length. */
export const written = { slab, offset: 0, length: 0 };

function recordSize(key: Uint8Array, value: Uint8Array, createRev: number, version: number, lease: number): number {
  return 2 + varintSize(createRev) + varintSize(version) + varintSize(lease) + varintSize(key.length) + key.length + value.length;
}

/** Encodes a record into the current slab (see `written`); large records get a slab of their own. */
export function writeRecord(tombstone: boolean, key: Uint8Array, value: Uint8Array, createRev: number, version: number, lease: number): void {
  const size = recordSize(key, value, createRev, version, lease);
  if (slabPos + size > slab.length) {
    slab = new Uint8Array(Math.max(SLAB_BYTES, size));
    slabPos = 0;
  }
  const b = slab;
  const start = slabPos;
  b[start] = RECORD_FORMAT;
  b[start + 1] = tombstone ? FLAG_TOMBSTONE : 0;
  let pos = writeVarint(b, start + 2, createRev);
  pos = writeVarint(b, pos, version);
  pos = writeVarint(b, pos, lease);
  pos = writeVarint(b, pos, key.length);
  b.set(key, pos);
  b.set(value, pos + key.length);
  if (pos + key.length + value.length !== start + size) assert(false, 'writeRecord: size mismatch');
  slabPos = (start + size + 7) & ~7;
  written.slab = b;
  written.offset = start;
  written.length = size;
}

/** A record as its own bytes (tests, tools); the store itself uses writeRecord. */
export function encodeRecord(tombstone: boolean, key: Uint8Array, value: Uint8Array, createRev: number, version: number, lease: number): Uint8Array {
  writeRecord(tombstone, key, value, createRev, version, lease);
  return written.slab.subarray(written.offset, written.offset + written.length);
}

/** Decodes a record written by encodeRecord; anything else means the data files are corrupt, which is fatal. */
export function decodeRecord(modRevision: number, b: Uint8Array): StoredRecord {
  if (!(b.length >= 6 && b[0] === RECORD_FORMAT)) assert(false, `corrupt kv record at revision ${modRevision}`);
  let pos = 2;
  const read = (): number => {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      if (!(pos < b.length)) assert(false, `corrupt kv record at revision ${modRevision}: truncated`);
      const byte = b[pos++] as number;
      result += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) return result;
      scale *= 0x80;
    }
    assert(false, `corrupt kv record at revision ${modRevision}: varint too long`);
  };
  const createRev = read();
  const version = read();
  const lease = read();
  const keyLen = read();
  if (!(pos + keyLen <= b.length)) assert(false, `corrupt kv record at revision ${modRevision}: key overruns`);
  const key = subarray.call(b, pos, pos + keyLen);
  const value = subarray.call(b, pos + keyLen);
  const tombstone = ((b[1] as number) & FLAG_TOMBSTONE) !== 0;
  const kv: KeyValue = {
    key, value, createRevision: revision(createRev), modRevision: revision(modRevision), version, lease: leaseId(lease),
  };
  return { tombstone, kv };
}

/** The kv of a delete event: just the key and the delete's revision, as etcd reports it. */
export function tombstoneKv(key: Uint8Array, modRevision: number): KeyValue {
  return { key, value: EMPTY, createRevision: revision(0), modRevision: revision(modRevision), version: 0, lease: NO_LEASE };
}

export const EMPTY = new Uint8Array(0);
export const NO_LEASE = 0 as LeaseId;
