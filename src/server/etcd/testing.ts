// TEST HELPERS for this folder's tests: a gRPC server on the single-node fixture at 127.0.0.1 (ephemeral port),
// raw gRPC calls encoded with our own .proto files, and waits bounded in time.

import * as grpc from '@grpc/grpc-js';
import type { PbMessage } from './convert.js';
import { type EtcdGrpcServer, startEtcdGrpcServer } from './grpc_server.js';
import type { EtcdGrpcLimits } from './limits.js';
import { etcdMethod, type ServiceKey } from './proto.js';
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

/** Collects a stream's messages and resolves once `predicate` holds for the collection. */
export function collectUntil(stream: NodeJS.EventEmitter, predicate: (messages: PbMessage[]) => boolean, what: string, ms = TEST_WAIT_MS): Promise<PbMessage[]> {
  const messages: PbMessage[] = [];
  const done = new Promise<PbMessage[]>((resolve, reject) => {
    const onData = (m: PbMessage): void => {
      messages.push(m);
      if (predicate(messages)) {
        stream.off('data', onData);
        stream.off('error', reject);
        resolve(messages);
      }
    };
    stream.on('data', onData);
    stream.on('error', reject);
  });
  return within(done, what, ms);
}

export const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');
export const text = (b: unknown): string => (b instanceof Uint8Array ? Buffer.from(b).toString('latin1') : '');
