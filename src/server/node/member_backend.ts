// The etcd v3 API's view of a running member (EtcdBackend): reads, proposals, leases, membership and
// maintenance, each mapped onto the Member and answered with etcd's errors.

import type { LeaseId, NodeId } from '../../util/branded.js';
import type { HashKvResult } from '../../kv/hash.js';
import type { LeaseTimeToLive } from '../../kv/lessor.js';
import type { AlarmAction, AlarmMember, AlarmType, Command, CommandResponse, RangeRequest, RangeResponse } from '../../kv/rpc.js';
import { ConfChangeType } from '../../raft/types.js';
import type { EtcdBackend, MemberInfo, MemberStatus, ReadOptions, ReadServed, ResponseHeader } from '../etcd/backend.js';
import { EtcdServerError } from '../etcd/errors.js';
import { LeaseNotFoundError } from '../../kv/errors.js';
import { LeaderForwarder } from './leader_forwarder.js';
import type { Member } from './member.js';
import type { MemberAttributes } from './membership.js';

/** The etcd version reported: clients gate features on it, and Meridian speaks the 3.5 API. */
export const ETCD_API_VERSION = '3.5.0';
/** A learner is promoted only when its log is at least this share of the leader's (etcd: 90%). */
export const LEARNER_READY_FRACTION = 0.9;
/** How long MoveLeader waits for the target to take over. */
export const MOVE_LEADER_TIMEOUT_MS = 10_000;
const MOVE_LEADER_POLL_MS = 50;

export class MemberBackend implements EtcdBackend {
  private readonly forwarder = new LeaderForwarder();

  constructor(
    private readonly member: Member,
    private readonly clusterId: bigint,
    private readonly now: () => number,
    /** The id a member with these peer URLs has: the new member computes the same one when it starts. */
    private readonly idFor: (peerUrls: readonly string[]) => NodeId,
  ) {}

  get watchHub(): Member['watchHub'] {
    return this.member.watchHub;
  }

  header(): ResponseHeader {
    return {
      clusterId: this.clusterId,
      memberId: BigInt(this.member.id),
      revision: this.member.kv.currentRevision(),
      raftTerm: this.member.rawNode.raft.term,
    };
  }

  range(req: RangeRequest): Promise<RangeResponse> {
    return this.member.range(req);
  }

  /** Every member serves every read path, learners included (a learner's linearizable read is a ReadIndex). */
  read(req: RangeRequest, options: ReadOptions): Promise<{ readonly response: RangeResponse; readonly served: ReadServed }> {
    return this.member.read(req, options);
  }

  propose(command: Command): Promise<CommandResponse> {
    return this.member.propose(command);
  }

  async leaseKeepAlive(id: LeaseId): Promise<{ readonly ttlSeconds: number }> {
    if (this.member.isLeader()) return this.member.leaseKeepAlive(id);
    // Only the leader knows when leases expire: pass the keep-alive on to it.
    const leader = this.member.membership.get(this.member.leaderId());
    const ttl = await this.forwarder.keepAlive(leader?.clientUrls[0], id);
    if (ttl <= 0) throw new LeaseNotFoundError();
    return { ttlSeconds: ttl };
  }

  close(): void {
    this.forwarder.close();
  }

  async leaseTimeToLive(id: LeaseId): Promise<LeaseTimeToLive | null> {
    return this.member.kv.leaseTimeToLive(id, this.now());
  }

  async leaseLeases(): Promise<readonly LeaseId[]> {
    return this.member.kv.leases();
  }

  async memberList(): Promise<readonly MemberInfo[]> {
    return this.member.membership.list();
  }

  async memberAdd(peerUrls: readonly string[], isLearner: boolean, force = false): Promise<{ readonly member: MemberInfo; readonly members: readonly MemberInfo[] }> {
    const existing = this.member.membership.list();
    if (existing.some((m) => m.peerUrls.some((u) => peerUrls.includes(u)))) throw new EtcdServerError('ErrPeerURLExist');
    const id = this.idFor(peerUrls);
    if (this.member.membership.get(id) !== undefined) throw new EtcdServerError('ErrPeerURLExist');
    const attrs: MemberAttributes = { name: '', peerUrls, clientUrls: [], dc: '', zone: '' };
    await this.member.changeMembership([{ type: isLearner ? ConfChangeType.AddLearnerNode : ConfChangeType.AddNode, nodeId: id }], { ...attrs }, undefined, force);
    const added = this.member.membership.get(id);
    if (added === undefined) throw new EtcdServerError('ErrMemberNotFound');
    return { member: added, members: this.member.membership.list() };
  }

