// The JSON a member serves at GET /v1/status: its own Raft and store state, the membership as it knows it and
// its round trips to each DC; and the cluster view by DC that `meridian status` merges from every member's.

import type { Role } from '../../raft/raft.js';
import { AlarmType } from '../../kv/rpc.js';
import { assert, unreachable } from '../../util/assert.js';

/** Raft's role, or 'learner' for a non-voting member (raft reports a learner as a follower). */
export type MemberRole = Role | 'learner';

export const MEMBER_ROLES: readonly MemberRole[] = ['leader', 'follower', 'preCandidate', 'candidate', 'learner'];

/** etcd's alarm names (AlarmType.String() in etcd), as `etcdctl alarm list` prints them. */
export type AlarmName = 'NOSPACE' | 'CORRUPT';

export const ALARM_NAMES: readonly AlarmName[] = ['NOSPACE', 'CORRUPT'];

export interface AlarmJson {
  /** The member that raised the alarm (hex id); alarms are cluster-wide, so it may be another member. */
  readonly memberId: string;
  readonly alarm: AlarmName;
}

/** One member of the cluster as this member knows it; the list includes this member itself. */
export interface MemberEntryJson {
  /** Member id in hex, as etcdctl prints it (see formatMemberId). */
  readonly id: string;
  /** The member's --name; empty for a member that was added but has not started yet (as in etcd). */
  readonly name: string;
  /** Data center label; the dashboard groups by it. */
  readonly dc: string;
  /** Zone (rack, availability zone) inside the DC; empty when not configured. */
  readonly zone: string;
  /** A non-voting member: replicates the log and serves reads, never counts toward a quorum. */
  readonly isLearner: boolean;
  /** URLs clients reach the member on (gRPC; the HTTP endpoints share their host). */
  readonly clientUrls: readonly string[];
  /** URLs the other members replicate to. */
  readonly peerUrls: readonly string[];
  /**
   * Highest log index known to be replicated on that member (raft's Progress.Match). Only a leader tracks
   * it, so null on other members, and null for an entry the leader has no progress for.
   */
  readonly matchIndex: number | null;
  /**
   * Log entries that member is behind the leader (the leader's last index minus matchIndex, never
   * negative); 0 means caught up. Null wherever matchIndex is null.
   */
  readonly replicationLagEntries: number | null;
  /**
   * Smoothed round trip between this member and that one, measured by this member's peer transport, in
   * milliseconds. Null for this member itself and for a peer not (yet) measured.
   */
  readonly roundTripMs: number | null;
}

/** GET /v1/status. Ids are hex strings (JSON numbers lose precision above 2^53 in many readers). */
export interface MemberStatusJson {
  /** Cluster id in hex. */
  readonly clusterId: string;
  /** This member's id in hex. */
  readonly id: string;
  readonly name: string;
  readonly dc: string;
  readonly zone: string;
  /** What this member is doing in Raft right now. */
  readonly role: MemberRole;
  /** Current Raft term. */
  readonly term: number;
  /** The leader this member knows of (hex), or null while there is none (an election, or cut off). */
  readonly leaderId: string | null;
  /** leaderId !== null; kept as its own field because /health and probes read it. */
  readonly hasLeader: boolean;
  /** Highest log index known to be committed. */
  readonly commitIndex: number;
  /** Highest log index applied to the store here; appliedIndex <= commitIndex. */
  readonly appliedIndex: number;
  /** The store's revision after the last applied entry (what a serializable read here sees). */
  readonly appliedRevision: number;
  /** Revisions below this are compacted; reads and watches must start at or above it. */
  readonly compactRevision: number;
  /** Bytes the store's database takes on disk (etcd's dbSize). */
  readonly dbSizeBytes: number;
  /** Bytes of that in use (etcd's dbSizeInUse); the rest is free pages a defragment would return. */
  readonly dbSizeInUseBytes: number;
  /** Keys in the store at appliedRevision (live keys, not revisions). */
  readonly keyCount: number;
  /** Watchers registered on this member (every member serves its own watches). */
  readonly watcherCount: number;
  /** Leases granted and not yet expired or revoked. */
  readonly leaseCount: number;
  /** Active alarms of the whole cluster; any alarm makes /health fail, unless excluded. */
  readonly alarms: readonly AlarmJson[];
  /** Every member of the cluster, voters and learners, this member included; in no particular grouping. */
  readonly members: readonly MemberEntryJson[];
  /** The members grouped by DC, with this member's measured round trip to each DC (additive field). */
  readonly dcs?: readonly DcSummaryJson[];
  /** Placement (survival goal, leader preference) when the member knows it; filled by the placement code. */
  readonly placement?: PlacementJson;
  /** The Raft timing in force (adaptive timing may derive it from measured round trips). */
  readonly timing?: TimingJson;
}

