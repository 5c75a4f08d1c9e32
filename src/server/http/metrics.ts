// A member's Prometheus metrics, in a registry of its own (several members may share a test process).
// Names, types, labels and buckets copy etcd's where etcd has the metric, so etcd's Grafana dashboards and
// alerts work unchanged; Meridian's own metrics are prefixed meridian_.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, exponentialBuckets } from 'prom-client';
import { assert } from '../../util/assert.js';
import { formatMemberId } from './status.js';

/** The etcd server version Meridian reports in etcd_server_version and /version (the API it speaks). */
export const ETCD_COMPAT_VERSION = '3.4.0';

// etcd's buckets: 1 ms .. 8.192 s for the disk (wal/metrics.go, backend/metrics.go) and 0.1 ms .. 3.2768 s
// for peer round trips (rafthttp/metrics.go).
const DISK_BUCKETS_SECONDS = exponentialBuckets(0.001, 2, 14);
const RTT_BUCKETS_SECONDS = exponentialBuckets(0.0001, 2, 16);

/** Who the member is; labels meridian_member_info and etcd_server_id. */
export interface MemberIdentity {
  readonly id: number;
  readonly name: string;
  readonly dc: string;
  readonly zone: string;
}

export interface MemberMetricsOptions {
  /** Set now, or later with setMemberInfo once the member knows its id. */
  readonly member?: MemberIdentity;
  /** Node's process_* and nodejs_* metrics (etcd exposes Go's process_* the same way). Default true. */
  readonly processMetrics?: boolean;
  /** What etcd_server_version reports; default ETCD_COMPAT_VERSION. */
  readonly etcdVersion?: string;
}

export type MvccOp = 'range' | 'put' | 'delete' | 'txn';

/**
 * What the member calls as it runs. Counts and sizes are non-negative integers and durations non-negative
 * seconds; anything else is a programmer error and fails an assert.
 */
export interface MemberMetrics {
  /** Serve this at /metrics (its `contentType` and `metrics()`). */
  readonly registry: Registry;

  /** meridian_member_info{name,dc,zone} = 1 and etcd_server_id{server_id} = 1, replacing earlier values. */
  setMemberInfo(member: MemberIdentity): void;

  // Raft.
  /** etcd_server_is_leader and etcd_server_has_leader. */
  setLeader(isLeader: boolean, hasLeader: boolean): void;
  /** etcd_server_leader_changes_seen_total: call when the known leader changes to another member (not to none). */
  leaderChanged(): void;
  /** etcd_server_is_learner. */
  setLearner(isLearner: boolean): void;
  /**
   * meridian_raft_term, meridian_raft_commit_index, meridian_raft_applied_index, and etcd's
   * etcd_server_proposals_committed_total / _applied_total, which in etcd are gauges holding the commit
   * and applied indexes (so committed minus applied is the apply backlog on every dashboard).
   */
  setRaftIndexes(term: number, commitIndex: number, appliedIndex: number): void;
  /** etcd_server_proposals_pending: proposals submitted and not yet answered. */
  setProposalsPending(n: number): void;
  /** etcd_server_proposals_failed_total: a proposal was dropped, timed out or lost its leader. */
  proposalFailed(): void;
  /** etcd_server_read_indexes_failed_total. */
  readIndexFailed(): void;

  // Disk.
  /** etcd_disk_wal_fsync_duration_seconds: one WAL fdatasync. */
  walFsync(seconds: number): void;
  /** etcd_disk_backend_commit_duration_seconds: one commit of the store's backend. */
  backendCommit(seconds: number): void;

  // Peers; the To/From label is the peer's hex id, as in etcd.
  /** etcd_network_peer_round_trip_time_seconds{To}: one measured round trip to a peer. */
  peerRtt(peerId: number, seconds: number): void;
  /** etcd_network_peer_sent_bytes_total{To}. */
  peerSent(peerId: number, bytes: number): void;
  /** etcd_network_peer_received_bytes_total{From}. */
  peerReceived(peerId: number, bytes: number): void;
  /** etcd_network_peer_sent_failures_total{To}: messages to a peer that were dropped. */
  peerSendFailed(peerId: number, messages?: number): void;
  /** Forgets a removed member's series, so label cardinality follows the membership. */
  removePeer(peerId: number): void;

  // Store.
  /** etcd_mvcc_db_total_size_in_bytes and _in_use_in_bytes (in use defaults to the total). */
  setDbSize(bytes: number, inUseBytes?: number): void;
  /** etcd_server_quota_backend_bytes. */
  setQuotaBytes(bytes: number): void;
  /** etcd_debugging_mvcc_keys_total. */
  setKeys(n: number): void;
  /** etcd_debugging_mvcc_watcher_total. */
  setWatchers(n: number): void;
  /** etcd_debugging_mvcc_watch_stream_total. */
  setWatchStreams(n: number): void;
  /** meridian_leases: leases alive (etcd only counts grants and revokes). */
  setLeases(n: number): void;
  /** etcd_debugging_mvcc_current_revision and etcd_debugging_mvcc_compact_revision. */
  setRevisions(current: number, compacted: number): void;
  /** etcd_mvcc_range_total, _put_total, _delete_total, _txn_total. */
  mvccOp(op: MvccOp): void;

