import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { forceFromMetadata, readOptionsFromMetadata } from './read_metadata.js';
import { toGrpcStatus, GrpcCode } from './errors.js';

const md = (pairs: Record<string, string>): grpc.Metadata => {
  const m = new grpc.Metadata();
  for (const [k, v] of Object.entries(pairs)) m.set(k, v);
  return m;
};

test('without Meridian metadata, etcd\'s serializable flag decides', () => {
  assert.deepEqual(readOptionsFromMetadata(md({}), false), { mode: 'linearizable' });
  assert.deepEqual(readOptionsFromMetadata(md({}), true), { mode: 'serializable' });
});

test('every consistency value maps to its read mode', () => {
  assert.deepEqual(readOptionsFromMetadata(md({ 'meridian-read-consistency': 'bounded', 'meridian-max-staleness-ms': '250' }), false), { mode: 'bounded', maxStalenessMs: 250 });
  assert.deepEqual(readOptionsFromMetadata(md({ 'meridian-read-consistency': 'min-revision', 'meridian-min-revision': '42' }), false), { mode: 'minRevision', minRevision: 42 });
  assert.deepEqual(readOptionsFromMetadata(md({ 'meridian-read-consistency': 'lease' }), false), { mode: 'leaseRead' });
  assert.deepEqual(readOptionsFromMetadata(md({ 'meridian-read-consistency': 'serializable' }), false), { mode: 'serializable' });
  assert.deepEqual(readOptionsFromMetadata(md({ 'meridian-read-consistency': 'linearizable' }), true), { mode: 'linearizable' });
});

test('bad values are INVALID_ARGUMENT with a message naming key and value', () => {
  const bad: Record<string, string>[] = [
    { 'meridian-read-consistency': 'eventual' },
    { 'meridian-read-consistency': 'bounded' },
    { 'meridian-read-consistency': 'bounded', 'meridian-max-staleness-ms': '-5' },
    { 'meridian-read-consistency': 'bounded', 'meridian-max-staleness-ms': '1e3' },
    { 'meridian-read-consistency': 'bounded', 'meridian-max-staleness-ms': '0' },
    { 'meridian-read-consistency': 'min-revision', 'meridian-min-revision': 'x' },
    { 'meridian-read-consistency': 'lease', 'meridian-min-revision': '3' },
    { 'meridian-max-staleness-ms': '100' },
  ];
  for (const pairs of bad) {
    assert.throws(() => readOptionsFromMetadata(md(pairs), false), (e: unknown) => {
      const s = toGrpcStatus(e);
      return s.code === GrpcCode.InvalidArgument && s.details.startsWith('meridian: ');
    }, JSON.stringify(pairs));
  }
});

test('meridian-force is true or false', () => {
  assert.equal(forceFromMetadata(md({})), false);
  assert.equal(forceFromMetadata(md({ 'meridian-force': 'true' })), true);
  assert.throws(() => forceFromMetadata(md({ 'meridian-force': 'yes' })), /must be true or false/);
});
