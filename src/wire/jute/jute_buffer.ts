// Bounds-checked reading and writing of ZooKeeper's jute binary encoding (big-endian ints and longs, length-
// prefixed buffers, strings and vectors). Decoders never trust a length: each is checked against named limits
// and against the bytes actually left, so hostile input ends in a JuteDecodeError, never a crash or a huge allocation.

import { MeridianError } from '../../util/errors.js';

/** Largest frame or buffer accepted (ZooKeeper's jute.maxbuffer default, 1 MiB, plus room for the headers). */
export const JUTE_MAX_BUFFER_BYTES = 1024 * 1024 + 1024;
/** Most elements a decoded vector may claim (each takes at least 4 bytes, so the frame bounds this anyway). */
export const JUTE_MAX_VECTOR_ELEMENTS = 256 * 1024;

export class JuteDecodeError extends MeridianError {
  constructor(message: string) {
    super('ERR_JUTE_DECODE', message);
    this.name = 'JuteDecodeError';
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export class JuteReader {
  private pos: number;
  constructor(private readonly buf: Buffer, offset = 0) {
    this.pos = offset;
  }

  offset(): number {
    return this.pos;
  }

  remaining(): number {
    return this.buf.length - this.pos;
  }

  private need(n: number, what: string): void {
    if (n > this.buf.length - this.pos) throw new JuteDecodeError(`Cannot read ${what}: needs ${n} bytes, ${this.remaining()} left`);
  }

  int(): number {
    this.need(4, 'int');
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /** A jute long as a number: exact up to 2^53 (every id and zxid Meridian hands out); larger hostile values lose precision only. */
  long(): number {
    this.need(8, 'long');
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return Number(v);
  }

  bool(): boolean {
    this.need(1, 'boolean');
    return this.buf[this.pos++] !== 0;
  }

  /** A length-prefixed buffer; length -1 is null, read as empty (as ZooKeeper's server treats it). */
  buffer(): Buffer {
    const n = this.int();
    if (n === -1) return Buffer.alloc(0);
    if (n < 0 || n > JUTE_MAX_BUFFER_BYTES) throw new JuteDecodeError(`Cannot read buffer: length ${n} is out of range`);
    this.need(n, 'buffer');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  string(): string {
    try {
      return utf8.decode(this.buffer());
    } catch (err) {
      if (err instanceof JuteDecodeError) throw err;
      throw new JuteDecodeError('Cannot read string: invalid UTF-8');
    }
  }

  /** A vector: count -1 is null (read as empty). */
  vector<T>(element: (r: JuteReader) => T): T[] {
    const n = this.int();
    if (n === -1) return [];
    if (n < 0 || n > JUTE_MAX_VECTOR_ELEMENTS) throw new JuteDecodeError(`Cannot read vector: count ${n} is out of range`);
    // Every element takes at least one byte, so a count beyond the bytes left is a lie.
    if (n > this.remaining()) throw new JuteDecodeError(`Cannot read vector: count ${n} exceeds the ${this.remaining()} bytes left`);
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(element(this));
    return out;
  }
}

export class JuteWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(sizeHint = 256) {
    this.buf = Buffer.allocUnsafe(Math.max(16, sizeHint));
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  int(v: number): this {
    this.ensure(4);
    this.buf.writeInt32BE(v | 0, this.pos);
    this.pos += 4;
    return this;
  }

  long(v: number): this {
    this.ensure(8);
    this.buf.writeBigInt64BE(BigInt(Math.trunc(v)), this.pos);
    this.pos += 8;
    return this;
  }

  bool(v: boolean): this {
    this.ensure(1);
    this.buf[this.pos++] = v ? 1 : 0;
    return this;
  }

  buffer(b: Uint8Array | null): this {
    if (b === null) return this.int(-1);
    this.int(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  string(s: string): this {
    return this.buffer(Buffer.from(s, 'utf8'));
  }

  vector<T>(items: readonly T[] | null, element: (w: JuteWriter, item: T) => void): this {
    if (items === null) return this.int(-1);
    this.int(items.length);
    for (const item of items) element(this, item);
    return this;
  }

  /** The bytes written so far. */
  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  /** The bytes written so far behind a 4-byte big-endian length: one frame of the ZooKeeper protocol. */
  frame(): Buffer {
    const out = Buffer.allocUnsafe(4 + this.pos);
    out.writeInt32BE(this.pos, 0);
    this.buf.copy(out, 4, 0, this.pos);
    return out;
  }
}
