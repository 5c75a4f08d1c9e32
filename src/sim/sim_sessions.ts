// ZooKeeper sessions in the simulator: clients open sessions through random members, create ephemeral znodes in
// them, ping through the leader until they "die", and the checks: a session (and so its ephemerals) never ends
// before its timeout has run from the last acknowledged ping; its ephemerals vanish in the very revision its
// record does; no ephemeral is ever deleted while its session lives on; after convergence no member holds an
// orphaned ephemeral; once pings stop, every session ends within its timeout plus a bound.

import { leaseId, type LeaseId } from '../util/branded.js';
import { Prng } from '../util/prng.js';
import type { CommandResponse } from '../kv/rpc.js';
import { EventType, type RevisionChanges } from '../kv/types.js';
import { encodeZkCommand, type ZkOp } from '../kv/zk/zk_command.js';
import { OPEN_ACL } from '../kv/zk/zk_node.js';
import { isNodeKey, isSessionKey, pathOfKey, sessionIdOfKey } from '../kv/zk/zk_path.js';
import { bytesToLatin1 } from '../storage/backend/backend.js';
import { checkLeases, type LeaseRecord } from './checker/lease_checker.js';
import type { LeaseClientTarget } from './sim_leases.js';
import type { SimMember } from './sim_member.js';

/** How long a client waits before trying again to open a session. */
const SESSION_OPEN_RETRY_MS = 1000;
/** Sessions opened per run, and ephemerals created in each. */
export const SESSIONS_PER_RUN = 3;
export const EPHEMERALS_PER_SESSION = 3;

interface Session {
  readonly id: number;
  readonly timeoutMs: number;
  stopAtMs: number;
  lastAckSentMs: number;
  /** Ephemerals whose create was acknowledged. */
  readonly ephemerals: Set<string>;
  endedAtMs: number | null;
}

export class SimSessions {
  private readonly sessions = new Map<number, Session>();
  private readonly records: LeaseRecord[] = [];
  private readonly problems: string[] = [];
  private running = true;
  private readonly prng: Prng;
  private nextName = 0;

  constructor(private readonly t: LeaseClientTarget, private readonly timeoutMs: number, seed: number) {
    // A generator of its own, so sessions do not shift the draws of the rest of the run.
    this.prng = new Prng(seed ^ 0x2e55_10a5);
  }

  /** Schedules the run's sessions between `fromMs` and `toMs`; half are kept alive to `keepUntilMs`. */
  start(fromMs: number, toMs: number, keepUntilMs: number): void {
    for (let i = 0; i < SESSIONS_PER_RUN; i++) {
      const at = fromMs + this.prng.float() * (toMs - fromMs);
      const stopAt = this.prng.chance(0.5) ? keepUntilMs : at + this.prng.float() * (toMs - at);
      this.t.queue.schedule(at, () => this.open(stopAt));
    }
  }

  private submit(ops: ZkOp[], session: number, done: (res: CommandResponse) => void, failed: () => void = () => undefined): void {
    const live = this.t.live();
    if (live.length === 0) return failed();
    const payload = encodeZkCommand({ ops, multi: false, time: this.t.queue.now, session, auth: [] });
    this.prng.pick(live).submitCommand({ type: 'zk', payload }, (err, res) => {
      if (err === null && res !== undefined) done(res);
      else failed();
    });
  }

  private open(stopAtMs: number): void {
    if (!this.running) return;
    const sentMs = this.t.queue.now;
    // A client whose connect failed (no leader, a crashed member) tries again, as ZooKeeper clients do. A try
    // that failed with an unknown outcome may have made a session nobody pings: it simply expires.
    const retry = (): void => {
      if (this.t.queue.now + SESSION_OPEN_RETRY_MS < stopAtMs) this.t.queue.schedule(SESSION_OPEN_RETRY_MS, () => this.open(stopAtMs));
    };
    this.submit([{ op: 'createSession', timeoutMs: this.timeoutMs, passwd: new Uint8Array(16) }], 0, (res) => {
      const r = res.type === 'zk' ? res.zk.results[0] : undefined;
      if (r === undefined || !r.ok || r.sessionId === undefined || r.timeoutMs === undefined) return retry();
      const s: Session = { id: r.sessionId, timeoutMs: r.timeoutMs, stopAtMs, lastAckSentMs: sentMs, ephemerals: new Set(), endedAtMs: null };
      this.sessions.set(s.id, s);
      this.records.push({ kind: 'grant', leaseId: leaseId(s.id), ttlMs: s.timeoutMs, atMs: sentMs });
      for (let i = 0; i < EPHEMERALS_PER_SESSION; i++) this.createEphemeral(s);
      this.t.queue.schedule(s.timeoutMs / 3, () => this.ping(s));
    }, retry);
  }

