// Frames: each kind round-trips through the incremental reader however the bytes are split, and a bad
// length, checksum or body is a coded error, never a crash, a hang or a large buffer.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32c } from '@node-rs/crc32';
import { nodeId } from '../../util/branded.js';
import { Prng } from '../../util/prng.js';
import {
  decodeFrame,
  encodeHello,
  encodeMessageFrame,
  encodePing,
  encodeRefuse,
  encodeSnapAck,
  encodeSnapBegin,
  encodeSnapChunk,
  encodeWelcome,
  FrameKind,
  FrameReader,
  RefusalReason,
  type Frame,
} from './frame_codec.js';
import { PEER_FRAME_HEADER_BYTES, PEER_FRAME_PAYLOAD_BYTES_MAX, PEER_HANDSHAKE_PAYLOAD_BYTES_MAX } from './limits.js';
import { PeerDecodeError, PeerFrameError } from './transport_errors.js';
import { randomBytes, randomMessage, randomSnapshot, testSeed } from './transport_test_support.js';

function readAll(reader: FrameReader, bytes: Buffer, splits: readonly number[]): Frame[] {
  const frames: Frame[] = [];
  let from = 0;
  for (const to of [...splits, bytes.byteLength]) {
    reader.push(bytes.subarray(from, to));
    from = to;
    for (let p = reader.next(); p !== null; p = reader.next()) frames.push(decodeFrame(p));
  }
  return frames;
}

test('every frame kind round-trips, whole or split at every byte', () => {
  const prng = new Prng(7);
  const message = randomMessage(prng, { from: nodeId(1), to: nodeId(2) });
  const snapMessage = { ...message, snapshot: { ...randomSnapshot(prng, 0), data: new Uint8Array(0) } };
  const chunkData = randomBytes(prng, 300);
  const encoded: [Buffer, Frame][] = [
    [encodeHello({ version: 1, clusterId: 77, from: nodeId(1), to: nodeId(2) }), { kind: 'hello', version: 1, clusterId: 77, from: nodeId(1), to: nodeId(2) }],
    [encodeWelcome({ version: 1, clusterId: 77, member: nodeId(2) }), { kind: 'welcome', version: 1, clusterId: 77, member: nodeId(2) }],
    [encodeRefuse(RefusalReason.Cluster, 'wrong cluster ✗'), { kind: 'refuse', reason: RefusalReason.Cluster, text: 'wrong cluster ✗' }],
    [encodeMessageFrame(message), { kind: 'message', message }],
    [encodePing(FrameKind.Ping, 12.5), { kind: 'ping', stampMs: 12.5 }],
    [encodePing(FrameKind.Pong, 13.25), { kind: 'pong', stampMs: 13.25 }],
    [encodeSnapBegin(5, 1 << 20, 0xdeadbeef, snapMessage), { kind: 'snap-begin', id: 5, totalBytes: 1 << 20, checksum: 0xdeadbeef, message: snapMessage }],
    [Buffer.concat(encodeSnapChunk(5, 0x1_0000_0000, chunkData)), { kind: 'snap-chunk', id: 5, offset: 0x1_0000_0000, data: Buffer.from(chunkData) }],
    [encodeSnapAck(5, true), { kind: 'snap-ack', id: 5, ok: true }],
    [encodeSnapAck(6, false), { kind: 'snap-ack', id: 6, ok: false }],
  ];
  const all = Buffer.concat(encoded.map(([b]) => b));
  const expected = encoded.map(([, f]) => f);
  assert.deepEqual(readAll(new FrameReader(PEER_FRAME_PAYLOAD_BYTES_MAX), all, []), expected);
  const everyByte = Array.from({ length: all.byteLength - 1 }, (_, i) => i + 1);
  assert.deepEqual(readAll(new FrameReader(PEER_FRAME_PAYLOAD_BYTES_MAX), all, everyByte), expected);
});

test('a length over the limit fails as soon as the header arrives, before any payload is buffered', () => {
  const reader = new FrameReader(PEER_HANDSHAKE_PAYLOAD_BYTES_MAX);
  const header = Buffer.alloc(PEER_FRAME_HEADER_BYTES);
  header.writeUInt32BE(PEER_HANDSHAKE_PAYLOAD_BYTES_MAX + 1, 0);
  reader.push(header);
  assert.throws(() => reader.next(), (err: unknown) =>
    err instanceof PeerFrameError && err.code === 'ERR_PEER_FRAME_TOO_LARGE' && /frame of 513 bytes: the limit is 512/.test(err.message));
});

