// Meridian's gRPC metadata on etcd calls: the read path a Range asks for (request) and the one that served it
// (response), and `meridian-force` on membership changes. Stock etcd clients send none and ignore the answers.

import * as grpc from '@grpc/grpc-js';
import type { PbMessage, PbOut } from './convert.js';
import { asMessage, serviceError } from './rpc_util.js';
import { BadReadOptionsError, MAX_STALENESS_MS_MAX, MAX_STALENESS_MS_MIN, type ReadOptions, type ReadServed } from './read_options.js';

/** Request metadata keys (fixed: the project's client and benchmark use them). */
export const MD_READ_CONSISTENCY = 'meridian-read-consistency';
export const MD_MAX_STALENESS_MS = 'meridian-max-staleness-ms';
export const MD_MIN_REVISION = 'meridian-min-revision';
export const MD_FORCE = 'meridian-force';
/** Response metadata keys. */
export const MD_READ_PATH = 'meridian-read-path';
export const MD_APPLIED_REVISION = 'meridian-applied-revision';

const CONSISTENCY_MODES = {
  linearizable: 'linearizable',
  serializable: 'serializable',
  bounded: 'bounded',
  'min-revision': 'minRevision',
  lease: 'leaseRead',
} as const satisfies Record<string, ReadOptions['mode']>;

/** Digits only: no sign, exponent or fraction slips through Number(). */
const DECIMAL = /^\d{1,16}$/;

function single(md: grpc.Metadata, key: string): string | null {
  const values = md.get(key);
  if (values.length === 0) return null;
  if (values.length > 1) throw new BadReadOptionsError(`meridian: metadata ${key} given ${values.length} times; give it once`);
  const v = values[0];
  return typeof v === 'string' ? v.trim() : String(v);
}

function decimal(key: string, text: string, min: number, max: number): number {
  const n = DECIMAL.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new BadReadOptionsError(`meridian: metadata ${key} must be an integer between ${min} and ${max}, got "${text}"`);
  return n;
}

/**
 * The read a Range's metadata asks for; without Meridian metadata, etcd's own `serializable` flag decides (today's
 * behaviour). Malformed values throw BadReadOptionsError (INVALID_ARGUMENT).
 */
export function readOptionsFromMetadata(md: grpc.Metadata, serializableFlag: boolean): ReadOptions {
  const consistency = single(md, MD_READ_CONSISTENCY);
  const staleness = single(md, MD_MAX_STALENESS_MS);
  const minRev = single(md, MD_MIN_REVISION);
  if (consistency === null) {
    if (staleness !== null || minRev !== null) {
      throw new BadReadOptionsError(`meridian: ${staleness !== null ? MD_MAX_STALENESS_MS : MD_MIN_REVISION} needs ${MD_READ_CONSISTENCY} (bounded or min-revision)`);
    }
    return { mode: serializableFlag ? 'serializable' : 'linearizable' };
  }
  if (!Object.hasOwn(CONSISTENCY_MODES, consistency)) {
    throw new BadReadOptionsError(`meridian: metadata ${MD_READ_CONSISTENCY} must be one of ${Object.keys(CONSISTENCY_MODES).join(', ')}, got "${consistency}"`);
  }
  const mode = CONSISTENCY_MODES[consistency as keyof typeof CONSISTENCY_MODES];
  if (mode === 'bounded') {
    if (staleness === null) throw new BadReadOptionsError(`meridian: ${MD_READ_CONSISTENCY}: bounded needs ${MD_MAX_STALENESS_MS}`);
    return { mode, maxStalenessMs: decimal(MD_MAX_STALENESS_MS, staleness, MAX_STALENESS_MS_MIN, MAX_STALENESS_MS_MAX) };
  }
  if (mode === 'minRevision') {
    if (minRev === null) throw new BadReadOptionsError(`meridian: ${MD_READ_CONSISTENCY}: min-revision needs ${MD_MIN_REVISION}`);
    return { mode, minRevision: decimal(MD_MIN_REVISION, minRev, 0, Number.MAX_SAFE_INTEGER) };
  }
  if (staleness !== null || minRev !== null) {
    throw new BadReadOptionsError(`meridian: ${staleness !== null ? MD_MAX_STALENESS_MS : MD_MIN_REVISION} does not apply to ${MD_READ_CONSISTENCY}: ${consistency}`);
  }
  return { mode };
}

/** `meridian-force: true` on a membership change; anything but true/false is refused. */
export function forceFromMetadata(md: grpc.Metadata): boolean {
  const v = single(md, MD_FORCE);
  if (v === null || v === 'false') return false;
  if (v === 'true') return true;
  throw new BadReadOptionsError(`meridian: metadata ${MD_FORCE} must be true or false, got "${v}"`);
}

export function servedToMetadata(served: ReadServed): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set(MD_READ_PATH, served.path);
  md.set(MD_APPLIED_REVISION, String(served.appliedRevision));
  return md;
}

/** A unary handler that sees the call's metadata and may send response metadata before its answer. */
export type MetadataHandler = (request: PbMessage, metadata: grpc.Metadata) => Promise<{ readonly response: PbOut; readonly metadata?: grpc.Metadata }>;

export function unaryWithMetadata(handler: MetadataHandler): grpc.handleUnaryCall<unknown, PbOut> {
  return (call, callback) => {
    let result: ReturnType<MetadataHandler>;
    try {
      result = handler(asMessage(call.request), call.metadata);
    } catch (err) {
      result = Promise.reject(err);
    }
    result.then(
      (r) => {
        if (r.metadata !== undefined) call.sendMetadata(r.metadata);
        callback(null, r.response);
      },
      (err: unknown) => callback(serviceError(err)),
    );
  };
}
