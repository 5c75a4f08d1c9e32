import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseServerConfig } from './server_command.js';

const parse = (...flags: string[]) => {
  const r = parseServerConfig(['--name', 'm1', ...flags]);
  assert.notEqual(r, 'help');
  return r === 'help' ? assert.fail() : r.config;
};

test('multi-DC flags: defaults, then each one parsed', () => {
  assert.deepEqual(parse().multiDc, { leaderPreference: [], survive: null, autoPromote: false, adaptiveTiming: true, leaseReads: false, leaseReadMarginMs: 50 });
  const c = parse('--leader-preference', 'us-east,eu-west', '--survive', 'member', '--auto-promote', '--adaptive-timing=false', '--leader-lease-reads', '--lease-read-margin-ms', '80');
  assert.deepEqual(c.multiDc, { leaderPreference: ['us-east', 'eu-west'], survive: 'member', autoPromote: true, adaptiveTiming: false, leaseReads: true, leaseReadMarginMs: 80 });
});

test('multi-DC flags: bad values are refused with the flag named', () => {
  assert.throws(() => parse('--survive', 'region'), /--survive must be 'dc' or 'member', got "region"/);
  assert.throws(() => parse('--leader-preference', 'a,,b'), /empty DC name/);
  assert.throws(() => parse('--leader-lease-reads', '--lease-read-margin-ms', '1000'), /must be below --election-timeout/);
});
