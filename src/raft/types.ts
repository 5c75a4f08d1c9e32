// The Raft core's data types: log entries, durable state, snapshots, messages, and the Storage contract.
// Shapes follow etcd-io/raft's raftpb so the algorithm maps one to one; encodings live with the users.

import type { LogIndex, NodeId, Term } from '../util/branded.js';

export const EntryType = {
  Normal: 0,
  ConfChange: 1,
} as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

export interface Entry {
  readonly term: Term;
  readonly index: LogIndex;
  readonly type: EntryType;
  /** Normal: the application's command (empty for the leader's no-op); ConfChange: an encoded ConfChange. */
  readonly data: Uint8Array;
}

/** What must be durable before any message that depends on it leaves the member. */
export interface HardState {
  readonly term: Term;
  readonly vote: NodeId;
  readonly commit: LogIndex;
}

/** A membership configuration; joint while `votersOutgoing` is non-empty. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
  /** The old voters while in a joint configuration, else empty. */
  readonly votersOutgoing: readonly NodeId[];
  /** Voters of the outgoing config that become learners when the joint config is left. */
  readonly learnersNext: readonly NodeId[];
  /** Leave the joint configuration automatically once it is committed. */
  readonly autoLeave: boolean;
}

export interface SnapshotMetadata {
  readonly confState: ConfState;
  readonly index: LogIndex;
  readonly term: Term;
}

export interface Snapshot {
  readonly metadata: SnapshotMetadata;
  /** The state machine's serialized state at `metadata.index`. */
  readonly data: Uint8Array;
}

export const ConfChangeType = {
  AddNode: 0,
  RemoveNode: 1,
  AddLearnerNode: 2,
} as const;
export type ConfChangeType = (typeof ConfChangeType)[keyof typeof ConfChangeType];

export interface ConfChangeSingle {
  readonly type: ConfChangeType;
  readonly nodeId: NodeId;
}

/**
 * How a multi-change configuration change is carried out (etcd's ConfChangeTransition).
 * 'auto': a single change is applied directly, several go through a joint config left automatically;
 * 'implicit': always joint, left automatically; 'explicit': always joint, left by an empty ConfChange.
 */
export type ConfChangeTransition = 'auto' | 'implicit' | 'explicit';

export interface ConfChange {
  readonly transition: ConfChangeTransition;
  /** Empty means "leave the joint configuration". */
  readonly changes: readonly ConfChangeSingle[];
  /** Opaque to raft; the server stores member details here (name, URLs, DC). */
  readonly context: Uint8Array;
}

export const MessageType = {
  Hup: 0, // local: start an election
  Beat: 1, // local: leader sends heartbeats
  Prop: 2, // a proposal (local, or forwarded by a follower)
  App: 3,
  AppResp: 4,
  Vote: 5,
  VoteResp: 6,
  Snap: 7,
  Heartbeat: 8,
  HeartbeatResp: 9,
  Unreachable: 10, // local: the transport could not reach `from`
  SnapStatus: 11, // local: how sending a snapshot to `from` ended (reject = failed)
  CheckQuorum: 12, // local: leader checks that a quorum was recently active
  TransferLeader: 13,
  TimeoutNow: 14,
  ReadIndex: 15,
  ReadIndexResp: 16,
  PreVote: 17,
  PreVoteResp: 18,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

export const messageTypeName: Readonly<Record<MessageType, string>> = Object.freeze(
  Object.fromEntries(Object.entries(MessageType).map(([k, v]) => [v, k])) as Record<MessageType, string>,
);

export interface Message {
  readonly type: MessageType;
  readonly to: NodeId;
  readonly from: NodeId;
  readonly term: Term;
  /** App: term of the entry at `index`; Vote/PreVote: the candidate's last log term. */
  readonly logTerm: Term;
  /** App: index preceding `entries`; AppResp: the last index matched (or rejected); Vote: last log index. */
  readonly index: LogIndex;
  readonly entries: readonly Entry[];
  readonly commit: LogIndex;
  readonly snapshot: Snapshot | null;
  readonly reject: boolean;
  /** AppResp rejection: the follower's hint of where its log may match. */
  readonly rejectHint: LogIndex;
  /** Heartbeat / ReadIndex round trip context; Vote with transfer: the campaign kind. */
  readonly context: Uint8Array;
}

/** A ReadIndex answer: reads with this context may be served once `index` is applied locally. */
export interface ReadState {
  readonly index: LogIndex;
  readonly requestContext: Uint8Array;
}

/** Returned by Storage when the requested index is no longer available (compacted away). */
export const COMPACTED = 'compacted' as const;
/** Returned by Storage when the requested index is past the last stored entry. */
export const UNAVAILABLE = 'unavailable' as const;
export type StorageMiss = typeof COMPACTED | typeof UNAVAILABLE;

/**
 * The durable log as the Raft core reads it. The application appends to it when it persists a
 * Ready; raft only reads. Implementations: MemoryStorage (tests, simulator), storage/ (WAL on disk).
 */
export interface Storage {
  /** The durable hard state and membership configuration, read once at start. */
  initialState(): { hardState: HardState; confState: ConfState };
  /** Entries in [lo, hi), at least one if any exist, stopping before `maxBytes` of data is exceeded. */
  entries(lo: LogIndex, hi: LogIndex, maxBytes: number): readonly Entry[] | StorageMiss;
  /** The term of entry `i`; valid for i in [firstIndex()-1, lastIndex()]. */
  term(i: LogIndex): Term | StorageMiss;
  /** The index of the first entry still in the log (snapshot index + 1). */
  firstIndex(): LogIndex;
  lastIndex(): LogIndex;
  /** The most recent snapshot, or null while it is being produced (raft retries later). */
  snapshot(): Snapshot | null;
}

/** Byte size used by raft's message size limits: data plus a fixed per-entry overhead. */
export function entrySizeBytes(e: Entry): number {
  return e.data.byteLength + ENTRY_OVERHEAD_BYTES;
}
export const ENTRY_OVERHEAD_BYTES = 24;
