// Tests of the lease checker: expiry after the TTL passes; an early expiry, and a lease acknowledged alive
// after it ended, are caught.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { leaseId } from '../../util/branded.js';
import { checkLeases, type LeaseRecord } from './lease_checker.js';

const L1 = leaseId(1);
const L2 = leaseId(2);

test('a lease that expires after its TTL from the last keep-alive is fine', () => {
  const records: LeaseRecord[] = [
    { kind: 'grant', leaseId: L1, ttlMs: 5000, atMs: 0 },
    { kind: 'keepalive', leaseId: L1, ttlMs: 5000, atMs: 3000 },
    { kind: 'keepalive', leaseId: L1, ttlMs: 5000, atMs: 6000 },
    { kind: 'expired', leaseId: L1, atMs: 11_000 },
  ];
  assert.deepEqual(checkLeases(records), { ok: true, violations: [] });
});

test('an expiry before the TTL ran out from the last acknowledged keep-alive is caught', () => {
  const records: LeaseRecord[] = [
    { kind: 'grant', leaseId: L1, ttlMs: 5000, atMs: 0 },
    { kind: 'keepalive', leaseId: L1, ttlMs: 5000, atMs: 4000 },
    { kind: 'expired', leaseId: L1, atMs: 8000 },
  ];
  const result = checkLeases(records);
  assert.equal(result.ok, false);
  assert.deepEqual(result.violations.map((v) => v.kind), ['early-expiry']);
  assert.match(result.violations[0]?.message ?? '', /lease 1 expired by 8000, before 9000: TTL 5000 ms from the keep-alive acknowledged at 4000/);
  // Within the tolerance it passes.
  assert.equal(checkLeases(records, { toleranceMs: 1000 }).ok, true);
});

test('a keep-alive answered with TTL 0 does not extend the lease', () => {
  const records: LeaseRecord[] = [
    { kind: 'grant', leaseId: L1, ttlMs: 1000, atMs: 0 },
    { kind: 'keepalive', leaseId: L1, ttlMs: 0, atMs: 900 },
    { kind: 'expired', leaseId: L1, atMs: 1000 },
  ];
  assert.equal(checkLeases(records).ok, true);
});

test('a lease acknowledged alive after it was seen gone is caught', () => {
  const records: LeaseRecord[] = [
    { kind: 'grant', leaseId: L1, ttlMs: 1000, atMs: 0 },
    { kind: 'expired', leaseId: L1, atMs: 1500 },
    { kind: 'keepalive', leaseId: L1, ttlMs: 1000, atMs: 1600 },
    { kind: 'grant', leaseId: L2, ttlMs: 1000, atMs: 0 },
    { kind: 'revoke', leaseId: L2, atMs: 100 },
    { kind: 'keepalive', leaseId: L2, ttlMs: 1000, atMs: 200 },
  ];
  const result = checkLeases(records);
  assert.deepEqual(result.violations.map((v) => [v.kind, v.leaseId]), [['alive-after-end', L1], ['alive-after-end', L2]]);
});

test('a revoke may end a lease early; leases are checked independently', () => {
  const records: LeaseRecord[] = [
    { kind: 'grant', leaseId: L1, ttlMs: 10_000, atMs: 0 },
    { kind: 'revoke', leaseId: L1, atMs: 10 },
    { kind: 'grant', leaseId: L2, ttlMs: 1000, atMs: 0 },
    { kind: 'expired', leaseId: L2, atMs: 500 },
  ];
  const result = checkLeases(records);
  assert.deepEqual(result.violations.map((v) => [v.kind, v.leaseId]), [['early-expiry', L2]]);
});
