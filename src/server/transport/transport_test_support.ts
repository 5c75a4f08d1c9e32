// Test helpers for the transport: seeded random messages, waiting on diagnostics events with a
// deadline, transports on 127.0.0.1 that record what they get, and a raw client speaking the protocol.

import diagnostics_channel from 'node:diagnostics_channel';
import net from 'node:net';
import { logIndex, nodeId, term, type NodeId } from '../../util/branded.js';
import type { Prng } from '../../util/prng.js';
import type { SnapshotStatus } from '../../raft/raw_node.js';
import { EntryType, MessageType, type Entry, type Message, type MessageType as MessageTypeT, type Snapshot } from '../../raft/types.js';
import { TRANSPORT_CHANNEL_NAME, type TransportEvent } from './diagnostics.js';
import { decodeFrame, encodeHello, FrameReader, type Frame } from './frame_codec.js';
import { PEER_FRAME_PAYLOAD_BYTES_MAX, PEER_PROTOCOL_VERSION } from './limits.js';
import type { WanEmulation } from './peer_link.js';
import { PeerTransport } from './peer_transport.js';
import type { PeerTransportTuning } from './tuning.js';

/** The seed of a randomized test: SEED from the environment, else the given one; printed for replay. */
export function testSeed(name: string, fallback: number): number {
  const env = process.env['SEED'];
  const seed = env === undefined ? fallback : Number(env);
  console.log(`${name} SEED=${seed}`);
  return seed;
}

export function randomBytes(prng: Prng, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = prng.nextU32() & 0xff;
  return out;
}

const EDGE_U64 = [0, 1, 0xffff_ffff, 0x1_0000_0000, Number.MAX_SAFE_INTEGER];

function randomU64(prng: Prng): number {
  if (prng.chance(0.2)) return prng.pick(EDGE_U64);
  return prng.chance(0.5) ? prng.int(1000) : prng.int(0x20_0000) * 0x1_0000_0000 + prng.nextU32();
}

function randomIds(prng: Prng, max: number): NodeId[] {
  return Array.from({ length: prng.int(max + 1) }, () => nodeId(randomU64(prng)));
}

export function randomSnapshot(prng: Prng, dataBytesMax: number): Snapshot {
  return {
    metadata: {
      index: logIndex(randomU64(prng)),
      term: term(randomU64(prng)),
      confState: {
        voters: randomIds(prng, 7), learners: randomIds(prng, 3), votersOutgoing: randomIds(prng, 5),
        learnersNext: randomIds(prng, 2), autoLeave: prng.chance(0.5),
      },
    },
    data: randomBytes(prng, prng.int(dataBytesMax + 1)),
  };
}

/** A message with every field random (ids, terms and indexes include the u64 edge values). */
export function randomMessage(prng: Prng, shape: { from?: NodeId; to?: NodeId; entriesMax?: number; dataBytesMax?: number } = {}): Message {
  const dataBytesMax = shape.dataBytesMax ?? 64;
  const entries: Entry[] = Array.from({ length: prng.int((shape.entriesMax ?? 8) + 1) }, () => ({
    term: term(randomU64(prng)),
    index: logIndex(randomU64(prng)),
    type: prng.chance(0.9) ? EntryType.Normal : EntryType.ConfChange,
    data: randomBytes(prng, prng.int(dataBytesMax + 1)),
  }));
  return {
    type: prng.int(MessageType.PreVoteResp + 1) as MessageTypeT,
    to: shape.to ?? nodeId(randomU64(prng)),
    from: shape.from ?? nodeId(randomU64(prng)),
    term: term(randomU64(prng)),
    logTerm: term(randomU64(prng)),
    index: logIndex(randomU64(prng)),
    entries,
    commit: logIndex(randomU64(prng)),
    snapshot: prng.chance(0.2) ? randomSnapshot(prng, dataBytesMax) : null,
    reject: prng.chance(0.5),
    rejectHint: logIndex(randomU64(prng)),
    context: prng.chance(0.3) ? randomBytes(prng, prng.int(16)) : new Uint8Array(0),
  };
}

