// The JSON a member serves at GET /v1/status: its own Raft and store state plus the membership as it knows
// it. The CLI prints it and the dashboard groups it by DC; the member only reports, it groups nothing.

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
