// Tests the watch checker itself: hand-broken streams (gap, duplicate, reorder, split revision, progress
// ahead, wrong prev_kv, false compaction, events after cancel) must be rejected, a correct one accepted.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { revision } from '../util/branded.js';
import { watchResponse, type WatchResponse } from './watch_response.js';
import { checkWatchStream } from './watch_test_checker.js';
import { WatchHarness, type HarnessStream } from './watch_test_harness.js';
import { bytes } from './watch_test_history.js';

interface Scenario {
  readonly h: WatchHarness;
  readonly s: HarnessStream;
  readonly id: number;
  /** Indexes of the event responses of `id` in s.responses. */
  readonly eventAt: readonly number[];
}

function scenario(): Scenario {
  const h = new WatchHarness();
  const s = h.openStream();
  const id = s.create({ key: bytes('a'), rangeEnd: bytes('b'), prevKv: true, progressNotify: true });
  h.put('a1', '1');
  h.put('a1', '2');
  h.write({ op: 'put', key: 'a2', value: '3' }, { op: 'put', key: 'a3', value: '4' });
  h.del('a1');
  const eventAt = s.responses.flatMap((r, i) => (r.watchId === id && r.events.length > 0 ? [i] : []));
  assert.equal(eventAt.length, 4);
  return { h, s, id, eventAt };
}

function check(x: Scenario, responses: readonly WatchResponse[], drained = true): string[] {
  return checkWatchStream(x.h.history.log, x.s.script, responses, {
    responseBytesMax: x.h.limits.responseBytesMax,
    watchersPerStreamMax: x.h.limits.watchersPerStreamMax,
    compactedUpTo: x.h.compactedUpTo,
    ...(drained ? { drainedAt: x.h.history.currentRevision() } : {}),
  });
}

function at(x: Scenario, n: number): number {
  const i = x.eventAt[n];
  assert.ok(i !== undefined);
  return i;
}

function rejects(errors: string[], pattern: RegExp): void {
  assert.ok(errors.length > 0, 'the checker accepted a broken stream');
  assert.ok(errors.some((e) => pattern.test(e)), `no error matches ${pattern}: ${errors.join(' | ')}`);
}

test('a correct stream passes', () => {
  const x = scenario();
  assert.deepEqual(check(x, x.s.responses), []);
});

test('a gap (a dropped revision) is rejected', () => {
  const x = scenario();
  const broken = x.s.responses.filter((_, i) => i !== at(x, 1));
  rejects(check(x, broken), /expected PUT a1=2/);
});

test('a gap at the end is caught once the stream is drained', () => {
  const x = scenario();
  const broken = x.s.responses.filter((_, i) => i !== at(x, 3));
  assert.deepEqual(check(x, broken, false), [], 'undrained, a missing tail may still be on its way');
  rejects(check(x, broken), /drained stream at 4 .* ahead of delivery/);
});

test('a duplicate and a reorder are rejected', () => {
  const x = scenario();
  const r1 = x.s.responses[at(x, 1)];
  assert.ok(r1 !== undefined);
  const duplicated = [...x.s.responses];
  duplicated.splice(at(x, 1) + 1, 0, r1);
  rejects(check(x, duplicated), /got PUT a1=2/);
  const reordered = [...x.s.responses];
  reordered[at(x, 1)] = x.s.responses[at(x, 2)] as WatchResponse;
  reordered[at(x, 2)] = r1;
  rejects(check(x, reordered), /expected PUT a1=2/);
});

test('a revision split over two responses (not fragments) is rejected', () => {
  const x = scenario();
  const txn = x.s.responses[at(x, 2)];
  assert.ok(txn !== undefined && txn.events.length === 2);
  const split = [...x.s.responses];
  split.splice(at(x, 2), 1, { ...txn, events: txn.events.slice(0, 1) }, { ...txn, events: txn.events.slice(1) });
  rejects(check(x, split), /ends inside revision 3/);
});

test('a progress notification ahead of delivered events is rejected', () => {
  const x = scenario();
  const ahead = [...x.s.responses];
  ahead.splice(at(x, 1), 0, watchResponse({ headerRevision: revision(2), watchId: x.id }));
  rejects(check(x, ahead), /progress at 2 for watch 0 ahead of delivery/);
  const header = [...x.s.responses];
  const r0 = x.s.responses[at(x, 0)] as WatchResponse;
  header[at(x, 0)] = { ...r0, headerRevision: revision(3) };
  rejects(check(x, header), /header at 3 for watch 0 ahead/);
});

test('a wrong prev_kv is rejected', () => {
  const x = scenario();
  const r1 = x.s.responses[at(x, 1)] as WatchResponse;
  const event = r1.events[0];
  assert.ok(event !== undefined);
  const broken = [...x.s.responses];
  broken[at(x, 1)] = { ...r1, events: [{ ...event, prevKv: null }] };
  rejects(check(x, broken), /prev null/);
});

test('a compaction claimed for revisions never compacted is rejected', () => {
  const x = scenario();
  const broken = [...x.s.responses];
  broken.splice(at(x, 1), broken.length, watchResponse({ headerRevision: revision(4), watchId: x.id, canceled: true, compactRevision: revision(2) }));
  rejects(check(x, broken), /told compacted at 2 but needs only 2/);
});

test('events after a cancel, and a cancel nobody asked for, are rejected', () => {
  const x = scenario();
  const cancel = watchResponse({ headerRevision: revision(2), watchId: x.id, canceled: true });
  const broken = [...x.s.responses];
  broken.splice(at(x, 1), 0, cancel);
  const errors = check(x, broken);
  rejects(errors, /canceled without a cancel request/);
  rejects(errors, /events for watch 0, which is not active/);
});
