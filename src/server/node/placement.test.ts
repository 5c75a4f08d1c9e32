import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeId } from '../../util/branded.js';
import {
  campaignDelayTicks, checkMembershipChange, effectiveSurvivalGoal, parseLeaderPreference, preferredTransferTarget, survivalReport,
  SurvivalGoalError, type PlacedMember,
} from './placement.js';

const layout = (spec: string, learners = ''): PlacedMember[] => {
  let id = 1;
  const out: PlacedMember[] = [];
  for (const [list, isLearner] of [[spec, false], [learners, true]] as const) {
    for (const part of list.split(' ').filter((x) => x !== '')) {
      const [dc, n] = part.split('=');
      for (let i = 0; i < Number(n); i++) out.push({ id: nodeId(id++), dc: dc ?? '', isLearner });
    }
  }
  return out;
};

test('survival: 2-2-1 over three DCs survives any one DC; 3-1-1 and 2-2 do not', () => {
  assert.equal(survivalReport('dc', layout('a=2 b=2 c=1')).met, true);
  const r = survivalReport('dc', layout('a=3 b=1 c=1'));
  assert.equal(r.met, false);
  assert.deepEqual(r.fatalLosses, ['a']);
  assert.match(r.explanation, /does not survive the loss of a: 5 voters/);
  assert.equal(survivalReport('dc', layout('a=2 b=2')).met, false);
  assert.equal(survivalReport('dc', layout('a=1 b=1 c=1')).met, true);
});

test('survival: learners do not count; member goal needs 3 voters', () => {
  assert.equal(survivalReport('dc', layout('a=2 b=2 c=1', 'a=5')).voters, 5);
  assert.equal(survivalReport('member', layout('a=2')).met, false);
  assert.equal(survivalReport('member', layout('a=3')).met, true);
});

test('survival goal defaults to dc with three or more DCs', () => {
  assert.equal(effectiveSurvivalGoal(null, layout('a=2 b=2 c=1')), 'dc');
  assert.equal(effectiveSurvivalGoal(null, layout('a=2 b=1')), 'member');
  assert.equal(effectiveSurvivalGoal('member', layout('a=2 b=2 c=1')), 'member');
});

test('a change that breaks a met goal is refused unless forced; a broken goal may be repaired step by step', () => {
  const before = layout('a=2 b=2 c=1');
  const after = [...before, { id: nodeId(99), dc: 'a', isLearner: false }];
  assert.throws(() => checkMembershipChange('dc', before, after, false), (e: unknown) => e instanceof SurvivalGoalError && /refused.*force/.test(e.message));
  checkMembershipChange('dc', before, after, true);
  const broken = layout('a=3 b=1 c=1');
  checkMembershipChange('dc', broken, broken.slice(1), false);
});

test('affinity: campaign delay grows with rank; unlisted DCs wait longest', () => {
  assert.equal(campaignDelayTicks(['a', 'b'], 'a', 10), 0);
  assert.equal(campaignDelayTicks(['a', 'b'], 'b', 10), 10);
  assert.equal(campaignDelayTicks(['a', 'b'], 'c', 10), 20);
  assert.equal(campaignDelayTicks([], 'c', 10), 0);
});

test('affinity: hand-off only to a caught-up active voter of a better DC', () => {
  const v = (id: number, dc: string, caughtUp = true, healthy = true) => ({ id: nodeId(id), dc, isLearner: false, caughtUp, healthy });
  assert.equal(preferredTransferTarget(['a', 'b'], 'b', [v(1, 'a', false), v(2, 'a', true, false), v(3, 'c')]), null);
  assert.equal(preferredTransferTarget(['a', 'b'], 'c', [v(4, 'b'), v(3, 'a'), v(2, 'a')]), nodeId(2));
  assert.equal(preferredTransferTarget(['a', 'b'], 'a', [v(4, 'a'), v(3, 'b')]), null);
});

test('leader preference parsing rejects empties and repeats', () => {
  assert.deepEqual(parseLeaderPreference(' a, b '), ['a', 'b']);
  assert.deepEqual(parseLeaderPreference(''), []);
  assert.throws(() => parseLeaderPreference('a,,b'), /empty DC name/);
  assert.throws(() => parseLeaderPreference('a,b,a'), /names DC "a" twice/);
});
