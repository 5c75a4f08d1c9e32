// PeerTransport: carries raft messages between the members of one cluster over TCP. One long-lived
// outbound connection per peer carries this member's messages; inbound connections carry the peers'.

import net from 'node:net';
import { randomInt } from 'node:crypto';
import { assert } from '../../util/assert.js';
import { NONE, type NodeId } from '../../util/branded.js';
import { Prng } from '../../util/prng.js';
import type { SnapshotStatus } from '../../raft/raw_node.js';
import { MessageType, type Message } from '../../raft/types.js';
import { publisher, type DropReason, type Publish } from './diagnostics.js';
import { InboundConn, type InboundContext } from './inbound_conn.js';
import { PEER_EMULATION_DELAY_MS_MAX, PEER_INBOUND_HANDSHAKING_MAX } from './limits.js';
import { PeerLink, type LinkContext, type PeerStatus, type WanEmulation } from './peer_link.js';
import { resolveTuning, type PeerTransportTuning } from './tuning.js';

export interface PeerTransportOptions {
  /** Connections from members of another cluster are refused. */
  readonly clusterId: number;
  readonly memberId: NodeId;
  /** Where to listen for peers; port 0 picks a free port (see `port`). */
  readonly host: string;
  readonly port: number;
  /** A message from a peer, addressed to this member and sent by the member that dialed. */
  readonly onMessage: (m: Message) => void;
  /** Messages to `peer` were dropped or its connection broke: raft should probe it (RawNode.reportUnreachable). */
  readonly onUnreachable: (peer: NodeId) => void;
  /** How streaming a snapshot to `peer` ended (RawNode.reportSnapshot). */
  readonly onSnapshotStatus: (peer: NodeId, status: SnapshotStatus) => void;
  /** Development and tests: delay, jitter and loss applied to what this member sends to `peer`. */
  readonly emulate?: (peer: NodeId) => WanEmulation | null;
  /** Seeds the back-off jitter and the emulation's randomness, so a test run replays. */
  readonly seed?: number;
  readonly tuning?: Partial<PeerTransportTuning>;
}

/** Message types raft only produces for itself; one arriving from the network is dropped. */
const LOCAL_TYPES: ReadonlySet<number> = new Set([
  MessageType.Hup, MessageType.Beat, MessageType.Unreachable, MessageType.SnapStatus, MessageType.CheckQuorum,
]);

export class PeerTransport {
  readonly clusterId: number;
  readonly memberId: NodeId;
  readonly tuning: PeerTransportTuning;
  private readonly publish: Publish;
  private readonly prng: Prng;
  private readonly links = new Map<NodeId, PeerLink>();
  private readonly inbound = new Set<InboundConn>();
  private readonly inboundByPeer = new Map<NodeId, InboundConn>();
  private readonly dirty = new Set<PeerLink>();
  private flushImmediate: NodeJS.Immediate | null = null;
  private readonly unreachable = new Set<NodeId>();
  private readonly snapshotStatuses: [NodeId, SnapshotStatus][] = [];
  private callbacksQueued = false;
  private closing: Promise<void> | null = null;
  private readonly linkContext: LinkContext;
  private readonly inboundContext: InboundContext;

