// Integration: three real member processes on loopback, used by stock etcdctl and the etcd3 client; the
// leader is killed with kill -9 while a client writes, and no acknowledged write may be lost.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { etcdctl, ProcessCluster, type ProcessMember } from './process_cluster.js';
import { pollUntil } from '../util/poll.js';

/** Bounds for waiting on the cluster: elections take a few 500 ms timeouts. */
const WAIT_MS = 20_000;


const until = <T>(what: string, fn: () => Promise<T | undefined>, c: ProcessCluster): Promise<T> =>
  pollUntil(what, fn, { timeoutMs: WAIT_MS, intervalMs: 100, context: () => c.logTails() });

async function leaderOf(c: ProcessCluster): Promise<ProcessMember | undefined> {
  for (const m of c.members) {
    if (m.process === null) continue;
    const client = new Etcd3({ hosts: `http://127.0.0.1:${m.clientPort}`, dialTimeout: 1000 });
    try {
      const s = await client.maintenance.status();
      if (s.leader !== '0' && s.leader === s.header.member_id) return m;
    } catch {
      // not answering yet
    } finally {
      client.close();
    }
  }
  return undefined;
}

test('a three-member cluster of real processes serves etcdctl and etcd3, and survives kill -9 of its leader', { timeout: 120_000 }, async () => {
  const c = await ProcessCluster.start(3);
  try {
    await until('a leader', () => leaderOf(c), c);
    const all = c.endpoints();
    // Stock etcdctl, exact output.
    assert.equal(await until('a put through etcdctl', async () => etcdctl(all, 'put', 'greeting', 'hello'), c), 'OK\n');
    assert.equal(await etcdctl(all, 'get', 'greeting'), 'greeting\nhello\n');
    const members = await etcdctl(all, 'member', 'list');
    assert.equal(members.trim().split('\n').length, 3, members);
    // Every member serves /health, /metrics and its JSON status over HTTP (client port + 2).
    const first = c.members[0] as ProcessMember;
    // (A member learns of the leader from its first heartbeat: wait for that.)
    const health = await until('a healthy member', async () => {
      const r = await fetch(`http://127.0.0.1:${first.clientPort + 2}/health`);
      return r.status === 200 ? r : undefined;
    }, c);
    assert.deepEqual(await health.json(), { health: 'true', reason: '' });
    const metrics = await (await fetch(`http://127.0.0.1:${first.clientPort + 2}/metrics`)).text();
    assert.match(metrics, /etcd_server_has_leader 1/);
    const status = (await (await fetch(`http://127.0.0.1:${first.clientPort + 2}/v1/status`)).json()) as { members: unknown[]; hasLeader: boolean };
    assert.equal(status.members.length, 3);
    assert.equal(status.hasLeader, true);
    // A lease kept alive through a follower is forwarded to the leader.
    const leader = await until('a leader', () => leaderOf(c), c);
    const follower = c.members.find((m) => m !== leader && m.process !== null) as ProcessMember;
    const lease = (await etcdctl(all, 'lease', 'grant', '30')).split(' ')[1] as string;
    // (The leader's client URL is known once it published its attributes, shortly after the election.)
    const kept = await until('a keep-alive forwarded to the leader', async () => etcdctl([`127.0.0.1:${follower.clientPort}`], 'lease', 'keep-alive', '--once', lease), c);
    assert.match(kept, /keepalived with TTL\(30\)/);

    // Writes while the leader dies: every acknowledged write must survive.
    const client = new Etcd3({ hosts: all.map((e) => `http://${e}`), dialTimeout: 2000 });
    const acked: string[] = [];
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing && i < 100_000; i++) {
        try {
          await client.put(`w${i}`).value(String(i));
          acked.push(`w${i}`);
        } catch {
          // unknown outcome; the next write goes on
        }
      }
    })();
    await until('some writes', async () => (acked.length >= 20 ? true : undefined), c);
    await c.kill9(leader);
    const before = acked.length;
    await until('writes after the leader died', async () => (acked.length >= before + 20 ? true : undefined), c);
    writing = false;
    await writer;
    // Restart the killed member: it catches up.
    c.launch(leader);
    const last = acked[acked.length - 1] as string;
    const own = new Etcd3({ hosts: `http://127.0.0.1:${leader.clientPort}`, dialTimeout: 2000 });
    try {
      await until('the restarted member to catch up', async () => ((await own.get(last).string()) !== null ? true : undefined), c);
    } finally {
      own.close();
    }
    const stored = await client.getAll().prefix('w').keys();
    const missing = acked.filter((k) => !stored.includes(k));
    assert.deepEqual(missing, [], `acknowledged writes lost: ${missing.slice(0, 5).join(', ')}`);
    client.close();
  } finally {
    await c.destroy();
  }
});

