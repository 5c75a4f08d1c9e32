// Linearizable reads by ReadIndex (Raft thesis §6.4): the leader records its commit index for a request and
// answers once a quorum has acknowledged a heartbeat carrying the request's context.

import type { LogIndex, NodeId } from '../util/branded.js';
import type { Message } from './types.js';

export type ReadOnlyOption = 'safe' | 'leaseBased';

interface ReadIndexStatus {
  readonly req: Message;
  readonly index: LogIndex;
  readonly acks: Map<NodeId, boolean>;
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

  /** Records a read request at the current commit index; a duplicate context is ignored. */
  addRequest(index: LogIndex, m: Message): void {
    const key = contextKey((m.entries[0]?.data ?? new Uint8Array(0)));
    if (this.pending.has(key)) return;
    this.pending.set(key, { req: m, index, acks: new Map() });
    this.queue.push(key);
  }

  /** Records a heartbeat acknowledgement; returns the acks so far for that context (undefined if unknown). */
  recvAck(id: NodeId, ctx: Uint8Array): ReadonlyMap<NodeId, boolean> | undefined {
    const rs = this.pending.get(contextKey(ctx));
    if (rs === undefined) return undefined;
    rs.acks.set(id, true);
    return rs.acks;
  }

  /** Dequeues every request up to and including the one with this context: a quorum confirmed them all. */
  advance(ctx: Uint8Array): { req: Message; index: LogIndex }[] {
    const key = contextKey(ctx);
    const at = this.queue.indexOf(key);
    if (at < 0) return [];
    const done = this.queue.slice(0, at + 1);
    this.queue = this.queue.slice(at + 1);
    const out: { req: Message; index: LogIndex }[] = [];
    for (const k of done) {
      const rs = this.pending.get(k);
      if (rs === undefined) continue;
      this.pending.delete(k);
      out.push({ req: rs.req, index: rs.index });
    }
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
