// The inbound side of one connection a peer dialed: checks its handshake, verifies and decodes its
// frames, reassembles snapshots, answers pings, and hands raft messages to the transport.

import type net from 'node:net';
import type { NodeId } from '../../util/branded.js';
import type { Message } from '../../raft/types.js';
import { DelayLine } from './delay_line.js';
import type { Publish } from './diagnostics.js';
import {
  decodeFrame,
  encodePing,
  encodeRefuse,
  encodeSnapAck,
  encodeWelcome,
  FrameKind,
  FrameReader,
  RefusalReason,
  type Frame,
  type Hello,
} from './frame_codec.js';
import {
  PEER_FRAME_PAYLOAD_BYTES_MAX,
  PEER_HANDSHAKE_PAYLOAD_BYTES_MAX,
  PEER_PROTOCOL_VERSION,
  PEER_REPLY_BACKLOG_BYTES_MAX,
} from './limits.js';
import type { WanEmulation } from './peer_link.js';
import { SnapshotAssembler, type AssemblyResult } from './snapshot_assembler.js';
import { PeerDecodeError, PeerFrameError } from './transport_errors.js';
import type { PeerTransportTuning } from './tuning.js';

/** What an inbound connection needs from its transport. */
export interface InboundContext {
  readonly clusterId: number;
  readonly self: NodeId;
  readonly tuning: PeerTransportTuning;
  readonly now: () => number;
  readonly publish: Publish;
  emulation(peer: NodeId): WanEmulation | null;
  isKnownPeer(peer: NodeId): boolean;
  /** The handshake succeeded: this is now the connection from `conn.peer`. */
  attach(conn: InboundConn): void;
  detach(conn: InboundConn): void;
  /** Passes a message on; false if it was dropped (wrong recipient or sender). */
  deliver(conn: InboundConn, m: Message): boolean;
}