test('membership with real processes: add a learner, it catches up and is promoted, move the leader, remove a member, while a client writes', { timeout: 120_000 }, async () => {
  const c = await ProcessCluster.start(3);
  try {
    await until('a leader', () => leaderOf(c), c);
    const all = c.endpoints();
    const client = new Etcd3({ hosts: all.map((e) => `http://${e}`), dialTimeout: 2000 });
    let writing = true;
    let writes = 0;
    const writer = (async () => {
      for (let i = 0; writing && i < 100_000; i++) {
        try {
          await client.put(`m${i}`).value(String(i));
          writes++;
        } catch {
          // leadership moves under this client; the outcome of a failed put is unknown
        }
      }
    })();
    // MemberAdd as a learner, then start the new member: it joins from the existing members' log.
    const joiner = await c.prepareJoiner('m4');
    const added = await etcdctl(all, 'member', 'add', 'm4', `--peer-urls=http://127.0.0.1:${joiner.peerPort}`, '--learner');
    assert.match(added, /Member\s+[0-9a-f]+ added to cluster/);
    c.launch(joiner);
    const learnerId = (await until('the learner in the member list', async () => {
      const line = (await etcdctl(all, 'member', 'list')).split('\n').find((l) => l.includes(`:${joiner.peerPort}`));
      return line?.split(',')[0];
    }, c)) as string;
    // A learner serves reads from its own state: wait until it has caught up with what was written.
    await until('the learner to catch up', async () => {
      const out = await etcdctl([`127.0.0.1:${joiner.clientPort}`], 'get', 'm0', '--consistency=s');
      return out.includes('m0') ? true : undefined;
    }, c);
    await until('the learner promoted', async () => {
      const out = await etcdctl(all, 'member', 'promote', learnerId);
      return out.includes('promoted') ? true : undefined;
    }, c);
    // The new member publishes its name and client URLs once it can (etcd's publish), possibly after the promotion.
    await until('m4 listed as a started voter', async () =>
      (new RegExp(`${learnerId}, started, m4, .*, false`).test(await etcdctl(all, 'member', 'list')) ? true : undefined), c);
    // Move the leader to the new member, then remove one of the original members.
    const leader = await until('a leader', () => leaderOf(c), c);
    await until('leadership moved to m4', async () => {
      await etcdctl([`127.0.0.1:${leader.clientPort}`], 'move-leader', learnerId);
      return (await leaderOf(c)) === joiner ? true : undefined;
    }, c);
    const victim = c.members.find((m) => m !== joiner && m.process !== null) as ProcessMember;
    const victimId = (await etcdctl(all, 'member', 'list')).split('\n').find((l) => l.includes(`:${victim.peerPort}`))?.split(',')[0] as string;
    assert.match(await etcdctl([`127.0.0.1:${joiner.clientPort}`], 'member', 'remove', victimId), /removed from cluster/);
    await c.kill9(victim);
    const before = writes;
    await until('writes after the changes', async () => (writes >= before + 20 ? true : undefined), c);
    writing = false;
    await writer;
    client.close();
    assert.equal((await etcdctl([`127.0.0.1:${joiner.clientPort}`], 'member', 'list')).trim().split('\n').length, 3);
  } finally {
    await c.destroy();
  }
});

test('a member that was down while the log was compacted catches up by snapshot transfer; junk on the peer port harms nothing', { timeout: 120_000 }, async () => {
  // Small snapshot counts so a few hundred writes compact the log past what the stopped member has.
  const c = await ProcessCluster.start(3, ['--snapshot-count', '100']);
  try {
    const leader = await until('a leader', () => leaderOf(c), c);
    const behind = c.members.find((m) => m !== leader) as ProcessMember;
    await c.kill9(behind);
    const live = c.endpoints();
    const client = new Etcd3({ hosts: live.map((e) => `http://${e}`), dialTimeout: 2000 });
    for (let i = 0; i < 400; i++) await client.put(`s${i}`).value(`v${i}`);
    // Random bytes and a bogus handshake on a member's peer port: the connection is dropped, the member stays up.
    const { connect } = await import('node:net');
    for (const junk of [Buffer.from('GET / HTTP/1.1\r\n\r\n'), Buffer.alloc(4096, 0xff), Buffer.from([0, 0, 0, 8, 1, 2, 3])]) {
      await new Promise<void>((resolve) => {
        const s = connect({ host: '127.0.0.1', port: leader.peerPort }, () => s.end(junk));
        s.on('close', () => resolve());
        s.on('error', () => resolve());
        s.setTimeout(5000, () => s.destroy());
      });
    }
    assert.equal(await etcdctl(live, 'put', 'after-junk', 'ok'), 'OK\n');
    // Restarted with info logs, to see how it caught up.
    (behind.args as string[])[behind.args.indexOf('warn')] = 'info';
    c.launch(behind);
    const own = new Etcd3({ hosts: `http://127.0.0.1:${behind.clientPort}`, dialTimeout: 2000 });
    try {
      await until('the restarted member to catch up by snapshot', async () => ((await own.get('after-junk').string()) === 'ok' ? true : undefined), c);
      assert.equal(await own.get('s0').string(), 'v0', 'state from before the snapshot arrived with it');
      assert.equal(await own.get('s399').string(), 'v399');
      assert.match(behind.output, /installed a snapshot from the leader/);
    } finally {
      own.close();
    }
    client.close();
  } finally {
    await c.destroy();
  }
});
