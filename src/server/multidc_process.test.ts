// Integration: a three-DC cluster of real member processes on loopback with WAN emulation (--emulate-wan) and a
// learner; stock etcdctl and the etcd3 client against a member in every DC, the learner included; status by DC.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Etcd3 } from 'etcd3';
import type { MemberStatusJson } from './http/status.js';
import { etcdctl, ProcessCluster, type ProcessMember } from './process_cluster.js';
import { pollUntil } from '../util/poll.js';

const run = promisify(execFile);

const MAIN = fileURLToPath(new URL('../cli/main.js', import.meta.url));
/** Small round trips: enough to see, short enough for a fast test. */
const RTT_EAST_WEST_MS = 10;
const RTT_EAST_SOUTH_MS = 40;
const RTT_WEST_SOUTH_MS = 30;
const WAN = `us-east:eu-west=${RTT_EAST_WEST_MS}ms,us-east:ap-south=${RTT_EAST_SOUTH_MS}ms,eu-west:ap-south=${RTT_WEST_SOUTH_MS}ms`;
const DCS = ['us-east', 'eu-west', 'ap-south'] as const;
/** Bound of every wait on the cluster (elections, publishing, catching up). */
const WAIT_MS = 20_000;
const POLL_MS = 100;
/** Timers and smoothing may make a measured round trip a little shorter than the emulated one, never much. */
const RTT_SLACK = 0.9;


const until = <T>(what: string, fn: () => Promise<T | undefined>, c: ProcessCluster): Promise<T> =>
  pollUntil(what, fn, { timeoutMs: WAIT_MS, intervalMs: POLL_MS, context: () => c.logTails() });

async function statusOf(m: ProcessMember): Promise<MemberStatusJson> {
  return (await (await fetch(`http://127.0.0.1:${m.clientPort + 2}/v1/status`)).json()) as MemberStatusJson;
}

const endpoint = (m: ProcessMember): string => `127.0.0.1:${m.clientPort}`;

