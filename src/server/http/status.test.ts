// The status documents by DC: one member's DC summary, and the cluster view merged from every member's.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clusterStatusByDc, dcSummaries, median, type MemberStatusJson } from './status.js';
import { fixtureStatus } from './status_fixture.js';

/** The fixture's follower and learner, each answering with its own figures and round trips. */
function others(): MemberStatusJson[] {
  const leader = fixtureStatus();
  const as = (id: string, role: MemberStatusJson['role'], rtts: Record<string, number>): MemberStatusJson => fixtureStatus({
    id, role, commitIndex: 119, appliedIndex: 117,
    members: leader.members.map((m) => ({ ...m, matchIndex: null, replicationLagEntries: null, roundTripMs: rtts[m.id] ?? null })),
  });
  return [as('2', 'follower', { 1: 40.5, 3: 80 }), as('3', 'learner', { 1: 60, 2: 79 })];
}

test('median', () => {
  assert.equal(median([]), null);
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
});

test("one member's DC summary: members by DC and its median round trip to each", () => {
  assert.deepEqual(dcSummaries(fixtureStatus().members), [
    { dc: 'east', memberIds: ['1'], roundTripMs: null },
    { dc: 'west', memberIds: ['2'], roundTripMs: 41.5 },
    { dc: 'north', memberIds: ['3'], roundTripMs: null },
  ]);
  assert.deepEqual(dcSummaries([{ ...(fixtureStatus().members[0] as MemberStatusJson['members'][number]), dc: '' }]).map((d) => d.dc), ['(no dc)']);
});

test('the cluster view: roles and indexes from each member, lag from the leader, round trips between DCs', () => {
  const view = clusterStatusByDc([...others(), fixtureStatus()]);
  assert.equal(view.leaderId, '1');
  assert.deepEqual(view.dcs.map((d) => [d.dc, d.members.map((m) => `${m.name}:${m.role}:${m.commitIndex}:${m.appliedIndex}:${m.replicationLagEntries}`)]), [
    ['east', ['east-1:leader:120:118:0']],
    ['west', ['west-1:follower:119:117:2']],
    ['north', ['north-1:learner:119:117:null']],
  ]);
  assert.deepEqual(view.roundTrips, [
    { a: 'east', b: 'north', roundTripMs: 60 },
    { a: 'east', b: 'west', roundTripMs: 41 },
    { a: 'north', b: 'west', roundTripMs: 79.5 },
  ]);
});

test('an unreachable member keeps its place; without the leader there is no lag', () => {
  const [follower] = others();
  const view = clusterStatusByDc([follower as MemberStatusJson]);
  const members = view.dcs.flatMap((d) => d.members);
  assert.deepEqual(members.map((m) => m.role), ['unreachable', 'follower', 'unreachable']);
  assert.ok(members.every((m) => m.replicationLagEntries === null));
  assert.equal(members[0]?.term, null);
});

test('placement and timing pass through from the leader', () => {
  const placement = { survivalGoal: 'region', met: true, leaderPreference: ['east', 'west'] };
  const view = clusterStatusByDc([fixtureStatus({ placement, timing: { heartbeatMs: 100, electionMs: 1000 } })]);
  assert.deepEqual(view.placement, placement);
  assert.deepEqual(view.timing, { heartbeatMs: 100, electionMs: 1000 });
});

test("the leader's DC comes first", () => {
  const view = clusterStatusByDc([fixtureStatus({ role: 'follower', leaderId: '2' })]);
  assert.deepEqual(view.dcs.map((d) => d.dc), ['west', 'east', 'north']);
});
