// The history checkers' public surface: what the simulator and the process chaos tests import.

export { HistoryRecorder, UNKNOWN, isUnknown, partitionByKey } from './history.js';
export type { History, Operation, PendingOperation, Unknown } from './history.js';
export { kvModel, prepareKv } from './model.js';
export type { KvInput, KvOutput, KvState, Model, StepResult } from './model.js';
export {
  CHECK_STEPS_PER_KEY_MAX_DEFAULT,
  checkKey,
  checkLinearizability,
  checkRevisionsRespectRealTime,
  describeOp,
  kvRevisionView,
} from './linearizability.js';
export type {
  CheckOptions,
  KeyCheck,
  LinearizabilityResult,
  RevisionCheckResult,
  RevisionView,
  RevisionViolation,
  Verdict,
} from './linearizability.js';
export { WatchHistory, checkWatch, checkWatches } from './watch_checker.js';
export type { WatchCheckResult, WatchFilters, WatchRecord, WatchResponseRecord, WatchViolation, WatchViolationKind } from './watch_checker.js';
export { checkLeases } from './lease_checker.js';
export type { LeaseCheckOptions, LeaseCheckResult, LeaseRecord, LeaseViolation, LeaseViolationKind } from './lease_checker.js';
export { generateKvHistory, mutateKvHistory } from './random_history.js';
export type { RandomHistoryOptions } from './random_history.js';
