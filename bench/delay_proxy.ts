// A delaying TCP proxy for the multi-DC benchmark: puts emulated WAN round trips on etcd's peer links. Each
// chunk is held back by the link's one-way delay and delivered in order; a link can also be cut (a DC outage).
// Run `node dist/bench/delay_proxy.js --self-test` to check order and delay with real sockets (exit 1 on failure),
// or `--listen HOST:PORT --target HOST:PORT --delay-ms N` to run one proxy by hand.

import net from 'node:net';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { DelayLine } from '../src/server/transport/delay_line.js';

/** The delay of one proxied connection, each way (ms); null passes it through undelayed. */
export interface LinkDelay {
  readonly forwardMs: number;
  readonly backwardMs: number;
  /** Who is talking to whom, for cutting links (e.g. the two DCs). */
  readonly tags: readonly string[];
}

export interface DelayProxyOptions {
  readonly listenHost: string;
  /** 0 picks a free port (see `port`). */
  readonly listenPort: number;
  readonly targetHost: string;
  readonly targetPort: number;
  /**
   * Chooses a connection's delay from its first chunk (for etcd's peer links: the HTTP request, whose
   * X-Server-From header names the sending member). Everything before that chunk goes on undelayed.
   */
  readonly delayFor: (firstChunk: Buffer) => LinkDelay | null;
}

/** Bytes waiting in one direction's delay before the sender is paused (back-pressure). */
export const PROXY_QUEUE_BYTES_MAX = 8 * 1024 * 1024;
const EMPTY_DELAY: LinkDelay = { forwardMs: 0, backwardMs: 0, tags: [] };

interface Conn {
  readonly client: net.Socket;
  readonly upstream: net.Socket;
  delay: LinkDelay;
}

export class DelayProxy {
  private readonly conns = new Set<Conn>();
  /** Tags whose connections are refused and broken (a cut-off DC). */
  private readonly cut = new Set<string>();
  /** Connections classified, and those whose first chunk chose no delay (for the report). */
  classified = 0;
  unclassified = 0;

  private constructor(private readonly server: net.Server, private readonly options: DelayProxyOptions) {
    server.on('connection', (socket) => this.accept(socket));
  }

