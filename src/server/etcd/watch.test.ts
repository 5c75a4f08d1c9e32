// The Watch service on a real socket with a plain gRPC client: many watchers per stream answered in request
// order, cancel, progress requests, fragments, and backpressure from a client that stops reading.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import type * as grpc from '@grpc/grpc-js';
import type { PbMessage } from './convert.js';
import {
  bytes, rawBidi, rawClient, rawUnary, startTestServer, StreamRecorder, type TestServer, text,
} from './testing.js';

const servers: TestServer[] = [];
const clients: grpc.Client[] = [];

async function setup(options: Parameters<typeof startTestServer>[0] = {}): Promise<{ server: TestServer; client: grpc.Client }> {
  const server = await startTestServer(options);
  const client = rawClient(server.endpoint, { 'grpc.max_receive_message_length': 16 * 1024 * 1024 });
  servers.push(server);
  clients.push(client);
  return { server, client };
}

after(async () => {
  for (const c of clients) c.close();
  for (const s of servers) await s.close();
});

const events = (m: PbMessage): PbMessage[] => (Array.isArray(m['events']) ? (m['events'] as PbMessage[]) : []);
const kvOf = (e: PbMessage): PbMessage => (e['kv'] ?? {}) as PbMessage;

test('many watchers on one stream: created in request order, each gets its events, cancel stops them', async () => {
  const { client, server } = await setup();
  const stream = new StreamRecorder(rawBidi(client, 'watch', 'Watch'));
  const watchers = 50;
  for (let i = 0; i < watchers; i++) stream.stream.write({ create_request: { key: bytes(`k${i % 5}`), prev_kv: i % 2 === 0 } });
  const created = (await stream.count(watchers, 'the created responses')).slice(0, watchers);
  assert.deepEqual(created.map((m) => [m['created'], m['watch_id']]), Array.from({ length: watchers }, (_, i) => [true, String(i)]));
  assert.equal((created[0]?.['header'] as PbMessage)['cluster_id'], server.backend.header().clusterId.toString());
  // One put to k3 reaches the 10 watchers of k3, each once, with prev_kv only for those that asked.
  await rawUnary(client, 'kv', 'Put', { key: bytes('k3'), value: bytes('v') });
  const delivered = (await stream.count(watchers + 10, 'the events of k3')).slice(watchers);
  assert.deepEqual(delivered.map((m) => Number(m['watch_id'])).sort((a, b) => a - b), [3, 8, 13, 18, 23, 28, 33, 38, 43, 48]);
  assert.ok(delivered.every((m) => text(kvOf(events(m)[0] ?? {})['key']) === 'k3'));
  // Cancel watcher 3 (key k3): answered with canceled; the next put reaches the other nine only.
  stream.stream.write({ cancel_request: { watch_id: 3 } });
  await stream.until((m) => m.some((r) => r['canceled'] === true), 'the cancel');
  await rawUnary(client, 'kv', 'Put', { key: bytes('k3'), value: bytes('w') });
  const after = (await stream.count(watchers + 10 + 1 + 9, 'nine events')).slice(watchers + 10);
  assert.deepEqual([after[0]?.['watch_id'], after[0]?.['canceled']], ['3', true]);
  assert.deepEqual(after.slice(1).map((m) => Number(m['watch_id'])).sort((a, b) => a - b), [8, 13, 18, 23, 28, 33, 38, 43, 48]);
  stream.cancel();
});

test('a watcher replaying history is created before its events, and before the next create', async () => {
  const { client, server } = await setup();
  const first = server.backend.header().revision + 1;
  for (const v of ['1', '2', '3']) await rawUnary(client, 'kv', 'Put', { key: bytes('h'), value: bytes(v) });
  const stream = new StreamRecorder(rawBidi(client, 'watch', 'Watch'));
  stream.stream.write({ create_request: { key: bytes('h'), start_revision: first } });
  stream.stream.write({ create_request: { key: bytes('h') } });
  const messages = await stream.until((m) => m.filter((r) => r['created'] === true).length === 2 && m.flatMap(events).length === 3, 'two creates and the replay');
  const shape = messages.map((m) => (m['created'] === true ? `created ${String(m['watch_id'])}` : `events ${String(m['watch_id'])}`));
  assert.equal(shape[0], 'created 0');
  assert.ok(shape.indexOf('created 1') > shape.indexOf('created 0'));
  assert.deepEqual(messages.flatMap(events).map((e) => text(kvOf(e)['value'])), ['1', '2', '3']);
  stream.cancel();
});

test('a progress request is answered with watch id -1 at the current revision', async () => {
  const { client, server } = await setup();
  const stream = new StreamRecorder(rawBidi(client, 'watch', 'Watch'));
  stream.stream.write({ create_request: { key: bytes('p') } });
  stream.stream.write({ progress_request: {} });
  const [, progress] = await stream.count(2, 'created and progress');
  assert.equal(progress?.['watch_id'], '-1');
  assert.equal(events(progress ?? {}).length, 0);
  assert.equal((progress?.['header'] as PbMessage)['revision'], String(server.backend.header().revision));
  stream.cancel();
});

