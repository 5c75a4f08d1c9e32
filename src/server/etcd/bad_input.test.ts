// Bad input on the real port: every row gets etcd's status and message (or gRPC's own refusal), nothing is
// stored, and the server keeps answering other clients.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import type * as grpc from '@grpc/grpc-js';
import { MAX_REQUEST_BYTES, MAX_TXN_OPS } from '../../kv/limits.js';
import { GrpcCode } from './errors.js';
import { GRPC_OVERHEAD_BYTES } from './limits.js';
import { etcdMethod } from '../../wire/etcd_proto.js';
import { bytes, rawBidi, rawClient, rawFailure, rawUnary, startTestServer, StreamRecorder, type TestServer, text, within } from './testing.js';

let server: TestServer;
let client: grpc.Client;

before(async () => {
  server = await startTestServer();
  client = rawClient(server.endpoint, { 'grpc.max_send_message_length': 8 * 1024 * 1024 });
});

after(async () => {
  client.close();
  await server.close();
});

const put = (request: object): Promise<unknown> => rawUnary(client, 'kv', 'Put', request);
const range = (request: object): Promise<unknown> => rawUnary(client, 'kv', 'Range', request);

async function expectError(call: Promise<unknown>, code: number, details: string | RegExp): Promise<void> {
  const failure = await rawFailure(call);
  assert.equal(failure.code, code, `status of "${failure.details}"`);
  if (typeof details === 'string') assert.equal(failure.details, details);
  else assert.match(failure.details, details);
}

/** The store's revision must not move across a failed write. */
async function unchanged(body: () => Promise<void>): Promise<void> {
  const before = server.backend.header().revision;
  await body();
  assert.equal(server.backend.header().revision, before, 'a refused request changed the store');
}

test('a request over 1.5 MiB: etcd\'s "request is too large"; over the gRPC limit: RESOURCE_EXHAUSTED', async () => {
  await unchanged(async () => {
    await expectError(put({ key: bytes('big'), value: Buffer.alloc(MAX_REQUEST_BYTES + 1) }), GrpcCode.InvalidArgument, 'etcdserver: request is too large');
    await expectError(put({ key: bytes('big'), value: Buffer.alloc(MAX_REQUEST_BYTES + GRPC_OVERHEAD_BYTES + 1) }), GrpcCode.ResourceExhausted, /larger than max/);
  });
  // A value just under the limit is stored.
  await put({ key: bytes('big'), value: Buffer.alloc(MAX_REQUEST_BYTES - 1024) });
});

test('a txn over 128 operations, a duplicate key, an empty op', async () => {
  const ops = (n: number): object[] => Array.from({ length: n }, (_, i) => ({ request_put: { key: bytes(`t${i}`) } }));
  await unchanged(async () => {
    await expectError(rawUnary(client, 'kv', 'Txn', { success: ops(MAX_TXN_OPS + 1) }), GrpcCode.InvalidArgument, 'etcdserver: too many operations in txn request');
    const dup = [{ request_put: { key: bytes('d') } }, { request_put: { key: bytes('d') } }];
    await expectError(rawUnary(client, 'kv', 'Txn', { success: dup }), GrpcCode.InvalidArgument, 'etcdserver: duplicate key given in txn request');
    await expectError(rawUnary(client, 'kv', 'Txn', { success: [{}] }), GrpcCode.InvalidArgument, 'etcdserver: key not found');
  });
  await rawUnary(client, 'kv', 'Txn', { success: ops(MAX_TXN_OPS) });
});

test('empty keys, and range_end below key (empty result, as etcd)', async () => {
  await unchanged(async () => {
    await expectError(put({ key: bytes('') }), GrpcCode.InvalidArgument, 'etcdserver: key is not provided');
    await expectError(range({}), GrpcCode.InvalidArgument, 'etcdserver: key is not provided');
  });
  await put({ key: bytes('m'), value: bytes('v') });
  const got = (await range({ key: bytes('z'), range_end: bytes('a') })) as { kvs: unknown[]; count: string };
  assert.deepEqual([got.kvs.length, got.count], [0, '0']);
  const deleted = (await rawUnary(client, 'kv', 'DeleteRange', { key: bytes('z'), range_end: bytes('a') })) as { deleted: string };
  assert.equal(deleted.deleted, '0');
  assert.equal(text(((await range({ key: bytes('m') })) as { kvs: { value: unknown }[] }).kvs[0]?.value), 'v');
});

test('revisions: future, huge, negative', async () => {
  const current = server.backend.header().revision;
  await expectError(range({ key: bytes('m'), revision: current + 1 }), GrpcCode.OutOfRange, 'etcdserver: mvcc: required revision is a future revision');
  await expectError(range({ key: bytes('m'), revision: '9223372036854775807' }), GrpcCode.OutOfRange, 'etcdserver: mvcc: required revision is a future revision');
  // etcd reads a revision <= 0 as the current one.
  const negative = (await range({ key: bytes('m'), revision: -5 })) as { header: { revision: string } };
  assert.equal(negative.header.revision, String(current));
  await unchanged(async () => {
    await expectError(rawUnary(client, 'kv', 'Compact', { revision: current + 1 }), GrpcCode.OutOfRange, 'etcdserver: mvcc: required revision is a future revision');
    await expectError(rawUnary(client, 'kv', 'Compact', { revision: -1 }), GrpcCode.OutOfRange, 'etcdserver: mvcc: required revision has been compacted');
  });
});

