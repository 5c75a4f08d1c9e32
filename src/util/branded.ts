// Branded numbers, so an index is never passed where a term is expected.

declare const brand: unique symbol;
type Brand<T, B extends string> = T & { readonly [brand]: B };

export type Term = Brand<number, 'Term'>;
export type LogIndex = Brand<number, 'LogIndex'>;
export type NodeId = Brand<number, 'NodeId'>;
export type Revision = Brand<number, 'Revision'>;
export type LeaseId = Brand<number, 'LeaseId'>;

export const term = (n: number): Term => n as Term;
export const logIndex = (n: number): LogIndex => n as LogIndex;
export const nodeId = (n: number): NodeId => n as NodeId;
export const revision = (n: number): Revision => n as Revision;
export const leaseId = (n: number): LeaseId => n as LeaseId;

/** No node has id 0: it means "none" (no leader, no vote), as in etcd raft. */
export const NONE = 0 as NodeId;
