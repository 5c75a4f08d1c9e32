// The stock `etcdctl` (3.4, Debian's etcd-client at /usr/bin/etcdctl) against the etcd API on a real socket
// (single-node fixture), comparing etcdctl's exact output where it prints one. CI installs etcdctl; without it
// every test here fails, saying so.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBackend } from '../../storage/backend/memory_backend.js';
import { KvStateMachine } from '../../kv/state_machine.js';
import { rangeRequest } from '../../kv/rpc.js';
import { decodeSnapshotFile } from './snapshot_file.js';
import { bytes, startTestServer, type TestServer, text, within } from './testing.js';

const ETCDCTL = '/usr/bin/etcdctl';
/** One etcdctl run may take this long before it is killed and the test fails. */
const ETCDCTL_RUN_MS = 10_000;
/** Polls of the watch hub while waiting for `etcdctl watch` to register, and their period. */
const WATCH_REGISTER_POLLS = 200;
const WATCH_REGISTER_POLL_MS = 25;

let server: TestServer;
let dir: string;

before(async () => {
  server = await startTestServer();
  dir = mkdtempSync(join(tmpdir(), 'meridian-etcdctl-'));
});

after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function requireEtcdctl(): void {
  if (!existsSync(ETCDCTL)) {
    throw new Error(`${ETCDCTL} is missing: these compatibility tests need the stock etcdctl (apt-get install etcd-client; CI installs it)`);
  }
}