  private createEphemeral(s: Session): void {
    const path = `/eph-${s.id.toString(16)}-${this.nextName++}`;
    const op: ZkOp = { op: 'create', path, data: new Uint8Array(0), acl: OPEN_ACL, mode: 'ephemeral', sequential: false, ttlMs: 0 };
    this.submit([op], s.id, (res) => {
      if (res.type === 'zk' && res.zk.results[0]?.ok === true) s.ephemerals.add(path);
    });
  }

  /** A ping renews the session's lease on the leader, as the ZooKeeper server does for its clients. */
  private ping(s: Session): void {
    if (!this.running || s.endedAtMs !== null || this.t.queue.now >= s.stopAtMs) return;
    const sentMs = this.t.queue.now;
    const asked = this.t.leader()?.keepAlive(leaseId(s.id) as LeaseId, (err, ttlSeconds) => {
      if (err === null && ttlSeconds !== undefined && ttlSeconds > 0) {
        s.lastAckSentMs = sentMs;
        this.records.push({ kind: 'keepalive', leaseId: leaseId(s.id), ttlMs: ttlSeconds * 1000, atMs: sentMs });
      }
    }) ?? false;
    this.t.queue.schedule(asked ? s.timeoutMs / 3 : s.timeoutMs / 10, () => this.ping(s));
  }

  /** One member applied a revision (called for every member): checks that sessions end with their ephemerals. */
  observe(m: SimMember, c: RevisionChanges): void {
    const ended = new Set<number>();
    const deletedNodes = new Set<string>();
    for (const e of c.events) {
      if (e.type !== EventType.Delete) continue;
      const key = bytesToLatin1(e.kv.key);
      if (isSessionKey(key)) ended.add(sessionIdOfKey(key));
      else if (isNodeKey(key)) deletedNodes.add(pathOfKey(key));
    }
    for (const id of ended) {
      const s = this.sessions.get(id);
      if (s === undefined) continue;
      if (s.endedAtMs === null) {
        s.endedAtMs = this.t.queue.now;
        this.records.push({ kind: 'expired', leaseId: leaseId(id), atMs: this.t.queue.now });
      }
      const view = m.member?.kv.zkView();
      for (const path of s.ephemerals) {
        const node = view?.node(path) ?? null;
        if (node !== null && node.ephemeralOwner === id) this.problems.push(`member ${m.id} rev ${c.revision}: session ${id} ended but its ephemeral ${path} remains`);
      }
    }
    for (const path of deletedNodes) {
      for (const s of this.sessions.values()) {
        if (s.ephemerals.has(path) && !ended.has(s.id)) this.problems.push(`member ${m.id} rev ${c.revision}: ephemeral ${path} deleted while session ${s.id} lives`);
      }
    }
  }

  /** Every client stops pinging (the liveness phase: every session must then end). */
  stopAll(): void {
    this.running = false;
    for (const s of this.sessions.values()) s.stopAtMs = Math.min(s.stopAtMs, this.t.queue.now);
  }

  allEnded(): boolean {
    return [...this.sessions.values()].every((s) => s.endedAtMs !== null);
  }

  /** Sessions still alive past their timeout after the last ping (and after the cluster became stable) plus slack. */
  overdue(nowMs: number, stableSinceMs: number, slackMs: number): number[] {
    return [...this.sessions.values()].filter((s) =>
      s.endedAtMs === null && nowMs > Math.max(s.stopAtMs, s.lastAckSentMs, stableSinceMs) + s.timeoutMs + slackMs).map((s) => s.id);
  }

  /** Ephemeral znodes on `m` whose owner session it does not hold. */
  orphans(m: SimMember): string[] {
    const view = m.member?.kv.zkView();
    if (view === undefined) return [];
    return view.children('/').filter((name) => {
      const node = view.node(`/${name}`);
      return node !== null && node.ephemeralOwner !== 0 && view.session(node.ephemeralOwner) === null;
    }).map((name) => `member ${m.id}: orphaned ephemeral /${name}`);
  }

  /** Violations: early expiries (the lease checker's rule), ephemerals outliving or predating their session's end. */
  check(toleranceMs: number): string[] {
    const early = checkLeases(this.records, { toleranceMs }).violations.map((v) => `session ${v.leaseId}: ${v.kind}: ${v.message}`);
    return [...early, ...this.problems].slice(0, 5);
  }

  get count(): number {
    return this.sessions.size;
  }

  get ephemeralCount(): number {
    return [...this.sessions.values()].reduce((n, s) => n + s.ephemerals.size, 0);
  }
}
