// Watchers in the simulator: streams opened on random members (learners included), some from the past,
// some slow to read; what each receives is checked against the revision history every member applied.

import type { Revision } from '../util/branded.js';
import { revision } from '../util/branded.js';
import type { Prng } from '../util/prng.js';
import type { RevisionChanges } from '../kv/types.js';
import { isProgressNotification, type WatchResponse } from '../kv/watch_response.js';
import type { WatchStream } from '../kv/watch_stream.js';
import type { Member } from '../server/node/member.js';
import { checkWatches, type WatchRecord, type WatchResponseRecord } from './checker/watch_checker.js';
import type { EventQueue } from './event_queue.js';
import type { SimMember } from './sim_member.js';

const enc = new TextEncoder();

interface Watcher {
  readonly name: string;
  readonly owner: SimMember;
  /** The member instance the stream lives on; a restart ends the stream. */
  readonly member: Member;
  readonly stream: WatchStream;
  startRevision: number;
  readonly key: Uint8Array;
  readonly rangeEnd: Uint8Array;
  readonly prevKv: boolean;
  readonly responses: WatchResponseRecord[];
  compactRevision?: Revision;
  /** The consumer stopped reading; the stream resumes when ready() is called. */
  blocked: boolean;
  created: boolean;
}

export class SimWatchers {
  /** Every revision's changes, as the first member to apply it emitted them. */
  private readonly history = new Map<number, RevisionChanges>();
  private readonly watchers: Watcher[] = [];
  private readonly violations: string[] = [];
  /** The run is ending: consumers read everything from now on. */
  private draining = false;

  constructor(
    private readonly queue: EventQueue,
    private readonly prng: Prng,
    private readonly keys: readonly string[],
  ) {}

  /** Records what a member applied; every member must emit the same changes for a revision. */
  record(member: SimMember, c: RevisionChanges): void {
    const seen = this.history.get(c.revision);
    if (seen === undefined) {
      this.history.set(c.revision, c);
      return;
    }
    const same = seen.events.length === c.events.length && seen.events.every((e, i) => {
      const o = c.events[i];
      return o !== undefined && o.type === e.type && o.kv.modRevision === e.kv.modRevision && Buffer.compare(o.kv.key, e.kv.key) === 0 && Buffer.compare(o.kv.value, e.kv.value) === 0;
    });
    if (!same) this.violations.push(`member ${member.id} applied different changes at revision ${c.revision} than another member`);
  }

  /** Opens a watcher on a running member: one key, a prefix or every key; from now or from the past. */
  open(owner: SimMember): void {
    const member = owner.member;
    if (member === null || owner.paused) return;
    const p = this.prng;
    const shape = p.int(3);
    const key = shape === 0 ? enc.encode(p.pick(this.keys)) : enc.encode('k');
    const rangeEnd = shape === 0 ? new Uint8Array(0) : shape === 1 ? enc.encode('l') : new Uint8Array([0]);
    const current = member.kv.currentRevision();
    const fromPast = p.chance(0.5) && current > 1;
    const startRevision = fromPast ? p.range(Math.max(member.kv.compactRevision() + 1, 1), current) : 0;
    const w: Watcher = {
      name: `w${this.watchers.length + 1}@${owner.id}`,
      owner,
      member,
      stream: member.watchHub.newStream({ send: (r) => this.deliver(w, r) }),
      startRevision,
      key,
      rangeEnd,
      prevKv: p.chance(0.5),
      responses: [],
      blocked: false,
      created: false,
    };
    this.watchers.push(w);
    w.stream.create({ key, rangeEnd, startRevision, prevKv: w.prevKv, progressNotify: p.chance(0.5) });
  }

  private deliver(w: Watcher, r: WatchResponse): boolean {
    if (r.created) {
      w.created = true;
      if (w.startRevision === 0) w.startRevision = r.headerRevision + 1;
    }
    if (r.canceled && r.compactRevision > 0) w.compactRevision = r.compactRevision;
    if (r.events.length > 0) w.responses.push({ kind: 'events', events: r.events });
    else if (isProgressNotification(r)) w.responses.push({ kind: 'progress', revision: r.headerRevision });
    // Sometimes the consumer is slow: it stops reading for a while and the hub must hold or replay.
    if (!w.blocked && !this.draining && this.prng.chance(0.02)) {
      w.blocked = true;
      this.queue.schedule(50 + this.prng.float() * 2000, () => this.unblock(w));
      return false;
    }
    return true;
  }

  private unblock(w: Watcher): void {
    if (!w.blocked) return;
    w.blocked = false;
    if (w.owner.member === w.member) w.stream.ready();
  }

  /** At the end: let every live stream drain, so everything up to the last revision must have arrived. */
  drain(): void {
    this.draining = true;
    for (const w of this.watchers) this.unblock(w);
  }

  /** `members`: who the final configuration names; a member that never joined owes its watchers nothing. */
  check(members: ReadonlySet<number>): string[] {
    const last = Math.max(0, ...this.history.keys());
    const records: WatchRecord[] = this.watchers
      .filter((w) => w.created && w.startRevision >= 1)
      .map((w) => ({
        name: w.name,
        startRevision: revision(w.startRevision),
        key: w.key,
        rangeEnd: w.rangeEnd,
        prevKv: w.prevKv,
        responses: w.responses,
        ...(w.compactRevision === undefined ? {} : { compactRevision: w.compactRevision }),
        // A stream whose member ran to the end must have delivered everything.
        ...(w.owner.member === w.member && !w.member.isStopped && members.has(w.owner.id) ? { expectedThrough: revision(last) } : {}),
      }));
    const changes = [...this.history.values()].sort((a, b) => a.revision - b.revision);
    const result = checkWatches(changes, records);
    const out = [...this.violations];
    for (const v of result.violations.slice(0, 5)) out.push(`watch ${v.watcher}: ${v.kind}: ${v.message}`);
    return out;
  }

  get count(): number {
    return this.watchers.length;
  }
}
