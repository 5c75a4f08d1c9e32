// The raft Message codec: exact round trips, every wire limit enforced on both sides, and
// random and mutated bytes that must give a PeerDecodeError and nothing worse.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AssertionError } from '../../util/assert.js';
import { logIndex, nodeId, term } from '../../util/branded.js';
import { Prng } from '../../util/prng.js';
import { EntryType, MessageType, type Message } from '../../raft/types.js';
import {
  PEER_CONF_STATE_MEMBERS_MAX,
  PEER_ENTRY_DATA_BYTES_MAX,
  PEER_MESSAGE_BYTES_MAX,
  PEER_MESSAGE_CONTEXT_BYTES_MAX,
  PEER_MESSAGE_ENTRIES_MAX,
} from './limits.js';
import { decodeMessage, encodedMessageBytes, encodeMessage } from './message_codec.js';
import { PeerDecodeError, PeerEncodeError } from './transport_errors.js';
import { randomBytes, randomMessage, testSeed } from './transport_test_support.js';

const FULL: Message = {
  type: MessageType.Snap,
  to: nodeId(2),
  from: nodeId(1),
  term: term(7),
  logTerm: term(6),
  index: logIndex(0x1_0000_0001),
  entries: [
    { term: term(5), index: logIndex(10), type: EntryType.Normal, data: Uint8Array.of(1, 2, 3) },
    { term: term(6), index: logIndex(11), type: EntryType.ConfChange, data: new Uint8Array(0) },
  ],
  commit: logIndex(Number.MAX_SAFE_INTEGER),
  snapshot: {
    metadata: {
      index: logIndex(9),
      term: term(4),
      confState: { voters: [nodeId(1), nodeId(2)], learners: [nodeId(4)], votersOutgoing: [nodeId(3)], learnersNext: [], autoLeave: true },
    },
    data: Uint8Array.of(9, 8, 7, 6),
  },
  reject: true,
  rejectHint: logIndex(3),
  context: Uint8Array.of(0xaa, 0xbb),
};

const EMPTY_MESSAGE: Message = {
  type: MessageType.Heartbeat, to: nodeId(3), from: nodeId(1), term: term(1), logTerm: term(0), index: logIndex(0),
  entries: [], commit: logIndex(0), snapshot: null, reject: false, rejectHint: logIndex(0), context: new Uint8Array(0),
};

function assertDecodeError(bytes: Uint8Array, what: RegExp): PeerDecodeError {
  let caught: unknown = null;
  try {
    decodeMessage(bytes);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof PeerDecodeError, `expected a PeerDecodeError, got ${String(caught)}`);
  assert.equal(caught.code, 'ERR_PEER_DECODE');
  assert.match(caught.message, what);
  return caught;
}

test('every field survives a round trip, snapshot and ConfState included', () => {
  const bytes = encodeMessage(FULL);
  assert.equal(bytes.byteLength, encodedMessageBytes(FULL));
  assert.deepEqual(decodeMessage(bytes), FULL);
  assert.deepEqual(decodeMessage(encodeMessage(EMPTY_MESSAGE)), EMPTY_MESSAGE);
});

test('a heartbeat is compact: 67 bytes', () => {
  assert.equal(encodeMessage(EMPTY_MESSAGE).byteLength, 67);
});

test('decoded byte fields are copies, never views of the input', () => {
  const bytes = encodeMessage(FULL);
  const m = decodeMessage(bytes);
  bytes.fill(0);
  assert.deepEqual(m, FULL);
});

test('random messages round-trip exactly', () => {
  const seed = testSeed('message codec round trip', 1);
  const prng = new Prng(seed);
  for (let i = 0; i < 2000; i++) {
    const m = randomMessage(prng);
    assert.deepEqual(decodeMessage(encodeMessage(m)), m, `SEED=${seed} message ${i}`);
  }
});

test('the encoder refuses a message over any wire limit with ERR_PEER_MESSAGE_TOO_LARGE', () => {
  const entry = { term: term(1), index: logIndex(1), type: EntryType.Normal, data: new Uint8Array(0) };
  const cases: [string, Message][] = [
    ['context', { ...EMPTY_MESSAGE, context: new Uint8Array(PEER_MESSAGE_CONTEXT_BYTES_MAX + 1) }],
    ['entries exceed', { ...EMPTY_MESSAGE, entries: new Array<typeof entry>(PEER_MESSAGE_ENTRIES_MAX + 1).fill(entry) }],
    ['entry 1 has', { ...EMPTY_MESSAGE, entries: [{ ...entry, data: new Uint8Array(PEER_ENTRY_DATA_BYTES_MAX + 1) }] }],
    ['voters names', { ...FULL, snapshot: { ...FULL.snapshot!, metadata: { ...FULL.snapshot!.metadata, confState: {
      ...FULL.snapshot!.metadata.confState, voters: new Array(PEER_CONF_STATE_MEMBERS_MAX + 1).fill(nodeId(1)) } } } }],
    ['message limit', { ...FULL, snapshot: { ...FULL.snapshot!, data: new Uint8Array(PEER_MESSAGE_BYTES_MAX) } }],
  ];
  for (const [what, m] of cases) {
    assert.throws(() => encodeMessage(m), (err: unknown) =>
      err instanceof PeerEncodeError && err.code === 'ERR_PEER_MESSAGE_TOO_LARGE' && err.message.includes(what), what);
  }
});

