// The read metadata over the wire, on a real one-member cluster: a Range with Meridian's metadata is served by
// the path it chose and answers with meridian-read-path and meridian-applied-revision; bad values are INVALID_ARGUMENT.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { etcdMethod } from '../../wire/etcd_proto.js';
import { GrpcCode } from './errors.js';
import { bytes, rawClient, rawUnary, startTestServer, TEST_WAIT_MS } from './testing.js';

function rangeWith(client: grpc.Client, pairs: Record<string, string>): Promise<{ err: grpc.ServiceError | null; md: grpc.Metadata | null }> {
  const def = etcdMethod('kv', 'Range');
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(pairs)) md.set(k, v);
  return new Promise((resolve) => {
    let received: grpc.Metadata | null = null;
    const call = client.makeUnaryRequest(def.path, def.requestSerialize, def.responseDeserialize, { key: bytes('k') }, md, { deadline: Date.now() + TEST_WAIT_MS }, (err) => {
      resolve({ err, md: received });
    });
    call.on('metadata', (m: grpc.Metadata) => {
      received = m;
    });
  });
}

test('Range metadata selects the read path and the answer names it', async () => {
  const server = await startTestServer();
  const client = rawClient(server.endpoint);
  try {
    await rawUnary(client, 'kv', 'Put', { key: bytes('k'), value: bytes('v') });
    const applied = String(server.backend.header().revision);
    const serializable = await rangeWith(client, { 'meridian-read-consistency': 'serializable' });
    assert.equal(serializable.err, null);
    assert.deepEqual(serializable.md?.get('meridian-read-path'), ['serializable']);
    assert.deepEqual(serializable.md?.get('meridian-applied-revision'), [applied]);
    const linearizable = await rangeWith(client, { 'meridian-read-consistency': 'linearizable' });
    assert.deepEqual(linearizable.md?.get('meridian-read-path'), ['read-index']);
    const minRevision = await rangeWith(client, { 'meridian-read-consistency': 'min-revision', 'meridian-min-revision': applied });
    assert.deepEqual(minRevision.md?.get('meridian-read-path'), ['min-revision']);
    // The first bounded read has no proof of freshness yet, or one from the reads before: either way it is served.
    const bounded = await rangeWith(client, { 'meridian-read-consistency': 'bounded', 'meridian-max-staleness-ms': '500' });
    assert.equal(bounded.err, null);
    assert.ok(['bounded-local', 'read-index'].includes(String(bounded.md?.get('meridian-read-path')[0])), String(bounded.md?.get('meridian-read-path')));
    // Absent metadata: etcd's behaviour (linearizable unless the request says serializable).
    const plain = await rangeWith(client, {});
    assert.equal(plain.err, null);
    assert.deepEqual(plain.md?.get('meridian-read-path'), ['read-index']);
    const bad = await rangeWith(client, { 'meridian-read-consistency': 'bounded', 'meridian-max-staleness-ms': 'soon' });
    assert.equal(bad.err?.code, GrpcCode.InvalidArgument);
    assert.match(bad.err?.details ?? '', /meridian-max-staleness-ms must be an integer .* got "soon"/);
  } finally {
    client.close();
    await server.close();
  }
});