/** One DC as one member sees it. */
export interface DcSummaryJson {
  readonly dc: string;
  /** Ids (hex) of the members labelled with this DC. */
  readonly memberIds: readonly string[];
  /** Median of this member's smoothed round trips to the members of that DC; null if none is measured (or it is only this member). */
  readonly roundTripMs: number | null;
}

export interface PlacementJson {
  /** The survival goal in force: 'dc' (any one DC may be lost) or 'member' (any one member). */
  readonly survivalGoal: string;
  /** Whether the current voters meet it. */
  readonly met: boolean;
  /** Preferred leader DCs, most preferred first. */
  readonly leaderPreference: readonly string[];
  /** One line on why the goal is met or which losses it would not survive. */
  readonly explanation?: string;
}

export interface TimingJson {
  readonly heartbeatMs: number;
  readonly electionMs: number;
  /** Whether the timing follows measured round trips (--adaptive-timing). */
  readonly adaptive?: boolean;
}

/** Label for members without a --dc. */
export const NO_DC = '(no dc)';

/** Median of the numbers, or null for none. */
export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Groups a member list by DC (DCs in order of first appearance) with the round trips one member measured. */
export function dcSummaries(members: readonly MemberEntryJson[]): DcSummaryJson[] {
  const byDc = new Map<string, MemberEntryJson[]>();
  for (const m of members) {
    const dc = m.dc === '' ? NO_DC : m.dc;
    byDc.set(dc, [...(byDc.get(dc) ?? []), m]);
  }
  return [...byDc].map(([dc, list]) => ({
    dc,
    memberIds: list.map((m) => m.id),
    roundTripMs: median(list.flatMap((m) => (m.roundTripMs === null ? [] : [m.roundTripMs]))),
  }));
}

/** One member in the cluster view: its own figures when its status answered, otherwise only what the list says. */
export interface ClusterMemberJson {
  readonly id: string;
  readonly name: string;
  readonly dc: string;
  readonly zone: string;
  readonly isLearner: boolean;
  readonly clientUrls: readonly string[];
  /** Its own role, or 'unreachable' when its status could not be read. */
  readonly role: MemberRole | 'unreachable';
  readonly term: number | null;
  readonly commitIndex: number | null;
  readonly appliedIndex: number | null;
  /** Entries behind the leader, from the leader's progress; null without a reachable leader. */
  readonly replicationLagEntries: number | null;
}

/** `meridian status --json`: the whole cluster grouped by DC, merged from every member's /v1/status. */
export interface ClusterStatusJson {
  readonly clusterId: string;
  readonly leaderId: string | null;
  readonly dcs: readonly { readonly dc: string; readonly members: readonly ClusterMemberJson[] }[];
  /** Median measured round trip between DCs, each unordered pair once (a === b: inside one DC). */
  readonly roundTrips: readonly { readonly a: string; readonly b: string; readonly roundTripMs: number }[];
  readonly placement?: PlacementJson;
  readonly timing?: TimingJson;
}

/**
 * Merges the status documents of the members that answered into the cluster view. The member list and lags
 * come from the leader's document when it answered (it alone tracks progress), else from any document.
 */
