// Every limit of the key-value state machine, in one place, each enforced with etcd's error (see limits.test.ts).

/** Largest encoded request a client may propose (etcd --max-request-bytes default, 1.5 MiB). */
export const MAX_REQUEST_BYTES = 1.5 * 1024 * 1024;

/** Most operations in one txn branch, and most compares (etcd --max-txn-ops default). */
export const MAX_TXN_OPS = 128;

/** Deepest nesting of txns inside txns; etcd bounds nesting only through request bytes, we name it. */
export const MAX_TXN_DEPTH = 16;

/** Largest range response we build; etcd's gRPC send limit plays this role there. */
export const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

/** Largest lease TTL a client may ask for, in seconds (etcd's MaxLeaseTTL). */
export const MAX_LEASE_TTL_SECONDS = 9_000_000_000;

/** Default smallest lease TTL, in seconds; shorter grants are raised to it (etcd derives it from the election timeout). */
export const MIN_LEASE_TTL_SECONDS_DEFAULT = 2;

/** Most leases revoked per call of `Lessor.expiredLeases` (etcd's leaseRevokeRate is 1000/s). */
export const MAX_LEASE_REVOKES_PER_CALL = 1000;

/** Most lease checkpoints in one LeaseCheckpoint command (etcd's maxLeaseCheckpointBatchSize). */
export const MAX_LEASE_CHECKPOINTS_PER_COMMAND = 1000;

/** A leader re-checkpoints each lease this often, so remaining TTLs shrink across restarts (etcd default 5 min). */
export const LEASE_CHECKPOINT_INTERVAL_MS = 5 * 60 * 1000;

/** A revoke proposed for an expired lease is proposed again after this long if it did not apply (etcd: 3 s). */
export const LEASE_REVOKE_RETRY_MS = 3000;

/** Default size limit of the store before the NOSPACE alarm (etcd --quota-backend-bytes default, 2 GiB). */
export const QUOTA_BYTES_DEFAULT = 2 * 1024 * 1024 * 1024;

/** Largest quota one may configure (etcd's MaxQuotaBytes, 8 GiB). */
export const QUOTA_BYTES_MAX = 8 * 1024 * 1024 * 1024;

/** The backend commits (one durable LMDB transaction) once this many writes are buffered. */
export const BACKEND_BATCH_OPS_DEFAULT = 2_000;

/** Recent revisions kept in memory so watchers that fell slightly behind replay without touching the backend. */
export const RECENT_CHANGES_REVISIONS = 2048;

/** Events kept at most in that in-memory tail, across all its revisions. */
export const RECENT_CHANGES_EVENTS = 65_536;

/** Largest chunk of a streamed snapshot, in bytes (a single larger record gets a chunk of its own). */
export const SNAPSHOT_CHUNK_BYTES = 1024 * 1024;

/** Largest sub-revision one main revision may reach (4 bytes in the backend key). */
export const MAX_SUB_REVISION = 0xffff_ffff;

/** Compacted versions deleted from the backend per commit, so a big compaction never stalls applies. */
export const COMPACTION_DELETES_PER_COMMIT = 50_000;
