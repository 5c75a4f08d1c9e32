// The member's multi-DC behaviour, run once per tick: leader affinity (campaign delays and handing leadership to
// a preferred DC), adaptive timing, automatic learner promotion, and the survival-goal check of membership changes.

import type { NodeId } from '../../util/branded.js';
import { ConfChangeType, type ConfChange } from '../../raft/types.js';
import type { RawNode } from '../../raft/raw_node.js';
import type { MemberInfo } from '../etcd/backend.js';
import { deriveTiming, quorumRttMs, shouldRetune, timingAt, type BaseTiming, type TimingNow } from './adaptive_timing.js';
import type { Membership } from './membership.js';
import {
  campaignDelayTicks, checkMembershipChange, effectiveSurvivalGoal, preferenceRank, preferredTransferTarget, survivalReport,
  type PlacedMember, type SurvivalGoal, type SurvivalReport,
} from './placement.js';
import type { ReadPaths } from './read_paths.js';

export interface MultiDcOptions {
  /** This member's DC until the replicated member list carries it (the server's --dc). */
  readonly dc?: string;
  /** DCs in order of preference for the leader (--leader-preference); the same on every member. */
  readonly leaderPreference?: readonly string[];
  /** The survival goal (--survive); null or absent: `dc` with 3 or more DCs, else `member`. */
  readonly survive?: SurvivalGoal | null;
  /** The leader promotes caught-up learners while the survival goal holds (--auto-promote). */
  readonly autoPromote?: boolean;
  /** Heartbeat and election timeout follow measured round trips (--adaptive-timing). */
  readonly adaptiveTiming?: boolean;
  /** Smoothed round trip to a peer, ms, or null if not measured (the peer transport's). */
  readonly rttMs?: (peer: NodeId) => number | null;
  /** Leader lease reads (--leader-lease-reads) and their safety margin (--lease-read-margin-ms). */
  readonly leaseReads?: boolean;
  readonly leaseReadMarginMs?: number;
  /** Margin added to every bounded-staleness proof, ms. */
  readonly stalenessMarginMs?: number;
}

/** What MultiDc uses of the member. */
export interface MultiDcHost {
  readonly id: NodeId;
  readonly rawNode: RawNode;
  readonly membership: Membership;
  readonly readPaths: ReadPaths;
  isLeader(): boolean;
  now(): number;
  changeMembership(changes: ConfChange['changes'], context: Record<string, unknown>, timeoutMs?: number, force?: boolean): Promise<unknown>;
  transferLeader(target: NodeId): void;
}

/** A leader leads this many election timeouts before it considers handing leadership to a preferred DC. */
export const AFFINITY_SETTLE_ELECTIONS = 3;
/** The preferred candidate must stay eligible this many election timeouts first (no flapping on a blip). */
export const AFFINITY_CANDIDATE_STABLE_ELECTIONS = 1;
/** After a transfer attempt, the next waits this many election timeouts. */
export const AFFINITY_RETRY_ELECTIONS = 5;
/** A transfer target may lag the leader's last index by at most this many entries (Raft catches it up first). */
export const AFFINITY_LAG_ENTRIES_MAX = 64;
/**
 * With no leader for this many election timeouts, a member drops its campaign delay: stale or cut-off preferred
 * members may keep starting elections they cannot win (each resets everyone's timers), and a delayed member
 * must still get its turn. Availability wins over affinity.
 */
export const AFFINITY_GIVE_UP_ELECTIONS = 1;
/** A learner is caught up when it holds this share of the leader's log (member_backend's promote rule, etcd's 90%). */
export const AUTO_PROMOTE_READY_FRACTION = 0.9;
/** Auto-promotion stops at this many voters (ARCHITECTURE: 3–7 voters). */
export const AUTO_PROMOTE_VOTERS_MAX = 7;

export interface MultiDcStatus {
  readonly dc: string;
  readonly leaderPreference: readonly string[];
  readonly survival: SurvivalReport;
  readonly timing: TimingNow & { readonly adaptive: boolean };
  readonly campaignDelayTicks: number;
}

