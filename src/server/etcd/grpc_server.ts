// The etcd v3 gRPC server of one member: KV, Watch, Lease, Cluster, Maintenance, Auth and grpc.health.v1 on
// @grpc/grpc-js over a real socket, with etcd's message limits, bounded streams per connection and keepalive.
// The member calls startEtcdGrpcServer(backend, options) and close() on shutdown.

import * as grpc from '@grpc/grpc-js';
import type { ServiceDefinition } from '@grpc/proto-loader';
import { authService } from './auth.js';
import type { EtcdBackend } from './backend.js';
import type { PbMessage } from './convert.js';
import { EtcdServerError } from './errors.js';
import { healthService } from './health.js';
import { kvService } from './key.js';
import { leaseService } from './lease.js';
import { type EtcdGrpcLimits, GRPC_MAX_SEND_MESSAGE_BYTES, resolveEtcdGrpcLimits } from './limits.js';
import { maintenanceService } from './maintenance.js';
import { clusterService } from './member.js';
import { etcdServices, type ServiceKey } from '../../wire/etcd_proto.js';
import { serviceError, type ServiceContext } from './rpc_util.js';
import { WatchHubDriver, watchService } from './watch.js';

export interface EtcdGrpcServerOptions {
  /** Address to listen on, e.g. '127.0.0.1' or '::1'. */
  readonly host: string;
  /** 0 picks an ephemeral port; the server reports the one it got. */
  readonly port: number;
  readonly limits?: Partial<EtcdGrpcLimits>;
  /**
   * Whether this server runs the watch hub's timers (catch-up rounds, progress ticks); default true. A member
   * that drives its hub itself (e.g. shared with the ZooKeeper front end) passes false.
   */
  readonly driveWatchHub?: boolean;
}

export interface EtcdGrpcServer {
  readonly port: number;
  /** Ends open streams with "etcdserver: server stopped", lets unary calls finish (bounded), and frees the port. */
  close(): Promise<void>;
}

type AnyServerStream = grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>;

/** Copies a service definition whose deserializers remember each request's encoded size (etcd checks it). */
function recordingSizes(def: ServiceDefinition, sizes: WeakMap<object, number>): ServiceDefinition {
  const out: ServiceDefinition = {};
  for (const [name, method] of Object.entries(def)) {
    out[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer): object => {
        const message = method.requestDeserialize(bytes);
        sizes.set(message, bytes.length);
        return message;
      },
    };
  }
  return out;
}

/** Wraps the streaming handlers so close() can end the streams that would otherwise keep the server open. */
function trackingStreams(impl: grpc.UntypedServiceImplementation, def: ServiceDefinition, open: Set<AnyServerStream>): grpc.UntypedServiceImplementation {
  const out: grpc.UntypedServiceImplementation = { ...impl };
  for (const [name, method] of Object.entries(def)) {
    const handler = impl[name];
    if (!method.responseStream || handler === undefined) continue;
    const wrapped: grpc.handleServerStreamingCall<unknown, unknown> = (call) => {
      open.add(call);
      const forget = (): void => {
        open.delete(call);
      };
      call.on('cancelled', forget);
      call.on('finish', forget);
      call.on('close', forget);
      (handler as (call: AnyServerStream) => void)(call);
    };
    out[name] = wrapped;
  }
  return out;
}

function listenAddress(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

export async function startEtcdGrpcServer(backend: EtcdBackend, options: EtcdGrpcServerOptions): Promise<EtcdGrpcServer> {
  const limits = resolveEtcdGrpcLimits(options.limits);
  const sizes = new WeakMap<object, number>();
  const ctx: ServiceContext = { backend, limits, requestBytes: (request: PbMessage) => sizes.get(request) ?? 0 };
  const server = new grpc.Server({
    'grpc.max_receive_message_length': limits.maxReceiveMessageBytes,
    'grpc.max_send_message_length': GRPC_MAX_SEND_MESSAGE_BYTES,
    'grpc.max_concurrent_streams': limits.maxConcurrentStreams,
    'grpc.keepalive_time_ms': limits.keepaliveTimeMs,
    'grpc.keepalive_timeout_ms': limits.keepaliveTimeoutMs,
  });
  const open = new Set<AnyServerStream>();
  const defs = etcdServices();
  const impls: Record<ServiceKey, grpc.UntypedServiceImplementation> = {
    kv: kvService(ctx), watch: watchService(ctx), lease: leaseService(ctx), cluster: clusterService(ctx),
    maintenance: maintenanceService(ctx), auth: authService(ctx), health: healthService(),
  };
  for (const key of Object.keys(impls) as ServiceKey[]) {
    server.addService(recordingSizes(defs[key], sizes), trackingStreams(impls[key], defs[key], open));
  }
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(listenAddress(options.host, options.port), grpc.ServerCredentials.createInsecure(), (err, bound) => {
      if (err === null) resolve(bound);
      else reject(err);
    });
  });
  const driver = options.driveWatchHub === false ? null : new WatchHubDriver(backend.watchHub, limits.watchSyncIntervalMs, limits.watchProgressIntervalMs);
  driver?.start();
  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= shutdown(server, open, driver, limits.shutdownGraceMs);
    return closing;
  };
  return { port, close };
}

async function shutdown(server: grpc.Server, open: Set<AnyServerStream>, driver: WatchHubDriver | null, graceMs: number): Promise<void> {
  driver?.stop();
  const stopped = serviceError(new EtcdServerError('ErrStopped'));
  for (const call of [...open]) call.emit('error', stopped);
  open.clear();
  await new Promise<void>((resolve) => {
    const force = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(force);
      resolve();
    });
  });
}
