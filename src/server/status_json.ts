// The member's JSON status (served at /v1/status, read by `meridian status` and the dashboard) and the
// metrics gauges, both computed from the running member.

import type { MemberMetrics } from './http/metrics.js';
import { alarmName, dcSummaries, formatMemberId, memberRole, type AlarmJson, type MemberEntryJson, type MemberStatusJson } from './http/status.js';
import type { Member } from './node/member.js';
import type { PeerTransport } from './transport/peer_transport.js';

export function memberStatusJson(member: Member, clusterId: bigint, transport: PeerTransport): MemberStatusJson {
  const raft = member.rawNode.raft;
  const kv = member.kv.status();
  const members = memberEntries(member, transport);
  const me = member.membership.get(member.id);
  const alarms: AlarmJson[] = [];
  for (const a of member.kv.alarms()) {
    const name = alarmName(a.alarm);
    if (name !== null) alarms.push({ memberId: formatMemberId(a.memberId), alarm: name });
  }
  return {
    clusterId: clusterId.toString(16),
    id: formatMemberId(member.id),
    name: me?.name ?? '',
    dc: me?.dc ?? '',
    zone: me?.zone ?? '',
    role: memberRole(raft.role, me?.isLearner ?? false),
    term: raft.term,
    leaderId: raft.lead === 0 ? null : formatMemberId(raft.lead),
    hasLeader: raft.lead !== 0,
    commitIndex: raft.log.committed,
    appliedIndex: raft.log.applied,
    appliedRevision: kv.revision,
    compactRevision: kv.compactRevision,
    dbSizeBytes: kv.backendBytes,
    dbSizeInUseBytes: kv.sizeBytes,
    keyCount: kv.keys,
    watcherCount: member.watchHub.stats().watchers,
    leaseCount: kv.leases,
    alarms,
    members,
    dcs: dcSummaries(members),
    ...placementAndTiming(member),
  };
}

/** The multi-DC view (multi_dc.ts): survival goal and whether the voters meet it, leader preference, timing in force. */
function placementAndTiming(member: Member): Pick<MemberStatusJson, 'placement' | 'timing'> {
  const st = member.multiDc.status();
  return {
    placement: { survivalGoal: st.survival.goal, met: st.survival.met, leaderPreference: st.leaderPreference, explanation: st.survival.explanation },
    timing: { heartbeatMs: Math.round(st.timing.heartbeatMs), electionMs: Math.round(st.timing.electionMs), adaptive: st.timing.adaptive },
  };
}

function memberEntries(member: Member, transport: PeerTransport): MemberEntryJson[] {
  const status = member.rawNode.status();
  return member.membership.list().map((m) => {
    const pr = status.progress.get(m.id);
    return {
      id: formatMemberId(m.id),
      name: m.name,
      dc: m.dc,
      zone: m.zone,
      isLearner: m.isLearner,
      clientUrls: m.clientUrls,
      peerUrls: m.peerUrls,
      // Only the leader tracks how far each member's log matches its own.
      matchIndex: pr === undefined ? null : pr.match,
      replicationLagEntries: pr === undefined ? null : Math.max(0, status.lastIndex - pr.match),
      roundTripMs: m.id === member.id ? null : transport.rttMs(m.id),
    };
  });
}

/** Refreshes the gauges that mirror the member's state (called on each scrape interval). */
export function updateGauges(metrics: MemberMetrics, member: Member, transport: PeerTransport): void {
  const raft = member.rawNode.raft;
  const kv = member.kv.status();
  metrics.setLeader(raft.role === 'leader', raft.lead !== 0);
  metrics.setRaftIndexes(raft.term, raft.log.committed, raft.log.applied);
  metrics.setDbSize(kv.backendBytes, kv.sizeBytes);
  metrics.setKeys(kv.keys);
  metrics.setLeases(kv.leases);
  metrics.setWatchers(member.watchHub.stats().watchers);
  metrics.setRevisions(kv.revision, kv.compactRevision);
  for (const m of member.membership.list()) {
    if (m.id === member.id) continue;
    const rtt = transport.rttMs(m.id);
    if (rtt !== null) metrics.peerRtt(m.id, rtt / 1000);
  }
}
