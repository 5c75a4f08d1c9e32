// TEST FIXTURE, no Raft: an EtcdBackend that is one member without replication, for this layer's tests until the
// member (server/node) exists. It is not a mock: commands run through the real KvStateMachine (on the backend
// given, memory by default) in order at increasing log indexes, watches through the real WatchHub, and leases
// expire through a real lessor loop on this process's monotonic clock. The member will replace it in later tests.

import { createHash } from 'node:crypto';
import { type LeaseId, type NodeId, nodeId } from '../../util/branded.js';
import type { Backend } from '../../storage/backend/backend.js';
import { MemoryBackend } from '../../storage/backend/memory_backend.js';
import { encodeCommand } from '../../kv/command.js';
import { LeaseNotFoundError, NoSpaceError } from '../../kv/errors.js';
import type { HashKvResult } from '../../kv/hash.js';
import type { LeaseTimeToLive } from '../../kv/lessor.js';
import {
  type AlarmAction, type AlarmMember, AlarmType, type Command, type CommandResponse, type RangeRequest, type RangeResponse,
} from '../../kv/rpc.js';
import { KvStateMachine, validateCommand } from '../../kv/state_machine.js';
import { WatchHub } from '../../kv/watch_hub.js';
import type { WatchLimits } from '../../kv/watch_limits.js';
import type { EtcdBackend, MemberInfo, MemberStatus, ResponseHeader } from './backend.js';
import { EtcdServerError } from './errors.js';

/** The etcd version this fixture reports; clients gate features on it, and Meridian speaks the 3.5 API. */
export const FIXTURE_ETCD_VERSION = '3.5.0';
/** The lessor loop's period: leases expire at most this late (etcd checks every 500 ms too). */
export const FIXTURE_LESSOR_TICK_MS = 500;
/** One member that never changes term. */
const FIXTURE_RAFT_TERM = 1;
/** Default ids: the cluster id uses all 64 bits so the tests see uint64 handled end to end. */
const DEFAULT_CLUSTER_ID = 0xcdf818194e3a8c32n;
const DEFAULT_MEMBER_ID = nodeId(0x10b1c3a5e7d9f);
/** Bits of a derived member id: the store represents ids below 2^53. */
const MEMBER_ID_BITS = 52;

const ALARM_NAMES: Record<AlarmType, string> = { [AlarmType.None]: 'NONE', [AlarmType.NoSpace]: 'NOSPACE', [AlarmType.Corrupt]: 'CORRUPT' };

export interface SingleNodeBackendOptions {
  readonly backend?: Backend;
  readonly clusterId?: bigint;
  readonly memberId?: NodeId;
  readonly name?: string;
  readonly clientUrls?: readonly string[];
  readonly peerUrls?: readonly string[];
  readonly minLeaseTtlSeconds?: number;
  readonly quotaBytes?: number;
  readonly lessorTickMs?: number;
  readonly watchLimits?: Partial<WatchLimits>;
}

export class SingleNodeBackend implements EtcdBackend {
  readonly sm: KvStateMachine;
  readonly watchHub: WatchHub;
  private readonly clusterId: bigint;
  private readonly memberId: NodeId;
  private members: MemberInfo[];
  private index = 0;
  private membersAdded = 0;
  private readonly lessorTimer: NodeJS.Timeout;
  private closed = false;
  private readonly clock = (): number => performance.now();