  async memberRemove(id: NodeId, force = false): Promise<readonly MemberInfo[]> {
    if (this.member.membership.get(id) === undefined) throw new EtcdServerError('ErrMemberNotFound');
    await this.member.changeMembership([{ type: ConfChangeType.RemoveNode, nodeId: id }], {}, undefined, force);
    return this.member.membership.list();
  }

  async memberUpdate(id: NodeId, peerUrls: readonly string[]): Promise<readonly MemberInfo[]> {
    const m = this.member.membership.get(id);
    if (m === undefined) throw new EtcdServerError('ErrMemberNotFound');
    // Re-adding a member in its current role changes no configuration, only its attributes.
    const type = m.isLearner ? ConfChangeType.AddLearnerNode : ConfChangeType.AddNode;
    const attrs: MemberAttributes = { name: m.name, peerUrls, clientUrls: m.clientUrls, dc: m.dc, zone: m.zone };
    await this.member.changeMembership([{ type, nodeId: id }], { ...attrs });
    return this.member.membership.list();
  }

  async memberPromote(id: NodeId, force = false): Promise<readonly MemberInfo[]> {
    const m = this.member.membership.get(id);
    if (m === undefined) throw new EtcdServerError('ErrMemberNotFound');
    if (!m.isLearner) throw new EtcdServerError('ErrMemberNotLearner');
    if (!this.member.isLeader()) throw new EtcdServerError('ErrNotLeader');
    const status = this.member.rawNode.status();
    const pr = status.progress.get(id);
    if (pr === undefined || pr.match < status.lastIndex * LEARNER_READY_FRACTION) throw new EtcdServerError('ErrLearnerNotReady');
    const attrs: MemberAttributes = { name: m.name, peerUrls: m.peerUrls, clientUrls: m.clientUrls, dc: m.dc, zone: m.zone };
    await this.member.changeMembership([{ type: ConfChangeType.AddNode, nodeId: id }], { ...attrs }, undefined, force);
    return this.member.membership.list();
  }

  async status(): Promise<MemberStatus> {
    const raft = this.member.rawNode.raft;
    const kv = this.member.kv.status();
    const errors = this.member.kv.alarms().map((a) => `memberID:${a.memberId} alarm:${a.alarm === 1 ? 'NOSPACE' : 'CORRUPT'}`);
    if (raft.lead === 0) errors.push('etcdserver: no leader');
    return {
      version: ETCD_API_VERSION,
      dbSize: kv.backendBytes,
      dbSizeInUse: kv.sizeBytes,
      leader: raft.lead,
      raftIndex: raft.log.lastIndex(),
      raftTerm: raft.term,
      raftAppliedIndex: raft.log.applied,
      errors,
      isLearner: this.member.membership.get(this.member.id)?.isLearner ?? false,
    };
  }

  async alarm(action: AlarmAction, memberId: NodeId, alarm: AlarmType): Promise<readonly AlarmMember[]> {
    const res = await this.member.propose({ type: 'alarm', action, memberId, alarm });
    return res.type === 'alarm' ? res.alarms : [];
  }

  async defragment(): Promise<void> {
    // LMDB reuses freed pages itself; there is nothing to rewrite.
  }

  async hash(): Promise<{ readonly hash: number }> {
    return { hash: this.member.kv.hash().hash };
  }

  async hashKV(revision: number): Promise<HashKvResult> {
    return this.member.kv.hashKV(revision);
  }

  async *snapshot(): AsyncIterable<Uint8Array> {
    const snap = this.member.kv.snapshot();
    try {
      for (const chunk of snap.chunks()) yield chunk;
    } finally {
      snap.release();
    }
  }

  async moveLeader(target: NodeId): Promise<void> {
    if (!this.member.isLeader()) throw new EtcdServerError('ErrNotLeader');
    const m = this.member.membership.get(target);
    if (m === undefined || m.isLearner) throw new EtcdServerError('ErrBadLeaderTransferee');
    this.member.transferLeader(target);
    const deadline = this.now() + MOVE_LEADER_TIMEOUT_MS;
    while (this.member.leaderId() !== target) {
      if (this.now() > deadline) throw new EtcdServerError('ErrTimeout');
      await new Promise((resolve) => setTimeout(resolve, MOVE_LEADER_POLL_MS));
    }
  }
}
