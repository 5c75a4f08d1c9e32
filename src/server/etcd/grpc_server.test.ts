// The remaining services over a real socket with a plain gRPC client (Maintenance, Auth, health, Cluster ids),
// lease expiry through the fixture's lessor loop, and shutdown ending open streams with etcd's status.

import { test } from 'node:test';
import { createServer } from 'node:net';
import assert from 'node:assert/strict';
import { MemoryBackend } from '../../storage/backend/memory_backend.js';
import { AlarmAction, AlarmType, rangeRequest } from '../../kv/rpc.js';
import { KvStateMachine } from '../../kv/state_machine.js';
import { decodeSnapshotFile } from './snapshot_file.js';
import type { PbMessage } from './convert.js';
import { GrpcCode } from './errors.js';
import { ServingStatus } from './health.js';
import { etcdMethod } from '../../wire/etcd_proto.js';
import { bytes, rawBidi, rawClient, rawFailure, rawUnary, startTestServer, StreamRecorder, within } from './testing.js';

test('maintenance: status, alarms, hashes, defragment, move-leader, downgrade', async () => {
  const server = await startTestServer();
  const client = rawClient(server.endpoint);
  try {
    await rawUnary(client, 'kv', 'Put', { key: bytes('a'), value: bytes('1') });
    const status = await rawUnary(client, 'maintenance', 'Status', {});
    const memberId = server.backend.header().memberId.toString();
    assert.deepEqual([status['version'], status['leader'], status['isLearner'], status['errors']], ['3.5.0', memberId, false, []]);
    const alarm = { action: AlarmAction.Activate, memberID: memberId, alarm: AlarmType.NoSpace };
    const raised = await rawUnary(client, 'maintenance', 'Alarm', alarm);
    assert.deepEqual(raised['alarms'], [{ memberID: memberId, alarm: AlarmType.NoSpace }]);
    const noSpace = await rawFailure(rawUnary(client, 'kv', 'Put', { key: bytes('b'), value: bytes('2') }));
    assert.deepEqual(noSpace, { code: GrpcCode.ResourceExhausted, details: 'etcdserver: mvcc: database space exceeded' });
    assert.equal(((await rawUnary(client, 'maintenance', 'Status', {}))['errors'] as string[]).length, 1);
    await rawUnary(client, 'maintenance', 'Alarm', { ...alarm, action: AlarmAction.Deactivate });
    assert.deepEqual((await rawUnary(client, 'maintenance', 'Alarm', {}))['alarms'], []);
    const h1 = await rawUnary(client, 'maintenance', 'HashKV', { revision: 0 });
    const h2 = await rawUnary(client, 'maintenance', 'HashKV', { revision: 0 });
    assert.equal(h1['hash'], h2['hash']);
    assert.equal(h1['hash_revision'], String(server.backend.header().revision));
    assert.equal(typeof (await rawUnary(client, 'maintenance', 'Hash', {}))['hash'], 'number');
    await rawUnary(client, 'maintenance', 'Defragment', {});
    await rawUnary(client, 'maintenance', 'MoveLeader', { targetID: memberId });
    assert.deepEqual(await rawFailure(rawUnary(client, 'maintenance', 'MoveLeader', { targetID: 77 })), {
      code: GrpcCode.FailedPrecondition, details: 'etcdserver: bad leader transferee',
    });
    assert.equal((await rawFailure(rawUnary(client, 'maintenance', 'Downgrade', {}))).code, GrpcCode.Unimplemented);
  } finally {
    client.close();
    await server.close();
  }
});

test('auth answers as etcd with authentication disabled and no users', async () => {
  const server = await startTestServer();
  const client = rawClient(server.endpoint);
  try {
    assert.equal((await rawUnary(client, 'auth', 'AuthStatus', {}))['enabled'], false);
    assert.deepEqual(await rawFailure(rawUnary(client, 'auth', 'Authenticate', { name: 'root', password: 'x' })), {
      code: GrpcCode.FailedPrecondition, details: 'etcdserver: authentication is not enabled',
    });
    assert.deepEqual(await rawFailure(rawUnary(client, 'auth', 'AuthEnable', {})), {
      code: GrpcCode.FailedPrecondition, details: 'etcdserver: root user does not exist',
    });
    assert.deepEqual((await rawUnary(client, 'auth', 'UserList', {}))['users'], []);
    assert.equal((await rawFailure(rawUnary(client, 'auth', 'UserGet', { name: 'bob' }))).details, 'etcdserver: user name not found');
    assert.equal((await rawFailure(rawUnary(client, 'auth', 'UserAdd', { name: 'bob' }))).code, GrpcCode.Unimplemented);
  } finally {
    client.close();
    await server.close();
  }
});

