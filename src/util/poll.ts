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
      const v = await attempt();
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
