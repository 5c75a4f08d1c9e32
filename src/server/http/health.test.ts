// /health's decision table (etcd's order: alarms, then the leader; its exclude and serializable parameters)
// and the status document's helpers and invariants.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AlarmType } from '../../kv/rpc.js';
import { AssertionError } from '../../util/assert.js';
import { HEALTH_REASON_NO_LEADER, memberHealth, parseHealthQuery } from './health.js';
import { alarmName, assertMemberStatusJson, formatMemberId, memberRole, type MemberStatusJson } from './status.js';
import { fixtureStatus, fixtureStatusNoLeader } from './status_fixture.js';

const NOSPACE = { memberId: '2', alarm: 'NOSPACE' } as const;
const CORRUPT = { memberId: '3', alarm: 'CORRUPT' } as const;

function check(status: MemberStatusJson, query = ''): string {
  const h = memberHealth(status, parseHealthQuery(new URLSearchParams(query)));
  return `${h.health} ${h.reason}`.trim();
}

test('health table', () => {
  const rows: [string, MemberStatusJson, string, string][] = [
    ['leader, no alarm', fixtureStatus(), '', 'true'],
    ['no leader', fixtureStatusNoLeader(), '', `false ${HEALTH_REASON_NO_LEADER}`],
    ['NOSPACE alarm', fixtureStatus({ alarms: [NOSPACE] }), '', 'false ALARM NOSPACE'],
    ['CORRUPT alarm', fixtureStatus({ alarms: [CORRUPT] }), '', 'false ALARM CORRUPT'],
    ['alarms are checked before the leader', { ...fixtureStatusNoLeader(), alarms: [NOSPACE] }, '', 'false ALARM NOSPACE'],
    ['excluded alarm', fixtureStatus({ alarms: [NOSPACE] }), 'exclude=NOSPACE', 'true'],
    ['excluded alarm, then no leader', { ...fixtureStatusNoLeader(), alarms: [NOSPACE] }, 'exclude=NOSPACE', `false ${HEALTH_REASON_NO_LEADER}`],
    ['one of two alarms excluded', fixtureStatus({ alarms: [NOSPACE, CORRUPT] }), 'exclude=NOSPACE', 'false ALARM CORRUPT'],
    ['both excluded', fixtureStatus({ alarms: [NOSPACE, CORRUPT] }), 'exclude=NOSPACE&exclude=CORRUPT', 'true'],
    ['unknown exclusion ignored', fixtureStatus({ alarms: [NOSPACE] }), 'exclude=nospace&exclude=', 'false ALARM NOSPACE'],
    ['serializable skips the leader', fixtureStatusNoLeader(), 'serializable=true', 'true'],
    ['serializable keeps alarms', fixtureStatus({ alarms: [CORRUPT] }), 'serializable=true', 'false ALARM CORRUPT'],
    ['serializable must be exactly true', fixtureStatusNoLeader(), 'serializable=1', `false ${HEALTH_REASON_NO_LEADER}`],
  ];
  for (const [what, status, query, expected] of rows) assert.equal(check(status, query), expected, what);
});

test('helpers: hex ids as etcd prints them, roles, alarm names', () => {
  assert.equal(formatMemberId(0), '0');
  assert.equal(formatMemberId(2 ** 52 - 1), 'fffffffffffff');
  assert.equal(formatMemberId(255), 'ff');
  assert.throws(() => formatMemberId(-1), AssertionError);
  assert.throws(() => formatMemberId(1.5), AssertionError);
  assert.equal(memberRole('follower', true), 'learner');
  assert.equal(memberRole('preCandidate', false), 'preCandidate');
  assert.deepEqual([AlarmType.None, AlarmType.NoSpace, AlarmType.Corrupt].map(alarmName), [null, 'NOSPACE', 'CORRUPT']);
});

test('the fixtures satisfy the status invariants; broken documents do not', () => {
  assertMemberStatusJson(fixtureStatus());
  assertMemberStatusJson(fixtureStatusNoLeader());
  const [self, other] = fixtureStatus().members;
  assert.ok(self !== undefined && other !== undefined);
  const broken: [string, MemberStatusJson][] = [
    ['applied above commit', fixtureStatus({ appliedIndex: 121 })],
    ['hasLeader without leaderId', fixtureStatus({ hasLeader: false })],
    ['leader role but another leader', fixtureStatus({ leaderId: '2' })],
    ['follower that names itself leader', fixtureStatus({ role: 'follower' })],
    ['negative key count', fixtureStatus({ keyCount: -1 })],
    ['compacted above applied', fixtureStatus({ compactRevision: 58 })],
    ['duplicate member', fixtureStatus({ members: [self, self] })],
    ['lag without matchIndex', fixtureStatus({ members: [{ ...other, matchIndex: null }] })],
    ['negative rtt', fixtureStatus({ members: [{ ...other, roundTripMs: -1 }] })],
  ];
  for (const [what, status] of broken) assert.throws(() => assertMemberStatusJson(status), AssertionError, what);
});
