// Loads the etcd v3 API's .proto files (./etcd_proto, read from the source tree at run time since tsc does not copy
// them) with @grpc/proto-loader, and hands out the service definitions for the server and for test clients.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadSync, type MethodDefinition, type Options, type PackageDefinition, type ServiceDefinition } from '@grpc/proto-loader';
import { assert } from '../util/assert.js';

/**
 * How messages are decoded, as the `etcd3` client does: field names as in the .proto, 64-bit integers as
 * decimal strings (member and cluster ids use all 64 bits), bytes as Buffers, unset fields at their zero
 * values, and the name of the set member of each oneof.
 */
export const PROTO_LOADER_OPTIONS: Options = Object.freeze({
  keepCase: true,
  longs: String,
  enums: Number,
  bytes: Buffer,
  defaults: true,
  oneofs: true,
});

const PROTO_FILES = ['rpc.proto', 'health.proto'];

export const SERVICE_NAMES = {
  kv: 'etcdserverpb.KV',
  watch: 'etcdserverpb.Watch',
  lease: 'etcdserverpb.Lease',
  cluster: 'etcdserverpb.Cluster',
  maintenance: 'etcdserverpb.Maintenance',
  auth: 'etcdserverpb.Auth',
  health: 'grpc.health.v1.Health',
} as const;
export type ServiceKey = keyof typeof SERVICE_NAMES;

export type EtcdServiceDefinitions = { readonly [K in ServiceKey]: ServiceDefinition };

/**
 * The directory of the .proto files: beside this module when they were copied there, else in the source tree
 * (this module runs from dist/src/wire/, three levels below the repository root).
 */
export function protoDir(): string {
  const candidates = [new URL('./etcd_proto/', import.meta.url), new URL('../../../src/wire/etcd_proto/', import.meta.url)];
  for (const url of candidates) {
    const dir = fileURLToPath(url);
    if (existsSync(`${dir}rpc.proto`)) return dir;
  }
  throw new Error(`Cannot find the etcd .proto files: looked in ${candidates.map((u) => fileURLToPath(u)).join(' and ')}`);
}

let loaded: EtcdServiceDefinitions | undefined;

function isService(def: PackageDefinition[string] | undefined): def is ServiceDefinition {
  return def !== undefined && !('format' in def);
}

/** The seven services, loaded once per process. */
export function etcdServices(): EtcdServiceDefinitions {
  if (loaded !== undefined) return loaded;
  const pkg = loadSync(PROTO_FILES, { ...PROTO_LOADER_OPTIONS, includeDirs: [protoDir()] });
  const pick = (key: ServiceKey): ServiceDefinition => {
    const def = pkg[SERVICE_NAMES[key]];
    assert(isService(def), `the etcd .proto files define no service ${SERVICE_NAMES[key]}`);
    return def;
  };
  loaded = {
    kv: pick('kv'), watch: pick('watch'), lease: pick('lease'), cluster: pick('cluster'),
    maintenance: pick('maintenance'), auth: pick('auth'), health: pick('health'),
  };
  return loaded;
}

/** One method of a service (for tests that encode or decode a message directly). */
export function etcdMethod(service: ServiceKey, method: string): MethodDefinition<object, object> {
  const def = etcdServices()[service][method];
  assert(def !== undefined, `${SERVICE_NAMES[service]} has no method ${method}`);
  return def;
}
