// What the etcd v3 gRPC services need from a member: the contract between the API layer (this folder)
// and the member (server/node), so each can be built and tested on its own.

import type { LeaseId, NodeId, Revision } from '../../util/branded.js';
import type { HashKvResult } from '../../kv/hash.js';
import type { LeaseTimeToLive } from '../../kv/lessor.js';
import type { AlarmAction, AlarmMember, AlarmType, Command, CommandResponse, RangeRequest, RangeResponse } from '../../kv/rpc.js';
import type { WatchHub } from '../../kv/watch_hub.js';
import type { ReadOptions, ReadServed } from './read_options.js';

export type { ReadMode, ReadOptions, ReadPath, ReadServed } from './read_options.js';

/** Every etcd response carries this header. */
export interface ResponseHeader {
  readonly clusterId: bigint;
  readonly memberId: bigint;
  /** The member's applied revision when the response was made. */
  readonly revision: Revision;
  readonly raftTerm: number;
}

export interface MemberInfo {
  readonly id: NodeId;
  readonly name: string;
  readonly peerUrls: readonly string[];
  readonly clientUrls: readonly string[];
  readonly isLearner: boolean;
  /** Meridian's additions (etcd clients ignore them). */
  readonly dc: string;
  readonly zone: string;
}

export interface MemberStatus {
  readonly version: string;
  /** Size of the stored data, and what the storage engine uses. */
  readonly dbSize: number;
  readonly dbSizeInUse: number;
  readonly leader: NodeId;
  readonly raftIndex: number;
  readonly raftTerm: number;
  readonly raftAppliedIndex: number;
  readonly errors: readonly string[];
  readonly isLearner: boolean;
}

/** How a read is served; Meridian's extension, chosen by gRPC metadata (multi-DC issue) or the request. */
export type ReadConsistency = 'linearizable' | 'serializable';

/**
 * The member as the etcd services see it. Every method fails with a coded error (a KvError or one of the
 * server's errors) whose code the gRPC layer maps to etcd's status and message from one table.
 */
export interface EtcdBackend {
  header(): ResponseHeader;

  /** A Range served locally: linearizable ones wait for a ReadIndex confirmation first. */
  range(req: RangeRequest): Promise<RangeResponse>;
  /**
   * A Range by a chosen read path (Meridian's metadata), answered with the path that served it and the member's
   * applied revision. Optional: a backend without it serves every Range through range().
   */
  read?(req: RangeRequest, options: ReadOptions): Promise<{ readonly response: RangeResponse; readonly served: ReadServed }>;
  /** Replicates a command through Raft and resolves with its result once applied on this member. */
  propose(command: Command): Promise<CommandResponse>;

  /** Renews a lease on the leader (forwarded when this member is not the leader); resolves with the TTL. */
  leaseKeepAlive(id: LeaseId): Promise<{ readonly ttlSeconds: number }>;
  leaseTimeToLive(id: LeaseId): Promise<LeaseTimeToLive | null>;
  leaseLeases(): Promise<readonly LeaseId[]>;

  /** Watches are served by every member from its own applied state. */
  readonly watchHub: WatchHub;

  memberList(): Promise<readonly MemberInfo[]>;
  /** `force` overrides the survival goal check (`meridian-force: true`). */
  memberAdd(peerUrls: readonly string[], isLearner: boolean, force?: boolean): Promise<{ readonly member: MemberInfo; readonly members: readonly MemberInfo[] }>;
  memberRemove(id: NodeId, force?: boolean): Promise<readonly MemberInfo[]>;
  memberUpdate(id: NodeId, peerUrls: readonly string[]): Promise<readonly MemberInfo[]>;
  memberPromote(id: NodeId, force?: boolean): Promise<readonly MemberInfo[]>;

  status(): Promise<MemberStatus>;
  alarm(action: AlarmAction, memberId: NodeId, alarm: AlarmType): Promise<readonly AlarmMember[]>;
  defragment(): Promise<void>;
  hash(): Promise<{ readonly hash: number }>;
  hashKV(revision: number): Promise<HashKvResult>;
  /** A point-in-time snapshot of the whole store, streamed in chunks while applies go on. */
  snapshot(): AsyncIterable<Uint8Array>;
  moveLeader(target: NodeId): Promise<void>;
}