export function clusterStatusByDc(statuses: readonly MemberStatusJson[]): ClusterStatusJson {
  assert(statuses.length > 0, 'clusterStatusByDc needs at least one member status');
  const byId = new Map(statuses.map((s) => [s.id, s]));
  const leaderId = statuses.map((s) => s.leaderId).find((id) => id !== null) ?? null;
  const base = (leaderId === null ? undefined : byId.get(leaderId)) ?? (statuses[0] as MemberStatusJson);
  const dcOf = new Map(base.members.map((m) => [m.id, m.dc === '' ? NO_DC : m.dc]));
  const groups = new Map<string, ClusterMemberJson[]>();
  for (const m of base.members) {
    const own = byId.get(m.id);
    const entry: ClusterMemberJson = {
      id: m.id, name: m.name, dc: m.dc, zone: m.zone, isLearner: m.isLearner, clientUrls: m.clientUrls,
      role: own?.role ?? 'unreachable', term: own?.term ?? null, commitIndex: own?.commitIndex ?? null,
      appliedIndex: own?.appliedIndex ?? null, replicationLagEntries: base.role === 'leader' ? m.replicationLagEntries : null,
    };
    const dc = dcOf.get(m.id) ?? NO_DC;
    groups.set(dc, [...(groups.get(dc) ?? []), entry]);
  }
  const samples = new Map<string, number[]>();
  for (const s of statuses) {
    const from = dcOf.get(s.id);
    if (from === undefined) continue;
    for (const m of s.members) {
      const to = dcOf.get(m.id);
      if (to === undefined || m.roundTripMs === null || m.id === s.id) continue;
      const key = from <= to ? `${from}\u0000${to}` : `${to}\u0000${from}`;
      samples.set(key, [...(samples.get(key) ?? []), m.roundTripMs]);
    }
  }
  const roundTrips = [...samples].map(([key, values]) => {
    const [a, b] = key.split('\u0000') as [string, string];
    return { a, b, roundTripMs: median(values) ?? 0 };
  }).sort((x, y) => (x.a + x.b < y.a + y.b ? -1 : 1));
  return {
    clusterId: base.clusterId,
    leaderId,
    // The leader's DC first: where writes commit is what a reader of the status looks for first.
    dcs: [...groups].map(([dc, members]) => ({ dc, members })).sort((x, y) => Number(y.members.some((m) => m.id === leaderId)) - Number(x.members.some((m) => m.id === leaderId))),
    roundTrips,
    ...(base.placement === undefined ? {} : { placement: base.placement }),
    ...(base.timing === undefined ? {} : { timing: base.timing }),
  };
}

/** A member id as etcd writes it in text: lowercase hex, no padding (types.ID.String()). */
export function formatMemberId(id: number): string {
  assert(Number.isSafeInteger(id) && id >= 0, `member id must be a non-negative safe integer, got ${id}`);
  return id.toString(16);
}

export function memberRole(role: Role, isLearner: boolean): MemberRole {
  return isLearner ? 'learner' : role;
}

/** The name of a kv alarm; None is no alarm, so it has no name. */
export function alarmName(alarm: AlarmType): AlarmName | null {
  switch (alarm) {
    case AlarmType.None: return null;
    case AlarmType.NoSpace: return 'NOSPACE';
    case AlarmType.Corrupt: return 'CORRUPT';
    default: return unreachable(alarm, 'alarm type');
  }
}

function assertCount(value: number, what: string): void {
  assert(Number.isSafeInteger(value) && value >= 0, `status ${what} must be a non-negative integer, got ${value}`);
}

/**
 * The invariants of a status document; for the caller's tests (the HTTP server serves what it is given,
 * so a bad status never takes a member down through its HTTP port).
 */
export function assertMemberStatusJson(s: MemberStatusJson): void {
  assert(MEMBER_ROLES.includes(s.role), `status role ${s.role} is not a member role`);
  for (const [what, value] of [['term', s.term], ['commitIndex', s.commitIndex], ['appliedIndex', s.appliedIndex],
    ['appliedRevision', s.appliedRevision], ['compactRevision', s.compactRevision], ['dbSizeBytes', s.dbSizeBytes],
    ['dbSizeInUseBytes', s.dbSizeInUseBytes], ['keyCount', s.keyCount], ['watcherCount', s.watcherCount],
    ['leaseCount', s.leaseCount]] as const) {
    assertCount(value, what);
  }
  assert(s.appliedIndex <= s.commitIndex, `status appliedIndex ${s.appliedIndex} is above commitIndex ${s.commitIndex}`);
  assert(s.compactRevision <= s.appliedRevision, `status compactRevision ${s.compactRevision} is above appliedRevision ${s.appliedRevision}`);
  assert(s.hasLeader === (s.leaderId !== null), 'status hasLeader must say whether leaderId is set');
  assert((s.role === 'leader') === (s.leaderId === s.id), 'status role is leader exactly when leaderId is this member');
  assert(s.alarms.every((a) => ALARM_NAMES.includes(a.alarm)), 'status alarms must be known alarm names');
  const ids = new Set(s.members.map((m) => m.id));
  assert(ids.size === s.members.length, 'status members must have distinct ids');
  for (const m of s.members) {
    assert((m.matchIndex === null) === (m.replicationLagEntries === null), `member ${m.id}: lag is known exactly when matchIndex is`);
    if (m.matchIndex !== null) assertCount(m.matchIndex, `member ${m.id} matchIndex`);
    if (m.replicationLagEntries !== null) assertCount(m.replicationLagEntries, `member ${m.id} replicationLagEntries`);
    assert(m.roundTripMs === null || (Number.isFinite(m.roundTripMs) && m.roundTripMs >= 0), `member ${m.id}: roundTripMs must be >= 0`);
  }
}
