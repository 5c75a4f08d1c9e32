// The public surface of the key-value state machine, for the server and the simulator. (The watch hub, built
// beside it in watch*.ts, reads the store through WatchableHistory and onChanges.)

export { KvStateMachine, type KvStateMachineOptions, type KvStatus, quotaCost, validateCommand } from './state_machine.js';
export { COMMAND_CODEC_VERSION, type DecodedCommand, decodeCommand, encodeCommand } from './command.js';
export * from './rpc.js';
export * from './errors.js';
export * from './limits.js';
export { Lessor, type LeaseState, type LeaseTimeToLive } from './lessor.js';
export { KvSnapshot, restoreBackend } from './snapshot.js';
export type { HashKvResult } from './hash.js';
export { ReferenceModel } from './reference_model.js';
export type { Event, KeyValue, RevisionChanges, WatchableHistory } from './types.js';
export { EventType } from './types.js';