test('three DCs with emulated WAN and a learner: etcdctl and etcd3 work against every DC, status shows the DCs', { timeout: 90_000 }, async () => {
  const c = await ProcessCluster.start(3, ['--emulate-wan', WAN], (i) => ['--dc', DCS[i] as string]);
  try {
    const [east, west, south] = c.members as [ProcessMember, ProcessMember, ProcessMember];
    const all = c.endpoints();
    // Every voter, one DC at a time: writes and reads through stock etcdctl, exact output.
    for (const [i, m] of [east, west, south].entries()) {
      assert.equal(await until(`a put through ${m.name}`, async () => etcdctl([endpoint(m)], 'put', `k-${DCS[i]}`, `v${i}`), c), 'OK\n');
    }
    for (const m of [east, west, south]) assert.equal(await etcdctl([endpoint(m)], 'get', 'k-ap-south'), 'k-ap-south\nv2\n');

    // Every member publishes its DC: wait for all three, then the emulation is on for every link.
    await until('every member published its DC', async () => {
      const s = await statusOf(east);
      return s.members.length === 3 && s.members.every((m) => m.dc !== '') ? true : undefined;
    }, c);

    // A learner in ap-south, added with stock etcdctl.
    const learner = await c.prepareJoiner('m4', ['--dc', 'ap-south', '--emulate-wan', WAN]);
    const added = await etcdctl(all, 'member', 'add', 'm4', `--peer-urls=http://127.0.0.1:${learner.peerPort}`, '--learner');
    assert.match(added, /^Member\s+[0-9a-f]+ added to cluster\s+[0-9a-f]+\n\nETCD_NAME="m4"\nETCD_INITIAL_CLUSTER=".*m4=http:\/\/127\.0\.0\.1:\d+.*"\nETCD_INITIAL_ADVERTISE_PEER_URLS="http:\/\/127\.0\.0\.1:\d+"\nETCD_INITIAL_CLUSTER_STATE="existing"\n$/);
    c.launch(learner);
    const L = [endpoint(learner)];
    // Serializable reads are what etcd's learners serve: from the learner's own applied state.
    assert.equal(await until('the learner to catch up', async () => {
      const out = await etcdctl(L, 'get', 'k-us-east', '--consistency=s');
      return out === '' ? undefined : out;
    }, c), 'k-us-east\nv0\n');
    assert.equal(await etcdctl(L, 'endpoint', 'status').then((o) => o.split(', ')[5]), 'true', 'endpoint status: IS LEARNER');
    const memberLine = await until('the learner listed as started', async () =>
      (await etcdctl(L, 'member', 'list')).split('\n').find((l) => l.includes(', started, m4, ')), c);
    assert.match(memberLine, new RegExp(`^[0-9a-f]+, started, m4, http://127\\.0\\.0\\.1:${learner.peerPort}, http://127\\.0\\.0\\.1:${learner.clientPort}, true$`));
    // Beyond etcd 3.4 (whose learners refuse these with "etcdserver: rpc not supported for learner"): a Meridian
    // learner serves linearizable reads (ReadIndex) and forwards writes and leases to the leader.
    assert.equal(await etcdctl(L, 'get', 'k-eu-west'), 'k-eu-west\nv1\n');
    assert.equal(await etcdctl(L, 'put', 'from-learner', 'yes'), 'OK\n');
    assert.match(await etcdctl(L, 'lease', 'grant', '30'), /^lease [0-9a-f]{16} granted with TTL\(30s\)\n$/);
    for (const m of [east, west, south]) assert.equal(await etcdctl([endpoint(m)], 'get', 'from-learner'), 'from-learner\nyes\n');

    // The etcd3 client against one member of every DC and the learner: put, linearizable get, watch.
    const clients = [east, west, south, learner].map((m) => new Etcd3({ hosts: `http://${endpoint(m)}`, dialTimeout: 2000 }));
    try {
      const [eastClient, , , learnerClient] = clients as [Etcd3, Etcd3, Etcd3, Etcd3];
      const watcher = await learnerClient.watch().key('watched').create();
      const seen = new Promise<string>((resolve) => watcher.on('put', (kv) => resolve(kv.value.toString())));
      for (const [i, client] of clients.entries()) {
        await client.put(`etcd3-${i}`).value(`from ${i}`);
        for (const reader of clients) assert.equal(await reader.get(`etcd3-${i}`).string(), `from ${i}`);
      }
      await eastClient.put('watched').value('event');
      assert.equal(await seen, 'event', 'the learner serves a watch from its own applied state');
      await watcher.cancel();
      // A linearizable read in ap-south confirms the leader's commit index: at least one round trip to the leader.
      const leaderId = (await statusOf(south)).leaderId;
      const leaderDc = (await statusOf(south)).members.find((m) => m.id === leaderId)?.dc;
      const toLeaderMs = leaderDc === 'us-east' ? RTT_EAST_SOUTH_MS : leaderDc === 'eu-west' ? RTT_WEST_SOUTH_MS : 0;
      const started = performance.now();
      await learnerClient.get('etcd3-0').string();
      const tookMs = performance.now() - started;
      assert.ok(tookMs >= RTT_SLACK * toLeaderMs, `a linearizable read on the ap-south learner took ${tookMs.toFixed(1)} ms; the leader (${leaderDc ?? '?'}) is ${toLeaderMs} ms away`);
    } finally {
      for (const client of clients) client.close();
    }

    // Status by DC: members grouped, round trips as emulated (measured by the peer transports).
    const expected: Record<string, number> = { 'eu-west': RTT_EAST_WEST_MS, 'ap-south': RTT_EAST_SOUTH_MS };
    const dcs = await until('round trips measured from us-east to both other DCs', async () => {
      const s = await statusOf(east);
      const d = s.dcs ?? [];
      return d.length === 3 && d.every((x) => x.dc === 'us-east' || (x.roundTripMs ?? 0) >= RTT_SLACK * (expected[x.dc] ?? 0)) ? d : undefined;
    }, c);
    assert.deepEqual(dcs.map((d) => [d.dc, d.memberIds.length]).sort(), [['ap-south', 2], ['eu-west', 1], ['us-east', 1]]);
    const { stdout } = await run(process.execPath, [MAIN, 'status', '--endpoints', all.join(',')], { timeout: 15_000 });
    for (const dc of DCS) assert.match(stdout, new RegExp(`^DC ${dc}$`, 'm'), stdout);
    assert.match(stdout, /^ {2}m4 +[0-9a-f]+ +learner +\d+ +\d+ +\d+ +\d+ +http:\/\/127\.0\.0\.1:\d+$/m, stdout);
    assert.match(stdout, /^round trips between DCs/m, stdout);
    const json = JSON.parse((await run(process.execPath, [MAIN, 'status', '--json', '--endpoints', all.join(',')], { timeout: 15_000 })).stdout) as { roundTrips: { a: string; b: string; roundTripMs: number }[] };
    const eastSouth = json.roundTrips.find((r) => [r.a, r.b].sort().join() === 'ap-south,us-east');
    assert.ok(eastSouth !== undefined && eastSouth.roundTripMs >= RTT_SLACK * RTT_EAST_SOUTH_MS, JSON.stringify(json.roundTrips));
  } finally {
    await c.destroy();
  }
});
