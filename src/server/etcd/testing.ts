// TEST HELPERS for this folder's tests: a gRPC server on the single-node fixture at 127.0.0.1 (ephemeral port),
// raw gRPC calls encoded with our own .proto files, and waits bounded in time.

import * as grpc from '@grpc/grpc-js';
import type { PbMessage } from './convert.js';
import { type EtcdGrpcServer, startEtcdGrpcServer } from './grpc_server.js';
import type { EtcdGrpcLimits } from './limits.js';
import { etcdMethod, type ServiceKey } from '../../wire/etcd_proto.js';
import { SingleNodeBackend, type SingleNodeBackendOptions } from './single_node_backend.js';

/** Default bound of one wait in a test. */
export const TEST_WAIT_MS = 5000;

export interface TestServer {
  readonly backend: SingleNodeBackend;
  readonly server: EtcdGrpcServer;
  readonly port: number;
  /** host:port, as clients take it. */
  readonly endpoint: string;
  close(): Promise<void>;
}

export async function startTestServer(options: {
  readonly backend?: SingleNodeBackendOptions;
  readonly limits?: Partial<EtcdGrpcLimits>;
} = {}): Promise<TestServer> {
  const backend = new SingleNodeBackend(options.backend);
  const server = await startEtcdGrpcServer(backend, { host: '127.0.0.1', port: 0, ...(options.limits === undefined ? {} : { limits: options.limits }) });
  return {
    backend, server, port: server.port, endpoint: `127.0.0.1:${server.port}`,
    close: async () => {
      await server.close();
      backend.close();
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