  static async start(options: DelayProxyOptions): Promise<DelayProxy> {
    const server = net.createServer({ noDelay: true, pauseOnConnect: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: options.listenHost, port: options.listenPort }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return new DelayProxy(server, options);
  }

  get port(): number {
    const a = this.server.address();
    if (a === null || typeof a !== 'object') throw new Error('DelayProxy: not listening');
    return a.port;
  }

  /** Breaks every connection tagged `tag` and refuses new ones until heal(tag). */
  cutOff(tag: string): void {
    this.cut.add(tag);
    for (const c of this.conns) if (c.delay.tags.includes(tag)) this.destroy(c);
  }

  heal(tag: string): void {
    this.cut.delete(tag);
  }

  close(): Promise<void> {
    for (const c of this.conns) this.destroy(c);
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    const upstream = net.connect({ host: this.options.targetHost, port: this.options.targetPort, noDelay: true });
    const conn: Conn = { client, upstream, delay: EMPTY_DELAY };
    this.conns.add(conn);
    const forward = new DelayLine(() => performance.now());
    const backward = new DelayLine(() => performance.now());
    let first = true;
    client.on('data', (chunk: Buffer) => {
      if (first) {
        first = false;
        const d = this.options.delayFor(chunk);
        if (d === null) this.unclassified++;
        else this.classified++;
        conn.delay = d ?? EMPTY_DELAY;
        if (conn.delay.tags.some((t) => this.cut.has(t))) {
          this.destroy(conn);
          return;
        }
      }
      pipeDelayed(chunk, conn.delay.forwardMs, forward, client, upstream);
    });
    upstream.on('data', (chunk: Buffer) => pipeDelayed(chunk, conn.delay.backwardMs, backward, upstream, client));
    // A FIN travels behind the data it follows.
    client.on('end', () => forward.push(conn.delay.forwardMs, 0, 0, () => upstream.end()));
    upstream.on('end', () => backward.push(conn.delay.backwardMs, 0, 0, () => client.end()));
    const drop = (): void => {
      forward.clear();
      backward.clear();
      this.destroy(conn);
    };
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', drop);
    upstream.once('connect', () => client.resume());
  }

  private destroy(c: Conn): void {
    this.conns.delete(c);
    c.client.destroy();
    c.upstream.destroy();
  }
}

/** Queues `chunk` for `to` after `delayMs`, in order; pauses `from` while too much waits or `to` is full. */
function pipeDelayed(chunk: Buffer, delayMs: number, line: DelayLine, from: net.Socket, to: net.Socket): void {
  line.push(delayMs, chunk.length, 1, () => {
    if (to.destroyed) return;
    const ok = to.write(chunk);
    if (!ok) {
      from.pause();
      to.once('drain', () => from.resume());
    } else if (line.bytes < PROXY_QUEUE_BYTES_MAX && from.isPaused()) {
      from.resume();
    }
  });
  if (line.bytes >= PROXY_QUEUE_BYTES_MAX) from.pause();
}

// -------------------------------------------------------------------------------------------------------------
// Self-test: order and delay through real sockets.

/** Messages the self-test sends each way, and their pacing. */
const SELF_TEST_MESSAGES = 300;
const SELF_TEST_BURST = 10;
const SELF_TEST_FORWARD_MS = 30;
const SELF_TEST_BACKWARD_MS = 20;
/** Timers may fire up to this early relative to performance.now() readings. */
const SELF_TEST_EARLY_SLACK_MS = 1.5;
const SELF_TEST_TIMEOUT_MS = 20_000;
const SELF_TEST_RECORD_BYTES = 16;

async function selfTest(): Promise<string[]> {
  const failures: string[] = [];
  // The target echoes every byte back; records (seq, send time) are fixed-size so chunking does not matter.
  const target = net.createServer((s) => s.pipe(s));
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  const targetPort = (target.address() as net.AddressInfo).port;
  let firstChunkSeen = '';
  const proxy = await DelayProxy.start({
    listenHost: '127.0.0.1', listenPort: 0, targetHost: '127.0.0.1', targetPort,
    delayFor: (chunk) => {
      firstChunkSeen = chunk.subarray(0, 5).toString('latin1');
      return { forwardMs: SELF_TEST_FORWARD_MS, backwardMs: SELF_TEST_BACKWARD_MS, tags: ['a', 'b'] };
    },
  });
  const client = net.connect({ host: '127.0.0.1', port: proxy.port, noDelay: true });
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  const sentAt: number[] = [];
  const rtts: number[] = [];
  let expected = 0;
  let buffered = Buffer.alloc(0);
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out with ${expected} of ${SELF_TEST_MESSAGES} echoes`)), SELF_TEST_TIMEOUT_MS);
    client.on('data', (chunk: Buffer) => {
      const now = performance.now();
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= SELF_TEST_RECORD_BYTES) {
        const seq = buffered.readUInt32BE(0);
        buffered = buffered.subarray(SELF_TEST_RECORD_BYTES);
        if (seq !== expected) failures.push(`echo ${expected} expected, got ${seq}: reordered or lost`);
        rtts.push(now - (sentAt[seq] ?? now));
        expected = seq + 1;
      }
      if (expected >= SELF_TEST_MESSAGES) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  for (let seq = 0; seq < SELF_TEST_MESSAGES; seq++) {
    const record = Buffer.alloc(SELF_TEST_RECORD_BYTES);
    record.writeUInt32BE(seq, 0);
    sentAt[seq] = performance.now();
    client.write(record);
    if (seq % SELF_TEST_BURST === SELF_TEST_BURST - 1) await new Promise((r) => setTimeout(r, 1));
  }
  try {
    await done;
  } catch (err) {
    failures.push((err as Error).message);
  }
  const wanted = SELF_TEST_FORWARD_MS + SELF_TEST_BACKWARD_MS;
  const min = Math.min(...rtts);
  if (min < wanted - SELF_TEST_EARLY_SLACK_MS) failures.push(`fastest round trip ${min.toFixed(1)} ms is below the ${wanted} ms emulated`);
  if (firstChunkSeen.length === 0) failures.push('delayFor never saw the first chunk');
  console.log(`delay_proxy self-test: ${rtts.length} echoes in order, round trip ${min.toFixed(1)}..${Math.max(...rtts).toFixed(1)} ms (emulated ${wanted} ms)`);
  // A cut link breaks the connection and refuses the next one.
  proxy.cutOff('b');
  const closed = await new Promise<boolean>((resolve) => {
    const t = setTimeout(() => resolve(false), 2000);
    client.once('close', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
  if (!closed) failures.push('cutting the link did not close the connection');
  const again = net.connect({ host: '127.0.0.1', port: proxy.port });
  again.on('error', () => undefined);
  again.write(Buffer.alloc(SELF_TEST_RECORD_BYTES));
  const refused = await new Promise<boolean>((resolve) => {
    const t = setTimeout(() => resolve(false), 2000);
    again.once('close', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
  if (!refused) failures.push('a new connection over a cut link was not refused');
  again.destroy();
  await proxy.close();
  await new Promise<void>((resolve) => target.close(() => resolve()));
  return failures;
}

async function main(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv], strict: true,
    options: { 'self-test': { type: 'boolean' }, listen: { type: 'string' }, target: { type: 'string' }, 'delay-ms': { type: 'string' } },
  });
  if (values['self-test'] === true) {
    const failures = await selfTest();
    for (const f of failures) console.error(`FAIL: ${f}`);
    console.log(failures.length === 0 ? 'delay_proxy self-test: ok' : 'delay_proxy self-test: FAILED');
    return failures.length === 0 ? 0 : 1;
  }
  const [lh, lp] = (values.listen ?? '').split(':');
  const [th, tp] = (values.target ?? '').split(':');
  const delayMs = Number(values['delay-ms'] ?? '0');
  if (lh === undefined || lp === undefined || th === undefined || tp === undefined || !(delayMs >= 0)) {
    console.error('Usage: node dist/bench/delay_proxy.js --self-test | --listen HOST:PORT --target HOST:PORT --delay-ms N (each way)');
    return 2;
  }
  const proxy = await DelayProxy.start({
    listenHost: lh, listenPort: Number(lp), targetHost: th, targetPort: Number(tp),
    delayFor: () => ({ forwardMs: delayMs, backwardMs: delayMs, tags: [] }),
  });
  console.log(`delaying ${lh}:${proxy.port} -> ${th}:${tp} by ${delayMs} ms each way; Ctrl-C stops`);
  await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
  await proxy.close();
  return 0;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.exitCode = await main(process.argv.slice(2));
