import { test } from 'node:test';
import assert from 'node:assert/strict';
import { logIndex, revision, term, type LogIndex } from '../../util/branded.js';
import { CLOCK_DRIFT_RATE_MAX, FreshnessProof, ReadPaths, type ReadHost, type ReadPath } from './read_paths.js';

/** A host on a hand-driven clock; ReadIndex answers are released by the test. */
class FakeHost implements ReadHost {
  t = 0;
  applied = 0;
  rev = 0;
  committed = 0;
  leader = false;
  termNow = 1;
  transfer = false;
  requestTimeoutMs = 1000;
  readonly timers: { at: number; fn: () => void; live: boolean }[] = [];
  readonly readIndexCalls: ((err: Error | null) => void)[] = [];
  now(): number { return this.t; }
  setTimer(ms: number, fn: () => void): () => void {
    const timer = { at: this.t + ms, fn, live: true };
    this.timers.push(timer);
    return () => { timer.live = false; };
  }
  advance(ms: number): void {
    this.t += ms;
    for (let i = 0; i < 1000; i++) {
      const due = this.timers.find((x) => x.live && x.at <= this.t);
      if (due === undefined) return;
      due.live = false;
      due.fn();
    }
  }
  appliedIndex(): LogIndex { return logIndex(this.applied); }
  appliedRevision() { return revision(this.rev); }
  committedIndex(): LogIndex { return logIndex(this.committed); }
  term() { return term(this.termNow); }
  isLeader(): boolean { return this.leader; }
  transferring(): boolean { return this.transfer; }
  readIndex(done: (err: Error | null) => void): void { this.readIndexCalls.push(done); }
  stopped(): boolean { return false; }
}

const settings = { leaseReads: true, leaseReadMarginMs: 50, minElectionTimeoutMs: () => 900, checkQuorum: true, stalenessMarginMs: 5 };

function outcome(): { path: ReadPath | 'pending' | Error } {
  return { path: 'pending' };
}

test('freshness proof: serves only once applied reaches the index and the drift-stretched age fits the bound', () => {
  const p = new FreshnessProof();
  assert.equal(p.servesBounded(0, logIndex(0), 1000, 0), false);
  p.record(100, logIndex(10), term(1), false);
  assert.equal(p.servesBounded(150, logIndex(9), 1000, 0), false);
  assert.equal(p.servesBounded(150, logIndex(10), 1000, 0), true);
  // 990 ms of local time may be 999.9 ms of real time: with a 5 ms margin it no longer fits 1000 ms.
  assert.equal(p.servesBounded(1090, logIndex(10), 1000, 5), false);
  assert.ok(990 * (1 + CLOCK_DRIFT_RATE_MAX) + 5 > 1000);
  // An older answer arriving late never replaces a newer proof.
  p.record(50, logIndex(20), term(1), false);
  assert.equal(p.freshAsOf, 100);
});

test('bounded read: falls back to ReadIndex without a proof, then serves locally and refreshes in the background', () => {
  const h = new FakeHost();
  const rp = new ReadPaths(h, settings);
  const o1 = outcome();
  rp.read({ mode: 'bounded', maxStalenessMs: 200 }, (err, path) => { o1.path = err ?? path ?? 'pending'; });
  assert.equal(h.readIndexCalls.length, 1);
  rp.proof.record(0, logIndex(5), term(1), false);
  h.applied = 5;
  h.readIndexCalls[0]?.(null);
  assert.equal(o1.path, 'read-index');
  const o2 = outcome();
  rp.read({ mode: 'bounded', maxStalenessMs: 200 }, (err, path) => { o2.path = err ?? path ?? 'pending'; });
  assert.equal(o2.path, 'bounded-local');
  // The refresh runs at bound/2 while bounded reads come.
  h.advance(100);
  assert.equal(h.readIndexCalls.length, 2);
  // Too old now: the read falls back.
  h.advance(150);
  const o3 = outcome();
  rp.read({ mode: 'bounded', maxStalenessMs: 200 }, (err, path) => { o3.path = err ?? path ?? 'pending'; });
  assert.equal(o3.path, 'pending');
});

test('min-revision read waits for the revision and times out with etcd\'s applied-index error', () => {
  const h = new FakeHost();
  const rp = new ReadPaths(h, settings);
  const ok = outcome();
  rp.read({ mode: 'minRevision', minRevision: 7 }, (err, path) => { ok.path = err ?? path ?? 'pending'; });
  assert.equal(ok.path, 'pending');
  h.rev = 7;
  rp.onApplied();
  assert.equal(ok.path, 'min-revision');
  const late = outcome();
  rp.read({ mode: 'minRevision', minRevision: 100, timeoutMs: 50 }, (err, path) => { late.path = err ?? path ?? 'pending'; });
  h.advance(50);
  assert.ok(late.path instanceof Error && /waiting for the applied index/.test(late.path.message));
});

test('lease read: only on a leader with a fresh proof of its own term, no transfer, no conf change since', () => {
  const h = new FakeHost();
  const rp = new ReadPaths(h, settings);
  h.leader = true;
  assert.equal(rp.leaseValid(), false);
  rp.proof.record(0, logIndex(3), term(1), true);
  h.t = 10;
  assert.equal(rp.leaseValid(), true);
  h.t = 900 - 50;
  assert.equal(rp.leaseValid(), false);
  rp.proof.record(900, logIndex(3), term(1), true);
  h.t = 910;
  assert.equal(rp.leaseValid(), true);
  h.termNow = 2;
  assert.equal(rp.leaseValid(), false);
  h.termNow = 1;
  rp.noteConfChange();
  assert.equal(rp.leaseValid(), false);
  rp.proof.record(920, logIndex(3), term(1), true);
  h.t = 930;
  assert.equal(rp.leaseValid(), true);
  h.transfer = true;
  assert.equal(rp.leaseValid(), false);
  h.transfer = false;
  rp.proof.record(940, logIndex(3), term(1), true);
  assert.equal(rp.leaseValid(), false, 'blocked for two election timeouts after a transfer');
  const off = new ReadPaths(h, { ...settings, leaseReads: false });
  off.proof.record(940, logIndex(3), term(1), true);
  assert.equal(off.leaseValid(), false);
});

test('lease read serves at the commit index when valid, else falls back to ReadIndex', () => {
  const h = new FakeHost();
  const rp = new ReadPaths(h, settings);
  h.leader = true;
  h.committed = 4;
  h.applied = 4;
  const a = outcome();
  rp.read({ mode: 'leaseRead' }, (err, path) => { a.path = err ?? path ?? 'pending'; });
  assert.equal(h.readIndexCalls.length, 1);
  rp.proof.record(0, logIndex(4), term(1), true);
  h.readIndexCalls[0]?.(null);
  assert.equal(a.path, 'read-index');
  const b = outcome();
  rp.read({ mode: 'leaseRead' }, (err, path) => { b.path = err ?? path ?? 'pending'; });
  assert.equal(b.path, 'lease');
});

test('bad read options are refused with a message naming the value', () => {
  const rp = new ReadPaths(new FakeHost(), settings);
  const o = outcome();
  rp.read({ mode: 'bounded', maxStalenessMs: 0 }, (err, path) => { o.path = err ?? path ?? 'pending'; });
  assert.ok(o.path instanceof Error && /max staleness.*got 0/.test(o.path.message));
});