function spawnEtcdctl(args: readonly string[]): ChildProcess {
  requireEtcdctl();
  return spawn(ETCDCTL, [`--endpoints=${server.endpoint}`, '--dial-timeout=3s', '--command-timeout=5s', ...args], {
    env: { ...process.env, ETCDCTL_API: '3' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** Runs etcdctl to completion (bounded), feeding `stdin`. */
function etcdctl(args: readonly string[], stdin = ''): Promise<Run> {
  const child = spawnEtcdctl(args);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin?.end(stdin);
  const done = new Promise<Run>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  return within(done, `etcdctl ${args.join(' ')}`, ETCDCTL_RUN_MS).finally(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
}

/** Runs etcdctl expecting success, and returns its stdout. */
async function ok(args: readonly string[], stdin = ''): Promise<string> {
  const run = await etcdctl(args, stdin);
  assert.equal(run.code, 0, `etcdctl ${args.join(' ')} failed: ${run.stderr}`);
  return run.stdout;
}

/** Runs etcdctl expecting failure with `message` among its errors. */
async function fails(args: readonly string[], message: string): Promise<void> {
  const run = await etcdctl(args);
  assert.notEqual(run.code, 0, `etcdctl ${args.join(' ')} unexpectedly succeeded: ${run.stdout}`);
  assert.ok(run.stderr.includes(`Error: ${message}`), `etcdctl ${args.join(' ')}: expected "${message}" in: ${run.stderr}`);
}

const memberHex = (): string => server.backend.header().memberId.toString(16);
const clusterId = (): string => server.backend.header().clusterId.toString();
// etcdctl prints ids with %16x: space-padded to 16 columns (our ids have 52 bits).
const clusterHex = (): string => server.backend.header().clusterId.toString(16).padStart(16);

test('put, get, get -w json, prefix, del', async () => {
  assert.equal(await ok(['put', 'foo', 'bar']), 'OK\n');
  assert.equal(await ok(['put', 'foo2', 'baz']), 'OK\n');
  assert.equal(await ok(['get', 'foo']), 'foo\nbar\n');
  assert.equal(await ok(['get', 'foo', '--prefix']), 'foo\nbar\nfoo2\nbaz\n');
  assert.equal(await ok(['get', 'foo', '--prefix', '--keys-only']), 'foo\n\nfoo2\n\n');
  assert.equal(await ok(['get', 'missing']), '');
  const json = await ok(['get', 'foo', '-w', 'json']);
  // The raw text: JSON.parse would round the uint64 ids.
  assert.ok(json.includes(`"cluster_id":${clusterId()},"member_id":${server.backend.header().memberId}`), json);
  const parsed = JSON.parse(json) as { kvs: { key: string; value: string; version: number }[]; count: number };
  assert.deepEqual(parsed.kvs.map((kv) => [Buffer.from(kv.key, 'base64').toString(), Buffer.from(kv.value, 'base64').toString(), kv.version]), [['foo', 'bar', 1]]);
  assert.equal(parsed.count, 1);
  assert.equal(await ok(['del', 'foo', '--prefix']), '2\n');
  assert.equal(await ok(['get', 'foo', '--prefix']), '');
});

test('get --rev reads the past', async () => {
  await ok(['put', 'rk', 'v1']);
  const rev = server.backend.header().revision;
  await ok(['put', 'rk', 'v2']);
  assert.equal(await ok(['get', 'rk', `--rev=${rev}`]), 'rk\nv1\n');
  assert.equal(await ok(['get', 'rk']), 'rk\nv2\n');
  await fails(['get', 'rk', `--rev=${rev + 1000}`], 'etcdserver: mvcc: required revision is a future revision');
});

test('txn -i from stdin, success and failure branches', async () => {
  await ok(['put', 'tk', 'old']);
  const prompts = 'compares:\nsuccess requests (get, put, del):\nfailure requests (get, put, del):\n';
  const success = await ok(['txn', '-i'], 'value("tk") = "old"\n\nput tk new\nget tk\n\nput tk failed\n\n');
  assert.equal(success, `${prompts}SUCCESS\n\nOK\n\ntk\nnew\n`);
  const failure = await ok(['txn', '-i'], 'value("tk") = "old"\n\nput tk x\n\ndel tk\n\n');
  assert.equal(failure, `${prompts}FAILURE\n\n1\n`);
});

test('watch prints the events of a put and a delete', async () => {
  const child = spawnEtcdctl(['watch', 'wk']);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  try {
    // Polls the hub (bounded) until etcdctl's watcher is registered, so the put cannot come first.
    for (let i = 0; i < WATCH_REGISTER_POLLS && server.backend.watchHub.stats().watchers === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, WATCH_REGISTER_POLL_MS));
    }
    assert.ok(server.backend.watchHub.stats().watchers > 0, 'etcdctl watch did not register');
    await ok(['put', 'wk', 'v1']);
    await ok(['del', 'wk']);
    const expected = 'PUT\nwk\nv1\nDELETE\nwk\n\n';
    await within(new Promise<void>((resolve) => {
      const check = (): void => {
        if (out.length >= expected.length) resolve();
      };
      check();
      child.stdout?.on('data', check);
    }), 'etcdctl watch output');
    assert.equal(out, expected);
  } finally {
    child.kill('SIGKILL');
  }
});

test('lease grant, put --lease, keep-alive --once, timetolive --keys, list, revoke', async () => {
  const granted = await ok(['lease', 'grant', '10']);
  const match = /^lease ([0-9a-f]{16}) granted with TTL\(10s\)\n$/.exec(granted);
  assert.ok(match !== null, granted);
  const id = match[1] ?? '';
  assert.equal(await ok(['put', '--lease', id, 'lk', 'v']), 'OK\n');
  assert.equal(await ok(['lease', 'keep-alive', '--once', id]), `lease ${id} keepalived with TTL(10)\n`);
  assert.match(await ok(['lease', 'timetolive', '--keys', id]), new RegExp(`^lease ${id} granted with TTL\\(10s\\), remaining\\((9|10)s\\), attached keys\\(\\[lk\\]\\)\\n$`));
  assert.equal(await ok(['lease', 'list']), `found 1 leases\n${id}\n`);
  assert.equal(await ok(['lease', 'revoke', id]), `lease ${id} revoked\n`);
  assert.equal(await ok(['get', 'lk']), '');
  assert.equal(await ok(['lease', 'timetolive', id]), `lease ${id} already expired\n`);
  await fails(['lease', 'revoke', id], 'failed to revoke lease (etcdserver: requested lease not found)');
  await fails(['put', '--lease', '1234abcd', 'lk', 'v'], 'etcdserver: requested lease not found');
});

test('lock runs a command while holding the lock (etcdctl\'s concurrency recipe: txn, lease, watch)', async () => {
  assert.equal(await ok(['lock', 'locks/x', 'echo', 'held']), 'held\n');
  // The lock's lease is revoked after the command, so nothing remains under the lock's prefix.
  assert.equal(await ok(['get', 'locks/x', '--prefix']), '');
});

test('member list, add, update, promote, remove', async () => {
  const self = `${memberHex()}, started, meridian-test, http://127.0.0.1:2380, , false\n`;
  assert.equal(await ok(['member', 'list']), self);
  const added = await ok(['member', 'add', 'n2', '--learner', '--peer-urls=http://127.0.0.1:12390']);
  const id = /^Member\s+([0-9a-f]+) added to cluster\s+([0-9a-f]+)\n/.exec(added);
  assert.ok(id !== null, added);
  assert.equal(id[2], server.backend.header().clusterId.toString(16));
  const newId = id[1] ?? '';
  // etcdctl prints member ids with %16x: space-padded to 16 columns.
  assert.equal(added.slice(0, 'Member '.length + 16), `Member ${newId.padStart(16)}`);
  assert.equal(await ok(['member', 'list']), `${self}${newId}, unstarted, , http://127.0.0.1:12390, , true\n`);
  await fails(['member', 'add', 'n3', '--peer-urls=http://127.0.0.1:12390'], 'etcdserver: Peer URLs already exists');
  await fails(['member', 'promote', newId], 'etcdserver: can only promote a learner member which is in sync with leader');
  await fails(['member', 'promote', memberHex()], 'etcdserver: can only promote a learner member');
  assert.equal(await ok(['member', 'update', newId, '--peer-urls=http://127.0.0.1:12391']), `Member ${newId.padStart(16)} updated in cluster ${clusterHex()}\n`);
  assert.equal(await ok(['member', 'remove', newId]), `Member ${newId.padStart(16)} removed from cluster ${clusterHex()}\n`);
  await fails(['member', 'remove', newId], 'etcdserver: member not found');
  assert.equal(await ok(['member', 'list']), self);
});

test('endpoint status and health', async () => {
  const status = await ok(['endpoint', 'status']);
  assert.match(status, new RegExp(`^${server.endpoint}, ${memberHex()}, 3\\.5\\.0, \\d+ (B|kB|MB), true, false, \\d+, \\d+, \\d+, \\n$`));
  const health = await etcdctl(['endpoint', 'health']);
  assert.equal(health.code, 0, health.stderr);
  // etcdctl 3.4 prints the health line on stderr.
  assert.match(health.stderr, new RegExp(`^${server.endpoint} is healthy: successfully committed proposal: took = [0-9.]+[µm]?s\\n$`));
  const json = JSON.parse(await ok(['endpoint', 'health', '-w', 'json'])) as { endpoint: string; health: boolean }[];
  assert.deepEqual(json.map((e) => [e.endpoint, e.health]), [[server.endpoint, true]]);
});

test('compact, then get --rev below it fails with the compacted error', async () => {
  await ok(['put', 'ck', 'v1']);
  const old = server.backend.header().revision;
  await ok(['put', 'ck', 'v2']);
  const now = server.backend.header().revision;
  assert.equal(await ok(['compact', String(now)]), `compacted revision ${now}\n`);
  await fails(['get', 'ck', `--rev=${old}`], 'etcdserver: mvcc: required revision has been compacted');
  assert.equal(await ok(['get', 'ck', `--rev=${now}`]), 'ck\nv2\n');
  await fails(['compact', String(old)], 'etcdserver: mvcc: required revision has been compacted');
});

test('snapshot save writes a file that restores the store', async () => {
  await ok(['put', 'snap/a', '1']);
  await ok(['put', 'snap/b', '2']);
  const file = join(dir, 'snap.db');
  assert.equal(await ok(['snapshot', 'save', file]), `Snapshot saved at ${file}\n`);
  const restored = KvStateMachine.restore({ backend: new MemoryBackend() }, decodeSnapshotFile(readFileSync(file)));
  try {
    const got = restored.range(rangeRequest({ key: bytes('snap/'), rangeEnd: bytes('snap0') }));
    assert.deepEqual(got.kvs.map((kv) => [text(kv.key), text(kv.value)]), [['snap/a', '1'], ['snap/b', '2']]);
    assert.equal(restored.currentRevision(), server.backend.header().revision);
  } finally {
    restored.close();
  }
});
