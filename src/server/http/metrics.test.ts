// The member's metrics: etcd's names, types and labels after each method, a registry per member (never
// prom-client's global one), peer series removed with the peer, and bad values failing an assert.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { register as globalRegistry } from 'prom-client';
import { AssertionError } from '../../util/assert.js';
import { createMemberMetrics, ETCD_COMPAT_VERSION, type MemberMetrics } from './metrics.js';

const MEMBER = { id: 0xabc, name: 'm1', dc: 'east', zone: 'a' } as const;

/** Sample lines (no comments) of the exposition text, for exact matches. */
async function samples(m: MemberMetrics): Promise<Set<string>> {
  const text = await m.registry.metrics();
  return new Set(text.split('\n').filter((line) => line !== '' && !line.startsWith('#')));
}

async function typeOf(m: MemberMetrics, name: string): Promise<string | undefined> {
  const text = await m.registry.metrics();
  return text.split('\n').find((line) => line.startsWith(`# TYPE ${name} `))?.split(' ')[3];
}

function exercise(m: MemberMetrics): void {
  m.setLeader(true, true);
  m.leaderChanged();
  m.leaderChanged();
  m.setLearner(false);
  m.setRaftIndexes(7, 120, 118);
  m.setProposalsPending(3);
  m.proposalFailed();
  m.readIndexFailed();
  m.walFsync(0.0015);
  m.backendCommit(0.02);
  m.peerRtt(2, 0.00015);
  m.peerRtt(0x1f, 0.05);
  m.peerSent(2, 1000);
  m.peerReceived(2, 500);
  m.peerSendFailed(2);
  m.setDbSize(4096, 2048);
  m.setQuotaBytes(2 ** 31);
  m.setKeys(42);
  m.setWatchers(5);
  m.setWatchStreams(2);
  m.setLeases(4);
  m.setRevisions(99, 10);
  m.mvccOp('put');
  m.mvccOp('put');
  m.mvccOp('range');
  m.healthChecked(true);
  m.healthChecked(false);
}

test('every method shows up under its etcd (or meridian_) name with the value given', async () => {
  const m = createMemberMetrics({ member: MEMBER, processMetrics: false });
  exercise(m);
  const s = await samples(m);
  const expected = [
    'meridian_member_info{name="m1",dc="east",zone="a"} 1',
    'etcd_server_id{server_id="abc"} 1',
    `etcd_server_version{server_version="${ETCD_COMPAT_VERSION}"} 1`,
    'etcd_server_has_leader 1',
    'etcd_server_is_leader 1',
    'etcd_server_is_learner 0',
    'etcd_server_leader_changes_seen_total 2',
    'etcd_server_proposals_committed_total 120',
    'etcd_server_proposals_applied_total 118',
    'etcd_server_proposals_pending 3',
    'etcd_server_proposals_failed_total 1',
    'etcd_server_read_indexes_failed_total 1',
    'meridian_raft_term 7',
    'meridian_raft_commit_index 120',
    'meridian_raft_applied_index 118',
    'etcd_disk_wal_fsync_duration_seconds_bucket{le="0.001"} 0',
    'etcd_disk_wal_fsync_duration_seconds_bucket{le="0.002"} 1',
    'etcd_disk_wal_fsync_duration_seconds_count 1',
    'etcd_disk_backend_commit_duration_seconds_bucket{le="0.032"} 1',
    'etcd_disk_backend_commit_duration_seconds_count 1',
    'etcd_network_peer_round_trip_time_seconds_bucket{le="0.0002",To="2"} 1',
    'etcd_network_peer_round_trip_time_seconds_count{To="2"} 1',
    'etcd_network_peer_round_trip_time_seconds_count{To="1f"} 1',
    'etcd_network_peer_sent_bytes_total{To="2"} 1000',
    'etcd_network_peer_received_bytes_total{From="2"} 500',
    'etcd_network_peer_sent_failures_total{To="2"} 1',
    'etcd_mvcc_db_total_size_in_bytes 4096',
    'etcd_mvcc_db_total_size_in_use_in_bytes 2048',
    `etcd_server_quota_backend_bytes ${2 ** 31}`,
    'etcd_debugging_mvcc_keys_total 42',
    'etcd_debugging_mvcc_watcher_total 5',
    'etcd_debugging_mvcc_watch_stream_total 2',
    'meridian_leases 4',
    'etcd_debugging_mvcc_current_revision 99',
    'etcd_debugging_mvcc_compact_revision 10',
    'etcd_mvcc_put_total 2',
    'etcd_mvcc_range_total 1',
    'etcd_mvcc_delete_total 0',
    'etcd_mvcc_txn_total 0',
    'etcd_server_health_success 1',
    'etcd_server_health_failures 1',
  ];
  for (const line of expected) assert.ok(s.has(line), `metrics lack: ${line}`);
});

