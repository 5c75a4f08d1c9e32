// The cluster's member list as applied from the log: who each Raft member is (name, URLs, DC), kept in
// step with the Raft configuration and carried in snapshots.

import { nodeId, type NodeId } from '../../util/branded.js';
import { MeridianError } from '../../util/errors.js';
import { ConfChangeType, type ConfChange, type ConfState } from '../../raft/types.js';
import type { MemberInfo } from '../etcd/backend.js';

/** What a conf change's context carries about the member it adds (JSON). */
export interface MemberAttributes {
  readonly name: string;
  readonly peerUrls: readonly string[];
  readonly clientUrls: readonly string[];
  readonly dc: string;
  readonly zone: string;
}

/** A conf change context longer than this is malformed. */
export const MEMBER_CONTEXT_BYTES_MAX = 16 * 1024;

export class BadMemberContextError extends MeridianError {
  constructor(message: string) {
    super('ERR_BAD_MEMBER_CONTEXT', message);
  }
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export function encodeMemberContext(a: MemberAttributes): Uint8Array {
  return enc.encode(JSON.stringify(a));
}

export function decodeMemberContext(data: Uint8Array, id: NodeId): MemberAttributes {
  if (data.byteLength === 0) return defaultAttributes(id);
  if (data.byteLength > MEMBER_CONTEXT_BYTES_MAX) throw new BadMemberContextError(`member context of ${data.byteLength} bytes is too large`);
  let v: unknown;
  try {
    v = JSON.parse(dec.decode(data));
  } catch (err) {
    throw new BadMemberContextError(`member context is not JSON: ${(err as Error).message}`);
  }
  const o = v as Partial<Record<keyof MemberAttributes, unknown>>;
  const strings = (x: unknown): string[] => (Array.isArray(x) && x.every((s) => typeof s === 'string') ? (x as string[]) : []);
  return {
    name: typeof o.name === 'string' ? o.name : `member-${id}`,
    peerUrls: strings(o.peerUrls),
    clientUrls: strings(o.clientUrls),
    dc: typeof o.dc === 'string' ? o.dc : '',
    zone: typeof o.zone === 'string' ? o.zone : '',
  };
}

function defaultAttributes(id: NodeId): MemberAttributes {
  return { name: `member-${id}`, peerUrls: [], clientUrls: [], dc: '', zone: '' };
}

export class Membership {
  private readonly byId = new Map<NodeId, MemberInfo>();
  /** Members a RemoveNode took out (and not added back): their connections can go. */
  private readonly removedIds = new Set<NodeId>();

  /** Applies a committed conf change; `cs` is the configuration after it. */
  apply(cc: ConfChange, cs: ConfState): void {
    const learners = new Set(cs.learners);
    for (const c of cc.changes) {
      if (c.type === ConfChangeType.RemoveNode) {
        this.byId.delete(c.nodeId);
        this.removedIds.add(c.nodeId);
        continue;
      }
      this.removedIds.delete(c.nodeId);
      const existing = this.byId.get(c.nodeId);
      // A promotion carries no new attributes: keep what the member was added with.
      const attrs = existing !== undefined && cc.context.byteLength === 0 ? existing : decodeMemberContext(cc.context, c.nodeId);
      this.byId.set(c.nodeId, { id: c.nodeId, ...attrs, isLearner: c.type === ConfChangeType.AddLearnerNode });
    }
    // Keep the learner flags exactly as the configuration says (a joint change can demote a voter later).
    for (const [id, m] of this.byId) {
      const isLearner = learners.has(id);
      if (m.isLearner !== isLearner) this.byId.set(id, { ...m, isLearner });
    }
  }

  /** Replaces the whole list (from a snapshot). */
  restore(members: readonly MemberInfo[]): void {
    this.byId.clear();
    for (const m of members) this.byId.set(m.id, m);
  }

  /** Whether a conf change removed this member (replaying the log adds members one at a time: absent is not removed). */
  wasRemoved(id: NodeId): boolean {
    return this.removedIds.has(id);
  }

  get(id: NodeId): MemberInfo | undefined {
    return this.byId.get(id);
  }

  list(): MemberInfo[] {
    return [...this.byId.values()].sort((a, b) => a.id - b.id);
  }

  /** Updates a member's peer URLs (MemberUpdate, applied from the log). */
  updatePeerUrls(id: NodeId, peerUrls: readonly string[]): boolean {
    const m = this.byId.get(id);
    if (m === undefined) return false;
    this.byId.set(id, { ...m, peerUrls });
    return true;
  }
}

export function parseMembers(json: unknown): MemberInfo[] {
  if (!Array.isArray(json)) return [];
  return json.map((m: Partial<MemberInfo> & { id?: unknown }) => ({
    id: nodeId(Number(m.id)),
    name: String(m.name ?? ''),
    peerUrls: Array.isArray(m.peerUrls) ? m.peerUrls.map(String) : [],
    clientUrls: Array.isArray(m.clientUrls) ? m.clientUrls.map(String) : [],
    isLearner: m.isLearner === true,
    dc: String(m.dc ?? ''),
    zone: String(m.zone ?? ''),
  }));
}