export class MultiDc {
  private scale = 1;
  private lastRetuneMs = Number.NEGATIVE_INFINITY;
  private quorumRtt: number | null = null;
  private delayTicks = 0;
  private leaderTerm = -1;
  private leaderSinceMs = 0;
  private candidate: NodeId | null = null;
  private candidateSinceMs = 0;
  private lastTransferMs = Number.NEGATIVE_INFINITY;
  private promoting = false;
  private leaderSeenMs = Number.NaN;

  constructor(
    private readonly host: MultiDcHost,
    private readonly base: BaseTiming & { readonly preVote: boolean },
    private readonly o: MultiDcOptions,
  ) {}

  /** The tick interval in force, ms. */
  tickMs(): number {
    return this.base.tickMs * this.scale;
  }

  private electionMs(): number {
    return this.tickMs() * this.base.electionTicks;
  }

  dc(): string {
    const published = this.host.membership.get(this.host.id)?.dc ?? '';
    return published !== '' ? published : (this.o.dc ?? '');
  }

  /** Runs before every Raft tick. */
  beforeTick(): void {
    const raft = this.host.rawNode.raft;
    // Seen here at least once a tick, so a transfer can never slip past the lease-read rule unnoticed.
    if (raft.leadTransferee !== 0) this.host.readPaths.noteTransfer();
    this.updateCampaignDelay();
    if (this.o.adaptiveTiming === true) this.retune();
    if (!this.host.isLeader()) {
      this.leaderTerm = -1;
      return;
    }
    if (this.leaderTerm !== raft.term) {
      this.leaderTerm = raft.term;
      this.leaderSinceMs = this.host.now();
      this.candidate = null;
    }
    this.maybeHandOff();
    if (this.o.autoPromote === true) this.maybePromote();
  }

  private updateCampaignDelay(): void {
    const now = this.host.now();
    if (this.host.rawNode.raft.lead !== 0 || Number.isNaN(this.leaderSeenMs)) this.leaderSeenMs = now;
    const leaderless = now - this.leaderSeenMs > AFFINITY_GIVE_UP_ELECTIONS * this.electionMs();
    const ticks = leaderless ? 0 : affinityDelayTicks(this.o.leaderPreference ?? [], this.dc(), this.base);
    if (ticks === this.delayTicks) return;
    this.delayTicks = ticks;
    this.host.rawNode.setCampaignDelayTicks(ticks);
  }

  private retune(): void {
    const rttOf = this.o.rttMs;
    if (rttOf === undefined) return;
    const voters = this.host.rawNode.raft.confState().voters;
    this.quorumRtt = quorumRttMs(this.host.id, voters, rttOf);
    const wanted = deriveTiming(this.base, this.quorumRtt).scale;
    const now = this.host.now();
    if (!shouldRetune(this.scale, wanted, now - this.lastRetuneMs)) return;
    this.scale = wanted;
    this.lastRetuneMs = now;
  }

  /**
   * Leader affinity: hand leadership to a caught-up, active voter of a more preferred DC, after this leader has
   * led a while and the candidate has been eligible a while; transfers only ever go to a better rank, so
   * leadership cannot flap between two DCs. With the preferred DCs down there is no candidate and this leader stays.
   */
  private maybeHandOff(): void {
    const pref = this.o.leaderPreference ?? [];
    if (pref.length === 0 || preferenceRank(pref, this.dc()) === 0) return;
    const now = this.host.now();
    const e = this.electionMs();
    if (now - this.leaderSinceMs < AFFINITY_SETTLE_ELECTIONS * e || now - this.lastTransferMs < AFFINITY_RETRY_ELECTIONS * e) return;
    const st = this.host.rawNode.status();
    if (st.leadTransferee !== 0) return;
    const voters = [...st.progress].filter(([id, pr]) => id !== this.host.id && !pr.isLearner).map(([id, pr]) => ({
      id,
      dc: this.host.membership.get(id)?.dc ?? '',
      isLearner: false,
      caughtUp: pr.match + AFFINITY_LAG_ENTRIES_MAX >= st.lastIndex,
      // Not recentActive: CheckQuorum clears it every election timeout, which would restart the stability wait.
      healthy: pr.state === 'replicate',
    }));
    const target = preferredTransferTarget(pref, this.dc(), voters);
    if (target !== this.candidate) {
      this.candidate = target;
      this.candidateSinceMs = now;
      return;
    }
    if (target === null || now - this.candidateSinceMs < AFFINITY_CANDIDATE_STABLE_ELECTIONS * e) return;
    this.lastTransferMs = now;
    this.candidate = null;
    this.host.transferLeader(target);
  }

