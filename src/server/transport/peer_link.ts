// The outbound side of one peer: a long-lived connection this member dials to send its messages,
// with the handshake, reconnect back-off, the bounded send queue, snapshot streaming and pings.

import net from 'node:net';
import { crc32c } from '@node-rs/crc32';
import type { NodeId } from '../../util/branded.js';
import type { Prng } from '../../util/prng.js';
import type { SnapshotStatus } from '../../raft/raw_node.js';
import type { Message } from '../../raft/types.js';
import { DelayLine } from './delay_line.js';
import type { DropReason, Publish } from './diagnostics.js';
import {
  decodeFrame,
  encodeHello,
  encodeMessageFrame,
  encodePing,
  encodeSnapBegin,
  encodeSnapChunk,
  FrameKind,
  FrameReader,
  type Frame,
  type Welcome,
} from './frame_codec.js';
import { PEER_BACKOFF_JITTER_FRACTION, PEER_HANDSHAKE_PAYLOAD_BYTES_MAX, PEER_PROTOCOL_VERSION, PEER_RTT_SMOOTHING_GAIN } from './limits.js';
import { PeerDecodeError, PeerEncodeError, PeerFrameError } from './transport_errors.js';
import type { PeerTransportTuning } from './tuning.js';

/** The emulated network between this member and one peer, applied to what this member sends. */
export interface WanEmulation {
  readonly delayMs: number;
  readonly jitterMs: number;
  readonly lossRate: number;
}

/** What a link needs from its transport. */
export interface LinkContext {
  readonly clusterId: number;
  readonly self: NodeId;
  readonly tuning: PeerTransportTuning;
  readonly prng: Prng;
  readonly now: () => number;
  readonly publish: Publish;
  emulation(peer: NodeId): WanEmulation | null;
  reportUnreachable(peer: NodeId): void;
  reportSnapshot(peer: NodeId, status: SnapshotStatus): void;
  scheduleFlush(link: PeerLink): void;
}

export type LinkState = 'connecting' | 'open' | 'backoff' | 'closed';

export interface PeerStatus {
  readonly peer: NodeId;
  readonly state: LinkState;
  /** Monotonic ms (performance.now) when the current connection completed its handshake. */
  readonly connectedSinceMs: number | null;
  readonly rttMs: number | null;
  readonly queuedBytes: number;
  readonly queuedMessages: number;
  readonly snapshotInFlight: boolean;
  /** Failed connection attempts since the last connection that stayed up. */
  readonly failedAttempts: number;
}

interface Batch {
  readonly frames: Buffer[];
  readonly bytes: number;
  readonly messages: number;
}

interface OutgoingSnapshot {
  readonly id: number;
  readonly begin: Buffer;
  readonly data: Uint8Array;
  offset: number;
  beginSent: boolean;
  /** Frames of this snapshot waiting in the emulation delay; the next is sent once they left. */
  delayed: number;
}

const EMPTY = new Uint8Array(0);

export class PeerLink {
  private state: LinkState = 'backoff';
  private socket: net.Socket | null = null;
  private reader = new FrameReader(PEER_HANDSHAKE_PAYLOAD_BYTES_MAX);
  private closeReason = '';
  private failedAttempts = 0;
  /** The back-off wait, or the deadline of connecting plus handshake. */
  private timer: NodeJS.Timeout | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  private openedAtMs: number | null = null;
  private lastHeardMs = 0;
  private smoothedRttMs: number | null = null;
  private closeWaiters: (() => void)[] = [];
  // Frames move: pending (this turn) → delay line (emulation only) → blocked (socket full) → socket.
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private blocked: Batch[] = [];
  private blockedBytes = 0;
  private blockedMessages = 0;
  private socketBlocked = false;
  private readonly delay: DelayLine;
  private snapshot: OutgoingSnapshot | null = null;
  private nextSnapshotId = 1;

  constructor(
    readonly peer: NodeId,
    private host: string,
    private port: number,
    private readonly ctx: LinkContext,
  ) {
    this.delay = new DelayLine(ctx.now);
  }

  start(): void {
    this.dial();
  }

  sameAddress(host: string, port: number): boolean {
    return this.host === host && this.port === port;
  }