test('leases: unknown ids, TTL too large, an id the store cannot hold', async () => {
  await unchanged(async () => {
    await expectError(put({ key: bytes('l'), lease: 12345 }), GrpcCode.NotFound, 'etcdserver: requested lease not found');
    await expectError(put({ key: bytes('l'), lease: '-7' }), GrpcCode.NotFound, 'etcdserver: requested lease not found');
    await expectError(rawUnary(client, 'lease', 'LeaseRevoke', { ID: 12345 }), GrpcCode.NotFound, 'etcdserver: requested lease not found');
    await expectError(rawUnary(client, 'lease', 'LeaseGrant', { TTL: '9000000000000' }), GrpcCode.OutOfRange, 'etcdserver: too large lease TTL');
    await expectError(rawUnary(client, 'lease', 'LeaseGrant', { TTL: 5, ID: '-3' }), GrpcCode.InvalidArgument, /lease ID must be between/);
  });
  const ttl = (await rawUnary(client, 'lease', 'LeaseTimeToLive', { ID: '9223372036854775807' })) as { ID: string; TTL: string };
  assert.deepEqual([ttl.ID, ttl.TTL], ['9223372036854775807', '-1']);
  const keepAlive = new StreamRecorder(rawBidi(client, 'lease', 'LeaseKeepAlive'));
  keepAlive.stream.write({ ID: 12345 });
  keepAlive.stream.write({ ID: '-1' });
  const answers = await keepAlive.count(2, 'two keep-alive answers');
  assert.deepEqual(answers.map((m) => [m['ID'], m['TTL']]), [['12345', '0'], ['-1', '0']]);
  keepAlive.stream.end();
});

test('watch creates refused with etcd\'s reasons: empty range, negative start', async () => {
  const stream = new StreamRecorder(rawBidi(client, 'watch', 'Watch'));
  stream.stream.write({ create_request: { key: bytes('z'), range_end: bytes('a') } });
  stream.stream.write({ create_request: { key: bytes('k'), start_revision: -1 } });
  const [empty, negative] = await stream.count(2, 'two refused creates');
  assert.deepEqual([empty?.['created'], empty?.['canceled'], empty?.['watch_id'], empty?.['cancel_reason']], [true, true, '-1', 'mvcc: watcher range is empty']);
  assert.deepEqual([negative?.['canceled'], negative?.['cancel_reason']], [true, 'etcdserver: mvcc: required revision has been compacted']);
  stream.cancel();
});

test('undecodable bytes, hostile nesting and raw garbage on the port leave the server up', async () => {
  const def = etcdMethod('kv', 'Txn');
  const garbage = (): Promise<unknown> => new Promise((resolve, reject) => {
    client.makeUnaryRequest(def.path, (b: Buffer) => b, def.responseDeserialize, Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 1]), {}, (err, v) => (err === null ? resolve(v) : reject(err)));
  });
  await expectError(garbage(), GrpcCode.Internal, /deserializ/);
  // A txn nested far deeper than protobuf's recursion limit, built front to back.
  const prefixes: Buffer[] = [];
  let length = 0;
  for (let depth = 0; depth < 5000; depth++) {
    for (const tag of [0x22, 0x12]) {
      const varint: number[] = [];
      for (let n = length; ; n = Math.floor(n / 128)) {
        varint.push(n >= 128 ? (n % 128) | 0x80 : n);
        if (n < 128) break;
      }
      prefixes.push(Buffer.from([tag, ...varint]));
      length += 1 + varint.length;
    }
  }
  const nested = Buffer.concat(prefixes.reverse());
  const deep = new Promise((resolve, reject) => {
    client.makeUnaryRequest(def.path, (b: Buffer) => b, def.responseDeserialize, nested, {}, (err, v) => (err === null ? resolve(v) : reject(err)));
  });
  await expectError(deep, GrpcCode.Internal, /deserializ/);
  // Bytes that are not HTTP/2 at all: the server drops the connection.
  await within(new Promise<void>((resolve, reject) => {
    const socket = connect(server.port, '127.0.0.1', () => socket.end(Buffer.from('GET / HTTP/1.1\r\n\r\n\u0000\u00ff garbage')));
    socket.on('error', reject);
    socket.on('close', () => resolve());
    socket.resume();
  }), 'the server to drop a non-HTTP/2 connection');
  // Another client is still served.
  const other = rawClient(server.endpoint);
  try {
    await rawUnary(other, 'kv', 'Put', { key: bytes('alive'), value: bytes('yes') });
    const got = (await rawUnary(other, 'kv', 'Range', { key: bytes('alive') })) as { kvs: { value: unknown }[] };
    assert.equal(text(got.kvs[0]?.value), 'yes');
  } finally {
    other.close();
  }
});
