// Assertions that stay on in production: a failed one is a programmer error and crashes the process.

export class AssertionError extends Error {
  override readonly name = 'AssertionError';
  readonly code = 'ERR_MERIDIAN_ASSERTION';
}

export function assert(condition: unknown, message = 'assertion failed'): asserts condition {
  if (!condition) throw new AssertionError(message);
}

/** Marks a branch the type system proves unreachable; fails loudly if reached anyway. */
export function unreachable(value: never, what = 'value'): never {
  throw new AssertionError(`unreachable: unexpected ${what} ${JSON.stringify(value)}`);
}
