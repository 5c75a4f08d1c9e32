// Receiver side of a snapshot stream: collects chunks in order, bounded by the snapshot size limit,
// and yields the MsgSnap only once the whole data matches the sender's CRC32C.

import { crc32c } from '@node-rs/crc32';
import type { Message } from '../../raft/types.js';
import { PeerFrameError } from './transport_errors.js';

export type AssemblyResult =
  | { readonly kind: 'more' }
  | { readonly kind: 'done'; readonly id: number; readonly message: Message }
  | { readonly kind: 'rejected'; readonly id: number; readonly reason: string };

interface Assembly {
  readonly id: number;
  readonly checksum: number;
  readonly message: Message;
  /**
   * Allocated whole at the start, so each chunk is copied once: a peer that passed the handshake can make
   * us hold at most bytesMax, the same as a completed snapshot of that size would.
   */
  readonly data: Uint8Array;
  received: number;
  /** CRC32C of the data received so far, computed as chunks arrive. */
  crc: number;
}

const MORE: AssemblyResult = { kind: 'more' };

export class SnapshotAssembler {
  private current: Assembly | null = null;
  /** Chunks of the last rejected snapshot may still be on the wire; they are ignored, not an error. */
  private rejectedId: number | null = null;

  constructor(private readonly bytesMax: number) {}

  /** Bytes received so far of the snapshot being received. */
  receivedBytes(): number {
    return this.current?.received ?? 0;
  }

  begin(id: number, totalBytes: number, checksum: number, message: Message): AssemblyResult {
    if (this.current !== null) {
      throw new PeerFrameError('ERR_PEER_FRAME_UNEXPECTED', `Cannot begin snapshot ${id}: snapshot ${this.current.id} is still being received`);
    }
    if (totalBytes > this.bytesMax) {
      this.rejectedId = id;
      return { kind: 'rejected', id, reason: `snapshot of ${totalBytes} bytes exceeds the limit of ${this.bytesMax}` };
    }
    // Unzeroed memory is safe here: the snapshot is delivered only once every byte has been written.
    const buf = Buffer.allocUnsafeSlow(totalBytes);
    const data = new Uint8Array(buf.buffer, buf.byteOffset, totalBytes);
    this.current = { id, checksum, message, data, received: 0, crc: 0 };
    return totalBytes === 0 ? this.finish(this.current) : MORE;
  }

  chunk(id: number, offset: number, data: Uint8Array): AssemblyResult {
    const a = this.current;
    if (a === null || a.id !== id) {
      if (id === this.rejectedId) return MORE;
      throw new PeerFrameError('ERR_PEER_FRAME_UNEXPECTED', `Cannot take a chunk of snapshot ${id}: it was never begun`);
    }
    if (offset !== a.received) {
      throw new PeerFrameError('ERR_PEER_FRAME_UNEXPECTED', `Cannot take a chunk of snapshot ${id} at offset ${offset}: expected offset ${a.received}`);
    }
    if (data.byteLength === 0 || a.received + data.byteLength > a.data.byteLength) {
      throw new PeerFrameError('ERR_PEER_FRAME_UNEXPECTED',
        `Cannot take ${data.byteLength} bytes of snapshot ${id} at offset ${offset}: it has ${a.data.byteLength} bytes`);
    }
    a.data.set(data, a.received);
    a.received += data.byteLength;
    a.crc = crc32c(data, a.crc);
    return a.received === a.data.byteLength ? this.finish(a) : MORE;
  }

  /** Drops a partial snapshot (the connection closed). */
  reset(): void {
    this.current = null;
  }

  private finish(a: Assembly): AssemblyResult {
    this.current = null;
    if (a.crc !== a.checksum) {
      this.rejectedId = a.id;
      return { kind: 'rejected', id: a.id, reason: `snapshot data CRC32C is 0x${a.crc.toString(16)}, the sender's is 0x${a.checksum.toString(16)}` };
    }
    const snapshot = a.message.snapshot;
    if (snapshot === null) return { kind: 'rejected', id: a.id, reason: 'the snapshot message carries no snapshot' };
    return { kind: 'done', id: a.id, message: { ...a.message, snapshot: { metadata: snapshot.metadata, data: a.data } } };
  }
}
