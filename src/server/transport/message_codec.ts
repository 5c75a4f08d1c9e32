// The binary encoding of a raft Message on the peer wire: a version byte, fixed-width big-endian
// integers, length-prefixed bytes. The decoder checks every length before it reads or allocates.

import { assert } from '../../util/assert.js';
import { logIndex, nodeId, term, type NodeId } from '../../util/branded.js';
import { EntryType, MessageType, type ConfState, type Entry, type Message, type Snapshot } from '../../raft/types.js';
import {
  PEER_CONF_STATE_MEMBERS_MAX,
  PEER_ENTRY_DATA_BYTES_MAX,
  PEER_MESSAGE_BYTES_MAX,
  PEER_MESSAGE_CODEC_VERSION,
  PEER_MESSAGE_CONTEXT_BYTES_MAX,
  PEER_MESSAGE_ENTRIES_MAX,
} from './limits.js';
import { PeerDecodeError, PeerEncodeError } from './transport_errors.js';

// Layout (version 1):
//   u8 version, u8 type, u8 flags (bit 0 reject, bit 1 snapshot follows),
//   u64 to, from, term, logTerm, index, commit, rejectHint,
//   u32 context length, context,
//   u32 entry count, per entry: u64 term, u64 index, u8 type, u32 data length, data,
//   snapshot (if flagged): u64 index, u64 term, u8 autoLeave,
//     voters, learners, votersOutgoing, learnersNext (each u32 count, count × u64), u32 data length, data.
const FLAG_REJECT = 0x01;
const FLAG_SNAPSHOT = 0x02;
const FLAGS_KNOWN = FLAG_REJECT | FLAG_SNAPSHOT;
const HEADER_BYTES = 3 + 7 * 8 + 4 + 4;
const ENTRY_FIXED_BYTES = 8 + 8 + 1 + 4;
const SNAPSHOT_FIXED_BYTES = 8 + 8 + 1 + 4 * 4 + 4;
const TYPE_MAX = MessageType.PreVoteResp;
const TWO_POW_32 = 0x1_0000_0000;
/** The high word of a u64 that is still a safe JS integer (2^53 - 1). */
const U64_HIGH_MAX = 0x1f_ffff;

const CONF_LISTS = ['voters', 'learners', 'votersOutgoing', 'learnersNext'] as const;

/** Encoded size of `m`, after checking it against every wire limit (PeerEncodeError if it breaks one). */
export function encodedMessageBytes(m: Message): number {
  if (m.context.byteLength > PEER_MESSAGE_CONTEXT_BYTES_MAX) {
    throw new PeerEncodeError(`Cannot encode ${describe(m)}: context of ${m.context.byteLength} bytes exceeds ${PEER_MESSAGE_CONTEXT_BYTES_MAX}`);
  }
  if (m.entries.length > PEER_MESSAGE_ENTRIES_MAX) {
    throw new PeerEncodeError(`Cannot encode ${describe(m)}: ${m.entries.length} entries exceed ${PEER_MESSAGE_ENTRIES_MAX}`);
  }
  let size = HEADER_BYTES + m.context.byteLength;
  for (const e of m.entries) {
    if (e.data.byteLength > PEER_ENTRY_DATA_BYTES_MAX) {
      throw new PeerEncodeError(`Cannot encode ${describe(m)}: entry ${e.index} has ${e.data.byteLength} bytes, more than ${PEER_ENTRY_DATA_BYTES_MAX}`);
    }
    size += ENTRY_FIXED_BYTES + e.data.byteLength;
  }
  if (m.snapshot !== null) size += snapshotBytes(m, m.snapshot);
  if (size > PEER_MESSAGE_BYTES_MAX) {
    throw new PeerEncodeError(`Cannot encode ${describe(m)}: ${size} bytes exceed the message limit of ${PEER_MESSAGE_BYTES_MAX}`);
  }
  return size;
}

function snapshotBytes(m: Message, s: Snapshot): number {
  let size = SNAPSHOT_FIXED_BYTES + s.data.byteLength;
  for (const list of CONF_LISTS) {
    const ids = s.metadata.confState[list];
    if (ids.length > PEER_CONF_STATE_MEMBERS_MAX) {
      throw new PeerEncodeError(`Cannot encode ${describe(m)}: snapshot ${list} names ${ids.length} members, more than ${PEER_CONF_STATE_MEMBERS_MAX}`);
    }
    size += ids.length * 8;
  }
  return size;
}