  /** Promotes one caught-up learner at a time, if the survival goal still holds with it as a voter. */
  private maybePromote(): void {
    if (this.promoting) return;
    const st = this.host.rawNode.status();
    const members = this.host.membership.list();
    if (members.filter((m) => !m.isLearner).length >= AUTO_PROMOTE_VOTERS_MAX) return;
    for (const m of members) {
      const pr = st.progress.get(m.id);
      if (!m.isLearner || pr === undefined || !pr.isLearner || !pr.recentActive) continue;
      if (pr.match < st.lastIndex * AUTO_PROMOTE_READY_FRACTION) continue;
      const after = members.map((x) => (x.id === m.id ? { ...x, isLearner: false } : x));
      try {
        checkMembershipChange(this.goal(members), members, after, false);
      } catch {
        continue;
      }
      this.promoting = true;
      const attrs = { name: m.name, peerUrls: m.peerUrls, clientUrls: m.clientUrls, dc: m.dc, zone: m.zone };
      this.host.changeMembership([{ type: ConfChangeType.AddNode, nodeId: m.id }], attrs).then(
        () => {
          this.promoting = false;
        },
        () => {
          this.promoting = false;
        },
      );
      return;
    }
  }

  private goal(members: readonly PlacedMember[]): SurvivalGoal {
    return effectiveSurvivalGoal(this.o.survive ?? null, members);
  }

  /** Refuses (throws SurvivalGoalError) a membership change that would break the survival goal met now. */
  checkChange(changes: ConfChange['changes'], context: Record<string, unknown>, force: boolean): void {
    const before = this.host.membership.list();
    const after = predictMembers(before, changes, context);
    if (after === null) return;
    checkMembershipChange(this.goal(before), before, after, force);
  }

  status(): MultiDcStatus {
    const members = this.host.membership.list();
    return {
      dc: this.dc(),
      leaderPreference: this.o.leaderPreference ?? [],
      survival: survivalReport(this.goal(members), members),
      timing: { ...timingAt(this.base, this.scale, this.quorumRtt), adaptive: this.o.adaptiveTiming === true },
      campaignDelayTicks: this.delayTicks,
    };
  }
}

/**
 * The campaign delay for leader affinity, only with PreVote: without it, a preferred member with a stale log
 * (back from a partition) bumps the term at every timeout and resets everyone's timers, so delayed members would
 * rarely get to campaign; there affinity relies on the hand-off alone.
 */
export function affinityDelayTicks(preference: readonly string[], dc: string, raft: { readonly electionTicks: number; readonly preVote: boolean }): number {
  return raft.preVote ? campaignDelayTicks(preference, dc, raft.electionTicks) : 0;
}

/** The member list after a change, or null when the change alters no member's role (an attribute update). */
export function predictMembers(before: readonly MemberInfo[], changes: ConfChange['changes'], context: Record<string, unknown>): PlacedMember[] | null {
  const byId = new Map<NodeId, PlacedMember>(before.map((m) => [m.id, { id: m.id, dc: m.dc, isLearner: m.isLearner }]));
  let altered = false;
  const dc = typeof context['dc'] === 'string' ? context['dc'] : '';
  for (const c of changes) {
    const cur = byId.get(c.nodeId);
    if (c.type === ConfChangeType.RemoveNode) {
      if (cur !== undefined) altered = true;
      byId.delete(c.nodeId);
      continue;
    }
    const isLearner = c.type === ConfChangeType.AddLearnerNode;
    if (cur !== undefined && cur.isLearner === isLearner) continue;
    altered = true;
    byId.set(c.nodeId, { id: c.nodeId, dc: cur?.dc ?? dc, isLearner });
  }
  return altered ? [...byId.values()] : null;
}
