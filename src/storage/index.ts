// The storage layer's public surface: the member's durable raft log, the file systems it runs on,
// and the errors it raises. Everything else in this folder is internal.

export { RaftLog, SNAP_DIR, WAL_DIR, type RaftLogOptions, type SaveRequest } from './raft_log.js';
export type { WalStats } from './wal.js';
export { errnoOf, FsError, isNotFound, type FileHandle, type FileSystem, type OpenMode } from './file_system.js';
export { NodeFileSystem } from './node_file_system.js';
export { SimCrashError, SimFileSystem, type SimFaults, type SimOp, type SimOpKind } from './sim_file_system.js';
export { StorageClosedError, StorageCorruptionError, StorageFailedError, StorageInconsistentError, WrongDataDirError } from './errors.js';
export { SNAPSHOTS_RETAINED, WAL_SEGMENT_BYTES } from './constants.js';
