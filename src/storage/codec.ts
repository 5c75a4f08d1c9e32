// Little-endian u64 fields for the on-disk formats: JavaScript numbers hold them exactly up to 2^53.

import { assert } from '../util/assert.js';

const TWO_POW_32 = 0x1_0000_0000;
/** The high word of the largest safe integer (2^53 - 1). */
const U64_SAFE_HIGH_MAX = 0x1f_ffff;

export function putU64(view: DataView, at: number, n: number): void {
  assert(Number.isSafeInteger(n) && n >= 0, `u64 field out of range: ${n}`);
  view.setUint32(at, n % TWO_POW_32, true);
  view.setUint32(at + 4, Math.floor(n / TWO_POW_32), true);
}

/** A u64 that fits a safe integer, or -1 if it does not (a decoder treats that as corruption). */
export function getU64(view: DataView, at: number): number {
  const hi = view.getUint32(at + 4, true);
  if (hi > U64_SAFE_HIGH_MAX) return -1;
  return hi * TWO_POW_32 + view.getUint32(at, true);
}