test('a large revision is split into fragments for a watcher that asked', async () => {
  const { client } = await setup({ watchLimits: { responseBytesMax: 4096 } });
  const stream = new StreamRecorder(rawBidi(client, 'watch', 'Watch'));
  stream.stream.write({ create_request: { key: bytes('f/'), range_end: bytes('f0'), fragment: true } });
  stream.stream.write({ create_request: { key: bytes('f/'), range_end: bytes('f0') } });
  await stream.count(2, 'two created');
  const puts = Array.from({ length: 10 }, (_, i) => ({ request_put: { key: bytes(`f/${i}`), value: Buffer.alloc(1000, 97) } }));
  await rawUnary(client, 'kv', 'Txn', { success: puts });
  const eventsOf = (m: readonly PbMessage[], id: string): number => m.filter((r) => r['watch_id'] === id).flatMap(events).length;
  const messages = (await stream.until((m) => eventsOf(m, '0') === 10 && eventsOf(m, '1') === 10, 'the fragments and the whole response')).slice(2);
  const fragments = messages.filter((m) => m['watch_id'] === '0');
  assert.ok(fragments.length > 1, `expected several fragments, got ${fragments.length}`);
  assert.deepEqual(fragments.map((m) => m['fragment']), [...fragments.slice(1).map(() => true), false]);
  assert.equal(messages.filter((m) => m['watch_id'] === '1').length, 1);
  stream.cancel();
});

test('a client that stops reading holds bounded memory, then catches up in order without gaps', async () => {
  const queueMax = 8;
  const { client, server } = await setup({ watchLimits: { streamQueueResponsesMax: queueMax } });
  const stream = new StreamRecorder(rawBidi(client, 'watch', 'Watch'));
  stream.stream.write({ create_request: { key: bytes('b/'), range_end: bytes('b0') } });
  await stream.count(1, 'created');
  stream.stream.pause();
  // Enough bytes to fill the HTTP/2 windows and socket buffers between the two ends several times over.
  const puts = 300;
  const value = Buffer.alloc(16 * 1024, 98);
  const first = server.backend.header().revision + 1;
  for (let i = 0; i < puts; i++) await rawUnary(client, 'kv', 'Put', { key: bytes(`b/${i % 10}`), value });
  const stats = server.backend.watchHub.stats();
  assert.ok(stats.queuedResponses <= queueMax, `queued ${stats.queuedResponses} responses for a client that does not read`);
  assert.equal(stats.unsyncedWatchers, 1, 'the watcher did not fall behind');
  // Reading again: every revision arrives once, in order, from the queue and then from history.
  stream.stream.resume();
  const revisionsOf = (m: readonly PbMessage[]): number[] => m.flatMap(events).map((e) => Number(kvOf(e)['mod_revision']));
  const all = await stream.until((m) => revisionsOf(m).length >= puts, 'every event after resuming', 15_000);
  assert.deepEqual(revisionsOf(all), Array.from({ length: puts }, (_, i) => first + i));
  stream.cancel();
});

test('progress_notify watchers get empty responses on the progress period', async () => {
  const { client, server } = await setup({ limits: { watchProgressIntervalMs: 100 } });
  const stream = new StreamRecorder(rawBidi(client, 'watch', 'Watch'));
  stream.stream.write({ create_request: { key: bytes('pn'), progress_notify: true } });
  const [, progress] = await stream.count(2, 'a progress notification');
  assert.deepEqual([progress?.['watch_id'], events(progress ?? {}).length], ['0', 0]);
  assert.equal((progress?.['header'] as PbMessage)['revision'], String(server.backend.header().revision));
  stream.cancel();
});

test('streams per connection are bounded: one over the bound waits until another ends', async () => {
  const { client } = await setup({ limits: { maxConcurrentStreams: 3 } });
  const open = [0, 1, 2].map(() => new StreamRecorder(rawBidi(client, 'watch', 'Watch')));
  for (const s of open) s.stream.write({ create_request: { key: bytes('c') } });
  for (const s of open) await s.count(1, 'created on a stream within the bound');
  const extra = new StreamRecorder(rawBidi(client, 'watch', 'Watch'));
  extra.stream.write({ create_request: { key: bytes('c') } });
  // Unanswered while the bound is taken (a bounded wait that must time out)...
  await assert.rejects(extra.count(1, 'the extra stream', 300), /timed out/);
  // ...and answered once a stream ends.
  open[0]?.cancel();
  await extra.count(1, 'the extra stream after one ended');
  for (const s of [...open.slice(1), extra]) s.cancel();
});
