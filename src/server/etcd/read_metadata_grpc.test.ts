// The read metadata over the wire: a Range with Meridian's metadata reaches the backend's read() with the chosen
// path and answers with meridian-read-path and meridian-applied-revision; bad values are INVALID_ARGUMENT.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { revision } from '../../util/branded.js';
import type { RangeRequest, RangeResponse } from '../../kv/rpc.js';
import { etcdMethod } from '../../wire/etcd_proto.js';
import type { ReadOptions, ReadServed } from './backend.js';
import { GrpcCode } from './errors.js';
import { startEtcdGrpcServer } from './grpc_server.js';
import { SingleNodeBackend } from './single_node_backend.js';
import { bytes, rawClient, TEST_WAIT_MS } from './testing.js';

/** The single-node fixture with a read() that reports the mode it was asked for as the path. */
class ReadBackend extends SingleNodeBackend {
  readonly asked: ReadOptions[] = [];
  async read(req: RangeRequest, options: ReadOptions): Promise<{ response: RangeResponse; served: ReadServed }> {
    this.asked.push(options);
    const path = options.mode === 'bounded' ? 'bounded-local' : options.mode === 'leaseRead' ? 'lease' : 'read-index';
    return { response: await this.range(req), served: { path, appliedRevision: revision(7) } };
  }
}

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
  const backend = new ReadBackend();
  const server = await startEtcdGrpcServer(backend, { host: '127.0.0.1', port: 0 });
  const client = rawClient(`127.0.0.1:${server.port}`);
  try {
    const bounded = await rangeWith(client, { 'meridian-read-consistency': 'bounded', 'meridian-max-staleness-ms': '500' });
    assert.equal(bounded.err, null);
    assert.deepEqual(bounded.md?.get('meridian-read-path'), ['bounded-local']);
    assert.deepEqual(bounded.md?.get('meridian-applied-revision'), ['7']);
    assert.deepEqual(backend.asked[0], { mode: 'bounded', maxStalenessMs: 500 });
    // Absent metadata: etcd's behaviour (linearizable unless the request says serializable).
    const plain = await rangeWith(client, {});
    assert.equal(plain.err, null);
    assert.deepEqual(backend.asked[1], { mode: 'linearizable' });
    const bad = await rangeWith(client, { 'meridian-read-consistency': 'bounded', 'meridian-max-staleness-ms': 'soon' });
    assert.equal(bad.err?.code, GrpcCode.InvalidArgument);
    assert.match(bad.err?.details ?? '', /meridian-max-staleness-ms must be an integer .* got "soon"/);
    assert.equal(backend.asked.length, 2);
  } finally {
    client.close();
    await server.close();
    backend.close();
  }
});