  /** etcd_server_health_success / etcd_server_health_failures; the HTTP server counts its /health answers. */
  healthChecked(healthy: boolean): void;
}

function assertCount(n: number, what: string): void {
  assert(Number.isSafeInteger(n) && n >= 0, `${what} must be a non-negative integer, got ${n}`);
}

function assertSeconds(seconds: number, what: string): void {
  assert(Number.isFinite(seconds) && seconds >= 0, `${what} must be non-negative seconds, got ${seconds}`);
}

export function createMemberMetrics(options: MemberMetricsOptions = {}): MemberMetrics {
  const registry = new Registry();
  const registers = [registry];
  // Every metric names `registers` explicitly: prom-client would otherwise add it to its global registry.
  const gauge = <L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> =>
    new Gauge<L>({ name, help, labelNames, registers });
  const counter = <L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> =>
    new Counter<L>({ name, help, labelNames, registers });
  const histogram = <L extends string = never>(name: string, help: string, buckets: number[], labelNames: readonly L[] = []): Histogram<L> =>
    new Histogram<L>({ name, help, buckets, labelNames, registers });

  const memberInfo = gauge('meridian_member_info', 'Which member this is. 1 for the labels of this member.', ['name', 'dc', 'zone']);
  const serverId = gauge('etcd_server_id', '1 for the server_id label holding this member id in hex.', ['server_id']);
  const version = gauge('etcd_server_version', '1 for the server_version label holding the etcd version this member speaks.', ['server_version']);
  version.set({ server_version: options.etcdVersion ?? ETCD_COMPAT_VERSION }, 1);

  const hasLeader = gauge('etcd_server_has_leader', '1 while this member knows a leader, else 0.');
  const isLeader = gauge('etcd_server_is_leader', '1 while this member is the leader, else 0.');
  const isLearner = gauge('etcd_server_is_learner', '1 while this member is a non-voting learner, else 0.');
  const leaderChanges = counter('etcd_server_leader_changes_seen_total', 'Leader changes this member has seen since it started.');
  const proposalsCommitted = gauge('etcd_server_proposals_committed_total', 'Highest Raft log index known committed (etcd reports the commit index here).');
  const proposalsApplied = gauge('etcd_server_proposals_applied_total', 'Highest Raft log index applied (etcd reports the applied index here).');
  const proposalsPending = gauge('etcd_server_proposals_pending', 'Proposals submitted on this member and not yet answered.');
  const proposalsFailed = counter('etcd_server_proposals_failed_total', 'Proposals that failed: dropped, timed out or cut off by a leader change.');
  const readIndexesFailed = counter('etcd_server_read_indexes_failed_total', 'ReadIndex requests that failed.');
  const raftTerm = gauge('meridian_raft_term', 'The current Raft term of this member.');
  const raftCommit = gauge('meridian_raft_commit_index', 'The highest Raft log index this member knows to be committed.');
  const raftApplied = gauge('meridian_raft_applied_index', 'The highest Raft log index this member applied to its store.');

  const walFsync = histogram('etcd_disk_wal_fsync_duration_seconds', 'Duration of each WAL fdatasync.', DISK_BUCKETS_SECONDS);
  const backendCommit = histogram('etcd_disk_backend_commit_duration_seconds', 'Duration of each commit of the store backend.', DISK_BUCKETS_SECONDS);

  const peerRtt = histogram('etcd_network_peer_round_trip_time_seconds', 'Measured round trips to each peer.', RTT_BUCKETS_SECONDS, ['To']);
  const peerSent = counter('etcd_network_peer_sent_bytes_total', 'Bytes sent to each peer.', ['To']);
  const peerReceived = counter('etcd_network_peer_received_bytes_total', 'Bytes received from each peer.', ['From']);
  const peerSendFailures = counter('etcd_network_peer_sent_failures_total', 'Messages to each peer that could not be sent.', ['To']);

  const dbSize = gauge('etcd_mvcc_db_total_size_in_bytes', 'Bytes the store database takes on disk.');
  const dbSizeInUse = gauge('etcd_mvcc_db_total_size_in_use_in_bytes', 'Bytes of the store database in use (the rest is free pages).');
  const quotaBytes = gauge('etcd_server_quota_backend_bytes', 'The store size above which the NOSPACE alarm is raised.');
  const keys = gauge('etcd_debugging_mvcc_keys_total', 'Live keys in the store.');
  const watchers = gauge('etcd_debugging_mvcc_watcher_total', 'Watchers registered on this member.');
  const watchStreams = gauge('etcd_debugging_mvcc_watch_stream_total', 'Watch streams open on this member.');
  const leases = gauge('meridian_leases', 'Leases granted and not yet expired or revoked.');
  const currentRev = gauge('etcd_debugging_mvcc_current_revision', 'The store revision after the last applied entry.');
  const compactRev = gauge('etcd_debugging_mvcc_compact_revision', 'Revisions below this one are compacted.');
  const mvccOps: Readonly<Record<MvccOp, Counter>> = {
    range: counter('etcd_mvcc_range_total', 'Range requests served by this member.'),
    put: counter('etcd_mvcc_put_total', 'Puts applied by this member.'),
    delete: counter('etcd_mvcc_delete_total', 'Delete-ranges applied by this member.'),
    txn: counter('etcd_mvcc_txn_total', 'Transactions applied by this member.'),
  };

  const healthSuccess = counter('etcd_server_health_success', 'GET /health answered healthy.');
  const healthFailures = counter('etcd_server_health_failures', 'GET /health answered unhealthy.');

  // A fresh member has no leader; the gauges say so before the first call rather than being absent.
  hasLeader.set(0);
  isLeader.set(0);
  isLearner.set(0);
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });

  const metrics: MemberMetrics = {
    registry,
    setMemberInfo(member) {
      memberInfo.reset();
      memberInfo.set({ name: member.name, dc: member.dc, zone: member.zone }, 1);
      serverId.reset();
      serverId.set({ server_id: formatMemberId(member.id) }, 1);
    },
    setLeader(leader, anyLeader) {
      assert(anyLeader || !leader, 'a member that is the leader has a leader');
      isLeader.set(leader ? 1 : 0);
      hasLeader.set(anyLeader ? 1 : 0);
    },
    leaderChanged: () => leaderChanges.inc(),
    setLearner: (learner) => isLearner.set(learner ? 1 : 0),
    setRaftIndexes(term, commitIndex, appliedIndex) {
      assertCount(term, 'term');
      assertCount(commitIndex, 'commit index');
      assertCount(appliedIndex, 'applied index');
      assert(appliedIndex <= commitIndex, `applied index ${appliedIndex} is above commit index ${commitIndex}`);
      raftTerm.set(term);
      raftCommit.set(commitIndex);
      raftApplied.set(appliedIndex);
      proposalsCommitted.set(commitIndex);
      proposalsApplied.set(appliedIndex);
    },
    setProposalsPending(n) {
      assertCount(n, 'pending proposals');
      proposalsPending.set(n);
    },
    proposalFailed: () => proposalsFailed.inc(),
    readIndexFailed: () => readIndexesFailed.inc(),
    walFsync(seconds) {
      assertSeconds(seconds, 'WAL fsync duration');
      walFsync.observe(seconds);
    },
    backendCommit(seconds) {
      assertSeconds(seconds, 'backend commit duration');
      backendCommit.observe(seconds);
    },
    peerRtt(peerId, seconds) {
      assertSeconds(seconds, 'peer round trip');
      peerRtt.observe({ To: formatMemberId(peerId) }, seconds);
    },
    peerSent(peerId, bytes) {
      assertCount(bytes, 'bytes sent');
      peerSent.inc({ To: formatMemberId(peerId) }, bytes);
    },
    peerReceived(peerId, bytes) {
      assertCount(bytes, 'bytes received');
      peerReceived.inc({ From: formatMemberId(peerId) }, bytes);
    },
    peerSendFailed(peerId, messages = 1) {
      assertCount(messages, 'failed sends');
      peerSendFailures.inc({ To: formatMemberId(peerId) }, messages);
    },
    removePeer(peerId) {
      const id = formatMemberId(peerId);
      // remove() of a label set never observed is a no-op in prom-client.
      peerRtt.remove({ To: id });
      peerSent.remove({ To: id });
      peerSendFailures.remove({ To: id });
      peerReceived.remove({ From: id });
    },
    setDbSize(bytes, inUseBytes = bytes) {
      assertCount(bytes, 'db size');
      assertCount(inUseBytes, 'db size in use');
      dbSize.set(bytes);
      dbSizeInUse.set(inUseBytes);
    },
    setQuotaBytes(bytes) {
      assertCount(bytes, 'quota bytes');
      quotaBytes.set(bytes);
    },
    setKeys(n) {
      assertCount(n, 'keys');
      keys.set(n);
    },
    setWatchers(n) {
      assertCount(n, 'watchers');
      watchers.set(n);
    },
    setWatchStreams(n) {
      assertCount(n, 'watch streams');
      watchStreams.set(n);
    },
    setLeases(n) {
      assertCount(n, 'leases');
      leases.set(n);
    },
    setRevisions(current, compacted) {
      assertCount(current, 'current revision');
      assertCount(compacted, 'compact revision');
      assert(compacted <= current, `compact revision ${compacted} is above current revision ${current}`);
      currentRev.set(current);
      compactRev.set(compacted);
    },
    mvccOp: (op) => mvccOps[op].inc(),
    healthChecked: (healthy) => (healthy ? healthSuccess : healthFailures).inc(),
  };
  if (options.member !== undefined) metrics.setMemberInfo(options.member);
  return metrics;
}