  /** Starts listening; resolves once the port is bound (rejects with the listen error). */
  static async listen(options: PeerTransportOptions): Promise<PeerTransport> {
    const server = net.createServer({ noDelay: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: options.host, port: options.port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return new PeerTransport(options, server);
  }

  private constructor(
    private readonly options: PeerTransportOptions,
    private readonly server: net.Server,
  ) {
    assert(Number.isSafeInteger(options.clusterId) && options.clusterId >= 0, `PeerTransport: cluster id ${options.clusterId} is not a u64`);
    assert(Number.isSafeInteger(options.memberId) && options.memberId !== NONE, `PeerTransport: member id ${options.memberId} is invalid`);
    this.clusterId = options.clusterId;
    this.memberId = options.memberId;
    this.tuning = resolveTuning(options.tuning);
    this.publish = publisher(options.clusterId, options.memberId);
    this.prng = new Prng(options.seed ?? randomInt(0x7fff_ffff));
    const now = (): number => performance.now();
    const emulation = (peer: NodeId): WanEmulation | null => this.emulation(peer);
    this.linkContext = {
      clusterId: this.clusterId, self: this.memberId, tuning: this.tuning, prng: this.prng, now, publish: this.publish, emulation,
      reportUnreachable: (peer) => this.queueUnreachable(peer),
      reportSnapshot: (peer, status) => this.queueSnapshotStatus(peer, status),
      scheduleFlush: (link) => this.scheduleFlush(link),
    };
    this.inboundContext = {
      clusterId: this.clusterId, self: this.memberId, tuning: this.tuning, now, publish: this.publish, emulation,
      isKnownPeer: (peer) => this.links.has(peer),
      attach: (conn) => this.attach(conn),
      detach: (conn) => this.detach(conn),
      deliver: (conn, m) => this.deliver(conn, m),
    };
    server.on('connection', (socket) => this.onConnection(socket));
    // Accept can fail (too many open files); the server keeps listening, so this is only reported.
    server.on('error', (err) => this.publish({ kind: 'listen-error', reason: err.message }));
    const { port } = this.address();
    this.publish({ kind: 'listening', host: options.host, port });
  }

  /** The bound address (the real port when listening on port 0). */
  address(): { host: string; port: number } {
    const a = this.server.address();
    assert(a !== null && typeof a === 'object', 'PeerTransport: the server is not listening');
    return { host: a.address, port: a.port };
  }

  get port(): number {
    return this.address().port;
  }

  /** Starts connecting to `peer`; an existing peer at another address reconnects there. */
  addPeer(peer: NodeId, host: string, port: number): void {
    assert(this.closing === null, 'PeerTransport.addPeer after close()');
    assert(peer !== this.memberId && peer !== NONE && Number.isSafeInteger(peer) && peer > 0, `PeerTransport.addPeer: invalid peer id ${peer}`);
    assert(Number.isInteger(port) && port > 0 && port < 65536, `PeerTransport.addPeer: invalid port ${port}`);
    const existing = this.links.get(peer);
    if (existing !== undefined) {
      if (existing.sameAddress(host, port)) return;
      void existing.close(false);
    }
    const link = new PeerLink(peer, host, port, this.linkContext);
    this.links.set(peer, link);
    link.start();
  }

  /** Forgets `peer`: closes both connections and refuses it from now on. */
  removePeer(peer: NodeId): void {
    const link = this.links.get(peer);
    if (link !== undefined) {
      this.links.delete(peer);
      this.dirty.delete(link);
      void link.close(false);
    }
    this.inboundByPeer.get(peer)?.abort(`member ${peer} was removed`);
  }

  /** Queues messages for their peers; everything for one peer goes out in one write at the end of this turn. */
  send(messages: readonly Message[]): void {
    if (this.closing !== null) return;
    for (const m of messages) {
      assert(m.from === this.memberId && m.to !== this.memberId, `PeerTransport.send: message from ${m.from} to ${m.to} on member ${this.memberId}`);
      const link = this.links.get(m.to);
      if (link === undefined) {
        this.publish({ kind: 'dropped', peer: m.to, direction: 'outbound', reason: 'unknown-peer', messages: 1, detail: `type ${m.type}` });
      } else if (m.type === MessageType.Snap && m.snapshot !== null) {
        link.sendSnapshot(m);
      } else {
        link.send(m);
      }
    }
  }

  /** The smoothed round trip to `peer` in ms, or null before the first pong. */
  rttMs(peer: NodeId): number | null {
    return this.links.get(peer)?.rttMs() ?? null;
  }

  peerStatus(peer: NodeId): PeerStatus | null {
    return this.links.get(peer)?.status() ?? null;
  }

  peers(): NodeId[] {
    return [...this.links.keys()];
  }

  /** Stops listening, writes what is queued, ends every connection; resolves once all sockets are closed. */
  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    if (this.flushImmediate !== null) clearImmediate(this.flushImmediate);
    this.flushImmediate = null;
    this.dirty.clear();
    this.unreachable.clear();
    this.snapshotStatuses.length = 0;
    const waits: Promise<void>[] = [...this.links.values()].map((l) => l.close(true));
    this.links.clear();
    for (const conn of this.inbound) waits.push(conn.close(true));
    waits.push(new Promise((resolve) => this.server.close(() => resolve())));
    this.closing = Promise.all(waits).then(() => undefined);
    return this.closing;
  }

  private emulation(peer: NodeId): WanEmulation | null {
    const em = this.options.emulate?.(peer) ?? null;
    if (em !== null) {
      assert(em.delayMs >= 0 && em.jitterMs >= 0 && em.delayMs + em.jitterMs <= PEER_EMULATION_DELAY_MS_MAX,
        `emulate(${peer}): delay ${em.delayMs} ms and jitter ${em.jitterMs} ms must be within [0, ${PEER_EMULATION_DELAY_MS_MAX}]`);
      assert(em.lossRate >= 0 && em.lossRate <= 1, `emulate(${peer}): loss rate ${em.lossRate} is not a probability`);
    }
    return em;
  }

  private scheduleFlush(link: PeerLink): void {
    this.dirty.add(link);
    if (this.flushImmediate === null) this.flushImmediate = setImmediate(() => this.flushAll());
  }

  private flushAll(): void {
    this.flushImmediate = null;
    const links = [...this.dirty];
    this.dirty.clear();
    for (const link of links) link.flush();
  }

  // The owner's callbacks run after the current call stack, so raft is never re-entered from send().
  private queueUnreachable(peer: NodeId): void {
    this.unreachable.add(peer);
    this.queueCallbacks();
  }

  private queueSnapshotStatus(peer: NodeId, status: SnapshotStatus): void {
    this.snapshotStatuses.push([peer, status]);
    this.queueCallbacks();
  }

  private queueCallbacks(): void {
    if (this.callbacksQueued || this.closing !== null) return;
    this.callbacksQueued = true;
    queueMicrotask(() => this.runCallbacks());
  }

  private runCallbacks(): void {
    this.callbacksQueued = false;
    if (this.closing !== null) return;
    const statuses = this.snapshotStatuses.splice(0);
    const unreachable = [...this.unreachable];
    this.unreachable.clear();
    for (const [peer, status] of statuses) this.options.onSnapshotStatus(peer, status);
    for (const peer of unreachable) this.options.onUnreachable(peer);
  }

  private onConnection(socket: net.Socket): void {
    if (this.closing !== null) {
      socket.destroy();
      return;
    }
    let unattached = 0;
    for (const conn of this.inbound) if (conn.unattached) unattached++;
    if (unattached >= PEER_INBOUND_HANDSHAKING_MAX) {
      this.publish({ kind: 'refused', peer: null, direction: 'inbound', reason: `${unattached} connections are already awaiting their handshake` });
      socket.destroy();
      return;
    }
    this.inbound.add(new InboundConn(socket, this.inboundContext));
  }

  private attach(conn: InboundConn): void {
    assert(conn.peer !== null, 'PeerTransport.attach: the connection has no peer');
    const old = this.inboundByPeer.get(conn.peer);
    if (old !== undefined && old !== conn) old.abort('replaced by a newer connection from the same member');
    this.inboundByPeer.set(conn.peer, conn);
  }

  private detach(conn: InboundConn): void {
    this.inbound.delete(conn);
    if (conn.peer !== null && this.inboundByPeer.get(conn.peer) === conn) this.inboundByPeer.delete(conn.peer);
  }

  private deliver(conn: InboundConn, m: Message): boolean {
    const from = conn.peer;
    assert(from !== null, 'PeerTransport.deliver: the connection has no peer');
    const reason: DropReason | null = m.to !== this.memberId ? 'wrong-recipient'
      : m.from !== from ? 'wrong-sender'
      : LOCAL_TYPES.has(m.type) ? 'local-type'
      : null;
    if (reason !== null) {
      this.publish({ kind: 'dropped', peer: from, direction: 'inbound', reason, messages: 1, detail: `type ${m.type} from ${m.from} to ${m.to}` });
      return false;
    }
    if (this.closing !== null) return false;
    this.options.onMessage(m);
    return true;
  }
}
