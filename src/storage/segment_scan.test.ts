import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeId } from '../util/branded.js';
import { SECTOR_BYTES } from './constants.js';
import { collectSegment, judgeSealed, judgeTail, lastSeqOf, type SegmentScan } from './segment_scan.js';

const scanSegment = (bytes: Uint8Array, expected: number | null): SegmentScan => collectSegment(bytes, expected).scan;
import { BatchEncoder } from './wal_record.js';
import { entries, hardState, prngFor } from './test_helpers.js';

const SEGMENT_BYTES = 16 * 1024;

/** A zero-filled segment with batches 1..n (the first carrying the metadata); returns the batch offsets. */
function segment(batchCount: number, entriesPerBatch = 3, dataBytes = 15): { bytes: Uint8Array; offsets: number[] } {
  const bytes = new Uint8Array(SEGMENT_BYTES);
  const enc = new BatchEncoder();
  const offsets: number[] = [];
  let at = 0;
  for (let seq = 1; seq <= batchCount; seq++) {
    enc.begin(seq);
    if (seq === 1) enc.addMetadata({ version: 1, segmentSeq: 1, memberId: nodeId(1), clusterId: 'c' });
    const from = (seq - 1) * entriesPerBatch + 1;
    for (const e of entries(from, from + entriesPerBatch - 1, 1, dataBytes)) {
      enc.addEntry({ ...e, data: e.data.map((_, i) => 1 + ((e.index + i) % 250)) });
    }
    enc.addHardState(hardState(1, 1, from));
    const b = enc.finish();
    offsets.push(at);
    bytes.set(b, at);
    at += b.byteLength;
  }
  offsets.push(at);
  return { bytes, offsets };
}

test('a clean segment yields every batch in order and a clean tail', () => {
  const { bytes, offsets } = segment(5);
  const { scan, batches } = collectSegment(bytes, 1);
  assert.equal(scan.batchCount, 5);
  assert.deepEqual(batches.map((b) => b.offset), offsets.slice(0, 5));
  assert.equal(scan.end, offsets[5]);
  assert.equal(scan.damage, null);
  assert.equal(lastSeqOf(scan, 1), 5);
  assert.deepEqual(judgeTail(bytes, scan, 5), { kind: 'clean' });
  assert.equal(judgeSealed(bytes, scan), null);
});

test('a torn last batch, cut at any byte, is truncated back to the previous batch', () => {
  const { bytes, offsets } = segment(4, 6);
  const start = offsets[3] as number;
  const stop = offsets[4] as number;
  for (let cut = start; cut < stop; cut++) {
    const torn = bytes.slice();
    torn.fill(0, cut, stop);
    const scan = scanSegment(torn, 1);
    if (torn.every((b, i) => b === bytes[i])) {
      assert.equal(scan.batchCount, 4, 'only zero bytes were cut');
      continue;
    }
    assert.equal(scan.batchCount, 3, `cut at ${cut}`);
    const verdict = judgeTail(torn, scan, lastSeqOf(scan, 1));
    if (cut === start) {
      assert.deepEqual(verdict, { kind: 'clean' });
      continue;
    }
    // The cut may fall after zero bytes of the batch (padding, reserved fields): those need no zeroing.
    assert.ok(verdict.kind === 'torn' && verdict.from === start && verdict.to <= cut && verdict.to > start, `cut at ${cut}`);
  }
});

test('a torn last batch with any set of its sectors lost is truncated, not taken for corruption', (t) => {
  const prng = prngFor((l) => t.diagnostic(l));
  const { bytes, offsets } = segment(3, 40);
  const start = offsets[2] as number;
  const stop = offsets[3] as number;
  const firstSector = Math.floor(start / SECTOR_BYTES);
  const lastSector = Math.floor((stop - 1) / SECTOR_BYTES);
  assert.ok(lastSector - firstSector >= 2, 'the batch spans several sectors');
  for (let round = 0; round < 200; round++) {
    const torn = bytes.slice();
    for (let s = firstSector; s <= lastSector; s++) {
      if (prng.chance(0.5)) torn.fill(0, Math.max(start, s * SECTOR_BYTES), Math.min(stop, (s + 1) * SECTOR_BYTES));
    }
    const scan = scanSegment(torn, 1);
    const verdict = judgeTail(torn, scan, lastSeqOf(scan, 1));
    const changed = torn.some((b, i) => b !== bytes[i]);
    const allLost = torn.subarray(start, stop).every((b) => b === 0);
    if (!changed || allLost) assert.deepEqual(verdict, { kind: 'clean' });
    else assert.equal(verdict.kind, 'torn', `round ${round}: ${JSON.stringify(verdict)}`);
  }
});

