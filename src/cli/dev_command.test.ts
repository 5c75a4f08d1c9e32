// `meridian dev`'s topology: parsing, member order and ports (the first three on etcd's Procfile ports, one
// per DC), and the check that the round-trip matrix covers every pair of DCs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_RTT, DEFAULT_TOPOLOGY, devMembers, devPort, devRttMatrix, parseTopology } from './dev_command.js';
import { UsageError } from './flags.js';

test('the default topology puts one member of each DC on 2379, 22379, 32379', () => {
  const dcs = parseTopology(DEFAULT_TOPOLOGY);
  assert.deepEqual(dcs, [{ dc: 'us-east', voters: 2, learners: 0 }, { dc: 'eu-west', voters: 2, learners: 0 }, { dc: 'ap-south', voters: 1, learners: 0 }]);
  const members = devMembers(dcs, 2379, 2380);
  assert.deepEqual(members.map((m) => `${m.name}:${m.dc}:${m.clientPort}:${m.peerPort}`),
    ['m1:us-east:2379:2380', 'm2:eu-west:22379:22380', 'm3:ap-south:32379:32380', 'm4:us-east:42379:42380', 'm5:eu-west:52379:52380']);
  assert.equal(devRttMatrix(DEFAULT_RTT, dcs)?.size, 3);
});

test('learners come after the voters; ports past the Procfile layout step by 100', () => {
  const members = devMembers(parseTopology('a=3:1,b=2:1,c=1'), 2379, 2380);
  assert.deepEqual(members.map((m) => `${m.dc}${m.learner ? 'L' : 'V'}`), ['aV', 'bV', 'cV', 'aV', 'bV', 'aV', 'aL', 'bL']);
  assert.deepEqual(members.map((m) => m.clientPort), [2379, 22379, 32379, 42379, 52379, 62379, 2479, 2579]);
  const all = members.flatMap((m) => [m.clientPort, m.clientPort + 2, m.peerPort]);
  assert.equal(new Set(all).size, all.length, 'client, HTTP and peer ports never collide');
  assert.equal(devPort(2379, 0), 2379);
});

test('bad topologies and matrices are usage errors', () => {
  const rows: [() => unknown, RegExp][] = [
    [() => parseTopology('us-east'), /not NAME=VOTERS\[:LEARNERS\]/],
    [() => parseTopology('a=1,a=2'), /DC a is given twice/],
    [() => parseTopology('a=0:2'), /0 voters/],
    [() => parseTopology('a=4,b=4'), /8 voters/],
    [() => parseTopology('a=5:3,b=2'), /10 members/],
    [() => parseTopology('bad dc=1'), /not a DC name/],
    [() => devRttMatrix('a:b=10ms', parseTopology('a=1,b=1,c=1')), /no round trip for a:c, b:c/],
    [() => devRttMatrix('a:b=fast', parseTopology('a=1,b=1')), /--rtt entry "a:b=fast"/],
  ];
  for (const [fn, expected] of rows) assert.throws(fn, (err: unknown) => err instanceof UsageError && expected.test(err.message));
  assert.equal(devRttMatrix('none', parseTopology('a=1,b=1')), null);
});
