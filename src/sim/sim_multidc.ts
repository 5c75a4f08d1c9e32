// Multi-DC simulator runs (issue #6): three DCs with five voters placed 2-2-1 plus learners, leader affinity,
// bounded-staleness reads and clock drift, under the fault catalogue; and scripted whole-DC outages.

import type { SimMultiDc, SimOptions } from './cluster_sim.js';
import type { ClusterSim } from './cluster_sim.js';
import type { SimMember } from './sim_member.js';

export const MULTIDC_DCS = ['us-east', 'eu-west', 'ap-south'] as const;
/** One-way latencies between the DCs, ms: a transatlantic, a transpacific and a long link. */
const ONE_WAY_MS: Readonly<Record<string, number>> = {
  'us-east|eu-west': 40,
  'us-east|ap-south': 100,
  'eu-west|ap-south': 120,
};
/** Five voters 2-2-1, then the learners. */
export const VOTER_PLACEMENT = ['us-east', 'us-east', 'eu-west', 'eu-west', 'ap-south'] as const;
export const LEADER_PREFERENCE = ['us-east', 'eu-west'] as const;
/** Bounds the simulated clients ask bounded reads with, ms: below, near and above the round trips. */
export const STALENESS_BOUNDS_MS = [50, 250, 1000] as const;
/** Monotonic clocks drift by up to this rate: within read_paths' CLOCK_DRIFT_RATE_MAX (1%). */
export const NOW_DRIFT_RATE = 0.0099;

/** Timing tuned for a LAN: 10 ms ticks, heartbeat 50 ms, election timeout 500 ms. */
export const LAN_TIMING = { tickMs: 10, heartbeatTicks: 5, electionTicks: 50 } as const;

function oneWayMs(a: string, b: string): number {
  return ONE_WAY_MS[`${a}|${b}`] ?? ONE_WAY_MS[`${b}|${a}`] ?? 1;
}

export interface MultiDcRunOptions {
  readonly seed: number;
  readonly learnerDcs?: readonly string[];
  readonly autoPromote?: boolean;
  readonly leaseReadShare?: number;
  readonly scenario?: (sim: ClusterSim) => void;
  readonly faultKinds?: SimOptions['faultKinds'];
  readonly faultsMin?: number;
  readonly faultsMax?: number;
  readonly safetyElectionTimeouts?: number;
  /** Start members with LAN timing (50 ms heartbeat, 500 ms election) over the WAN links; adaptive timing stretches it. */
  readonly lanTiming?: boolean;
  readonly log?: (line: string) => void;
}

/** The simulator options of a 2-2-1 run with learners (one in each of the first two DCs by default). */
export function multiDcOptions(o: MultiDcRunOptions): SimOptions {
  const learnerDcs = o.learnerDcs ?? ['ap-south', 'eu-west'];
  const multiDc: SimMultiDc = {
    dcs: MULTIDC_DCS,
    oneWayMs,
    placement: [...VOTER_PLACEMENT, ...learnerDcs],
    member: {
      leaderPreference: LEADER_PREFERENCE,
      survive: 'dc',
      adaptiveTiming: true,
      autoPromote: o.autoPromote ?? false,
      leaseReads: (o.leaseReadShare ?? 0) > 0,
    },
    boundedReadShare: 0.35,
    maxStalenessMs: STALENESS_BOUNDS_MS,
    leaseReadShare: o.leaseReadShare ?? 0,
    nowDriftRate: NOW_DRIFT_RATE,
    ...(o.lanTiming === true ? { lanTiming: LAN_TIMING } : {}),
  };
  return {
    seed: o.seed,
    voters: VOTER_PLACEMENT.length,
    learners: learnerDcs.length,
    multiDc,
    ...(o.scenario === undefined ? {} : { scenario: o.scenario }),
    ...(o.faultKinds === undefined ? {} : { faultKinds: o.faultKinds }),
    ...(o.faultsMin === undefined ? {} : { faultsMin: o.faultsMin }),
    ...(o.faultsMax === undefined ? {} : { faultsMax: o.faultsMax }),
    ...(o.safetyElectionTimeouts === undefined ? {} : { safetyElectionTimeouts: o.safetyElectionTimeouts }),
    ...(o.log === undefined ? {} : { log: o.log }),
  };
}

/** Election timeouts each scripted DC outage lasts. */
const OUTAGE_ELECTION_TIMEOUTS = 8;
/** Probe writes that must be acknowledged during each outage, at least. */
export const OUTAGE_WRITES_MIN = 5;
/** Probe writes per election timeout, to members outside the down DC. */
const PROBES_PER_ELECTION_TIMEOUT = 4;
/** Election timeouts between outages, for the cluster to settle back. */
const OUTAGE_GAP_ELECTION_TIMEOUTS = 6;
/** The key the availability probe writes: outside the clients' keys, so the history checks never see it. */
const PROBE_KEY = '__dc_probe';

/**
 * Takes each DC down in turn (isolated from the others, or all its members crashed), and checks that writes
 * keep being acknowledged while it is down: 2-2-1 keeps a quorum without any one DC. A probe client writes to
 * members outside the down DC (a real client fails over; the simulated ones wait out members they cannot reach).
 */
export function dcOutages(mode: 'isolate' | 'crash'): (sim: ClusterSim) => void {
  return (sim) => {
    const e = sim.electionTimeoutMs;
    let seq = 0;
    const outage = (i: number): void => {
      const dc = MULTIDC_DCS[i];
      if (dc === undefined) return;
      const inside = (m: SimMember): boolean => m.dc === dc;
      const heal = takeDown(sim, mode, inside);
      let acked = 0;
      let probing = false;
      const probe = (): void => {
        if (!probing) return;
        const outside = sim.members().filter((m) => m.up && !inside(m));
        if (outside.length > 0) {
          sim.prng.pick(outside).submit(PROBE_KEY, { kind: 'put', value: `probe-${++seq}` }, (res) => {
            if (probing && res !== null) acked++;
          });
        }
        sim.schedule(e / PROBES_PER_ELECTION_TIMEOUT, probe);
      };
      // Counted from one election timeout in: the first one may go to electing a leader outside the DC.
      sim.schedule(e, () => {
        probing = true;
        probe();
      });
      sim.schedule(OUTAGE_ELECTION_TIMEOUTS * e, () => {
        probing = false;
        if (acked < OUTAGE_WRITES_MIN) sim.flag(`availability: only ${acked} probe writes acknowledged while ${dc} was down (${mode}), expected at least ${OUTAGE_WRITES_MIN}`);
        heal();
        sim.schedule(OUTAGE_GAP_ELECTION_TIMEOUTS * e, () => outage(i + 1));
      });
    };
    sim.schedule(3 * e, () => outage(0));
  };
}

function takeDown(sim: ClusterSim, mode: 'isolate' | 'crash', inside: (m: SimMember) => boolean): () => void {
  const all = sim.members();
  if (mode === 'isolate') {
    const links: [SimMember['id'], SimMember['id']][] = [];
    for (const a of all.filter(inside)) for (const b of all.filter((m) => !inside(m))) links.push([a.id, b.id], [b.id, a.id]);
    return sim.network.cutLinks(links);
  }
  for (const m of all.filter(inside)) m.crash();
  return () => {
    for (const m of sim.members().filter(inside)) m.restartIfDown();
  };
}

/** Safety-phase length that fits every scripted outage of dcOutages, in election timeouts. */
export const DC_OUTAGES_SAFETY_TIMEOUTS = 3 + MULTIDC_DCS.length * (OUTAGE_ELECTION_TIMEOUTS + OUTAGE_GAP_ELECTION_TIMEOUTS);
