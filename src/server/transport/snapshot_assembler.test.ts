// Snapshot reassembly: in-order chunks give the MsgSnap back exactly; a gap, an overrun, a wrong
// checksum or an oversized snapshot never delivers anything.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32c } from '@node-rs/crc32';
import { nodeId } from '../../util/branded.js';
import { Prng } from '../../util/prng.js';
import type { Message } from '../../raft/types.js';
import { SnapshotAssembler } from './snapshot_assembler.js';
import { PeerFrameError } from './transport_errors.js';
import { randomBytes, randomMessage, randomSnapshot } from './transport_test_support.js';

const prng = new Prng(5);
const DATA = randomBytes(prng, 1000);
const SNAP = randomSnapshot(prng, 0);
const HEADER: Message = { ...randomMessage(prng, { from: nodeId(1), to: nodeId(2) }), snapshot: SNAP };

test('chunks in order reassemble the snapshot and the message', () => {
  const a = new SnapshotAssembler(4096);
  assert.deepEqual(a.begin(1, DATA.byteLength, crc32c(DATA), HEADER), { kind: 'more' });
  assert.deepEqual(a.chunk(1, 0, DATA.subarray(0, 400)), { kind: 'more' });
  assert.equal(a.receivedBytes(), 400);
  const r = a.chunk(1, 400, DATA.subarray(400));
  assert.equal(r.kind, 'done');
  assert.deepEqual(r.kind === 'done' ? r.message : null, { ...HEADER, snapshot: { metadata: SNAP.metadata, data: DATA } });
  assert.equal(a.receivedBytes(), 0);
  // The next snapshot may begin now; an empty one completes at once.
  assert.equal(a.begin(2, 0, crc32c(new Uint8Array(0)), HEADER).kind, 'done');
});

test('a wrong whole-snapshot checksum rejects it; stray chunks of a rejected snapshot are ignored', () => {
  const a = new SnapshotAssembler(4096);
  a.begin(1, DATA.byteLength, crc32c(DATA) ^ 1, HEADER);
  const r = a.chunk(1, 0, DATA);
  assert.equal(r.kind, 'rejected');
  assert.match(r.kind === 'rejected' ? r.reason : '', /CRC32C is 0x[0-9a-f]+, the sender's is/);
  assert.deepEqual(a.chunk(1, 1000, Uint8Array.of(1)), { kind: 'more' });
});

test('a snapshot over the limit is rejected at its first frame', () => {
  const a = new SnapshotAssembler(999);
  const r = a.begin(3, 1000, 0, HEADER);
  assert.deepEqual(r, { kind: 'rejected', id: 3, reason: 'snapshot of 1000 bytes exceeds the limit of 999' });
  assert.deepEqual(a.chunk(3, 0, DATA.subarray(0, 999)), { kind: 'more' }, 'its chunks are dropped without being held');
  assert.equal(a.receivedBytes(), 0);
});

test('gaps, overruns, unknown ids, empty chunks and overlapping begins are protocol errors', () => {
  const isFrameError = (err: unknown): boolean => err instanceof PeerFrameError && err.code === 'ERR_PEER_FRAME_UNEXPECTED';
  const started = (): SnapshotAssembler => {
    const a = new SnapshotAssembler(4096);
    a.begin(1, 10, 0, HEADER);
    return a;
  };
  assert.throws(() => started().chunk(1, 1, Uint8Array.of(1)), isFrameError);
  assert.throws(() => started().chunk(1, 0, new Uint8Array(11)), isFrameError);
  assert.throws(() => started().chunk(2, 0, Uint8Array.of(1)), isFrameError);
  assert.throws(() => started().chunk(1, 0, new Uint8Array(0)), isFrameError);
  assert.throws(() => started().begin(2, 10, 0, HEADER), isFrameError);
  assert.throws(() => new SnapshotAssembler(10).chunk(1, 0, Uint8Array.of(1)), isFrameError);
});
