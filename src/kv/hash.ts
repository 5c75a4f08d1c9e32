// Consistency hashes between members (etcd's Hash and HashKV): CRC-32C over the committed backend, in key order.

import { crc32c } from '@node-rs/crc32';
import type { Revision } from '../util/branded.js';
import { type BackendReadView, TABLES } from '../storage/backend/backend.js';
import { revKeyMain } from './revision.js';

export interface HashKvResult {
  readonly hash: number;
  readonly compactRevision: Revision;
  /** The revision the hash covers. */
  readonly hashRevision: Revision;
  /** The current revision when hashed. */
  readonly revision: Revision;
}

const KV_TABLE_NAME = Buffer.from('kv');

/** Every stored version with main revision <= atRev (compaction already removed what it drops). */
export function hashKvView(view: BackendReadView, atRev: number): number {
  let h = crc32c(KV_TABLE_NAME);
  for (const { key, value } of view.entries('kv')) {
    if (revKeyMain(key) > atRev) break; // the kv table is in revision order
    h = crc32c(value, crc32c(key, h));
  }
  return h >>> 0;
}

export function hashBackend(view: BackendReadView): number {
  let h = 0;
  for (const table of TABLES) {
    h = crc32c(Buffer.from(table), h);
    for (const { key, value } of view.entries(table)) h = crc32c(value, crc32c(key, h));
  }
  return h >>> 0;
}
