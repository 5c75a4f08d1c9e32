// The recipes: lock with a fencing token, leader election, barrier and double barrier.

export { Lock, lock } from './lock.js';
export type { AcquireOptions, LockGrant } from './lock.js';
export { Election, election } from './election.js';
export type { Leader } from './election.js';
export { Barrier, barrier, DoubleBarrier, doubleBarrier } from './barrier.js';
export type { SessionOptions } from './wait.js';
