// The HTTP endpoints on a real node:http server (127.0.0.1, ephemeral port): each endpoint's status, content
// type and body; 503 health; 404/405/414; oversized headers, garbage and slow-loris refused while the server
// keeps answering; failing or hung status(); close() releasing the port.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import diagnostics_channel from 'node:diagnostics_channel';
import http from 'node:http';
import net from 'node:net';
import { HTTP_CHANNEL_NAME, type HttpEvent } from './diagnostics.js';
import { HttpErrorCode, HttpListenError } from './errors.js';
import { startHttpServer, type HttpServerHandle, type HttpServerOptions } from './http_server.js';
import { HTTP_CONNECTIONS_MAX, HTTP_HEADER_BYTES_MAX, HTTP_REQUESTS_PER_SOCKET_MAX, HTTP_URL_BYTES_MAX } from './limits.js';
import { createMemberMetrics, ETCD_COMPAT_VERSION, type MemberMetrics } from './metrics.js';
import type { MemberStatusJson } from './status.js';
import { fixtureStatus, fixtureStatusNoLeader } from './status_fixture.js';

const HOST = '127.0.0.1';
const MERIDIAN_VERSION = '0.1.0-test';
/** No single wait in this file may take longer; every one is bounded by it. */
const DEADLINE_MS = 5_000;
/** Shrunk timings for the timeout tests (the byte limits are never shrunk). */
const FAST_TUNING = { headersTimeoutMs: 200, requestTimeoutMs: 300, connectionsCheckIntervalMs: 50, handlerTimeoutMs: 150, closeTimeoutMs: 200 };

interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

interface Fixture {
  readonly server: HttpServerHandle;
  readonly metrics: MemberMetrics;
  /** What status() returns next; a function may also throw or never resolve. */
  status: () => MemberStatusJson | Promise<MemberStatusJson>;
}

async function withServer(run: (f: Fixture) => Promise<void>, extra: Partial<HttpServerOptions> = {}): Promise<void> {
  const metrics = createMemberMetrics({ member: { id: 1, name: 'east-1', dc: 'east', zone: 'a' }, processMetrics: false });
  const fixture: { status: Fixture['status'] } = { status: () => fixtureStatus() };
  const server = await startHttpServer({ host: HOST, port: 0, metrics, version: MERIDIAN_VERSION, status: () => fixture.status(), ...extra });
  try {
    await run(Object.assign(fixture, { server, metrics }));
  } finally {
    await server.close();
  }
}