/** A plain MsgApp carrying `seq` in its index, for ordering checks. */
export function appMessage(from: NodeId, to: NodeId, seq: number, dataBytes = 16): Message {
  const data = new Uint8Array(dataBytes).fill(seq & 0xff);
  return {
    type: MessageType.App, to, from, term: term(1), logTerm: term(1), index: logIndex(seq),
    entries: [{ term: term(1), index: logIndex(seq + 1), type: EntryType.Normal, data }],
    commit: logIndex(0), snapshot: null, reject: false, rejectHint: logIndex(0), context: new Uint8Array(0),
  };
}

const waiters = new Set<() => void>();

/** Re-checks every waitFor condition; called by the recording callbacks and raw sockets of this file. */
export function notifyChange(): void {
  for (const check of [...waiters]) check();
}

/**
 * Waits until `predicate` holds, re-checked on every transport event and every recorded callback
 * (no polling, no sleeping); fails after `timeoutMs`.
 */
export function waitFor(what: string, predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    const channel = diagnostics_channel.channel(TRANSPORT_CHANNEL_NAME);
    let settled = false;
    const finish = (err: Error | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      waiters.delete(check);
      channel.unsubscribe(check);
      if (err === null) resolve();
      else reject(err);
    };
    const check = (): void => {
      if (predicate()) finish(null);
    };
    const deadline = setTimeout(() => finish(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
    waiters.add(check);
    channel.subscribe(check);
    check();
  });
}

/** Resolves with the first transport event that `match` accepts; fails after `timeoutMs`. */
export function waitForEvent(what: string, match: (e: TransportEvent) => boolean, timeoutMs = 5000): Promise<TransportEvent> {
  let found: TransportEvent | null = null;
  const channel = diagnostics_channel.channel(TRANSPORT_CHANNEL_NAME);
  const onEvent = (message: unknown): void => {
    const e = message as TransportEvent;
    if (found === null && match(e)) found = e;
  };
  channel.subscribe(onEvent);
  return waitFor(what, () => found !== null, timeoutMs)
    .finally(() => channel.unsubscribe(onEvent))
    .then(() => found as unknown as TransportEvent);
}

/** Collects every transport event of one cluster while a test runs. */
export class EventLog {
  readonly events: TransportEvent[] = [];
  private readonly channel = diagnostics_channel.channel(TRANSPORT_CHANNEL_NAME);
  private readonly onEvent = (message: unknown): void => {
    const e = message as TransportEvent;
    if (e.clusterId === this.clusterId) this.events.push(e);
  };
  constructor(private readonly clusterId: number) {
    this.channel.subscribe(this.onEvent);
  }
  of<K extends TransportEvent['kind']>(kind: K, member?: NodeId): Extract<TransportEvent, { kind: K }>[] {
    return this.events.filter((e): e is Extract<TransportEvent, { kind: K }> => e.kind === kind && (member === undefined || e.member === member));
  }
  stop(): void {
    this.channel.unsubscribe(this.onEvent);
  }
}

/** A transport on 127.0.0.1 that records what reaches its callbacks. */
export interface Node {
  readonly t: PeerTransport;
  readonly id: NodeId;
  readonly received: Message[];
  /** performance.now() when each message of `received` arrived. */
  readonly receivedAtMs: number[];
  readonly unreachable: NodeId[];
  readonly snapshotStatuses: [NodeId, SnapshotStatus][];
}

