// Every limit and on-disk constant of the storage layer, in one place, with the relations between them asserted.

import { assert } from '../util/assert.js';

/** A WAL segment is preallocated to this size (etcd's SegmentSizeBytes); a larger batch grows it. */
export const WAL_SEGMENT_BYTES = 64 * 1024 * 1024;
/** The smallest segment size accepted (tests use small segments to roll over often). */
export const WAL_SEGMENT_BYTES_MIN = 4096;
/** Fixed header of every WAL record: crc32c, length, type, flags, batch sequence. */
export const WAL_RECORD_HEADER_BYTES = 24;
/** Records start at multiples of this, so a scan for a record header steps by it. */
export const WAL_RECORD_ALIGN_BYTES = 8;
/** A record's payload above this is corruption (raft entries are limited far below it upstream). */
export const WAL_RECORD_PAYLOAD_BYTES_MAX = 32 * 1024 * 1024;
/** The next segment is prepared in the background once the current one is this full (not at once, so a
 * restarting member does not write a whole segment of zeros while it catches up). */
export const WAL_PREPARE_NEXT_AT_FRACTION = 0.5;
/** Zeros are written in pieces of this size when a segment is preallocated. */
export const PREALLOCATE_CHUNK_BYTES = 1024 * 1024;
/** Snapshot files kept on disk (etcd keeps 5); older ones are deleted after a new one is saved. */
export const SNAPSHOTS_RETAINED = 5;
/** A cluster id is an opaque UTF-8 string of at most this many bytes. */
export const CLUSTER_ID_BYTES_MAX = 256;
/** Snapshot metadata (the membership configuration) above this is corruption. */
export const SNAPSHOT_METADATA_BYTES_MAX = 16 * 1024 * 1024;
/** The sector size the simulated disk tears writes at. */
export const SECTOR_BYTES = 512;
/** The on-disk format version written in every segment's metadata record and every snapshot file. */
export const STORAGE_FORMAT_VERSION = 1;

assert(WAL_SEGMENT_BYTES >= WAL_SEGMENT_BYTES_MIN, 'segment size below its minimum');
assert(WAL_SEGMENT_BYTES_MIN % WAL_RECORD_ALIGN_BYTES === 0, 'segment minimum not aligned');
assert(WAL_RECORD_HEADER_BYTES % WAL_RECORD_ALIGN_BYTES === 0, 'record header not aligned');
assert(PREALLOCATE_CHUNK_BYTES % WAL_RECORD_ALIGN_BYTES === 0, 'preallocation chunk not aligned');
assert(WAL_PREPARE_NEXT_AT_FRACTION > 0 && WAL_PREPARE_NEXT_AT_FRACTION < 1, 'prepare the next segment before the current is full');
assert(SNAPSHOTS_RETAINED >= 1, 'at least the newest snapshot must be retained');
