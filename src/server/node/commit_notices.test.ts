import { test } from 'node:test';
import assert from 'node:assert/strict';
import { logIndex, nodeId, term } from '../../util/branded.js';
import { type Entry, EntryType, type Message, MessageType } from '../../raft/types.js';
import { CommitNoticeHold, isCommitNotice } from './commit_notices.js';

const ENTRY: Entry = { type: EntryType.Normal, term: term(1), index: logIndex(5), data: new Uint8Array([1]) };

function msg(type: MessageType, to: number, fields: Partial<Message> = {}): Message {
  return {
    type, to: nodeId(to), from: nodeId(1), term: term(1), logTerm: term(1), index: logIndex(4), entries: [],
    commit: logIndex(4), snapshot: null, reject: false, rejectHint: logIndex(0), context: new Uint8Array(), ...fields,
  };
}

/** A hold with a hand-driven timer that records what was sent, batch by batch. */
function harness(): { hold: CommitNoticeHold; sent: Message[][]; fire: () => void; armed: () => number } {
  const sent: Message[][] = [];
  const timers: (() => void)[] = [];
  const hold = new CommitNoticeHold(2, (_ms, fn) => {
    timers.push(fn);
    return () => timers.splice(timers.indexOf(fn), 1);
  }, (messages) => sent.push([...messages]));
  return { hold, sent, fire: () => timers.shift()?.(), armed: () => timers.length };
}

test('only empty appends are commit notices', () => {
  assert.equal(isCommitNotice(msg(MessageType.App, 2)), true);
  assert.equal(isCommitNotice(msg(MessageType.App, 2, { entries: [ENTRY] })), false);
  assert.equal(isCommitNotice(msg(MessageType.Heartbeat, 2)), false);
  assert.equal(isCommitNotice(msg(MessageType.AppResp, 2)), false);
});

test('a later append to the same follower replaces a held notice; other messages pass at once', () => {
  const h = harness();
  h.hold.dispatch([msg(MessageType.App, 2, { commit: logIndex(4) }), msg(MessageType.App, 3, { commit: logIndex(4) }), msg(MessageType.Heartbeat, 2)]);
  assert.deepEqual(h.sent.map((b) => b.map((m) => [m.type, m.to])), [[[MessageType.Heartbeat, 2]]]);
  assert.equal(h.armed(), 1);
  h.hold.dispatch([msg(MessageType.App, 2, { entries: [ENTRY], commit: logIndex(5) })]);
  assert.deepEqual(h.sent[1]?.map((m) => [m.type, m.to, m.entries.length]), [[MessageType.App, 2, 1]]);
  // The notice for 3 still leaves when the hold ends; the one for 2 was replaced.
  h.fire();
  assert.deepEqual(h.sent[2]?.map((m) => [m.type, m.to, m.commit]), [[MessageType.App, 3, 4]]);
  assert.equal(h.armed(), 0);
});

test('a newer notice replaces an older one, and a read-index answer takes the notice with it, first', () => {
  const h = harness();
  h.hold.dispatch([msg(MessageType.App, 2, { commit: logIndex(4) })]);
  h.hold.dispatch([msg(MessageType.App, 2, { commit: logIndex(6) })]);
  h.hold.dispatch([msg(MessageType.ReadIndexResp, 2, { index: logIndex(6) })]);
  assert.deepEqual(h.sent.map((b) => b.map((m) => [m.type, m.commit])), [[[MessageType.App, 6], [MessageType.ReadIndexResp, 4]]]);
  h.fire();
  assert.equal(h.sent.length, 1, 'nothing was left to send');
});

test('an append from an older term does not replace a notice of a newer one; clear forgets everything', () => {
  const h = harness();
  h.hold.dispatch([msg(MessageType.App, 2, { term: term(3) })]);
  h.hold.dispatch([msg(MessageType.App, 2, { term: term(2), entries: [ENTRY] })]);
  h.fire();
  assert.deepEqual(h.sent.map((b) => b.map((m) => m.term)), [[2], [3]]);
  h.hold.dispatch([msg(MessageType.App, 3)]);
  h.hold.clear();
  assert.equal(h.armed(), 0);
  assert.equal(h.sent.length, 2);
});

test('the notice that commits what a follower forwarded goes out at once', () => {
  const h = harness();
  h.hold.awaitCommit(nodeId(2), 7);
  h.hold.dispatch([msg(MessageType.App, 2, { commit: logIndex(6) }), msg(MessageType.App, 3, { commit: logIndex(7) })]);
  assert.equal(h.sent.length, 0, 'commit 6 does not reach the forwarded 7 yet; 3 forwarded nothing');
  h.hold.dispatch([msg(MessageType.App, 2, { commit: logIndex(7) })]);
  assert.deepEqual(h.sent.map((b) => b.map((m) => [m.to, m.commit])), [[[2, 7]]]);
  // Only once: the next notice to 2 is held again.
  h.hold.dispatch([msg(MessageType.App, 2, { commit: logIndex(8) })]);
  assert.equal(h.sent.length, 1);
  h.fire();
  assert.deepEqual(h.sent[1]?.map((m) => [m.to, m.commit]).sort(), [[2, 8], [3, 7]]);
});
