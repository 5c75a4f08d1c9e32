import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeId, type NodeId } from '../../util/branded.js';
import { deriveTiming, HEARTBEAT_MAX_SHARE_OF_BASE_ELECTION, quorumRttMs, RETUNE_INTERVAL_MS, shouldRetune } from './adaptive_timing.js';

const base = { tickMs: 100, heartbeatTicks: 1, electionTicks: 10 };
const ids = [1, 2, 3, 4, 5].map(nodeId);

test('quorum RTT is the RTT to the voter that completes this member\'s quorum', () => {
  const rtt = new Map<NodeId, number>([[nodeId(2), 1], [nodeId(3), 80], [nodeId(4), 90], [nodeId(5), 300]]);
  assert.equal(quorumRttMs(nodeId(1), ids, (p) => rtt.get(p) ?? null), 80);
  assert.equal(quorumRttMs(nodeId(1), ids, (p) => (p === nodeId(2) ? 1 : null)), null);
  assert.equal(quorumRttMs(nodeId(1), [nodeId(1)], () => null), 0);
});

test('a LAN keeps the configured timing; a WAN stretches it within the bound', () => {
  assert.equal(deriveTiming(base, 2).heartbeatMs, 100);
  const wan = deriveTiming(base, 200);
  assert.equal(wan.heartbeatMs, 200);
  assert.equal(wan.electionMs, 2000);
  const far = deriveTiming(base, 5000);
  assert.equal(far.heartbeatMs, base.tickMs * base.electionTicks * HEARTBEAT_MAX_SHARE_OF_BASE_ELECTION);
  assert.ok(far.electionMs >= 10 * far.heartbeatMs);
  assert.equal(deriveTiming(base, null).scale, 1);
});

test('retuning waits for a real change and a quiet interval', () => {
  assert.equal(shouldRetune(1, 1.1, RETUNE_INTERVAL_MS), false);
  assert.equal(shouldRetune(1, 2, RETUNE_INTERVAL_MS - 1), false);
  assert.equal(shouldRetune(1, 2, RETUNE_INTERVAL_MS), true);
});
