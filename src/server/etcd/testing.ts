// TEST HELPERS for this folder's tests: the etcd API served by a real one-member cluster (a Member with its
// WAL on disk, LMDB, Raft elections and the lessor loop) at 127.0.0.1 on an ephemeral port, raw gRPC calls
// encoded with our own .proto files, and waits bounded in time.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { WatchLimits } from '../../kv/watch_limits.js';
import { LmdbBackend } from '../../storage/backend/lmdb_backend.js';
import { NodeFileSystem } from '../../storage/node_file_system.js';
import { Prng } from '../../util/prng.js';
import { DEFAULT_RAFT_SETTINGS, Member } from '../node/member.js';
import { MemberBackend } from '../node/member_backend.js';
import { bootstrapFor, clusterIdFor, memberIdFor } from '../server.js';
import type { PbMessage } from './convert.js';
import { type EtcdGrpcServer, startEtcdGrpcServer } from './grpc_server.js';
import type { EtcdGrpcLimits } from './limits.js';
import { etcdMethod, type ServiceKey } from '../../wire/etcd_proto.js';

/** Default bound of one wait in a test. */
export const TEST_WAIT_MS = 5000;
/** The test member's name and (never dialed) peer URL, as etcdctl prints them in member list. */
export const TEST_MEMBER_NAME = 'meridian-test';
export const TEST_PEER_URL = 'http://127.0.0.1:2380';
const TEST_CLUSTER_TOKEN = 'meridian-etcd-api-test';
/** A fast clock for the one member: it elects itself within ~100 ms. */
const TEST_TICK_MS = 10;
const LEADER_POLL_MS = 5;

export interface TestServerOptions {
  readonly minLeaseTtlSeconds?: number;
  readonly watchLimits?: Partial<WatchLimits>;
  readonly limits?: Partial<EtcdGrpcLimits>;
}

export interface TestServer {
  readonly member: Member;
  readonly backend: MemberBackend;
  readonly server: EtcdGrpcServer;
  readonly port: number;
  /** host:port, as clients take it. */
  readonly endpoint: string;
  close(): Promise<void>;
}

