// A consistent MemberStatusJson for the tests of this folder (and the server's): a three-DC cluster seen
// from its leader, with one learner.

import type { MemberStatusJson } from './status.js';

export function fixtureStatus(overrides: Partial<MemberStatusJson> = {}): MemberStatusJson {
  return {
    clusterId: 'c0ffee',
    id: '1',
    name: 'east-1',
    dc: 'east',
    zone: 'a',
    role: 'leader',
    term: 3,
    leaderId: '1',
    hasLeader: true,
    commitIndex: 120,
    appliedIndex: 118,
    appliedRevision: 57,
    compactRevision: 10,
    dbSizeBytes: 1 << 20,
    dbSizeInUseBytes: 1 << 19,
    keyCount: 40,
    watcherCount: 3,
    leaseCount: 2,
    alarms: [],
    members: [
      { id: '1', name: 'east-1', dc: 'east', zone: 'a', isLearner: false, clientUrls: ['http://10.0.0.1:2379'],
        peerUrls: ['http://10.0.0.1:2380'], matchIndex: 121, replicationLagEntries: 0, roundTripMs: null },
      { id: '2', name: 'west-1', dc: 'west', zone: '', isLearner: false, clientUrls: ['http://10.1.0.1:2379'],
        peerUrls: ['http://10.1.0.1:2380'], matchIndex: 119, replicationLagEntries: 2, roundTripMs: 41.5 },
      { id: '3', name: 'north-1', dc: 'north', zone: 'c', isLearner: true, clientUrls: ['http://10.2.0.1:2379'],
        peerUrls: ['http://10.2.0.1:2380'], matchIndex: null, replicationLagEntries: null, roundTripMs: null },
    ],
    ...overrides,
  };
}

/** The same member while an election is under way: a candidate that knows no leader. */
export function fixtureStatusNoLeader(): MemberStatusJson {
  return fixtureStatus({ role: 'candidate', term: 4, leaderId: null, hasLeader: false });
}
