// The bounded-staleness checker: a read that arrived at real time T with bound B must reflect every write
// acknowledged before T − B. Judged against the recorded history, in revisions: every acknowledged operation's
// revision was committed before its acknowledgement, so the read's state must be at least that revision.

import type { History } from './checker/history.js';
import { isUnknown } from './checker/history.js';
import type { KvInput, KvOutput } from './checker/model.js';

/** One bounded read as a simulated client saw it. */
export interface BoundedRead {
  readonly member: number;
  readonly key: string;
  /** Real (simulated) time the read arrived at the member. */
  readonly arrivedAt: number;
  readonly maxStalenessMs: number;
  /** The member's applied revision the answer came from. */
  readonly appliedRevision: number;
  readonly path: string;
}

export interface StalenessReport {
  readonly reads: number;
  readonly servedLocally: number;
  readonly violations: readonly string[];
}

/** Violations reported in full, at most (the count is always exact). */
const VIOLATIONS_LISTED_MAX = 5;

/**
 * Checks the reads against the history's acknowledged writes (puts, deletes and compare-and-sets; any answered
 * operation that changes or could change the store). Reads are served on the member's own state, so this is
 * the only guarantee they give; they are not part of the linearizability history.
 */
export function checkBoundedStaleness(history: History<KvInput, KvOutput>, reads: readonly BoundedRead[]): StalenessReport {
  // (return time, revision) of acknowledged writes, by return time, with the running maximum revision.
  const acks = history
    .filter((op) => op.input.kind !== 'get' && !isUnknown(op.output) && Number.isFinite(op.returnTime))
    .map((op) => ({ at: op.returnTime, revision: isUnknown(op.output) ? 0 : (op.output.revision ?? 0) }))
    .sort((a, b) => a.at - b.at);
  const maxUpTo: number[] = [];
  let m = 0;
  for (const a of acks) {
    m = Math.max(m, a.revision);
    maxUpTo.push(m);
  }
  /** The highest revision acknowledged strictly before t. */
  const requiredBefore = (t: number): { revision: number; at: number } => {
    let lo = 0;
    let hi = acks.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((acks[mid]?.at ?? Infinity) < t) lo = mid + 1;
      else hi = mid;
    }
    return lo === 0 ? { revision: 0, at: 0 } : { revision: maxUpTo[lo - 1] ?? 0, at: acks[lo - 1]?.at ?? 0 };
  };
  const violations: string[] = [];
  let count = 0;
  for (const r of reads) {
    const need = requiredBefore(r.arrivedAt - r.maxStalenessMs);
    if (r.appliedRevision >= need.revision) continue;
    count++;
    if (violations.length < VIOLATIONS_LISTED_MAX) {
      violations.push(`bounded staleness: read of ${r.key} on member ${r.member} at ${r.arrivedAt.toFixed(1)} ms with bound ${r.maxStalenessMs} ms (path ${r.path}) saw revision ${r.appliedRevision}, but revision ${need.revision} was acknowledged before ${(r.arrivedAt - r.maxStalenessMs).toFixed(1)} ms`);
    }
  }
  if (count > violations.length) violations.push(`bounded staleness: ${count - violations.length} more violations`);
  return { reads: reads.length, servedLocally: reads.filter((r) => r.path === 'bounded-local').length, violations };
}