  constructor(options: SingleNodeBackendOptions = {}) {
    this.sm = KvStateMachine.open({
      backend: options.backend ?? new MemoryBackend(),
      clock: this.clock,
      ...(options.minLeaseTtlSeconds === undefined ? {} : { minLeaseTtlSeconds: options.minLeaseTtlSeconds }),
      ...(options.quotaBytes === undefined ? {} : { quotaBytes: options.quotaBytes }),
    });
    this.watchHub = new WatchHub(this.sm, options.watchLimits);
    this.sm.onChanges((changes) => this.watchHub.notify(changes));
    this.clusterId = options.clusterId ?? DEFAULT_CLUSTER_ID;
    this.memberId = options.memberId ?? DEFAULT_MEMBER_ID;
    this.members = [{
      id: this.memberId, name: options.name ?? 'meridian-test', peerUrls: options.peerUrls ?? ['http://127.0.0.1:2380'],
      clientUrls: options.clientUrls ?? [], isLearner: false, dc: 'dc1', zone: '',
    }];
    // The only member is the leader: its lessor expires leases.
    this.sm.lessor.promote(0);
    this.lessorTimer = setInterval(() => this.lessorTick(), options.lessorTickMs ?? FIXTURE_LESSOR_TICK_MS);
  }

  /** Stops the lessor loop and releases the store; later calls fail with "etcdserver: server stopped". */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.lessorTimer);
    this.sm.close();
  }

  private checkOpen(): void {
    if (this.closed) throw new EtcdServerError('ErrStopped');
  }

  /** Applies one command at the next index, as a committed log entry would be. */
  private applyNow(command: Command): CommandResponse {
    this.checkOpen();
    const data = encodeCommand(command, this.index + 1);
    this.index++;
    const result = this.sm.apply(this.index, data);
    if (!result.ok) throw result.error;
    return result.response;
  }

  private lessorTick(): void {
    const now = this.clock();
    for (const id of this.sm.lessor.expiredLeases(now)) {
      try {
        this.applyNow({ type: 'leaseRevoke', id });
      } catch (err) {
        if (!(err instanceof LeaseNotFoundError)) throw err;
      }
    }
    this.proposeCheckpoints(now);
  }

  private proposeCheckpoints(now: number): void {
    const checkpoints = this.sm.lessor.checkpointsDue(now);
    if (checkpoints.length > 0) this.applyNow({ type: 'leaseCheckpoint', checkpoints });
  }

  header(): ResponseHeader {
    return { clusterId: this.clusterId, memberId: BigInt(this.memberId), revision: this.sm.currentRevision(), raftTerm: FIXTURE_RAFT_TERM };
  }

  range(req: RangeRequest): Promise<RangeResponse> {
    this.checkOpen();
    return Promise.resolve(this.sm.range(req));
  }

  propose(command: Command): Promise<CommandResponse> {
    // The member's checks before proposing: etcd's validation and quota.
    const invalid = validateCommand(command);
    if (invalid !== null) return Promise.reject(invalid);
    if (!this.sm.quotaAvailable(command)) return Promise.reject(new NoSpaceError());
    try {
      return Promise.resolve(this.applyNow(command));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  leaseKeepAlive(id: LeaseId): Promise<{ readonly ttlSeconds: number }> {
    try {
      this.checkOpen();
      const now = this.clock();
      const ttlSeconds = this.sm.lessor.renew(id, now);
      // Acknowledged once the renewal's checkpoint applied, so the TTL would survive a leader change.
      this.proposeCheckpoints(now);
      return Promise.resolve({ ttlSeconds });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  leaseTimeToLive(id: LeaseId): Promise<LeaseTimeToLive | null> {
    return Promise.resolve(this.sm.leaseTimeToLive(id, this.clock()));
  }

  leaseLeases(): Promise<readonly LeaseId[]> {
    return Promise.resolve(this.sm.leases());
  }

  memberList(): Promise<readonly MemberInfo[]> {
    return Promise.resolve([...this.members]);
  }

  private findMember(id: NodeId): MemberInfo {
    const member = this.members.find((m) => m.id === id);
    if (member === undefined) throw new EtcdServerError('ErrMemberNotFound');
    return member;
  }

  private checkUrlsFree(peerUrls: readonly string[], except: NodeId | null): void {
    const used = new Set(this.members.filter((m) => m.id !== except).flatMap((m) => m.peerUrls));
    if (peerUrls.some((u) => used.has(u))) throw new EtcdServerError('ErrPeerURLExist');
  }

  /** A new member's id, derived from its URLs and a counter as etcd derives one from its URLs and the time. */
  private newMemberId(peerUrls: readonly string[]): NodeId {
    const digest = createHash('sha256').update(`${[...peerUrls].sort().join(',')}#${++this.membersAdded}`).digest();
    let id = Number(digest.readBigUInt64BE(0) >> BigInt(64 - MEMBER_ID_BITS));
    while (id === 0 || this.members.some((m) => m.id === id)) id++;
    return nodeId(id);
  }

  memberAdd(peerUrls: readonly string[], isLearner: boolean): Promise<{ readonly member: MemberInfo; readonly members: readonly MemberInfo[] }> {
    try {
      this.checkOpen();
      this.checkUrlsFree(peerUrls, null);
      // Not started: no name and no client URLs until it joins, which this fixture's members never do.
      const member: MemberInfo = { id: this.newMemberId(peerUrls), name: '', peerUrls: [...peerUrls], clientUrls: [], isLearner, dc: '', zone: '' };
      this.members = [...this.members, member];
      return Promise.resolve({ member, members: [...this.members] });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  memberRemove(id: NodeId): Promise<readonly MemberInfo[]> {
    try {
      this.findMember(id);
      // Removing the only started member would leave no quorum (etcd's strict reconfiguration check).
      if (id === this.memberId) throw new EtcdServerError('ErrMemberNotEnoughStarted');
      this.members = this.members.filter((m) => m.id !== id);
      return Promise.resolve([...this.members]);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  memberUpdate(id: NodeId, peerUrls: readonly string[]): Promise<readonly MemberInfo[]> {
    try {
      const member = this.findMember(id);
      this.checkUrlsFree(peerUrls, id);
      this.members = this.members.map((m) => (m === member ? { ...m, peerUrls: [...peerUrls] } : m));
      return Promise.resolve([...this.members]);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  memberPromote(id: NodeId): Promise<readonly MemberInfo[]> {
    try {
      const member = this.findMember(id);
      if (!member.isLearner) throw new EtcdServerError('ErrMemberNotLearner');
      // A learner here never started, so it is never in sync with the leader.
      throw new EtcdServerError('ErrLearnerNotReady');
    } catch (err) {
      return Promise.reject(err);
    }
  }

  status(): Promise<MemberStatus> {
    const s = this.sm.status();
    return Promise.resolve({
      version: FIXTURE_ETCD_VERSION, dbSize: s.backendBytes, dbSizeInUse: s.sizeBytes, leader: this.memberId,
      raftIndex: this.index, raftTerm: FIXTURE_RAFT_TERM, raftAppliedIndex: this.sm.appliedIndex(),
      // As etcd's AlarmMember.String().
      errors: this.sm.alarms().map((a: AlarmMember) => `memberID:${a.memberId} alarm:${ALARM_NAMES[a.alarm]} `),
      isLearner: false,
    });
  }

  async alarm(action: AlarmAction, memberId: NodeId, alarm: AlarmType): Promise<readonly AlarmMember[]> {
    const res = await this.propose({ type: 'alarm', action, memberId, alarm });
    return res.type === 'alarm' ? res.alarms : [];
  }

  defragment(): Promise<void> {
    this.checkOpen();
    this.sm.commit(true);
    return Promise.resolve();
  }

  hash(): Promise<{ readonly hash: number }> {
    this.checkOpen();
    return Promise.resolve({ hash: this.sm.hash().hash });
  }

  hashKV(revision: number): Promise<HashKvResult> {
    try {
      this.checkOpen();
      return Promise.resolve(this.sm.hashKV(revision));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  async *snapshot(): AsyncIterable<Uint8Array> {
    this.checkOpen();
    const snap = this.sm.snapshot();
    try {
      for (const chunk of snap.chunks()) yield chunk;
    } finally {
      snap.release();
    }
  }

  moveLeader(target: NodeId): Promise<void> {
    // Only this member can lead: it is the only one that ever started.
    return target === this.memberId ? Promise.resolve() : Promise.reject(new EtcdServerError('ErrBadLeaderTransferee'));
  }
}