test("metric types match etcd's (its proposals_*_total are gauges holding indexes)", async () => {
  const m = createMemberMetrics({ processMetrics: false });
  const types: Record<string, string> = {
    etcd_server_proposals_committed_total: 'gauge',
    etcd_server_proposals_applied_total: 'gauge',
    etcd_server_proposals_failed_total: 'counter',
    etcd_server_leader_changes_seen_total: 'counter',
    etcd_disk_wal_fsync_duration_seconds: 'histogram',
    etcd_disk_backend_commit_duration_seconds: 'histogram',
    etcd_network_peer_round_trip_time_seconds: 'histogram',
    etcd_mvcc_db_total_size_in_bytes: 'gauge',
    meridian_member_info: 'gauge',
  };
  for (const [name, type] of Object.entries(types)) assert.equal(await typeOf(m, name), type, name);
});

test('a fresh member reports no leader, and process metrics are on by default', async () => {
  const s = await samples(createMemberMetrics());
  assert.ok(s.has('etcd_server_has_leader 0'));
  assert.ok(s.has('etcd_server_is_leader 0'));
  assert.ok([...s].some((line) => line.startsWith('process_resident_memory_bytes ')));
});

test('each member has its own registry; prom-client\'s global registry stays untouched', async () => {
  const a = createMemberMetrics({ member: { ...MEMBER, name: 'a' }, processMetrics: false });
  const b = createMemberMetrics({ member: { ...MEMBER, id: 2, name: 'b' }, processMetrics: false });
  a.setKeys(1);
  b.setKeys(2);
  const [sa, sb] = [await samples(a), await samples(b)];
  assert.ok(sa.has('etcd_debugging_mvcc_keys_total 1') && sb.has('etcd_debugging_mvcc_keys_total 2'));
  assert.ok(sa.has('meridian_member_info{name="a",dc="east",zone="a"} 1'));
  assert.ok(!sa.has('meridian_member_info{name="b",dc="east",zone="a"} 1'));
  assert.equal(globalRegistry.getSingleMetric('etcd_debugging_mvcc_keys_total'), undefined);
  assert.equal(globalRegistry.getSingleMetric('meridian_member_info'), undefined);
});

test('setMemberInfo replaces the earlier labels rather than adding a second series', async () => {
  const m = createMemberMetrics({ member: MEMBER, processMetrics: false });
  m.setMemberInfo({ id: 0xdef, name: 'm1', dc: 'west', zone: 'b' });
  const info = [...(await samples(m))].filter((l) => l.startsWith('meridian_member_info') || l.startsWith('etcd_server_id'));
  assert.deepEqual(info.sort(), ['etcd_server_id{server_id="def"} 1', 'meridian_member_info{name="m1",dc="west",zone="b"} 1']);
});

test("removePeer drops that peer's series and keeps the others", async () => {
  const m = createMemberMetrics({ processMetrics: false });
  exercise(m);
  m.removePeer(2);
  m.removePeer(99); // never seen: nothing to do
  const lines = [...(await samples(m))];
  assert.ok(!lines.some((l) => l.includes('To="2"') || l.includes('From="2"')), 'no series of peer 2 remain');
  assert.ok(lines.includes('etcd_network_peer_round_trip_time_seconds_count{To="1f"} 1'));
});

test('values outside their domain fail an assert and change nothing', async () => {
  const m = createMemberMetrics({ processMetrics: false });
  const bad: [string, () => void][] = [
    ['negative keys', () => m.setKeys(-1)],
    ['fractional watchers', () => m.setWatchers(1.5)],
    ['NaN fsync', () => m.walFsync(Number.NaN)],
    ['negative rtt', () => m.peerRtt(2, -0.001)],
    ['infinite commit', () => m.backendCommit(Number.POSITIVE_INFINITY)],
    ['applied above commit', () => m.setRaftIndexes(1, 5, 6)],
    ['leader without a leader', () => m.setLeader(true, false)],
    ['compacted above current', () => m.setRevisions(5, 6)],
    ['negative peer id', () => m.peerRtt(-1, 0.01)],
    ['unsafe db size', () => m.setDbSize(2 ** 53)],
  ];
  for (const [what, call] of bad) assert.throws(call, AssertionError, what);
  const s = await samples(m);
  assert.ok(s.has('etcd_debugging_mvcc_keys_total 0') && s.has('meridian_raft_commit_index 0'));
  assert.ok(![...s].some((l) => l.startsWith('etcd_network_peer_round_trip_time_seconds_count')));
});
