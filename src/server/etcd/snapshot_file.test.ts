// The snapshot stream's file layout: etcdctl's size rule, the SHA-256 trailer, and refusal of damaged files.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Prng } from '../../util/prng.js';
import {
  decodeSnapshotFile, frameSnapshotChunk, SNAPSHOT_FILE_ALIGN_BYTES, SNAPSHOT_SHA_BYTES, snapshotPadding,
} from './snapshot_file.js';

function fileOf(chunks: readonly Uint8Array[]): Buffer {
  const framed = Buffer.concat(chunks.map(frameSnapshotChunk));
  const body = Buffer.concat([framed, snapshotPadding(framed.length)]);
  return Buffer.concat([body, createHash('sha256').update(body).digest()]);
}

test('files of any chunk sizes round-trip and have the size etcdctl accepts', () => {
  const seed = Number(process.env['SEED'] ?? Date.now() % 1_000_000);
  console.log(`SEED=${seed}`);
  const prng = new Prng(seed);
  for (let round = 0; round < 50; round++) {
    const chunks = Array.from({ length: prng.int(4) }, () => Uint8Array.from({ length: prng.int(2000) }, () => prng.int(256)));
    const file = fileOf(chunks.filter((c) => c.length > 0));
    assert.equal(file.length % SNAPSHOT_FILE_ALIGN_BYTES, SNAPSHOT_SHA_BYTES);
    assert.deepEqual(decodeSnapshotFile(file).map((c) => Buffer.from(c)), chunks.filter((c) => c.length > 0).map((c) => Buffer.from(c)));
  }
});

test('damaged files are refused with the reason', () => {
  const good = fileOf([Buffer.from('chunk one'), Buffer.from('chunk two')]);
  assert.throws(() => decodeSnapshotFile(good.subarray(1)), /size/);
  const flipped = Buffer.from(good);
  flipped[3] = (flipped[3] ?? 0) ^ 1;
  assert.throws(() => decodeSnapshotFile(flipped), /SHA-256 mismatch/);
  // A length running past the end, behind a valid checksum.
  const body = Buffer.alloc(SNAPSHOT_FILE_ALIGN_BYTES);
  body.writeUInt32BE(SNAPSHOT_FILE_ALIGN_BYTES, 0);
  assert.throws(() => decodeSnapshotFile(Buffer.concat([body, createHash('sha256').update(body).digest()])), /runs past the end/);
});
