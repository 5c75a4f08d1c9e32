// The public surface of the etcd v3 API layer, for the member and the CLI. (testing.ts, which serves the API
// from a real one-member cluster for this folder's tests, is deliberately not exported here.)

export { startEtcdGrpcServer, type EtcdGrpcServer, type EtcdGrpcServerOptions } from './grpc_server.js';
export type { EtcdBackend, MemberInfo, MemberStatus, ReadConsistency, ResponseHeader } from './backend.js';
export {
  ETCD_ERRORS, type EtcdErrorCode, EtcdServerError, type EtcdServerErrorCode, GrpcCode, type GrpcErrorStatus, toGrpcStatus,
  UnknownEnumValueError,
} from './errors.js';
export * from './limits.js';
export { BadSnapshotFileError, decodeSnapshotFile, SNAPSHOT_FILE_ALIGN_BYTES } from './snapshot_file.js';
export { WatchHubDriver } from './watch.js';
export { etcdMethod, etcdServices, PROTO_LOADER_OPTIONS, protoDir, SERVICE_NAMES } from '../../wire/etcd_proto.js';
export { checkPeerUrls } from './member.js';