test('garbage or a stray bit beyond the last batch is a torn tail', () => {
  const { bytes, offsets } = segment(2);
  const end = offsets[2] as number;
  const junk = bytes.slice();
  junk[end + 3000] = 0x40;
  const scan = scanSegment(junk, 1);
  assert.equal(scan.damage, null);
  assert.deepEqual(judgeTail(junk, scan, 2), { kind: 'torn', from: end, to: end + 3001 });
  const header = bytes.slice();
  header.fill(0xab, end, end + 24);
  const scan2 = scanSegment(header, 1);
  assert.ok(scan2.damage !== null && scan2.damage.offset === end);
  assert.deepEqual(judgeTail(header, scan2, 2), { kind: 'torn', from: end, to: end + 24 });
});

test('a flipped bit before the last batch is corruption, reported at the damaged record', () => {
  const { bytes, offsets } = segment(5);
  for (const batch of [0, 1, 3]) {
    const bad = bytes.slice();
    const at = (offsets[batch] as number) + 40;
    bad[at] = (bad[at] as number) ^ 0x10;
    const scan = scanSegment(bad, 1);
    const verdict = judgeTail(bad, scan, lastSeqOf(scan, 1));
    assert.equal(verdict.kind, 'corrupt', `batch ${batch}`);
    assert.ok(verdict.kind === 'corrupt' && verdict.offset <= at && verdict.offset >= (offsets[batch] as number));
    assert.ok(verdict.kind === 'corrupt' && /later batch/.test(verdict.reason));
  }
});

test('a flipped bit in a last batch that was written whole is corruption, not a tear', () => {
  const { bytes, offsets } = segment(3, 30);
  const bad = bytes.slice();
  const at = (offsets[2] as number) + 300;
  bad[at] = (bad[at] as number) ^ 1;
  const scan = scanSegment(bad, 1);
  const verdict = judgeTail(bad, scan, lastSeqOf(scan, 1));
  assert.ok(verdict.kind === 'corrupt' && /written whole/.test(verdict.reason), JSON.stringify(verdict));
});

test('a zeroed region before later batches is corruption', () => {
  const { bytes, offsets } = segment(4);
  const bad = bytes.slice();
  bad.fill(0, offsets[1] as number, offsets[2] as number);
  const scan = scanSegment(bad, 1);
  assert.equal(scan.batchCount, 1);
  assert.equal(judgeTail(bad, scan, 1).kind, 'corrupt');
});

test('a batch sequence out of order is corruption even with valid checksums', () => {
  const { bytes } = segment(3);
  const scan = scanSegment(bytes, 5);
  assert.ok(scan.damage !== null && scan.damage.checksumValid && /sequence 1 where 5/.test(scan.damage.reason));
  assert.equal(judgeTail(bytes, scan, 4).kind, 'corrupt');
});

test('a segment must begin with its metadata record', () => {
  const bytes = new Uint8Array(4096);
  const enc = new BatchEncoder();
  enc.begin(1);
  enc.addHardState(hardState(1, 0, 0));
  bytes.set(enc.finish(), 0);
  const scan = scanSegment(bytes, null);
  assert.ok(scan.damage !== null && /metadata/.test(scan.damage.reason));
});

test('an older segment must end cleanly after its last batch', () => {
  const { bytes, offsets } = segment(2);
  const junk = bytes.slice();
  junk[(offsets[2] as number) + 100] = 1;
  const damage = judgeSealed(junk, scanSegment(junk, 1));
  assert.ok(damage !== null && damage.offset === offsets[2]);
  assert.ok(judgeSealed(new Uint8Array(4096), scanSegment(new Uint8Array(4096), 1)) !== null, 'an empty older segment');
});
