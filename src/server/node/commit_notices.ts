// Holds a leader's commit-only appends briefly so the next append to the same follower carries the commit
// instead: under a steady stream of writes that halves the peer messages (and the wakeups) per write.

import type { NodeId } from '../../util/branded.js';
import { type Message, MessageType } from '../../raft/types.js';

/**
 * How long a commit-only append may wait for a later append to replace it. Followers learn the commit
 * (and apply, and notify their watchers) at most this much later. Neither a read nor a write through a
 * follower waits for it: a read-index answer takes the held notice along, and a notice that commits
 * proposals a follower forwarded is sent at once.
 */
export const COMMIT_NOTICE_HOLD_MS = 2;

/**
 * An empty append: it tells the follower only the leader's commit index (or probes its log). Dropping it
 * when a later append to the same follower goes out loses nothing: Raft tolerates lost messages, the
 * later append carries a commit index at least as high (a leader's commit only grows), and an empty
 * append is never tracked in the inflight window. A probe is held like the rest: the leader pauses a
 * probing follower, so nothing replaces it and it leaves when the hold ends.
 */
export function isCommitNotice(m: Message): boolean {
  return m.type === MessageType.App && m.entries.length === 0 && m.snapshot === null;
}

export class CommitNoticeHold {
  private readonly held = new Map<NodeId, Message>();
  /** Followers whose forwarded proposals end at this index: a notice reaching it goes out at once. */
  private readonly waiting = new Map<NodeId, number>();
  private cancelTimer: (() => void) | null = null;

  constructor(
    private readonly holdMs: number,
    private readonly setTimer: (ms: number, fn: () => void) => () => void,
    private readonly send: (messages: readonly Message[]) => void,
  ) {}

  /**
   * A follower forwarded proposals that end at `index` (its client waits for them to apply there): the notice
   * that commits them is not held.
   */
  awaitCommit(follower: NodeId, index: number): void {
    this.waiting.set(follower, Math.max(index, this.waiting.get(follower) ?? 0));
  }

  /** Sends `messages`, holding commit notices back and dropping held ones that a new append replaces. */
  dispatch(messages: readonly Message[]): void {
    if (messages.length === 0) return;
    const out: Message[] = [];
    for (const m of messages) {
      const awaited = this.waiting.get(m.to);
      if (awaited !== undefined && m.type === MessageType.App && m.commit >= awaited) {
        this.waiting.delete(m.to);
        this.held.delete(m.to);
        out.push(m);
        continue;
      }
      if (isCommitNotice(m)) {
        this.held.set(m.to, m);
        continue;
      }
      const held = this.held.get(m.to);
      if (held !== undefined) {
        if (m.type === MessageType.App && m.term >= held.term) {
          this.held.delete(m.to);
        } else if (m.type === MessageType.ReadIndexResp) {
          // The follower must learn the commit index to serve the read: send the notice first.
          this.held.delete(m.to);
          out.push(held);
        }
      }
      out.push(m);
    }
    if (out.length > 0) this.send(out);
    this.arm();
  }

  /** Sends everything held now (stepping down, or the hold expired). */
  flush(): void {
    this.cancel();
    if (this.held.size === 0) return;
    const out = [...this.held.values()];
    this.held.clear();
    this.send(out);
  }

  /** Forgets everything held (the member stops). */
  clear(): void {
    this.cancel();
    this.held.clear();
    this.waiting.clear();
  }

  private arm(): void {
    if (this.held.size === 0 || this.cancelTimer !== null) return;
    this.cancelTimer = this.setTimer(this.holdMs, () => {
      this.cancelTimer = null;
      this.flush();
    });
  }

  private cancel(): void {
    if (this.cancelTimer === null) return;
    this.cancelTimer();
    this.cancelTimer = null;
  }
}