test('health: SERVING for the whole server, NOT_FOUND for other names, Watch sends the status', async () => {
  const server = await startTestServer();
  const client = rawClient(server.endpoint);
  try {
    assert.deepEqual(await rawUnary(client, 'health', 'Check', { service: '' }), { status: ServingStatus.Serving });
    assert.deepEqual(await rawFailure(rawUnary(client, 'health', 'Check', { service: 'etcdserverpb.KV' })), {
      code: GrpcCode.NotFound, details: 'unknown service',
    });
    const def = etcdMethod('health', 'Watch');
    const watch = client.makeServerStreamRequest(def.path, def.requestSerialize, def.responseDeserialize, { service: '' });
    const first = await within(new Promise<unknown>((resolve) => watch.once('data', resolve)), 'the health watch status');
    assert.deepEqual(first, { status: ServingStatus.Serving });
    watch.on('error', () => undefined);
    watch.cancel();
  } finally {
    client.close();
    await server.close();
  }
});

test('a lease expires through the lessor loop: its key is deleted, watchers see it', async () => {
  const ttlSeconds = 1;
  const server = await startTestServer({ minLeaseTtlSeconds: ttlSeconds });
  const client = rawClient(server.endpoint);
  try {
    const grant = await rawUnary(client, 'lease', 'LeaseGrant', { TTL: ttlSeconds });
    const watch = new StreamRecorder(rawBidi(client, 'watch', 'Watch'));
    watch.stream.write({ create_request: { key: bytes('eph') } });
    await watch.count(1, 'created');
    const start = performance.now();
    await rawUnary(client, 'kv', 'Put', { key: bytes('eph'), value: bytes('v'), lease: grant['ID'] as string });
    const messages = await watch.until((m) => m.some((r) => (r['events'] as PbMessage[]).some((e) => e['type'] === 1)), 'the expiry delete', 5000);
    const elapsedMs = performance.now() - start;
    assert.ok(elapsedMs >= ttlSeconds * 1000 - 50, `the lease expired after ${elapsedMs} ms, before its TTL`);
    assert.ok(messages.length >= 3);
    assert.deepEqual((await rawUnary(client, 'kv', 'Range', { key: bytes('eph') }))['kvs'], []);
    assert.equal((await rawUnary(client, 'lease', 'LeaseTimeToLive', { ID: grant['ID'] as string }))['TTL'], '-1');
    watch.cancel();
  } finally {
    client.close();
    await server.close();
  }
});

test('close ends open streams with "etcdserver: server stopped" and frees the port', async () => {
  const server = await startTestServer();
  const client = rawClient(server.endpoint);
  const watch = new StreamRecorder(rawBidi(client, 'watch', 'Watch'));
  watch.stream.write({ create_request: { key: bytes('k') } });
  await watch.count(1, 'created');
  const keepAlive = new StreamRecorder(rawBidi(client, 'lease', 'LeaseKeepAlive'));
  await within(server.close(), 'server close', 3000);
  await watch.until(() => watch.error !== null, 'the watch stream to end');
  const err = watch.error as { code?: number; details?: string };
  assert.deepEqual([err.code, err.details], [GrpcCode.Unavailable, 'etcdserver: server stopped']);
  await keepAlive.until(() => keepAlive.error !== null, 'the keep-alive stream to end');
  assert.equal((keepAlive.error as { code?: number }).code, GrpcCode.Unavailable);
  client.close();
  // The port is free again.
  const probe = createServer();
  await within(new Promise<void>((resolve, reject) => {
    probe.once('error', reject);
    probe.listen(server.port, '127.0.0.1', () => resolve());
  }), 'listening on the freed port');
  await new Promise<void>((resolve) => probe.close(() => resolve()));
});

test('a snapshot in many small pieces reassembles; a client leaving midway does not stop the next one', async () => {
  const server = await startTestServer({ limits: { snapshotSendBytesMax: 1000 } });
  const client = rawClient(server.endpoint);
  const def = etcdMethod('maintenance', 'Snapshot');
  const fetch = (stopAfter = Infinity): Promise<PbMessage[]> => within(new Promise((resolve, reject) => {
    const messages: PbMessage[] = [];
    const call = client.makeServerStreamRequest(def.path, def.requestSerialize, (b: Buffer) => def.responseDeserialize(b) as PbMessage, {});
    call.on('data', (m: PbMessage) => {
      messages.push(m);
      if (messages.length >= stopAfter) {
        call.on('error', () => undefined);
        call.cancel();
        resolve(messages);
      }
    });
    call.on('end', () => resolve(messages));
    call.on('error', reject);
  }), 'a snapshot stream');
  try {
    for (let i = 0; i < 50; i++) await rawUnary(client, 'kv', 'Put', { key: bytes(`s/${i}`), value: Buffer.alloc(200, 120) });
    assert.equal((await fetch(3)).length, 3);
    const messages = await fetch();
    assert.ok(messages.length > 10, `only ${messages.length} messages`);
    assert.ok(messages[0]?.['header'] !== null && messages.slice(1).every((m) => m['header'] === null));
    const remaining = messages.map((m) => Number(m['remaining_bytes']));
    assert.equal(remaining[remaining.length - 1], 0);
    const blobs = Buffer.concat(messages.map((m) => m['blob'] as Buffer));
    const restored = KvStateMachine.restore({ backend: new MemoryBackend() }, decodeSnapshotFile(blobs));
    try {
      assert.equal(restored.range(rangeRequest({ key: bytes('s/'), rangeEnd: bytes('s0') })).count, 50);
    } finally {
      restored.close();
    }
  } finally {
    client.close();
    await server.close();
  }
});
