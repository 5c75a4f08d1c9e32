// Unsigned LEB128 varints for the store's compact encodings (index keys, snapshot frames).

/** Bytes the varint encoding of non-negative integer n takes. */
export function varintSize(n: number): number {
  let s = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    s++;
  }
  return s;
}

/** Writes n at pos; returns the position after it. */
export function writeVarint(b: Uint8Array, pos: number, n: number): number {
  while (n >= 0x80) {
    b[pos++] = (n % 0x80) | 0x80;
    n = Math.floor(n / 0x80);
  }
  b[pos++] = n;
  return pos;
}