  rttMs(): number | null {
    return this.smoothedRttMs;
  }

  status(): PeerStatus {
    return {
      peer: this.peer,
      state: this.state,
      connectedSinceMs: this.state === 'open' ? this.openedAtMs : null,
      rttMs: this.smoothedRttMs,
      queuedBytes: this.queuedBytes(),
      queuedMessages: this.queuedMessages(),
      snapshotInFlight: this.snapshot !== null,
      failedAttempts: this.failedAttempts,
    };
  }

  /** Everything held for this peer, including what the socket itself buffers. */
  queuedBytes(): number {
    return this.pendingBytes + this.delay.bytes + this.blockedBytes + (this.socket?.writableLength ?? 0);
  }

  queuedMessages(): number {
    return this.pending.length + this.delay.messages + this.blockedMessages;
  }

  // ---- sending ----

  /** Queues one message (not a snapshot) for the next flush, or drops it and reports the peer unreachable. */
  send(m: Message): void {
    if (this.state === 'closed') return;
    if (this.state === 'backoff') return this.drop('not-connected', 1, `waiting to reconnect (${this.closeReason})`);
    const em = this.ctx.emulation(this.peer);
    if (em !== null && em.lossRate > 0 && this.ctx.prng.chance(em.lossRate)) {
      this.ctx.publish({ kind: 'dropped', peer: this.peer, direction: 'outbound', reason: 'emulated-loss', messages: 1, detail: '' });
      return;
    }
    let frame: Buffer;
    try {
      frame = encodeMessageFrame(m);
    } catch (err) {
      if (err instanceof PeerEncodeError) return this.drop('too-large', 1, err.message);
      throw err;
    }
    if (this.queuedBytes() + frame.byteLength > this.ctx.tuning.queueBytesMax || this.queuedMessages() + 1 > this.ctx.tuning.queueMessagesMax) {
      return this.drop('queue-full', 1, `${this.queuedMessages()} messages, ${this.queuedBytes()} bytes queued`);
    }
    this.pending.push(frame);
    this.pendingBytes += frame.byteLength;
    this.ctx.scheduleFlush(this);
  }

  /** Starts streaming a MsgSnap; its outcome is reported through reportSnapshot. */
  sendSnapshot(m: Message): void {
    if (this.state === 'closed') return;
    const snap = m.snapshot;
    if (snap === null) return this.send(m);
    if (this.state === 'backoff') return this.failSnapshotNow(snap.data.byteLength, `not connected (${this.closeReason})`, true);
    if (this.snapshot !== null) return this.failSnapshotNow(snap.data.byteLength, `snapshot ${this.snapshot.id} is still streaming`, false);
    if (snap.data.byteLength > this.ctx.tuning.snapshotBytesMax) {
      return this.failSnapshotNow(snap.data.byteLength, `snapshot of ${snap.data.byteLength} bytes exceeds the limit of ${this.ctx.tuning.snapshotBytesMax}`, false);
    }
    const id = this.nextSnapshotId;
    this.nextSnapshotId = (this.nextSnapshotId % 0xffff_ffff) + 1;
    let begin: Buffer;
    try {
      begin = encodeSnapBegin(id, snap.data.byteLength, crc32c(snap.data), { ...m, snapshot: { metadata: snap.metadata, data: EMPTY } });
    } catch (err) {
      if (err instanceof PeerEncodeError) return this.failSnapshotNow(snap.data.byteLength, err.message, false);
      throw err;
    }
    this.snapshot = { id, begin, data: snap.data, offset: 0, beginSent: false, delayed: 0 };
    this.ctx.publish({ kind: 'snapshot', peer: this.peer, direction: 'outbound', status: 'streaming', bytes: snap.data.byteLength, detail: `snapshot ${id}` });
    this.ctx.scheduleFlush(this);
  }

  /** Hands this turn's messages to the socket in one write (or to the emulated delay), then continues a snapshot. */
  flush(): void {
    if (this.state !== 'open') return;
    if (this.pending.length > 0) {
      const batch: Batch = { frames: this.pending, bytes: this.pendingBytes, messages: this.pending.length };
      this.pending = [];
      this.pendingBytes = 0;
      this.emit(batch.bytes, batch.messages, () => this.writeBatch(batch));
    }
    this.pumpSnapshot();
  }

