// The Maintenance service (etcd's v3rpc maintenance.go): status, alarms, defragmentation, consistency hashes,
// the snapshot stream (chunks then etcd's SHA-256 trailer) and leadership transfer.

import { createHash } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import { nodeId } from '../../util/branded.js';
import { AlarmAction, AlarmType } from '../../kv/rpc.js';
import { clampedInt64Field, headerToPb, type PbMessage, type PbOut, safeIdField } from './convert.js';
import { ETCD_ERRORS, EtcdServerError, UnknownEnumValueError } from './errors.js';
import { serviceError, type ServiceContext, unary } from './rpc_util.js';
import { frameSnapshotChunk, SNAPSHOT_SHA_BYTES, snapshotPadding } from './snapshot_file.js';

function alarmEnum<T extends number>(req: PbMessage, name: string, values: { readonly [k: string]: T }): T {
  const v = req[name];
  const n = typeof v === 'number' ? v : 0;
  for (const known of Object.values(values)) if (known === n) return known;
  throw new UnknownEnumValueError(name, n);
}

export function maintenanceService(ctx: ServiceContext): grpc.UntypedServiceImplementation {
  const { backend } = ctx;
  const Snapshot: grpc.handleServerStreamingCall<unknown, PbOut> = (call) => {
    streamSnapshot(ctx, call).catch((err: unknown) => call.emit('error', serviceError(err)));
  };
  return {
    Alarm: unary(async (req) => {
      const action = alarmEnum(req, 'action', AlarmAction);
      const alarm = alarmEnum(req, 'alarm', AlarmType);
      const member = safeIdField(req, 'memberID');
      if (member === null) throw new EtcdServerError('ErrMemberNotFound');
      const alarms = await backend.alarm(action, nodeId(member), alarm);
      return { header: headerToPb(backend.header()), alarms: alarms.map((a) => ({ memberID: String(a.memberId), alarm: a.alarm })) };
    }),
    Status: unary(async () => {
      const header = backend.header();
      const s = await backend.status();
      const errors = [...s.errors];
      // As etcd: a member that knows no leader says so among the errors.
      const noLeader = ETCD_ERRORS.ErrNoLeader.message;
      if (s.leader === 0 && !errors.includes(noLeader)) errors.unshift(noLeader);
      return {
        header: headerToPb(header), version: s.version, dbSize: s.dbSize, leader: String(s.leader), raftIndex: s.raftIndex,
        raftTerm: s.raftTerm, raftAppliedIndex: s.raftAppliedIndex, errors, dbSizeInUse: s.dbSizeInUse, isLearner: s.isLearner,
        storageVersion: '', dbSizeQuota: 0, downgradeInfo: { enabled: false, targetVersion: '' },
      };
    }),
    Defragment: unary(async () => {
      await backend.defragment();
      return { header: headerToPb(backend.header()) };
    }),
    Hash: unary(async () => {
      const header = headerToPb(backend.header());
      const { hash } = await backend.hash();
      return { header, hash };
    }),
    HashKV: unary(async (req) => {
      const r = await backend.hashKV(clampedInt64Field(req, 'revision'));
      return { header: headerToPb(backend.header(), r.revision), hash: r.hash, compact_revision: r.compactRevision, hash_revision: r.hashRevision };
    }),
    Snapshot,
    MoveLeader: unary(async (req) => {
      const header = backend.header();
      const status = await backend.status();
      if (BigInt(status.leader) !== header.memberId) throw new EtcdServerError('ErrNotLeader');
      const target = safeIdField(req, 'targetID');
      if (target === null || target === 0) throw new EtcdServerError('ErrBadLeaderTransferee');
      await backend.moveLeader(nodeId(target));
      return { header: headerToPb(backend.header()) };
    }),
    Downgrade: unary(() => Promise.reject(new EtcdServerError('ErrDowngradeNotSupported'))),
  };
}

/**
 * The sending side of one Snapshot call: writes that wait while the client is slow, and stop for good once
 * the call ended in any way (client gone, server closing), so a dead call never pins the snapshot.
 */
class SnapshotSender {
  private ended = false;
  private wake: (() => void) | null = null;

  constructor(private readonly call: grpc.ServerWritableStream<unknown, PbOut>) {
    const end = (): void => {
      this.ended = true;
      this.wake?.();
    };
    for (const event of ['cancelled', 'close', 'error', 'finish']) call.on(event, end);
    call.on('drain', () => this.wake?.());
  }

  /** Writes one message; resolves false when the call ended instead of taking it. */
  async send(message: PbOut): Promise<boolean> {
    if (this.ended) return false;
    if (this.call.write(message)) return true;
    await new Promise<void>((resolve) => {
      this.wake = resolve;
    });
    this.wake = null;
    return !this.ended;
  }

  end(): void {
    if (!this.ended) this.call.end();
  }
}

/** The stream's pieces: framed chunks cut to at most `maxBytes`, then the padding (see snapshot_file.ts). */
async function* snapshotPieces(chunks: AsyncIterable<Uint8Array>, maxBytes: number): AsyncGenerator<Uint8Array> {
  let written = 0;
  for await (const chunk of chunks) {
    const framed = frameSnapshotChunk(chunk);
    for (let at = 0; at < framed.length; at += maxBytes) yield framed.subarray(at, Math.min(framed.length, at + maxBytes));
    written += framed.length;
  }
  yield snapshotPadding(written);
}

/**
 * Streams the backend's snapshot, then etcd's SHA-256 trailer. The total size is not known ahead, so
 * `remaining_bytes` is a lower bound (the piece held back), 0 at the end. Stopping early (client gone) ends
 * the iteration, which lets the backend release its snapshot.
 */
async function streamSnapshot(ctx: ServiceContext, call: grpc.ServerWritableStream<unknown, PbOut>): Promise<void> {
  const { backend, limits } = ctx;
  const sender = new SnapshotSender(call);
  const sha = createHash('sha256');
  // The first header tells the point in time of the snapshot, as etcd documents; later messages carry none.
  let header: PbOut | null = headerToPb(backend.header());
  const send = (blob: Uint8Array, remaining: number): Promise<boolean> => {
    sha.update(blob);
    const message: PbOut = header === null ? { remaining_bytes: remaining, blob } : { header, remaining_bytes: remaining, blob };
    header = null;
    return sender.send(message);
  };
  let held: Uint8Array | null = null;
  for await (const piece of snapshotPieces(backend.snapshot(), limits.snapshotSendBytesMax)) {
    if (held !== null && !(await send(held, piece.length + SNAPSHOT_SHA_BYTES))) return;
    held = piece;
  }
  if (held !== null && !(await send(held, SNAPSHOT_SHA_BYTES))) return;
  if (!(await sender.send({ remaining_bytes: 0, blob: sha.digest() }))) return;
  sender.end();
}
