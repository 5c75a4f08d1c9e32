// Framing of the peer connection: length + CRC32C + payload, the frame kinds (handshake, messages,
// ping/pong, snapshot chunks) and an incremental reader that verifies each frame before handing it on.

import { crc32c } from '@node-rs/crc32';
import { assert } from '../../util/assert.js';
import { nodeId, type NodeId } from '../../util/branded.js';
import type { Message } from '../../raft/types.js';
import { decodeMessage, encodedMessageBytes, encodeMessageInto } from './message_codec.js';
import { PEER_FRAME_HEADER_BYTES, PEER_REFUSAL_REASON_BYTES_MAX } from './limits.js';
import { PeerDecodeError, PeerFrameError } from './transport_errors.js';

// Frame: u32 payload length | u32 CRC32C(payload) | payload; payload[0] is the kind.
export const FrameKind = {
  Hello: 1, // dialer → listener: who I am and whom I expect
  Welcome: 2, // listener → dialer: accepted, and who I am
  Refuse: 3, // listener → dialer: refused, with a reason; the listener then closes
  Message: 4, // dialer → listener: one encoded raft Message
  Ping: 5, // dialer → listener: a timestamp to echo
  Pong: 6, // listener → dialer: the echoed timestamp
  SnapBegin: 7, // dialer → listener: a MsgSnap without its data, the data's size and CRC32C
  SnapChunk: 8, // dialer → listener: the next piece of snapshot data (the frame CRC is the chunk's checksum)
  SnapAck: 9, // listener → dialer: the snapshot was verified and delivered, or rejected
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

/** Why a listener refused a connection; sent in the Refuse frame. */
export const RefusalReason = {
  Version: 1,
  Cluster: 2,
  Member: 3, // the dialer expected another member at this address
  UnknownSender: 4,
  Malformed: 5,
} as const;
export type RefusalReason = (typeof RefusalReason)[keyof typeof RefusalReason];

/** The first bytes of a Hello, so a stray client (HTTP, a port scanner) is told apart at once. */
const HELLO_MAGIC = 0x4d52_444e; // "MRDN"
const TWO_POW_32 = 0x1_0000_0000;

export interface Hello { readonly version: number; readonly clusterId: number; readonly from: NodeId; readonly to: NodeId }
export interface Welcome { readonly version: number; readonly clusterId: number; readonly member: NodeId }

export type Frame =
  | ({ readonly kind: 'hello' } & Hello)
  | ({ readonly kind: 'welcome' } & Welcome)
  | { readonly kind: 'refuse'; readonly reason: RefusalReason; readonly text: string }
  | { readonly kind: 'message'; readonly message: Message }
  | { readonly kind: 'ping'; readonly stampMs: number }
  | { readonly kind: 'pong'; readonly stampMs: number }
  | { readonly kind: 'snap-begin'; readonly id: number; readonly totalBytes: number; readonly checksum: number; readonly message: Message }
  | { readonly kind: 'snap-chunk'; readonly id: number; readonly offset: number; readonly data: Uint8Array }
  | { readonly kind: 'snap-ack'; readonly id: number; readonly ok: boolean };

/** Allocates a frame with `bodyBytes` after the kind byte; the caller fills the body, then seals it. */
function allocFrame(kind: FrameKind, bodyBytes: number): Buffer {
  const buf = Buffer.allocUnsafe(PEER_FRAME_HEADER_BYTES + 1 + bodyBytes);
  buf[PEER_FRAME_HEADER_BYTES] = kind;
  return buf;
}

function seal(buf: Buffer): Buffer {
  const payload = buf.subarray(PEER_FRAME_HEADER_BYTES);
  buf.writeUInt32BE(payload.byteLength, 0);
  buf.writeUInt32BE(crc32c(payload), 4);
  return buf;
}

function writeU64(buf: Buffer, o: number, v: number): number {
  assert(Number.isSafeInteger(v) && v >= 0, `frame: ${v} is not an unsigned safe integer`);
  buf.writeUInt32BE(Math.floor(v / TWO_POW_32), o);
  return buf.writeUInt32BE(v % TWO_POW_32, o + 4);
}

const B = PEER_FRAME_HEADER_BYTES + 1; // where a frame's body starts

export function encodeHello(h: Hello): Buffer {
  const buf = allocFrame(FrameKind.Hello, 4 + 2 + 24);
  buf.writeUInt32BE(HELLO_MAGIC, B);
  buf.writeUInt16BE(h.version, B + 4);
  writeU64(buf, writeU64(buf, writeU64(buf, B + 6, h.clusterId), h.from), h.to);
  return seal(buf);
}

export function encodeWelcome(w: Welcome): Buffer {
  const buf = allocFrame(FrameKind.Welcome, 2 + 16);
  buf.writeUInt16BE(w.version, B);
  writeU64(buf, writeU64(buf, B + 2, w.clusterId), w.member);
  return seal(buf);
}

export function encodeRefuse(reason: RefusalReason, text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8').subarray(0, PEER_REFUSAL_REASON_BYTES_MAX);
  const buf = allocFrame(FrameKind.Refuse, 1 + 2 + bytes.byteLength);
  buf[B] = reason;
  buf.writeUInt16BE(bytes.byteLength, B + 1);
  buf.set(bytes, B + 3);
  return seal(buf);
}

/** A Message frame; throws PeerEncodeError if the message breaks a wire limit. */
export function encodeMessageFrame(m: Message): Buffer {
  const buf = allocFrame(FrameKind.Message, encodedMessageBytes(m));
  encodeMessageInto(m, buf, B);
  return seal(buf);
}

export function encodePing(kind: typeof FrameKind.Ping | typeof FrameKind.Pong, stampMs: number): Buffer {
  const buf = allocFrame(kind, 8);
  buf.writeDoubleBE(stampMs, B);
  return seal(buf);
}

/** The start of a snapshot stream: `m` must carry its snapshot with empty data. */
export function encodeSnapBegin(id: number, totalBytes: number, checksum: number, m: Message): Buffer {
  assert(m.snapshot !== null && m.snapshot.data.byteLength === 0, 'encodeSnapBegin: the message must carry an empty snapshot');
  const buf = allocFrame(FrameKind.SnapBegin, 4 + 8 + 4 + encodedMessageBytes(m));
  buf.writeUInt32BE(id, B);
  buf.writeUInt32BE(checksum >>> 0, writeU64(buf, B + 4, totalBytes));
  encodeMessageInto(m, buf, B + 16);
  return seal(buf);
}

/** A chunk frame as two buffers (header, data view), so snapshot data is never copied to be sent. */
export function encodeSnapChunk(id: number, offset: number, data: Uint8Array): Buffer[] {
  const head = allocFrame(FrameKind.SnapChunk, 4 + 8);
  head.writeUInt32BE(id, B);
  writeU64(head, B + 4, offset);
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  head.writeUInt32BE(head.byteLength - PEER_FRAME_HEADER_BYTES + body.byteLength, 0);
  head.writeUInt32BE(crc32c(body, crc32c(head.subarray(PEER_FRAME_HEADER_BYTES))), 4);
  return [head, body];
}

export function encodeSnapAck(id: number, ok: boolean): Buffer {
  const buf = allocFrame(FrameKind.SnapAck, 5);
  buf.writeUInt32BE(id, B);
  buf[B + 4] = ok ? 1 : 0;
  return seal(buf);
}

/** Parses a verified payload; malformed bodies throw PeerDecodeError (offsets count from the kind byte). */
export function decodeFrame(payload: Buffer): Frame {
  const p = new PayloadReader(payload);
  const kind = p.u8('frame kind');
  switch (kind) {
    case FrameKind.Hello: return decodeHello(p);
    case FrameKind.Welcome:
      return p.end({ kind: 'welcome', version: p.u16('welcome version'), clusterId: p.u64('welcome cluster id'), member: nodeId(p.u64('welcome member id')) });
    case FrameKind.Refuse: return decodeRefuse(p);
    case FrameKind.Message: return { kind: 'message', message: decodeMessage(p.rest()) };
    case FrameKind.Ping: return p.end({ kind: 'ping', stampMs: p.f64('ping stamp') });
    case FrameKind.Pong: return p.end({ kind: 'pong', stampMs: p.f64('pong stamp') });
    case FrameKind.SnapBegin: return decodeSnapBegin(p);
    case FrameKind.SnapChunk: return { kind: 'snap-chunk', id: p.u32('chunk snapshot id'), offset: p.u64('chunk offset'), data: p.rest() };
    case FrameKind.SnapAck: return decodeSnapAck(p);
    default: throw new PeerDecodeError('frame kind', 0, `frame kind ${kind} is unknown`);
  }
}

function decodeHello(p: PayloadReader): Frame {
  const magic = p.u32('hello magic');
  if (magic !== HELLO_MAGIC) throw new PeerDecodeError('hello magic', 1, `0x${magic.toString(16)} is not a Meridian peer hello`);
  return p.end({ kind: 'hello', version: p.u16('hello version'), clusterId: p.u64('hello cluster id'), from: nodeId(p.u64('hello from')), to: nodeId(p.u64('hello to')) });
}

function decodeRefuse(p: PayloadReader): Frame {
  const reason = p.u8('refusal reason');
  if (reason < RefusalReason.Version || reason > RefusalReason.Malformed) throw new PeerDecodeError('refusal reason', 1, `reason ${reason} is unknown`);
  const length = p.u16('refusal text length');
  if (length > PEER_REFUSAL_REASON_BYTES_MAX) throw new PeerDecodeError('refusal text length', 2, `${length} bytes exceed ${PEER_REFUSAL_REASON_BYTES_MAX}`);
  const text = p.rest();
  if (text.byteLength !== length) throw new PeerDecodeError('refusal text', 4, `${text.byteLength} bytes where ${length} were announced`);
  return { kind: 'refuse', reason: reason as RefusalReason, text: Buffer.from(text).toString('utf8') };
}

function decodeSnapBegin(p: PayloadReader): Frame {
  const id = p.u32('snapshot id');
  const totalBytes = p.u64('snapshot size');
  const checksum = p.u32('snapshot checksum');
  const message = decodeMessage(p.rest());
  if (message.snapshot === null || message.snapshot.data.byteLength !== 0) {
    throw new PeerDecodeError('snapshot message', 17, 'a snapshot stream must begin with a MsgSnap whose data is empty');
  }
  return { kind: 'snap-begin', id, totalBytes, checksum, message };
}

function decodeSnapAck(p: PayloadReader): Frame {
  const id = p.u32('ack snapshot id');
  const ok = p.u8('ack status');
  if (ok > 1) throw new PeerDecodeError('ack status', 5, `${ok} is not a boolean`);
  return p.end({ kind: 'snap-ack', id, ok: ok === 1 });
}

/** Bounds-checked reads of a frame body. */
class PayloadReader {
  private o = 0;
  constructor(private readonly buf: Buffer) {}
  private need(what: string, n: number): void {
    if (n > this.buf.byteLength - this.o) throw new PeerDecodeError(what, this.o, `need ${n} bytes, ${this.buf.byteLength - this.o} remain`);
  }
  u8(what: string): number { this.need(what, 1); return this.buf.readUInt8(this.o++); }
  u16(what: string): number { this.need(what, 2); const v = this.buf.readUInt16BE(this.o); this.o += 2; return v; }
  u32(what: string): number { this.need(what, 4); const v = this.buf.readUInt32BE(this.o); this.o += 4; return v; }
  f64(what: string): number { this.need(what, 8); const v = this.buf.readDoubleBE(this.o); this.o += 8; return v; }
  u64(what: string): number {
    const high = this.u32(what);
    const low = this.u32(what);
    if (high >= 0x20_0000) throw new PeerDecodeError(what, this.o - 8, 'value is above 2^53 - 1');
    return high * TWO_POW_32 + low;
  }
  /** The rest of the body as a view (the caller copies what it keeps). */
  rest(): Buffer { const r = this.buf.subarray(this.o); this.o = this.buf.byteLength; return r; }
  /** Returns `frame` if the body was consumed exactly. */
  end<T>(frame: T): T {
    if (this.o !== this.buf.byteLength) throw new PeerDecodeError('end of frame', this.o, `${this.buf.byteLength - this.o} trailing bytes`);
    return frame;
  }
}

/**
 * Reassembles frames from socket reads. Never buffers more than one frame of at most
 * `payloadBytesMax` (plus one read); a length over the limit or a checksum mismatch throws PeerFrameError.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Raised once the handshake is done; small before, so strangers cannot make us buffer much. */
  payloadBytesMax: number;

  constructor(payloadBytesMax: number) {
    this.payloadBytesMax = payloadBytesMax;
  }

  push(chunk: Buffer): void {
    if (chunk.byteLength === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.byteLength;
  }

  bufferedBytes(): number {
    return this.buffered;
  }

  /** The next complete, checksum-verified payload, or null until more bytes arrive. */
  next(): Buffer | null {
    if (this.buffered < PEER_FRAME_HEADER_BYTES) return null;
    const header = this.peek(PEER_FRAME_HEADER_BYTES);
    const length = header.readUInt32BE(0);
    if (length > this.payloadBytesMax) {
      throw new PeerFrameError('ERR_PEER_FRAME_TOO_LARGE', `Cannot accept a frame of ${length} bytes: the limit is ${this.payloadBytesMax}`);
    }
    if (length === 0) throw new PeerFrameError('ERR_PEER_FRAME_UNEXPECTED', 'Cannot accept an empty frame');
    if (this.buffered < PEER_FRAME_HEADER_BYTES + length) return null;
    const frame = this.take(PEER_FRAME_HEADER_BYTES + length);
    const payload = frame.subarray(PEER_FRAME_HEADER_BYTES);
    const expected = frame.readUInt32BE(4);
    const actual = crc32c(payload);
    if (actual !== expected) {
      throw new PeerFrameError('ERR_PEER_FRAME_CHECKSUM',
        `Cannot accept a frame of ${length} bytes: CRC32C is 0x${actual.toString(16)}, the header says 0x${expected.toString(16)}`);
    }
    return payload;
  }

  private peek(n: number): Buffer {
    const first = this.chunks[0];
    assert(first !== undefined, 'FrameReader.peek: no data');
    if (first.byteLength >= n) return first;
    const out = Buffer.allocUnsafe(n);
    let o = 0;
    for (const c of this.chunks) {
      if (o >= n) break;
      const use = Math.min(c.byteLength, n - o);
      out.set(c.subarray(0, use), o);
      o += use;
    }
    return out;
  }

  private take(n: number): Buffer {
    const first = this.chunks[0];
    assert(first !== undefined && this.buffered >= n, 'FrameReader.take: not enough data');
    this.buffered -= n;
    if (first.byteLength >= n) {
      if (first.byteLength === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let o = 0;
    while (o < n) {
      const c = this.chunks[0];
      assert(c !== undefined, 'FrameReader.take: ran out of chunks');
      const use = Math.min(c.byteLength, n - o);
      out.set(c.subarray(0, use), o);
      o += use;
      if (use === c.byteLength) this.chunks.shift();
      else this.chunks[0] = c.subarray(use);
    }
    return out;
  }
}