  /** Sends now, or after the emulated delay (behind anything still delayed, so order holds). */
  private emit(bytes: number, messages: number, write: () => void): void {
    const em = this.ctx.emulation(this.peer);
    const delayMs = em === null ? 0 : em.delayMs + (em.jitterMs > 0 ? this.ctx.prng.float() * em.jitterMs : 0);
    if (delayMs > 0 || this.delay.size > 0) this.delay.push(delayMs, bytes, messages, write);
    else write();
  }

  private writeBatch(batch: Batch): void {
    if (this.state !== 'open') return this.drop('connection-lost', batch.messages, this.closeReason);
    if (this.socketBlocked || this.blocked.length > 0) {
      this.blocked.push(batch);
      this.blockedBytes += batch.bytes;
      this.blockedMessages += batch.messages;
      return;
    }
    this.writeFrames(batch.frames);
  }

  /** One writev for all frames; a full socket buffer stops further writes until 'drain'. */
  private writeFrames(frames: readonly Buffer[]): void {
    const socket = this.socket;
    if (socket === null) return;
    socket.cork();
    let ok = true;
    for (const f of frames) ok = socket.write(f);
    socket.uncork();
    if (!ok) this.socketBlocked = true;
  }

  private onDrain(socket: net.Socket): void {
    if (socket !== this.socket) return;
    // The peer's kernel acknowledged our data, so it is alive even if its pongs wait behind that data.
    this.lastHeardMs = this.ctx.now();
    this.socketBlocked = false;
    while (!this.socketBlocked) {
      const batch = this.blocked.shift();
      if (batch === undefined) break;
      this.blockedBytes -= batch.bytes;
      this.blockedMessages -= batch.messages;
      this.writeFrames(batch.frames);
    }
    this.pumpSnapshot();
  }

  /** Sends the next snapshot frame whenever the socket has room and no message batch waits: messages go first. */
  private pumpSnapshot(): void {
    const s = this.snapshot;
    while (s !== null && s === this.snapshot && this.state === 'open' && !this.socketBlocked && this.blocked.length === 0 && s.delayed === 0) {
      if (s.beginSent && s.offset === s.data.byteLength) return; // all sent; waiting for the receiver's ack
      let frames: Buffer[];
      if (!s.beginSent) {
        frames = [s.begin];
        s.beginSent = true;
      } else {
        const end = Math.min(s.data.byteLength, s.offset + this.ctx.tuning.snapshotChunkBytes);
        frames = encodeSnapChunk(s.id, s.offset, s.data.subarray(s.offset, end));
        s.offset = end;
      }
      const bytes = frames.reduce((n, f) => n + f.byteLength, 0);
      const em = this.ctx.emulation(this.peer);
      if ((em !== null && (em.delayMs > 0 || em.jitterMs > 0)) || this.delay.size > 0) {
        s.delayed++;
        this.emit(bytes, 0, () => {
          s.delayed--;
          this.writeBatch({ frames, bytes, messages: 0 }); // behind any blocked batch, like every other write
          this.pumpSnapshot();
        });
      } else {
        this.writeFrames(frames);
      }
    }
  }

  private failSnapshotNow(bytes: number, reason: string, unreachable: boolean): void {
    this.ctx.publish({ kind: 'snapshot', peer: this.peer, direction: 'outbound', status: 'failed', bytes, detail: reason });
    this.ctx.reportSnapshot(this.peer, 'failure');
    if (unreachable) this.ctx.reportUnreachable(this.peer);
  }

  private drop(reason: DropReason, messages: number, detail: string): void {
    if (messages === 0) return;
    this.ctx.publish({ kind: 'dropped', peer: this.peer, direction: 'outbound', reason, messages, detail });
    this.ctx.reportUnreachable(this.peer);
  }

  // ---- the connection ----