test('a flipped bit anywhere in a frame is caught by its CRC32C, an empty frame is refused', () => {
  const frame = encodeMessageFrame(randomMessage(new Prng(3)));
  for (let i = 4; i < frame.byteLength; i++) { // bytes 0-3 are the length: changing it is another test
    const bad = Buffer.from(frame);
    bad[i] = (bad[i] ?? 0) ^ 0x10;
    const reader = new FrameReader(PEER_FRAME_PAYLOAD_BYTES_MAX);
    reader.push(bad);
    assert.throws(() => reader.next(), (err: unknown) => err instanceof PeerFrameError && err.code === 'ERR_PEER_FRAME_CHECKSUM', `byte ${i}`);
  }
  const reader = new FrameReader(PEER_FRAME_PAYLOAD_BYTES_MAX);
  reader.push(Buffer.alloc(PEER_FRAME_HEADER_BYTES));
  assert.throws(() => reader.next(), (err: unknown) => err instanceof PeerFrameError && err.code === 'ERR_PEER_FRAME_UNEXPECTED');
});

test('a chunk frame sent as two buffers carries one CRC over both', () => {
  const [head, body] = encodeSnapChunk(1, 0, Uint8Array.of(1, 2, 3));
  assert.ok(head !== undefined && body !== undefined);
  const payload = Buffer.concat([head.subarray(PEER_FRAME_HEADER_BYTES), body]);
  assert.equal(head.readUInt32BE(0), payload.byteLength);
  assert.equal(head.readUInt32BE(4), crc32c(payload));
});

test('well-framed bodies that do not parse are decode errors', () => {
  const frame = (bytes: number[]): Buffer => Buffer.from(bytes);
  const cases: [Buffer, RegExp][] = [
    [frame([0]), /frame kind 0 is unknown/],
    [frame([FrameKind.Hello, 0x47, 0x45, 0x54, 0x20]), /hello magic at byte 1: 0x47455420 is not a Meridian peer hello/],
    [frame([FrameKind.Ping, 1, 2, 3]), /ping stamp at byte 1: need 8 bytes, 3 remain/],
    [frame([FrameKind.SnapAck, 0, 0, 0, 1, 2]), /ack status at byte 5: 2 is not a boolean/],
    [frame([FrameKind.SnapAck, 0, 0, 0, 1, 1, 0]), /end of frame at byte 6: 1 trailing bytes/],
    [frame([FrameKind.Refuse, 9, 0, 0]), /refusal reason at byte 1: reason 9 is unknown/],
    [Buffer.concat([frame([FrameKind.SnapBegin, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), encodeMessageFrame(randomMessage(new Prng(1), { from: nodeId(1) })).subarray(9)]),
      /snapshot message|snapshot stream must begin/],
  ];
  for (const [payload, pattern] of cases) {
    assert.throws(() => decodeFrame(payload), (err: unknown) => err instanceof PeerDecodeError && pattern.test(err.message), pattern.source);
  }
});

test('fuzz: random and mutated byte streams give frames or coded errors, and buffering stays bounded', () => {
  const seed = testSeed('frame reader fuzz', 11);
  const prng = new Prng(seed);
  let frames = 0;
  let errors = 0;
  for (let round = 0; round < 3000; round++) {
    const valid = Buffer.concat(Array.from({ length: prng.range(1, 3) }, () => encodeMessageFrame(randomMessage(prng, { entriesMax: 2, dataBytesMax: 8 }))));
    const bytes = prng.chance(0.5) ? Buffer.from(randomBytes(prng, prng.int(300))) : valid;
    for (let k = prng.int(4); k > 0 && bytes.byteLength > 0; k--) bytes[prng.int(bytes.byteLength)] = prng.nextU32() & 0xff;
    const limit = prng.chance(0.5) ? PEER_HANDSHAKE_PAYLOAD_BYTES_MAX : PEER_FRAME_PAYLOAD_BYTES_MAX;
    const reader = new FrameReader(limit);
    try {
      for (let at = 0; at < bytes.byteLength;) {
        const to = Math.min(bytes.byteLength, at + prng.range(1, 64));
        reader.push(bytes.subarray(at, to));
        at = to;
        for (let p = reader.next(); p !== null; p = reader.next()) {
          decodeFrame(p);
          frames++;
        }
        assert.ok(reader.bufferedBytes() <= PEER_FRAME_HEADER_BYTES + limit + 64, `SEED=${seed} round ${round}: buffered ${reader.bufferedBytes()}`);
      }
    } catch (err) {
      if (!(err instanceof PeerFrameError || err instanceof PeerDecodeError)) throw err;
      errors++;
    }
  }
  console.log(`frame fuzz: ${frames} frames decoded, ${errors} streams rejected`);
  assert.ok(frames > 0 && errors > 0);
});