test('encoding a value that is not an unsigned safe integer is a programmer error', () => {
  assert.throws(() => encodeMessage({ ...EMPTY_MESSAGE, term: term(-1) }), AssertionError);
  assert.throws(() => encodeMessage({ ...EMPTY_MESSAGE, index: logIndex(1.5) }), AssertionError);
  assert.throws(() => encodeMessage({ ...EMPTY_MESSAGE, type: 19 as MessageType }), AssertionError);
});

test('every truncation of a valid encoding is a decode error naming the field', () => {
  const bytes = encodeMessage(FULL);
  for (let n = 0; n < bytes.byteLength; n++) {
    const err = assertDecodeError(bytes.subarray(0, n), /Cannot decode .* at byte \d+/);
    assert.ok(err.offset <= n, `offset ${err.offset} past the end ${n}`);
  }
  assertDecodeError(Uint8Array.of(...bytes, 0), /end of message at byte \d+: 1 trailing bytes/);
});

test('the decoder checks version, type, flags, integer range, counts and lengths', () => {
  const base = Buffer.from(encodeMessage(EMPTY_MESSAGE));
  const patch = (offset: number, bytes: number[]): Uint8Array => {
    const b = Buffer.from(base);
    b.set(bytes, offset);
    return b;
  };
  assertDecodeError(patch(0, [2]), /version at byte 0: version 2 is not supported/);
  assertDecodeError(patch(1, [19]), /type at byte 1: message type 19 is unknown/);
  assertDecodeError(patch(2, [0x04]), /flags at byte 2: unknown flag bits 0x4/);
  assertDecodeError(patch(3, [0x00, 0x20, 0, 0, 0, 0, 0, 0]), /to at byte 3: value .* above 2\^53 - 1/);
  const contextAt = 3 + 7 * 8;
  assertDecodeError(patch(contextAt, [0, 1, 0, 1]), /context length at byte 59: 65537 bytes exceed the limit of 65536/);
  assertDecodeError(patch(contextAt, [0, 0, 0, 9]), /context at byte 63: need 9 bytes, 4 remain/);
  const countAt = contextAt + 4;
  assertDecodeError(patch(countAt, [0xff, 0xff, 0xff, 0xff]), /entry count at byte 63: 4294967295 exceeds the limit/);
  assertDecodeError(patch(countAt, [0, 0, 0, 1]), /entry count at byte 63: 1 items need at least 21 bytes, 0 remain/);
  assertDecodeError(new Uint8Array(PEER_MESSAGE_BYTES_MAX + 1), /message at byte 0: .* exceed the message limit/);
});

function decodeOrError(bytes: Uint8Array): Message | PeerDecodeError {
  try {
    return decodeMessage(bytes);
  } catch (err) {
    if (err instanceof PeerDecodeError) return err;
    throw err;
  }
}

test('fuzz: random bytes decode or give a PeerDecodeError', () => {
  const seed = testSeed('message codec random bytes', 2);
  const prng = new Prng(seed);
  let decoded = 0;
  for (let i = 0; i < 20_000; i++) {
    const bytes = randomBytes(prng, prng.int(160));
    if (bytes.byteLength > 0 && prng.chance(0.7)) bytes[0] = 1; // past the version check more often
    if (bytes.byteLength > 1 && prng.chance(0.7)) bytes[1] = (bytes[1] ?? 0) % 19;
    if (bytes.byteLength > 2 && prng.chance(0.7)) bytes[2] = (bytes[2] ?? 0) & 3;
    const r = decodeOrError(bytes);
    if (!(r instanceof PeerDecodeError)) decoded++;
  }
  console.log(`random bytes: ${decoded} of 20000 decoded`);
});

function mutate(prng: Prng, input: Uint8Array): Uint8Array {
  let b = Uint8Array.from(input);
  for (let k = prng.range(1, 4); k > 0; k--) {
    const at = b.byteLength === 0 ? 0 : prng.int(b.byteLength);
    switch (prng.int(6)) {
      case 0: b[at] = (b[at] ?? 0) ^ (1 << prng.int(8)); break; // bit flip
      case 1: b[at] = prng.pick([0, 0xff, 0x7f, 0x80]); break; // interesting byte
      case 2: b = b.subarray(0, at); break; // truncate
      case 3: b = Uint8Array.from([...b.subarray(0, at), ...randomBytes(prng, prng.range(1, 8)), ...b.subarray(at)]); break;
      case 4: { // a huge or off-by-one u32, the usual length attack
        const v = prng.pick([0xffff_ffff, 0x7fff_ffff, 0x0100_0000, 1]);
        if (at + 4 <= b.byteLength) new DataView(b.buffer, b.byteOffset).setUint32(at, v);
        break;
      }
      default: b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(prng.int(b.byteLength + 1))]); break; // splice
    }
  }
  return b;
}

test('fuzz: mutated encodings decode to a message that re-encodes canonically, or give a PeerDecodeError', () => {
  const seed = testSeed('message codec mutations', 3);
  const prng = new Prng(seed);
  let decoded = 0;
  for (let i = 0; i < 10_000; i++) {
    const bytes = mutate(prng, encodeMessage(randomMessage(prng, { entriesMax: 3, dataBytesMax: 16 })));
    const r = decodeOrError(bytes);
    if (r instanceof PeerDecodeError) continue;
    decoded++;
    assert.deepEqual(Buffer.from(encodeMessage(r)), Buffer.from(bytes), `SEED=${seed} case ${i}: decoding is not canonical`);
  }
  console.log(`mutations: ${decoded} of 10000 still decoded`);
});