  private dial(): void {
    this.timer = null;
    this.state = 'connecting';
    this.closeReason = '';
    this.socketBlocked = false;
    this.reader = new FrameReader(PEER_HANDSHAKE_PAYLOAD_BYTES_MAX);
    const socket = net.connect({ host: this.host, port: this.port, noDelay: true });
    this.socket = socket;
    this.timer = setTimeout(() => this.abort(socket, `no handshake within ${this.ctx.tuning.handshakeTimeoutMs} ms`), this.ctx.tuning.handshakeTimeoutMs);
    socket.on('connect', () => {
      socket.write(encodeHello({ version: PEER_PROTOCOL_VERSION, clusterId: this.ctx.clusterId, from: this.ctx.self, to: this.peer }));
    });
    socket.on('data', (chunk: Buffer) => this.onData(socket, chunk));
    socket.on('drain', () => this.onDrain(socket));
    socket.on('error', (err) => {
      if (this.closeReason === '') this.closeReason = err.message;
    });
    socket.on('close', () => this.onClose(socket));
  }

  private abort(socket: net.Socket, reason: string): void {
    if (socket !== this.socket) return;
    if (this.closeReason === '') this.closeReason = reason;
    socket.destroy();
  }

  private onData(socket: net.Socket, chunk: Buffer): void {
    if (socket !== this.socket) return;
    this.reader.push(chunk);
    try {
      for (let payload = this.reader.next(); payload !== null && socket === this.socket; payload = this.reader.next()) {
        this.onFrame(socket, decodeFrame(payload));
      }
    } catch (err) {
      if (!(err instanceof PeerFrameError || err instanceof PeerDecodeError)) throw err;
      this.ctx.publish({ kind: 'frame-error', peer: this.peer, direction: 'outbound', code: err.code, reason: err.message });
      this.abort(socket, err.message);
    }
  }

  private onFrame(socket: net.Socket, f: Frame): void {
    this.lastHeardMs = this.ctx.now();
    if (this.state === 'connecting') {
      if (f.kind === 'welcome') return this.onWelcome(socket, f);
      if (f.kind === 'refuse') {
        const reason = `refused by the peer: ${f.text}`;
        this.ctx.publish({ kind: 'refused', peer: this.peer, direction: 'outbound', reason });
        return this.abort(socket, reason);
      }
      throw new PeerFrameError('ERR_PEER_FRAME_UNEXPECTED', `Cannot accept a ${f.kind} frame before the handshake completed`);
    }
    if (f.kind === 'pong') return this.onPong(f.stampMs);
    if (f.kind === 'snap-ack') return this.onSnapAck(f.id, f.ok);
    throw new PeerFrameError('ERR_PEER_FRAME_UNEXPECTED', `Cannot accept a ${f.kind} frame on an outbound connection`);
  }

  private onWelcome(socket: net.Socket, w: Welcome): void {
    const mismatch = w.version !== PEER_PROTOCOL_VERSION ? `protocol version ${w.version}, this member speaks ${PEER_PROTOCOL_VERSION}`
      : w.clusterId !== this.ctx.clusterId ? `cluster id ${w.clusterId}, this member belongs to cluster ${this.ctx.clusterId}`
      : w.member !== this.peer ? `member id ${w.member}, expected member ${this.peer} at ${this.host}:${this.port}`
      : null;
    if (mismatch !== null) {
      const reason = `the peer answered with ${mismatch}`;
      this.ctx.publish({ kind: 'refused', peer: this.peer, direction: 'outbound', reason });
      return this.abort(socket, reason);
    }
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.state = 'open';
    this.openedAtMs = this.ctx.now();
    this.ctx.publish({ kind: 'connected', peer: this.peer, direction: 'outbound' });
    this.pingTimer = setInterval(() => this.onPingTimer(socket), this.ctx.tuning.pingIntervalMs);
    this.sendPing();
    this.flush();
  }

  private onPingTimer(socket: net.Socket): void {
    const silentMs = this.ctx.now() - this.lastHeardMs;
    if (silentMs > this.ctx.tuning.silentLimitMs) return this.abort(socket, `nothing heard for ${Math.round(silentMs)} ms`);
    if (!this.socketBlocked) this.sendPing();
  }

  private sendPing(): void {
    const frame = encodePing(FrameKind.Ping, this.ctx.now());
    this.emit(frame.byteLength, 0, () => {
      if (this.state === 'open' && !this.socketBlocked) this.socket?.write(frame);
    });
  }

