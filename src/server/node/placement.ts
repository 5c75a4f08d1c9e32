// Where voters sit and who should lead, as pure functions over the member list: the survival goal (can the
// cluster lose any one DC and keep a quorum?) and leader affinity (campaign delays, when to hand leadership on).

import type { NodeId } from '../../util/branded.js';
import { MeridianError } from '../../util/errors.js';

/** What the cluster must survive: the loss of any one DC, or only of any one member. */
export type SurvivalGoal = 'dc' | 'member';

/** The part of a member list placement needs. */
export interface PlacedMember {
  readonly id: NodeId;
  readonly dc: string;
  readonly isLearner: boolean;
}

/** With at least this many DCs, surviving a DC is the default goal (with two, one DC always holds a majority or ties). */
export const SURVIVE_DC_DEFAULT_MIN_DCS = 3;

/** A change that would break the survival goal the cluster meets now. */
export class SurvivalGoalError extends MeridianError {
  constructor(message: string) {
    super('ErrSurvivalGoal', message);
    this.name = 'SurvivalGoalError';
  }
}

/** The goal in force: the configured one, else `dc` when the voters span enough DCs. */
export function effectiveSurvivalGoal(configured: SurvivalGoal | null, members: readonly PlacedMember[]): SurvivalGoal {
  if (configured !== null) return configured;
  return votersPerDc(members).size >= SURVIVE_DC_DEFAULT_MIN_DCS ? 'dc' : 'member';
}

/** Voters per DC label (an unlabelled member counts as its own DC "": it is not known to share a DC with anyone). */
export function votersPerDc(members: readonly PlacedMember[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const m of members) if (!m.isLearner) counts.set(m.dc, (counts.get(m.dc) ?? 0) + 1);
  return counts;
}

export interface SurvivalReport {
  readonly goal: SurvivalGoal;
  readonly met: boolean;
  readonly voters: number;
  readonly quorum: number;
  /** Voters per DC, by DC name. */
  readonly votersPerDc: Readonly<Record<string, number>>;
  /** The losses the cluster does not survive (DC names, or "any one member"), empty when met. */
  readonly fatalLosses: readonly string[];
  /** One line for status and for the refusal of a change. */
  readonly explanation: string;
}

/** Whether the voters survive the goal's loss: losing the largest DC (or one member) must leave a quorum. */
export function survivalReport(goal: SurvivalGoal, members: readonly PlacedMember[]): SurvivalReport {
  const per = votersPerDc(members);
  const voters = [...per.values()].reduce((a, b) => a + b, 0);
  const quorum = Math.floor(voters / 2) + 1;
  const fatalLosses: string[] = [];
  if (goal === 'dc') {
    for (const [dc, n] of [...per].sort((a, b) => a[0].localeCompare(b[0]))) if (voters - n < quorum) fatalLosses.push(dc === '' ? '(no dc)' : dc);
  } else if (voters - 1 < quorum) {
    fatalLosses.push('any one member');
  }
  const met = voters > 0 && fatalLosses.length === 0;
  const layout = [...per].map(([dc, n]) => `${dc === '' ? '(no dc)' : dc}=${n}`).join(', ');
  const explanation = met
    ? `survives the loss of any one ${goal === 'dc' ? 'DC' : 'member'}: ${voters} voters (${layout}), quorum ${quorum}`
    : `does not survive the loss of ${fatalLosses.join(' or ') || 'anything'}: ${voters} voters (${layout}), quorum ${quorum}`;
  return { goal, met, voters, quorum, votersPerDc: Object.fromEntries(per), fatalLosses, explanation };
}

/**
 * Refuses a membership change that would break a goal met now (a goal already broken may be repaired step by
 * step, so changes that leave it broken are allowed). `force` overrides.
 */
export function checkMembershipChange(goal: SurvivalGoal, before: readonly PlacedMember[], after: readonly PlacedMember[], force: boolean): void {
  if (force) return;
  const was = survivalReport(goal, before);
  if (!was.met) return;
  const will = survivalReport(goal, after);
  if (will.met) return;
  throw new SurvivalGoalError(`meridian: membership change refused: the cluster ${will.explanation} (survival goal "${goal}"); pass force to override`);
}

// ---- leader affinity ----

/** Campaign delay per rank step below the most preferred DC, in election timeouts (ticks = this × electionTicks). */
export const AFFINITY_DELAY_ELECTIONS_PER_RANK = 1;
/** A DC's rank in the preference list: 0 is most preferred; unlisted DCs rank after every listed one. */
export function preferenceRank(preference: readonly string[], dc: string): number {
  const i = preference.indexOf(dc);
  return i < 0 ? preference.length : i;
}

/**
 * Extra ticks before a member campaigns, by the rank of its DC: preferred members time out first, so they
 * usually win; the delay is finite, so with the preferred DCs down any DC still elects a leader.
 */
export function campaignDelayTicks(preference: readonly string[], dc: string, electionTicks: number): number {
  if (preference.length === 0) return 0;
  return preferenceRank(preference, dc) * AFFINITY_DELAY_ELECTIONS_PER_RANK * electionTicks;
}

/** What the leader knows about a voter when it considers handing leadership on. */
export interface TransferCandidate extends PlacedMember {
  /** Replicated up to the leader's last index. */
  readonly caughtUp: boolean;
  /** Replicating normally (not probing after a rejection or an unreachable report). */
  readonly healthy: boolean;
}

/**
 * The voter a leader should hand leadership to, or null: one in a more preferred DC than the leader's that is
 * caught up and active (preferring the best rank, then the lowest id so every run decides alike). The caller
 * adds hysteresis (a leader must lead for a while, and the candidate be healthy for a while, before it moves).
 */
export function preferredTransferTarget(preference: readonly string[], leaderDc: string, voters: readonly TransferCandidate[]): NodeId | null {
  if (preference.length === 0) return null;
  const myRank = preferenceRank(preference, leaderDc);
  let best: TransferCandidate | null = null;
  for (const v of voters) {
    if (v.isLearner || !v.caughtUp || !v.healthy) continue;
    const r = preferenceRank(preference, v.dc);
    if (r >= myRank) continue;
    if (best === null || r < preferenceRank(preference, best.dc) || (r === preferenceRank(preference, best.dc) && v.id < best.id)) best = v;
  }
  return best?.id ?? null;
}

/** Parses `--leader-preference dcA,dcB`: names, no empties, no repeats. */
export function parseLeaderPreference(text: string): string[] {
  if (text.trim() === '') return [];
  const names = text.split(',').map((s) => s.trim());
  for (const n of names) if (n === '') throw new SurvivalGoalError(`meridian: --leader-preference "${text}" has an empty DC name`);
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n)) throw new SurvivalGoalError(`meridian: --leader-preference "${text}" names DC "${n}" twice`);
    seen.add(n);
  }
  return names;
}
