// `meridian status` rendering: one table per DC with role, term, indexes and lag, then the DC round trips.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clusterStatusByDc } from '../server/http/status.js';
import { fixtureStatus } from '../server/http/status_fixture.js';
import { renderClusterStatus } from './client_commands.js';

test('status groups members by DC and prints the round-trip matrix', () => {
  const follower = fixtureStatus({ id: '2', role: 'follower', commitIndex: 119, appliedIndex: 119,
    members: fixtureStatus().members.map((m) => ({ ...m, matchIndex: null, replicationLagEntries: null, roundTripMs: m.id === '1' ? 42.5 : null })) });
  const view = clusterStatusByDc([fixtureStatus({ placement: { survivalGoal: 'region', met: false, leaderPreference: ['east'] } }), follower]);
  assert.equal(renderClusterStatus(view), [
    'cluster c0ffee: leader east-1 (1) in east, 3 members in 3 DCs',
    'placement: survival goal region (NOT met), leader preference east',
    '',
    '  NAME     ID  ROLE         TERM  COMMIT  APPLIED  LAG  CLIENT URL',
    'DC east',
    '  east-1   1   leader       3     120     118      0    http://10.0.0.1:2379',
    'DC west',
    '  west-1   2   follower     3     119     119      2    http://10.1.0.1:2379',
    'DC north',
    '  north-1  3   unreachable  -     -       -        -    http://10.2.0.1:2379',
    '',
    "round trips between DCs (ms, median of the members' measurements):",
    '       east  west  north',
    'east   -     42.0  -',
    'west   42.0  -     -',
    'north  -     -     -',
  ].join('\n'));
});