/** Starts a one-member cluster and its gRPC server; resolves once the member leads. */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'meridian-etcd-api-'));
  const peerUrl = new URL(TEST_PEER_URL);
  const id = memberIdFor([peerUrl], TEST_CLUSTER_TOKEN);
  const clusterId = clusterIdFor(TEST_CLUSTER_TOKEN);
  const failures: unknown[] = [];
  const member = await Member.open({
    id,
    clusterId: String(clusterId),
    fs: new NodeFileSystem(),
    dataDir: join(dir, 'member'),
    kvBackend: new LmdbBackend({ path: join(dir, 'kv'), noSync: true }),
    clock: {
      now: () => performance.now(),
      setTimer: (ms, fn) => {
        const t = setTimeout(fn, ms);
        return () => clearTimeout(t);
      },
    },
    io: { send: () => undefined, track: (work) => work },
    prng: new Prng(id % 0x7fffffff),
    raft: { ...DEFAULT_RAFT_SETTINGS, tickMs: TEST_TICK_MS },
    bootstrap: bootstrapFor([{ id, name: TEST_MEMBER_NAME, peerUrls: [peerUrl] }]),
    snapshotEveryEntries: 10_000,
    compactionLagEntries: 1000,
    requestTimeoutMs: TEST_WAIT_MS,
    ...(options.minLeaseTtlSeconds === undefined ? {} : { minLeaseTtlSeconds: options.minLeaseTtlSeconds }),
    ...(options.watchLimits === undefined ? {} : { watchLimits: options.watchLimits }),
    // The member drives its watch hub (catch-up and progress), as in the server.
    ...(options.limits?.watchProgressIntervalMs === undefined ? {} : { watchProgressIntervalMs: options.limits.watchProgressIntervalMs }),
    observer: { fatal: (err) => failures.push(err) },
  });
  const deadline = performance.now() + TEST_WAIT_MS;
  while (!member.isLeader()) {
    if (failures.length > 0 || performance.now() > deadline) {
      await member.close();
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`the test member did not become leader: ${failures.map(String).join('; ') || 'timed out'}`);
    }
    await new Promise((resolve) => setTimeout(resolve, LEADER_POLL_MS));
  }
  const backend = new MemberBackend(member, clusterId, () => performance.now(), (urls) => memberIdFor(urls.map((u) => new URL(u)), TEST_CLUSTER_TOKEN));
  const server = await startEtcdGrpcServer(backend, { host: '127.0.0.1', port: 0, driveWatchHub: false, ...(options.limits === undefined ? {} : { limits: options.limits }) });
  return {
    member, backend, server, port: server.port, endpoint: `127.0.0.1:${server.port}`,
    close: async () => {
      await server.close();
      backend.close();
      await member.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Rejects with a message naming `what` unless `promise` settles within `ms`. */
export async function within<T>(promise: Promise<T>, what: string, ms = TEST_WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A plain gRPC client of the server (no etcd client library in between). */
export function rawClient(endpoint: string, options: grpc.ChannelOptions = {}): grpc.Client {
  return new grpc.Client(endpoint, grpc.credentials.createInsecure(), options);
}

/** One unary call; rejects with the grpc-js ServiceError (code, details). */
export function rawUnary(client: grpc.Client, service: ServiceKey, method: string, request: object, ms = TEST_WAIT_MS): Promise<PbMessage> {
  const def = etcdMethod(service, method);
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(def.path, def.requestSerialize, def.responseDeserialize, request, { deadline: Date.now() + ms }, (err, value) => {
      if (err !== null || value === undefined) reject(err ?? new Error(`${method}: no response`));
      else resolve(value as PbMessage);
    });
  });
}

export function rawBidi(client: grpc.Client, service: ServiceKey, method: string): grpc.ClientDuplexStream<object, PbMessage> {
  const def = etcdMethod(service, method);
  return client.makeBidiStreamRequest(def.path, def.requestSerialize, (b: Buffer) => def.responseDeserialize(b) as PbMessage, new grpc.Metadata(), {});
}

/** The grpc-js error of a rejected call, for assertions on code and details. */
export async function rawFailure(call: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await call;
  } catch (err) {
    const e = err as { code?: unknown; details?: unknown };
    return { code: typeof e.code === 'number' ? e.code : -1, details: typeof e.details === 'string' ? e.details : String(err) };
  }
  throw new Error('the call was expected to fail but succeeded');
}

/**
 * Records every message of a client stream from its creation (a listener added later would miss some), and
 * waits, bounded, for the record to satisfy a predicate. Errors after the test's end (the stream cancelled or
 * the server stopped) are recorded, not thrown.
 */
export class StreamRecorder {
  readonly messages: PbMessage[] = [];
  error: unknown = null;
  private readonly waiters = new Set<() => void>();

  constructor(readonly stream: grpc.ClientDuplexStream<object, PbMessage>) {
    stream.on('data', (m: PbMessage) => {
      this.messages.push(m);
      for (const w of [...this.waiters]) w();
    });
    stream.on('error', (err: unknown) => {
      this.error = err;
      for (const w of [...this.waiters]) w();
    });
  }

  /** Resolves with the messages once `predicate` holds for them; rejects on a stream error or after `ms`. */
  until(predicate: (messages: readonly PbMessage[]) => boolean, what: string, ms = TEST_WAIT_MS): Promise<readonly PbMessage[]> {
    return within(new Promise<readonly PbMessage[]>((resolve, reject) => {
      const check = (): void => {
        if (predicate(this.messages)) {
          this.waiters.delete(check);
          resolve(this.messages);
        } else if (this.error !== null) {
          this.waiters.delete(check);
          reject(this.error instanceof Error ? this.error : new Error(String(this.error)));
        }
      };
      this.waiters.add(check);
      check();
    }), what, ms);
  }

  /** Resolves once at least `count` messages arrived in all. */
  count(count: number, what: string, ms = TEST_WAIT_MS): Promise<readonly PbMessage[]> {
    return this.until((m) => m.length >= count, what, ms);
  }

  cancel(): void {
    this.stream.cancel();
  }
}

export const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');
export const text = (b: unknown): string => (b instanceof Uint8Array ? Buffer.from(b).toString('latin1') : '');
