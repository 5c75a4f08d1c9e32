// Scripted adversaries for the simulator: fault schedules aimed at one known hazard, with timing drawn
// from the seed. Random schedules rarely line up the several coincident events these need.

import type { ClusterSim } from './cluster_sim.js';
import type { SimMember } from './sim_member.js';

const CATCH_UP_POLLS_MAX = 200;

/**
 * Figure 8 of the Raft paper, on three voters A, B, C:
 *  1. once its followers have caught up, leader A is cut off and appends entries only it has: an old
 *     term's tail;
 *  2. B wins the next term with C's vote and is cut off at once: its entry at that index stays local;
 *  3. A and C reconnect; A wins a later term and brings C its old tail, one entry per message. A correct
 *     leader commits that tail only together with an entry of its own term; a leader that counts
 *     replicas commits the tail's first entry alone;
 *  4. the moment A's commit index advances, A is cut off (its news never leaves);
 *  5. B and C reconnect. If C never got an entry of A's term, B's log is the more up to date and B wins,
 *     overwriting what A committed: the simulator's invariants see a committed entry lost.
 * Run it with three voters and small append messages (SimOptions voters: 3, maxSizePerMsg: 128).
 */
export function figure8(sim: ClusterSim): void {
  const e = sim.electionTimeoutMs;
  const cutAll = (m: SimMember): (() => void) => sim.network.cutLinks(
    sim.members().filter((o) => o.id !== m.id).flatMap((o) => [[m.id, o.id], [o.id, m.id]] as const),
  );
  const caughtUp = (a: SimMember): boolean => {
    const st = a.node().status();
    return [...st.progress.values()].every((pr) => pr.match === st.lastIndex);
  };
  const stepOne = (polls: number): void => {
    const a = sim.leader();
    if (a === undefined || (!caughtUp(a) && polls < CATCH_UP_POLLS_MAX)) {
      sim.schedule(sim.timing.tickMs, () => stepOne(polls + 1));
      return;
    }
    const healA = cutAll(a);
    for (let i = 0; i < 5; i++) a.submit('__figure8', { kind: 'put', value: `tail-${i}` }, () => undefined);
    sim.onNextLeader((b) => {
      const healB = cutAll(b);
      sim.schedule(3 * e + sim.prng.float() * e, () => stepThree(a, b, healA, healB));
    });
  };
  const stepThree = (a: SimMember, b: SimMember, healA: () => void, healB: () => void): void => {
    healA();
    // A and B stay apart for the rest of the script.
    sim.network.cutLinks([[a.id, b.id], [b.id, a.id]]);
    const onCommit = (leader: SimMember): void => {
      if (leader.id !== a.id) {
        sim.onNextLeaderCommit(onCommit);
        return;
      }
      cutAll(a);
      sim.schedule(e * (0.5 + sim.prng.float()), healB);
    };
    sim.onNextLeaderCommit(onCommit);
  };
  sim.schedule(3 * e + sim.prng.float() * e, () => stepOne(0));
}