export class InboundConn {
  /** The member that completed the handshake; null until then. */
  peer: NodeId | null = null;
  private state: 'handshaking' | 'open' | 'closed' = 'handshaking';
  private readonly reader = new FrameReader(PEER_HANDSHAKE_PAYLOAD_BYTES_MAX);
  private readonly assembler: SnapshotAssembler;
  private readonly delay: DelayLine;
  private closeReason = '';
  private closeWaiters: (() => void)[] = [];
  private closed = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly ctx: InboundContext,
  ) {
    this.assembler = new SnapshotAssembler(ctx.tuning.snapshotBytesMax);
    this.delay = new DelayLine(ctx.now);
    socket.setTimeout(ctx.tuning.handshakeTimeoutMs);
    socket.on('timeout', () => this.abort(this.state === 'handshaking' ? 'no handshake in time' : 'nothing heard for too long'));
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => {
      if (this.closeReason === '') this.closeReason = err.message;
    });
    socket.on('close', () => this.onClose());
  }

  private isClosing(): boolean {
    return this.state === 'closed';
  }

  /** Not (or not yet) the connection of a known peer: handshaking, or refused and closing. */
  get unattached(): boolean {
    return this.peer === null;
  }

  /** Closes this connection with a reason (bad frame, replaced, removed peer). */
  abort(reason: string): void {
    if (this.closeReason === '') this.closeReason = reason;
    this.state = 'closed';
    this.socket.destroy();
  }

  close(graceful: boolean): Promise<void> {
    if (this.closed) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.closeWaiters.push(resolve));
    this.state = 'closed';
    this.delay.clear();
    if (this.closeReason === '') this.closeReason = 'this member is closing';
    if (graceful) {
      this.socket.end();
      const force = setTimeout(() => this.socket.destroy(), this.ctx.tuning.closeTimeoutMs);
      void done.then(() => clearTimeout(force));
    } else {
      this.socket.destroy();
    }
    return done;
  }

  private onData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    this.reader.push(chunk);
    try {
      for (let payload = this.reader.next(); payload !== null && !this.isClosing(); payload = this.reader.next()) {
        this.onFrame(decodeFrame(payload));
      }
    } catch (err) {
      if (!(err instanceof PeerFrameError || err instanceof PeerDecodeError)) throw err;
      this.ctx.publish({ kind: 'frame-error', peer: this.peer, direction: 'inbound', code: err.code, reason: err.message });
      this.abort(err.message);
    }
  }

  private onFrame(f: Frame): void {
    if (this.state === 'handshaking') {
      if (f.kind !== 'hello') throw new PeerFrameError('ERR_PEER_FRAME_UNEXPECTED', `Cannot accept a ${f.kind} frame before a hello`);
      return this.onHello(f);
    }
    switch (f.kind) {
      case 'message':
        this.ctx.deliver(this, f.message);
        return;
      case 'ping':
        return this.reply(encodePing(FrameKind.Pong, f.stampMs));
      case 'snap-begin':
        return this.onAssembly(this.assembler.begin(f.id, f.totalBytes, f.checksum, f.message), f.totalBytes);
      case 'snap-chunk':
        return this.onAssembly(this.assembler.chunk(f.id, f.offset, f.data), 0);
      default:
        throw new PeerFrameError('ERR_PEER_FRAME_UNEXPECTED', `Cannot accept a ${f.kind} frame on an inbound connection`);
    }
  }

  private onHello(h: Hello): void {
    const refusal = this.checkHello(h);
    if (refusal !== null) {
      const [reason, text] = refusal;
      this.ctx.publish({ kind: 'refused', peer: h.from, direction: 'inbound', reason: text });
      this.closeReason = `refused: ${text}`;
      this.state = 'closed';
      // The dialer learns why, then the connection ends; the handshake timeout destroys it if the dialer lingers.
      this.socket.end(encodeRefuse(reason, text));
      return;
    }
    this.peer = h.from;
    this.state = 'open';
    this.reader.payloadBytesMax = PEER_FRAME_PAYLOAD_BYTES_MAX;
    this.socket.setTimeout(this.ctx.tuning.silentLimitMs);
    this.socket.write(encodeWelcome({ version: PEER_PROTOCOL_VERSION, clusterId: this.ctx.clusterId, member: this.ctx.self }));
    this.ctx.attach(this);
    this.ctx.publish({ kind: 'connected', peer: h.from, direction: 'inbound' });
  }

  private checkHello(h: Hello): [RefusalReason, string] | null {
    const c = this.ctx;
    if (h.version !== PEER_PROTOCOL_VERSION) {
      return [RefusalReason.Version, `member ${c.self} speaks protocol version ${PEER_PROTOCOL_VERSION}, not ${h.version}`];
    }
    if (h.clusterId !== c.clusterId) {
      return [RefusalReason.Cluster, `member ${c.self} belongs to cluster ${c.clusterId}, not ${h.clusterId}`];
    }
    if (h.to !== c.self) return [RefusalReason.Member, `this is member ${c.self}, not member ${h.to}`];
    if (h.from === c.self || !c.isKnownPeer(h.from)) {
      return [RefusalReason.UnknownSender, `member ${h.from} is not a known peer of member ${c.self}`];
    }
    return null;
  }

  private onAssembly(r: AssemblyResult, announcedBytes: number): void {
    const peer = this.peer;
    if (peer === null || r.kind === 'more') return;
    if (r.kind === 'rejected') {
      this.ctx.publish({ kind: 'snapshot', peer, direction: 'inbound', status: 'rejected', bytes: announcedBytes, detail: r.reason });
      return this.reply(encodeSnapAck(r.id, false));
    }
    const bytes = r.message.snapshot?.data.byteLength ?? 0;
    const delivered = this.ctx.deliver(this, r.message);
    if (delivered) this.ctx.publish({ kind: 'snapshot', peer, direction: 'inbound', status: 'received', bytes, detail: `snapshot ${r.id}` });
    this.reply(encodeSnapAck(r.id, delivered));
  }

  /**
   * Writes a small answer (pong, ack), delayed like everything this member sends under WAN emulation.
   * A peer that sends pings but never reads the pongs would grow our buffer: past the bound, answers are dropped.
   */
  private reply(frame: Buffer): void {
    if (this.socket.writableLength + this.delay.bytes + frame.byteLength > PEER_REPLY_BACKLOG_BYTES_MAX) return;
    const em = this.peer === null ? null : this.ctx.emulation(this.peer);
    const delayMs = em === null ? 0 : em.delayMs;
    const write = (): void => {
      if (this.state === 'open') this.socket.write(frame);
    };
    if (delayMs > 0 || this.delay.size > 0) this.delay.push(delayMs, frame.byteLength, 0, write);
    else write();
  }

  private onClose(): void {
    this.closed = true;
    this.state = 'closed';
    this.delay.clear();
    this.assembler.reset();
    if (this.peer !== null) {
      const reason = this.closeReason === '' ? 'closed by the peer' : this.closeReason;
      this.ctx.publish({ kind: 'disconnected', peer: this.peer, direction: 'inbound', reason, retryInMs: null });
    }
    this.ctx.detach(this);
    for (const resolve of this.closeWaiters.splice(0)) resolve();
  }
}