/** Encodes `m` into a new buffer of exactly its encoded size. */
export function encodeMessage(m: Message): Uint8Array {
  const buf = Buffer.allocUnsafe(encodedMessageBytes(m));
  const end = encodeMessageInto(m, buf, 0);
  assert(end === buf.byteLength, `encodeMessage: wrote ${end} of ${buf.byteLength} bytes`);
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Writes `m` at `offset` of `buf` (sized with encodedMessageBytes) and returns the end offset. */
export function encodeMessageInto(m: Message, buf: Buffer, offset: number): number {
  assert(m.type >= 0 && m.type <= TYPE_MAX && Number.isInteger(m.type), `encodeMessage: message type ${m.type} is unknown`);
  let o = offset;
  buf[o++] = PEER_MESSAGE_CODEC_VERSION;
  buf[o++] = m.type;
  buf[o++] = (m.reject ? FLAG_REJECT : 0) | (m.snapshot !== null ? FLAG_SNAPSHOT : 0);
  for (const v of [m.to, m.from, m.term, m.logTerm, m.index, m.commit, m.rejectHint]) o = writeU64(buf, o, v);
  o = writeBytes(buf, o, m.context);
  o = buf.writeUInt32BE(m.entries.length, o);
  for (const e of m.entries) {
    assert(e.type === EntryType.Normal || e.type === EntryType.ConfChange, `encodeMessage: entry type ${e.type} is unknown`);
    o = writeU64(buf, o, e.term);
    o = writeU64(buf, o, e.index);
    buf[o++] = e.type;
    o = writeBytes(buf, o, e.data);
  }
  if (m.snapshot !== null) o = writeSnapshot(buf, o, m.snapshot);
  return o;
}

function writeSnapshot(buf: Buffer, offset: number, s: Snapshot): number {
  let o = writeU64(buf, offset, s.metadata.index);
  o = writeU64(buf, o, s.metadata.term);
  buf[o++] = s.metadata.confState.autoLeave ? 1 : 0;
  for (const list of CONF_LISTS) {
    const ids = s.metadata.confState[list];
    o = buf.writeUInt32BE(ids.length, o);
    for (const id of ids) o = writeU64(buf, o, id);
  }
  return writeBytes(buf, o, s.data);
}

function writeU64(buf: Buffer, o: number, v: number): number {
  assert(Number.isSafeInteger(v) && v >= 0, `encodeMessage: ${v} is not an unsigned safe integer`);
  buf.writeUInt32BE(Math.floor(v / TWO_POW_32), o);
  return buf.writeUInt32BE(v % TWO_POW_32, o + 4);
}

function writeBytes(buf: Buffer, o: number, bytes: Uint8Array): number {
  const start = buf.writeUInt32BE(bytes.byteLength, o);
  buf.set(bytes, start);
  return start + bytes.byteLength;
}

function describe(m: Message): string {
  return `message type ${m.type} from ${m.from} to ${m.to}`;
}

/** Decodes one whole Message; anything malformed, oversized or trailing throws PeerDecodeError. */
export function decodeMessage(bytes: Uint8Array): Message {
  if (bytes.byteLength > PEER_MESSAGE_BYTES_MAX) {
    throw new PeerDecodeError('message', 0, `${bytes.byteLength} bytes exceed the message limit of ${PEER_MESSAGE_BYTES_MAX}`);
  }
  const r = new ByteReader(bytes);
  const version = r.u8('version');
  if (version !== PEER_MESSAGE_CODEC_VERSION) r.fail('version', 1, `version ${version} is not supported (want ${PEER_MESSAGE_CODEC_VERSION})`);
  const type = r.u8('type');
  if (type > TYPE_MAX) r.fail('type', 1, `message type ${type} is unknown`);
  const flags = r.u8('flags');
  if ((flags & ~FLAGS_KNOWN) !== 0) r.fail('flags', 1, `unknown flag bits 0x${flags.toString(16)}`);
  const to = nodeId(r.u64('to'));
  const from = nodeId(r.u64('from'));
  const msgTerm = term(r.u64('term'));
  const logTerm = term(r.u64('logTerm'));
  const index = logIndex(r.u64('index'));
  const commit = logIndex(r.u64('commit'));
  const rejectHint = logIndex(r.u64('rejectHint'));
  const context = r.bytes('context', PEER_MESSAGE_CONTEXT_BYTES_MAX);
  const entries = readEntries(r);
  const snapshot = (flags & FLAG_SNAPSHOT) !== 0 ? readSnapshot(r) : null;
  if (r.remaining() !== 0) r.fail('end of message', 0, `${r.remaining()} trailing bytes`);
  return {
    type: type as MessageType, to, from, term: msgTerm, logTerm, index, entries, commit, snapshot,
    reject: (flags & FLAG_REJECT) !== 0, rejectHint, context,
  };
}

function readEntries(r: ByteReader): Entry[] {
  const count = r.count('entry count', PEER_MESSAGE_ENTRIES_MAX, ENTRY_FIXED_BYTES);
  const entries: Entry[] = [];
  for (let i = 0; i < count; i++) {
    const entryTerm = term(r.u64(`entry ${i} term`));
    const index = logIndex(r.u64(`entry ${i} index`));
    const type = r.u8(`entry ${i} type`);
    if (type !== EntryType.Normal && type !== EntryType.ConfChange) r.fail(`entry ${i} type`, 1, `entry type ${type} is unknown`);
    const data = r.bytes(`entry ${i} data`, PEER_ENTRY_DATA_BYTES_MAX);
    entries.push({ term: entryTerm, index, type, data });
  }
  return entries;
}

function readSnapshot(r: ByteReader): Snapshot {
  const index = logIndex(r.u64('snapshot index'));
  const snapTerm = term(r.u64('snapshot term'));
  const autoLeave = r.u8('snapshot autoLeave');
  if (autoLeave > 1) r.fail('snapshot autoLeave', 1, `${autoLeave} is not a boolean`);
  const lists: NodeId[][] = [];
  for (const list of CONF_LISTS) {
    const count = r.count(`snapshot ${list} count`, PEER_CONF_STATE_MEMBERS_MAX, 8);
    const ids: NodeId[] = [];
    for (let i = 0; i < count; i++) ids.push(nodeId(r.u64(`snapshot ${list}[${i}]`)));
    lists.push(ids);
  }
  const [voters = [], learners = [], votersOutgoing = [], learnersNext = []] = lists;
  const confState: ConfState = { voters, learners, votersOutgoing, learnersNext, autoLeave: autoLeave === 1 };
  const data = r.bytes('snapshot data', PEER_MESSAGE_BYTES_MAX);
  return { metadata: { confState, index, term: snapTerm }, data };
}

/** A cursor over untrusted bytes: every read is checked against what remains. */
class ByteReader {
  private o = 0;
  private readonly view: DataView;
  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  remaining(): number {
    return this.buf.byteLength - this.o;
  }

  /** Throws at the offset of the field just read (`width` bytes back). */
  fail(what: string, width: number, detail: string): never {
    throw new PeerDecodeError(what, this.o - width, detail);
  }

  private need(what: string, n: number): void {
    if (n > this.remaining()) throw new PeerDecodeError(what, this.o, `need ${n} bytes, ${this.remaining()} remain`);
  }

  u8(what: string): number {
    this.need(what, 1);
    return this.view.getUint8(this.o++);
  }

  u32(what: string): number {
    this.need(what, 4);
    const v = this.view.getUint32(this.o);
    this.o += 4;
    return v;
  }

  u64(what: string): number {
    this.need(what, 8);
    const high = this.view.getUint32(this.o);
    const low = this.view.getUint32(this.o + 4);
    this.o += 8;
    if (high > U64_HIGH_MAX) this.fail(what, 8, `value ${high * TWO_POW_32 + low} is above 2^53 - 1`);
    return high * TWO_POW_32 + low;
  }

  /** A u32 count of items of at least `itemBytes` each: bounded by `max` and by the bytes that remain. */
  count(what: string, max: number, itemBytes: number): number {
    const n = this.u32(what);
    if (n > max) this.fail(what, 4, `${n} exceeds the limit of ${max}`);
    if (n * itemBytes > this.remaining()) this.fail(what, 4, `${n} items need at least ${n * itemBytes} bytes, ${this.remaining()} remain`);
    return n;
  }

  /** A u32-length-prefixed byte field, copied out so it never pins the frame it came in. */
  bytes(what: string, max: number): Uint8Array {
    const n = this.u32(`${what} length`);
    if (n > max) this.fail(`${what} length`, 4, `${n} bytes exceed the limit of ${max}`);
    this.need(what, n);
    const out = new Uint8Array(n);
    out.set(this.buf.subarray(this.o, this.o + n));
    this.o += n;
    return out;
  }
}