  private onPong(stampMs: number): void {
    const sampleMs = this.ctx.now() - stampMs;
    if (!(sampleMs >= 0 && sampleMs <= this.ctx.tuning.silentLimitMs)) return; // not a stamp of ours
    const prev = this.smoothedRttMs;
    this.smoothedRttMs = prev === null ? sampleMs : prev + PEER_RTT_SMOOTHING_GAIN * (sampleMs - prev);
    this.ctx.publish({ kind: 'rtt', peer: this.peer, sampleMs, smoothedMs: this.smoothedRttMs });
  }

  private onSnapAck(id: number, ok: boolean): void {
    const s = this.snapshot;
    if (s === null || s.id !== id) return; // an answer to a snapshot given up on already
    this.snapshot = null;
    const detail = ok ? `snapshot ${id} verified by the peer` : `snapshot ${id} rejected by the peer`;
    this.ctx.publish({ kind: 'snapshot', peer: this.peer, direction: 'outbound', status: ok ? 'sent' : 'failed', bytes: s.data.byteLength, detail });
    this.ctx.reportSnapshot(this.peer, ok ? 'finish' : 'failure');
    this.pumpSnapshot();
  }

  private onClose(socket: net.Socket): void {
    if (socket !== this.socket) return;
    this.socket = null;
    this.clearTimers();
    const wasOpen = this.state === 'open';
    const reason = this.closeReason === '' ? 'closed by the peer' : this.closeReason;
    this.closeReason = reason;
    const dropped = this.pending.length + this.blockedMessages + this.delay.clear();
    this.pending = [];
    this.pendingBytes = 0;
    this.blocked = [];
    this.blockedBytes = 0;
    this.blockedMessages = 0;
    if (this.state === 'closed') {
      for (const resolve of this.closeWaiters.splice(0)) resolve();
      return;
    }
    const snap = this.snapshot;
    this.snapshot = null;
    if (snap !== null) this.failSnapshotNow(snap.data.byteLength, `connection lost: ${reason}`, false);
    if (wasOpen && this.openedAtMs !== null && this.ctx.now() - this.openedAtMs >= this.ctx.tuning.backoffResetAfterMs) this.failedAttempts = 0;
    this.failedAttempts++;
    const retryInMs = this.backoffMs();
    this.state = 'backoff';
    this.openedAtMs = null;
    this.timer = setTimeout(() => this.dial(), retryInMs);
    this.ctx.publish({ kind: 'disconnected', peer: this.peer, direction: 'outbound', reason, retryInMs });
    if (dropped > 0) this.drop('connection-lost', dropped, reason);
    else if (wasOpen || snap !== null) this.ctx.reportUnreachable(this.peer);
  }

  /** Exponential in the failed attempts, capped, shortened by a random fraction. */
  private backoffMs(): number {
    const t = this.ctx.tuning;
    const exp = Math.min(t.backoffMaxMs, t.backoffBaseMs * 2 ** Math.min(this.failedAttempts - 1, 30));
    return exp * (1 - PEER_BACKOFF_JITTER_FRACTION * this.ctx.prng.float());
  }

  private clearTimers(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.pingTimer !== null) clearInterval(this.pingTimer);
    this.timer = null;
    this.pingTimer = null;
  }

  /** Stops for good. Graceful: what is queued is written and the socket ended; else it is destroyed. */
  close(graceful: boolean): Promise<void> {
    const open = this.state === 'open';
    if (graceful && open) {
      this.flush();
      for (const batch of this.blocked.splice(0)) this.writeFrames(batch.frames);
    }
    this.state = 'closed';
    this.clearTimers();
    this.delay.clear();
    this.snapshot = null;
    const socket = this.socket;
    if (socket === null) return Promise.resolve();
    const closed = new Promise<void>((resolve) => this.closeWaiters.push(resolve));
    if (graceful && open) {
      socket.end();
      const force = setTimeout(() => socket.destroy(), this.ctx.tuning.closeTimeoutMs);
      void closed.then(() => clearTimeout(force));
    } else {
      socket.destroy();
    }
    return closed;
  }
}