export async function startNode(
  clusterId: number,
  id: number,
  extra: { seed?: number; port?: number; tuning?: Partial<PeerTransportTuning>; emulate?: (peer: NodeId) => WanEmulation | null } = {},
): Promise<Node> {
  const received: Message[] = [];
  const receivedAtMs: number[] = [];
  const unreachable: NodeId[] = [];
  const snapshotStatuses: [NodeId, SnapshotStatus][] = [];
  const t = await PeerTransport.listen({
    clusterId, memberId: nodeId(id), host: '127.0.0.1', port: extra.port ?? 0,
    onMessage: (m) => { received.push(m); receivedAtMs.push(performance.now()); notifyChange(); },
    onUnreachable: (p) => { unreachable.push(p); notifyChange(); },
    onSnapshotStatus: (p, s) => { snapshotStatuses.push([p, s]); notifyChange(); },
    seed: extra.seed ?? id,
    tuning: { backoffBaseMs: 10, backoffMaxMs: 100, ...extra.tuning },
    ...(extra.emulate === undefined ? {} : { emulate: extra.emulate }),
  });
  return { t, id: nodeId(id), received, receivedAtMs, unreachable, snapshotStatuses };
}

/** Every node knows every other. */
export function connectAll(nodes: readonly Node[]): void {
  for (const a of nodes) for (const b of nodes) if (a !== b) a.t.addPeer(b.id, '127.0.0.1', b.t.port);
}

/** Waits until each node's outbound link to each other node is open. */
export function waitConnected(nodes: readonly Node[], timeoutMs = 5000): Promise<void> {
  return waitFor('all links open', () =>
    nodes.every((a) => nodes.every((b) => a === b || a.t.peerStatus(b.id)?.state === 'open')), timeoutMs);
}

/** A raw socket speaking the protocol, for tests that play a misbehaving or hand-driven peer. */
export class RawPeer {
  readonly frames: Frame[] = [];
  readonly reader = new FrameReader(PEER_FRAME_PAYLOAD_BYTES_MAX);
  closed = false;
  constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.reader.push(chunk);
      for (let p = this.reader.next(); p !== null; p = this.reader.next()) this.frames.push(decodeFrame(p));
      notifyChange();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      notifyChange();
    });
  }

  static connect(port: number): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => {
        socket.off('error', reject);
        resolve(new RawPeer(socket));
      });
      socket.once('error', reject);
    });
  }

  /** Connects and completes a handshake as `from`; resolves with the listener's answer. */
  static async handshake(port: number, clusterId: number, from: number, to: number): Promise<RawPeer> {
    const raw = await RawPeer.connect(port);
    raw.socket.write(encodeHello({ version: PEER_PROTOCOL_VERSION, clusterId, from: nodeId(from), to: nodeId(to) }));
    await waitFor('handshake answer', () => raw.frames.length > 0 || raw.closed);
    return raw;
  }

  waitClosed(timeoutMs = 5000): Promise<void> {
    return waitFor('raw socket closed', () => this.closed, timeoutMs);
  }

  destroy(): Promise<void> {
    this.socket.destroy();
    return this.waitClosed();
  }
}

/** A bare listener whose connections are RawPeers, to play a peer that misbehaves on the listening side. */
export class RawListener {
  readonly peers: RawPeer[] = [];
  private constructor(private readonly server: net.Server) {
    server.on('connection', (socket) => {
      this.peers.push(new RawPeer(socket));
      notifyChange();
    });
  }

  static async start(): Promise<RawListener> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
    return new RawListener(server);
  }

  get port(): number {
    const a = this.server.address();
    return a !== null && typeof a === 'object' ? a.port : 0;
  }

  /** Waits for the next connection and its hello. */
  async nextHello(timeoutMs = 5000): Promise<RawPeer> {
    const seen = this.peers.length;
    await waitFor('a hello on the raw listener', () => this.peers[seen]?.frames[0]?.kind === 'hello', timeoutMs);
    return this.peers[seen] as RawPeer;
  }

  async close(): Promise<void> {
    for (const p of this.peers) p.socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Yields to the event loop once, so setImmediate work (the transport's flush) runs. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
