import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32c } from '@node-rs/crc32';
import { logIndex, nodeId, term } from '../util/branded.js';
import { WAL_RECORD_HEADER_BYTES, WAL_RECORD_PAYLOAD_BYTES_MAX } from './constants.js';
import { BatchEncoder, FLAG_BATCH_END, readRecord, RecordType, recordBytes, type WalRecord } from './wal_record.js';
import { entry, hardState } from './test_helpers.js';

function encode(seq: number, fill: (enc: BatchEncoder) => void): Uint8Array {
  const enc = new BatchEncoder();
  enc.begin(seq);
  fill(enc);
  return enc.finish().slice();
}

function readAll(bytes: Uint8Array): { records: WalRecord[]; ends: boolean[]; seqs: number[] } {
  const records: WalRecord[] = [];
  const ends: boolean[] = [];
  const seqs: number[] = [];
  for (let at = 0; at < bytes.byteLength; ) {
    const r = readRecord(bytes, at);
    assert.equal(r.kind, 'ok');
    if (r.kind !== 'ok') break;
    records.push(r.record);
    ends.push(r.batchEnd);
    seqs.push(r.seq);
    at = r.next;
  }
  return { records, ends, seqs };
}

test('every record type round-trips, and only the last record of a batch ends it', () => {
  const bytes = encode(7, (enc) => {
    enc.addMetadata({ version: 1, segmentSeq: 3, memberId: nodeId(9), clusterId: 'ü-cluster' });
    enc.addSnapshotMark({ index: logIndex(5), term: term(2), kind: 'restore' });
    enc.addEntry(entry(6, 2, new Uint8Array([1, 2, 3])));
    enc.addEntry({ ...entry(7, 3, 0), type: 1 });
    enc.addHardState(hardState(3, 9, 6));
  });
  const { records, ends, seqs } = readAll(bytes);
  assert.deepEqual(
    records.map((r) => r.type),
    [RecordType.Metadata, RecordType.Snapshot, RecordType.Entry, RecordType.Entry, RecordType.HardState],
  );
  assert.deepEqual(ends, [false, false, false, false, true]);
  assert.deepEqual(seqs, [7, 7, 7, 7, 7]);
  assert.deepEqual(records[0], { type: RecordType.Metadata, metadata: { version: 1, segmentSeq: 3, memberId: 9, clusterId: 'ü-cluster' } });
  assert.deepEqual(records[1], { type: RecordType.Snapshot, mark: { index: 5, term: 2, kind: 'restore' } });
  const e = records[2];
  assert.ok(e?.type === RecordType.Entry);
  assert.deepEqual([e.entry.index, e.entry.term, e.entry.type, [...e.entry.data]], [6, 2, 0, [1, 2, 3]]);
  assert.ok(records[3]?.type === RecordType.Entry && records[3].entry.type === 1 && records[3].entry.data.byteLength === 0);
  assert.deepEqual(records[4], { type: RecordType.HardState, hardState: { term: 3, vote: 9, commit: 6 } });
});

test('records are 8-byte aligned and framed as documented: crc32c over length, type, flags, sequence and payload', () => {
  const bytes = encode(1, (enc) => enc.addEntry(entry(1, 1, 3)));
  assert.equal(bytes.byteLength, recordBytes(17 + 3));
  assert.equal(bytes.byteLength % 8, 0);
  const view = new DataView(bytes.buffer);
  assert.equal(view.getUint32(4, true), 20);
  assert.equal(bytes[8], RecordType.Entry);
  assert.equal(bytes[9], FLAG_BATCH_END);
  assert.equal(view.getUint32(12, true), 1);
  assert.equal(view.getUint32(0, true), crc32c(bytes.subarray(4, WAL_RECORD_HEADER_BYTES + 20)));
  assert.ok(bytes.subarray(WAL_RECORD_HEADER_BYTES + 20).every((b) => b === 0), 'padding is zero');
});

test('large batch sequences and indexes up to 2^53 - 1 survive', () => {
  const big = Number.MAX_SAFE_INTEGER;
  const bytes = encode(big, (enc) => enc.addEntry(entry(big, big - 1, 1)));
  const r = readRecord(bytes, 0);
  assert.ok(r.kind === 'ok' && r.seq === big && r.record.type === RecordType.Entry);
  assert.equal(r.record.entry.index, big);
  assert.equal(r.record.entry.term, big - 1);
});

test('every single bit flip in a record is detected', () => {
  const bytes = encode(3, (enc) => enc.addEntry(entry(10, 2, 13)));
  for (let bit = 0; bit < bytes.byteLength * 8; bit++) {
    const copy = bytes.slice();
    copy[bit >> 3] = (copy[bit >> 3] as number) ^ (1 << (bit & 7));
    const r = readRecord(copy, 0);
    const inPadding = (bit >> 3) >= WAL_RECORD_HEADER_BYTES + 17 + 13;
    if (inPadding) assert.equal(r.kind, 'ok', 'padding is not covered');
    else assert.notEqual(r.kind, 'ok', `flip of bit ${bit} went unnoticed`);
  }
});

test('zeros read as unwritten space, a short or oversized header as bad', () => {
  assert.equal(readRecord(new Uint8Array(64), 0).kind, 'zero');
  assert.equal(readRecord(new Uint8Array(10), 0).kind, 'zero');
  assert.equal(readRecord(new Uint8Array([0, 0, 1]), 0).kind, 'bad');
  const huge = new Uint8Array(64);
  new DataView(huge.buffer).setUint32(4, WAL_RECORD_PAYLOAD_BYTES_MAX + 1, true);
  const r = readRecord(huge, 0);
  assert.ok(r.kind === 'bad' && /exceeds/.test(r.reason));
  const past = new Uint8Array(64);
  new DataView(past.buffer).setUint32(4, 100, true);
  const p = readRecord(past, 0);
  assert.ok(p.kind === 'bad' && /past the end/.test(p.reason));
});

test('a record with a valid checksum but malformed contents is reported as such', () => {
  const bytes = encode(1, (enc) => enc.addHardState(hardState(1, 1, 1)));
  bytes[8] = 99; // unknown type
  new DataView(bytes.buffer).setUint32(0, crc32c(bytes.subarray(4, WAL_RECORD_HEADER_BYTES + 24)), true);
  const r = readRecord(bytes, 0);
  assert.ok(r.kind === 'bad' && r.checksumValid && /unknown record type/.test(r.reason));
});

test('the encoder refuses what it could not read back', () => {
  const enc = new BatchEncoder();
  assert.throws(() => enc.begin(0), /positive/);
  enc.begin(1);
  assert.throws(() => enc.finish(), /empty batch/);
  assert.throws(() => enc.addEntry({ ...entry(1, 1), type: 7 as 0 }), /bad type/);
  assert.throws(() => enc.addHardState(hardState(-1, 0, 0)), /out of range/);
});
