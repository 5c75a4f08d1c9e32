// Waiting for a condition by polling, bounded in time: for tests against real processes and for benchmarks
// (never for the Raft core or the simulator, which own no clock).

export interface PollOptions {
  /** Give up after this long. */
  readonly timeoutMs: number;
  /** Pause between attempts. */
  readonly intervalMs: number;
  /** More to say when it times out (for example the tails of member logs). */
  readonly context?: () => string;
}

/**
 * Calls `attempt` until it returns something other than undefined and returns that. A throw counts as "not yet"
 * and is reported if the time runs out.
 */
export async function pollUntil<T>(what: string, attempt: () => Promise<T | undefined> | T | undefined, options: PollOptions): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      // An attempt that never settles (a client waiting for a connection) must not outlive the bound.
      const v = await withDeadline(Promise.resolve().then(attempt), deadline - Date.now());
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs));
  }
  const context = options.context?.() ?? '';
  throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${what}${last === undefined ? '' : `: ${String(last)}`}${context === '' ? '' : `\n${context}`}`);
}

/** Settles as `p` does, or rejects once `ms` have passed. */
export function withDeadline<T>(p: Promise<T>, ms: number, what = 'the attempt'): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${Math.max(0, Math.round(ms))} ms`)), Math.max(0, ms));
  });
  return Promise.race([p, expired]).finally(() => clearTimeout(timer));
}