function request(port: number, path: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: HOST, port, path, method: opts.method ?? 'GET', headers: opts.headers, agent: false, timeout: DEADLINE_MS }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${opts.method ?? 'GET'} ${path.slice(0, 40)} got no answer within ${DEADLINE_MS} ms`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/**
 * Writes bytes on a raw connection and collects what comes back until the server closes it. Resolves with
 * the text and whether the server closed the connection before the deadline (then it is destroyed here).
 */
function rawExchange(port: number, bytes: string, deadlineMs = DEADLINE_MS): Promise<{ text: string; closedByServer: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: HOST, port });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closedByServer: false });
    }, deadlineMs);
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // A reset after the server answered and closed is still a close by the server.
      if (err.code !== 'ECONNRESET') {
        clearTimeout(timer);
        reject(err);
      }
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closedByServer: true });
    });
  });
}

/** Polls check once per event-loop turn (no fixed sleeps) until it holds, failing after DEADLINE_MS. */
async function waitFor(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + DEADLINE_MS;
  while (!(await check())) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

function jsonOf(reply: Reply): unknown {
  assert.match(reply.headers['content-type'] ?? '', /^application\/json/);
  return JSON.parse(reply.body);
}

async function assertStillServes(port: number): Promise<void> {
  const reply = await request(port, '/health');
  assert.equal(reply.status, 200, 'the server still answers');
}

test('GET /health is 200 with etcd\'s body when there is a leader and no alarm', () =>
  withServer(async ({ server }) => {
    const reply = await request(server.port, '/health');
    assert.equal(reply.status, 200);
    assert.equal(reply.body, '{"health":"true","reason":""}');
    assert.equal(reply.headers['cache-control'], 'no-store');
  }));

test('GET /health is 503 with etcd\'s reasons: no leader, NOSPACE alarm; exclude and serializable work', () =>
  withServer(async (f) => {
    f.status = fixtureStatusNoLeader;
    const noLeader = await request(f.server.port, '/health');
    assert.equal(noLeader.status, 503);
    assert.deepEqual(jsonOf(noLeader), { health: 'false', reason: 'RAFT NO LEADER' });
    assert.equal((await request(f.server.port, '/health?serializable=true')).status, 200);

    f.status = () => fixtureStatus({ alarms: [{ memberId: '2', alarm: 'NOSPACE' }] });
    const noSpace = await request(f.server.port, '/health');
    assert.equal(noSpace.status, 503);
    assert.deepEqual(jsonOf(noSpace), { health: 'false', reason: 'ALARM NOSPACE' });
    assert.equal((await request(f.server.port, '/health?exclude=NOSPACE')).status, 200);

    const text = (await request(f.server.port, '/metrics')).body;
    assert.match(text, /^etcd_server_health_failures 2$/m);
    assert.match(text, /^etcd_server_health_success 2$/m);
  }));

test('GET /metrics serves the registry in Prometheus text format with the member\'s metrics', () =>
  withServer(async ({ server, metrics }) => {
    metrics.setLeader(true, true);
    metrics.leaderChanged();
    metrics.setRaftIndexes(3, 120, 118);
    metrics.walFsync(0.003);
    metrics.peerRtt(2, 0.04);
    metrics.setDbSize(1 << 20);
    metrics.setKeys(40);
    metrics.setWatchers(3);
    const reply = await request(server.port, '/metrics');
    assert.equal(reply.status, 200);
    assert.equal(reply.headers['content-type'], metrics.registry.contentType);
    assert.match(reply.headers['content-type'] ?? '', /^text\/plain; version=0\.0\.4/);
    for (const line of ['etcd_server_is_leader 1', 'etcd_server_has_leader 1', 'etcd_server_leader_changes_seen_total 1',
      'etcd_server_proposals_committed_total 120', 'etcd_server_proposals_applied_total 118', 'meridian_raft_term 3',
      'etcd_disk_wal_fsync_duration_seconds_count 1', 'etcd_network_peer_round_trip_time_seconds_count{To="2"} 1',
      `etcd_mvcc_db_total_size_in_bytes ${1 << 20}`, 'etcd_debugging_mvcc_keys_total 40', 'etcd_debugging_mvcc_watcher_total 3',
      'meridian_member_info{name="east-1",dc="east",zone="a"} 1']) {
      assert.ok(reply.body.split('\n').includes(line), `metrics lack: ${line}`);
    }
  }));

test('GET /version is etcd\'s body plus Meridian\'s version', () =>
  withServer(async ({ server }) => {
    const reply = await request(server.port, '/version');
    assert.equal(reply.status, 200);
    assert.deepEqual(jsonOf(reply), { etcdserver: ETCD_COMPAT_VERSION, etcdcluster: ETCD_COMPAT_VERSION, meridian: MERIDIAN_VERSION });
  }));

test('/version reports a configured etcd version, with etcd\'s major.minor.0 cluster version', () =>
  withServer(async ({ server }) => {
    assert.deepEqual(jsonOf(await request(server.port, '/version')), { etcdserver: '3.5.2', etcdcluster: '3.5.0', meridian: MERIDIAN_VERSION });
  }, { etcdVersion: '3.5.2' }));

test('GET /v1/status returns what status() returns, sync or async; HEAD answers without a body', () =>
  withServer(async (f) => {
    const sync = await request(f.server.port, '/v1/status');
    assert.equal(sync.status, 200);
    assert.deepEqual(jsonOf(sync), fixtureStatus());
    f.status = () => Promise.resolve(fixtureStatusNoLeader());
    assert.deepEqual(jsonOf(await request(f.server.port, '/v1/status?pretty=1')), fixtureStatusNoLeader());

    const head = await request(f.server.port, '/v1/status', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.equal(Number(head.headers['content-length']), Buffer.byteLength(JSON.stringify(fixtureStatusNoLeader())));
  }));

test('a failing or hung status() is a 503, not a crash or a hang', () =>
  withServer(async (f) => {
    f.status = () => {
      throw new Error('member stopped');
    };
    const failed = await request(f.server.port, '/v1/status');
    assert.equal(failed.status, 503);
    assert.deepEqual(jsonOf(failed), { error: HttpErrorCode.Unavailable, message: 'Cannot serve /v1/status: member stopped' });
    const health = await request(f.server.port, '/health');
    assert.equal(health.status, 503);
    assert.deepEqual(jsonOf(health), { health: 'false', reason: 'STATUS ERROR: member stopped' });

    f.status = () => new Promise<never>(() => {});
    const hung = await request(f.server.port, '/v1/status');
    assert.equal(hung.status, 503);
    assert.match(hung.body, /did not finish within 150 ms/);
    assert.equal((await request(f.server.port, '/health')).status, 503);
  }, { tuning: FAST_TUNING }));

test('unknown paths are 404, other methods 405 with Allow; a body is never read and closes the connection', () =>
  withServer(async ({ server }) => {
    for (const path of ['/', '/healthz', '/health/', '/v1/status/x', '/METRICS', '//health']) {
      const reply = await request(server.port, path);
      assert.equal(reply.status, 404, path);
      assert.equal((jsonOf(reply) as { error: string }).error, HttpErrorCode.NotFound);
    }
    for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']) {
      const reply = await request(server.port, '/health', { method });
      assert.equal(reply.status, 405, method);
      assert.equal(reply.headers['allow'], 'GET, HEAD');
      assert.equal((jsonOf(reply) as { error: string }).error, HttpErrorCode.MethodNotAllowed);
    }
    const withBody = await request(server.port, '/v1/status', { method: 'POST', body: 'x'.repeat(100_000) });
    assert.equal(withBody.status, 405);
    assert.equal(withBody.headers['connection'], 'close');
    await assertStillServes(server.port);
  }));

test('a URL over the limit is 414; an oversized header is refused with 431; the server still answers', () =>
  withServer(async ({ server }) => {
    const longUrl = await request(server.port, `/health?${'a'.repeat(HTTP_URL_BYTES_MAX)}`);
    assert.equal(longUrl.status, 414);
    assert.equal((jsonOf(longUrl) as { error: string }).error, HttpErrorCode.UriTooLong);

    const bigHeader = await request(server.port, '/health', { headers: { 'x-filler': 'a'.repeat(HTTP_HEADER_BYTES_MAX + 1) } });
    assert.equal(bigHeader.status, 431);
    const hugeUrl = await request(server.port, `/${'b'.repeat(2 * HTTP_HEADER_BYTES_MAX)}`);
    assert.equal(hugeUrl.status, 431);
    await assertStillServes(server.port);
  }));

test('garbage, bad headers and unparsable targets get 400 and the server still answers', () =>
  withServer(async ({ server }) => {
    const inputs = [
      'NOT HTTP AT ALL\r\n\r\n',
      '\x00\x01\x02\xff\xfe\r\n\r\n',
      'GET /health HTTP/1.1\r\nHost: x\r\nBad Header Name: 1\r\n\r\n',
      'GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n',
      'GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
      'GET /health HTTP/1.1\r\n\r\n', // HTTP/1.1 without Host
    ];
    for (const input of inputs) {
      const { text, closedByServer } = await rawExchange(server.port, input);
      assert.match(text, /^HTTP\/1\.1 400 /, JSON.stringify(input));
      assert.ok(closedByServer, 'the server closes a connection it cannot parse');
    }
    const badTarget = await rawExchange(server.port, 'GET http://[::1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match(badTarget.text, /^HTTP\/1\.1 400 /);
    assert.match(badTarget.text, /ERR_HTTP_BAD_REQUEST/);
    await assertStillServes(server.port);
  }));

test('pipelined requests, CONNECT, Upgrade and Expect are answered or refused without harm', () =>
  withServer(async ({ server }) => {
    const host = 'Host: x\r\n';
    const pipelined = await rawExchange(server.port,
      `GET /version HTTP/1.1\r\n${host}\r\nGET /health HTTP/1.1\r\n${host}\r\nGET /nope HTTP/1.1\r\n${host}Connection: close\r\n\r\n`);
    assert.deepEqual(pipelined.text.match(/HTTP\/1\.1 \d{3}/g), ['HTTP/1.1 200', 'HTTP/1.1 200', 'HTTP/1.1 404'], 'answers in order');
    assert.ok((await rawExchange(server.port, `CONNECT 127.0.0.1:1 HTTP/1.1\r\n${host}\r\n`)).closedByServer, 'CONNECT is closed');
    const upgrade = await rawExchange(server.port, `GET /health HTTP/1.1\r\n${host}Connection: Upgrade, close\r\nUpgrade: websocket\r\n\r\n`);
    assert.match(upgrade.text, /^HTTP\/1\.1 200 /, 'an upgrade request is served as a plain one');
    const expect = await rawExchange(server.port, `GET /version HTTP/1.1\r\n${host}Expect: 100-continue\r\nConnection: close\r\n\r\n`);
    assert.match(expect.text, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
    await assertStillServes(server.port);
  }));

test('the server reports listening, handler errors and closing on the diagnostics channel', async () => {
  const events: HttpEvent[] = [];
  const onEvent = (message: unknown): void => {
    events.push(message as HttpEvent);
  };
  diagnostics_channel.subscribe(HTTP_CHANNEL_NAME, onEvent);
  try {
    let port = 0;
    await withServer(async (f) => {
      port = f.server.port;
      f.status = () => Promise.reject(new Error('disk gone'));
      assert.equal((await request(f.server.port, '/v1/status')).status, 503);
    });
    const mine = events.filter((e) => !('port' in e) || e.port === port);
    assert.deepEqual(mine.map((e) => e.kind), ['listening', 'handler-error', 'closed']);
    assert.deepEqual(mine[1], { kind: 'handler-error', path: '/v1/status', reason: 'disk gone' });
  } finally {
    diagnostics_channel.unsubscribe(HTTP_CHANNEL_NAME, onEvent);
  }
});

test('one connection serves at most HTTP_REQUESTS_PER_SOCKET_MAX requests, then it is closed', () =>
  withServer(async ({ server }) => {
    const one = 'GET /version HTTP/1.1\r\nHost: x\r\n\r\n';
    const { text, closedByServer } = await rawExchange(server.port, one.repeat(HTTP_REQUESTS_PER_SOCKET_MAX + 1));
    const statuses = text.match(/HTTP\/1\.1 \d{3}/g) ?? [];
    assert.equal(statuses.filter((s) => s === 'HTTP/1.1 200').length, HTTP_REQUESTS_PER_SOCKET_MAX);
    assert.ok(statuses.length <= HTTP_REQUESTS_PER_SOCKET_MAX + 1 && statuses.slice(HTTP_REQUESTS_PER_SOCKET_MAX).every((s) => s === 'HTTP/1.1 503'));
    // Node answers the extra pipelined request 503 and leaves the socket to the keep-alive timeout.
    assert.ok(closedByServer);
    await assertStillServes(server.port);
  }, { tuning: { keepAliveTimeoutMs: 100, connectionsCheckIntervalMs: 50 } }));

test('connections beyond HTTP_CONNECTIONS_MAX are dropped; the server answers once they close', () =>
  withServer(async ({ server }) => {
    const sockets: net.Socket[] = [];
    try {
      const connect = (): Promise<net.Socket> => new Promise((resolve, reject) => {
        const s = net.connect({ host: HOST, port: server.port }, () => resolve(s));
        s.on('error', reject);
        sockets.push(s);
      });
      for (let i = 0; i < HTTP_CONNECTIONS_MAX; i++) await connect();
      // The one over the limit: the server accepts and at once closes it, answering nothing.
      const over = await rawExchange(server.port, 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.deepEqual(over, { text: '', closedByServer: true });
    } finally {
      for (const s of sockets) s.destroy();
    }
    await waitFor('the server to answer again', async () => (await request(server.port, '/health').catch(() => null))?.status === 200);
  }));

test('slow-loris: headers that never finish, or a silent connection, are cut after the headers timeout', () =>
  withServer(async ({ server }) => {
    const slow = await rawExchange(server.port, 'GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ', 2_000);
    assert.ok(slow.closedByServer, 'a connection with unfinished headers is closed');
    assert.match(slow.text, /^HTTP\/1\.1 408 /);
    const silent = await rawExchange(server.port, '', 2_000);
    assert.ok(silent.closedByServer, 'a connection that sends nothing is closed');
    await assertStillServes(server.port);
  }, { tuning: FAST_TUNING }));

test('close() releases the port, even with an idle keep-alive and a stalled connection open', async () => {
  const metrics = createMemberMetrics({ processMetrics: false });
  const server = await startHttpServer({ host: HOST, port: 0, metrics, version: MERIDIAN_VERSION, status: () => fixtureStatus(), tuning: FAST_TUNING });
  const port = server.port;
  const keepAlive = net.connect({ host: HOST, port });
  const stalled = net.connect({ host: HOST, port });
  const closedSockets = [keepAlive, stalled].map((s) => new Promise<void>((resolve) => {
    s.on('error', () => {});
    s.on('close', () => resolve());
  }));
  try {
    const answered = new Promise<void>((resolve) => keepAlive.once('data', () => resolve()));
    keepAlive.write('GET /version HTTP/1.1\r\nHost: x\r\n\r\n');
    stalled.write('GET /health HTTP/1.1\r\n');
    await answered;
    const started = Date.now();
    await Promise.all([server.close(), ...closedSockets]);
    assert.ok(Date.now() - started < DEADLINE_MS, 'close() is bounded');
    await server.close(); // idempotent
    await new Promise<void>((resolve, reject) => {
      const probe = net.createServer();
      probe.once('error', reject);
      probe.listen({ host: HOST, port }, () => probe.close(() => resolve()));
    });
  } finally {
    keepAlive.destroy();
    stalled.destroy();
    await server.close();
  }
});

test('a port in use rejects with HttpListenError; several members live side by side', async () => {
  const a = createMemberMetrics({ member: { id: 1, name: 'a', dc: 'east', zone: '' }, processMetrics: false });
  const b = createMemberMetrics({ member: { id: 2, name: 'b', dc: 'west', zone: '' }, processMetrics: false });
  const first = await startHttpServer({ host: HOST, port: 0, metrics: a, version: MERIDIAN_VERSION, status: () => fixtureStatus() });
  const second = await startHttpServer({ host: HOST, port: 0, metrics: b, version: MERIDIAN_VERSION, status: () => fixtureStatus() });
  try {
    await assert.rejects(
      startHttpServer({ host: HOST, port: first.port, metrics: b, version: MERIDIAN_VERSION, status: () => fixtureStatus() }),
      (err: unknown) => err instanceof HttpListenError && err.code === 'ERR_HTTP_LISTEN' && err.message.includes(`${HOST}:${first.port}`),
    );
    assert.match((await request(first.port, '/metrics')).body, /meridian_member_info\{name="a",dc="east",zone=""\} 1/);
    assert.match((await request(second.port, '/metrics')).body, /meridian_member_info\{name="b",dc="west",zone=""\} 1/);
  } finally {
    await Promise.all([first.close(), second.close()]);
  }
});
