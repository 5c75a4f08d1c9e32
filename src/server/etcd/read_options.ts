// The read paths a request may ask for (ARCHITECTURE.md "Read paths"), as the etcd layer and the member share
// them: the options, the path that served a read, and their validation.

import { MeridianError } from '../../util/errors.js';
import type { Revision } from '../../util/branded.js';

export type ReadMode = 'linearizable' | 'serializable' | 'bounded' | 'minRevision' | 'leaseRead';

/** Which path served a read (the `meridian-read-path` response metadata). */
export type ReadPath = 'serializable' | 'read-index' | 'bounded-local' | 'min-revision' | 'lease';

export interface ReadOptions {
  readonly mode: ReadMode;
  /** bounded: the oldest state acceptable, in ms before the read arrived. */
  readonly maxStalenessMs?: number;
  /** minRevision: serve once this member applied at least this revision. */
  readonly minRevision?: number;
  /** How long the read may wait (default: the member's request timeout). */
  readonly timeoutMs?: number;
}

export interface ReadServed {
  readonly path: ReadPath;
  /** The member's applied revision when the read was served. */
  readonly appliedRevision: Revision;
}

/** Bounded-staleness bounds accepted, in ms (a day at most: beyond that "bounded" means nothing useful). */
export const MAX_STALENESS_MS_MIN = 1;
export const MAX_STALENESS_MS_MAX = 24 * 60 * 60 * 1000;
/** A read request's consistency metadata was malformed. */
export class BadReadOptionsError extends MeridianError {
  constructor(message: string) {
    super('ErrBadReadConsistency', message);
    this.name = 'BadReadOptionsError';
  }
}

/** Checks a read's options; returns the error to answer with, or null. */
export function validateReadOptions(o: ReadOptions): BadReadOptionsError | null {
  if (o.mode === 'bounded') {
    const b = o.maxStalenessMs;
    if (b === undefined || !Number.isInteger(b) || b < MAX_STALENESS_MS_MIN || b > MAX_STALENESS_MS_MAX) {
      return new BadReadOptionsError(`meridian: bounded read needs max staleness in ms between ${MAX_STALENESS_MS_MIN} and ${MAX_STALENESS_MS_MAX}, got ${String(b)}`);
    }
  }
  if (o.mode === 'minRevision') {
    const r = o.minRevision;
    if (r === undefined || !Number.isSafeInteger(r) || r < 0) return new BadReadOptionsError(`meridian: min-revision read needs a revision >= 0, got ${String(r)}`);
  }
  if (o.timeoutMs !== undefined && (!Number.isFinite(o.timeoutMs) || o.timeoutMs <= 0)) {
    return new BadReadOptionsError(`meridian: read timeout must be a positive number of ms, got ${o.timeoutMs}`);
  }
  return null;
}

