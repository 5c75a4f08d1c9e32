// Linearizable reads by ReadIndex (Raft thesis §6.4): the leader records its commit index for a request and
// answers once a quorum has acknowledged a heartbeat carrying the request's context.
//
// A voter that forwarded a read is a witness for it (Meridian's addition; it saves a remote reader the heartbeat
// round): it sent the request after its client asked, while following this leader, so at a moment after the read
// began it had joined no newer term. The leader's own acknowledgement and the heartbeat answers are from later
// still. A quorum of members that each had joined no newer term at some moment after the read began intersects
// every quorum that could have elected a newer leader before it began, so this leader's commit index covers every
// write acknowledged before the read. A witness vouches for its own request only: an earlier request may have
// begun after the later one did.

import type { LogIndex, NodeId } from '../util/branded.js';
import type { Message } from './types.js';

export type ReadOnlyOption = 'safe' | 'leaseBased';

interface ReadIndexStatus {
  readonly req: Message;
  readonly index: LogIndex;
  /** Heartbeat acknowledgements (and the leader's own), each from after this request reached the leader. */
  readonly acks: Map<NodeId, boolean>;
  /** The voter that forwarded the request, whose word counts for this request alone; null when none. */
  readonly witness: NodeId | null;
}

export function contextKey(ctx: Uint8Array): string {
  let s = '';
  for (let i = 0; i < ctx.length; i++) s += String.fromCharCode(ctx[i] as number);
  return s;
}

export class ReadOnly {
  private readonly pending = new Map<string, ReadIndexStatus>();
  private queue: string[] = [];

  constructor(readonly option: ReadOnlyOption) {}

  /** Records a read request at the current commit index, with its witness; a duplicate context is ignored. */
  addRequest(index: LogIndex, m: Message, witness: NodeId | null = null): void {
    const key = contextKey((m.entries[0]?.data ?? new Uint8Array(0)));
    if (this.pending.has(key)) return;
    this.pending.set(key, { req: m, index, acks: new Map(), witness });
    this.queue.push(key);
  }

  /**
   * Records a heartbeat acknowledgement; returns who vouches for that context's request so far (its acks and its
   * witness), or undefined if the context is unknown.
   */
  recvAck(id: NodeId, ctx: Uint8Array): ReadonlyMap<NodeId, boolean> | undefined {
    const rs = this.pending.get(contextKey(ctx));
    if (rs === undefined) return undefined;
    rs.acks.set(id, true);
    return vouchers(rs, rs.acks);
  }

  /**
   * The request with this context reached a quorum: dequeues it, and every earlier request that a quorum vouches
   * for with that round's acknowledgements (from after it reached the leader, as it came earlier) plus its own
   * acks and witness. An earlier request left out stays queued for a later round.
   */
  advance(ctx: Uint8Array, quorum: (vouchers: ReadonlyMap<NodeId, boolean>) => boolean): { req: Message; index: LogIndex }[] {
    const key = contextKey(ctx);
    const at = this.queue.indexOf(key);
    const confirmed = this.pending.get(key);
    if (at < 0 || confirmed === undefined) return [];
    const out: { req: Message; index: LogIndex }[] = [];
    const kept: string[] = [];
    for (const k of this.queue.slice(0, at + 1)) {
      const rs = this.pending.get(k);
      if (rs === undefined) continue;
      if (k !== key && !quorum(vouchers(rs, new Map([...confirmed.acks, ...rs.acks])))) {
        kept.push(k);
        continue;
      }
      this.pending.delete(k);
      out.push({ req: rs.req, index: rs.index });
    }
    this.queue = [...kept, ...this.queue.slice(at + 1)];
    return out;
  }

  /** The context of the newest pending request, which a heartbeat carries to confirm all older ones. */
  lastPendingContext(): Uint8Array | null {
    const key = this.queue[this.queue.length - 1];
    if (key === undefined) return null;
    const rs = this.pending.get(key);
    return rs === undefined ? null : (rs.req.entries[0]?.data ?? null);
  }

  pendingCount(): number {
    return this.queue.length;
  }
}

function vouchers(rs: ReadIndexStatus, acks: ReadonlyMap<NodeId, boolean>): ReadonlyMap<NodeId, boolean> {
  if (rs.witness === null) return acks;
  return new Map([...acks, [rs.witness, true]]);
}
