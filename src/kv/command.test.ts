import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LeaseId } from '../util/branded.js';
import { Prng } from '../util/prng.js';
import { decodeCommand, encodeCommand } from './command.js';
import { BadCommandError } from './errors.js';
import { MAX_TXN_DEPTH } from './limits.js';
import {
  AlarmAction, AlarmType, type Command, CompareResult, CompareTarget, compare, deleteRangeRequest, putRequest,
  rangeRequest, SortOrder, SortTarget, type TxnRequest,
} from './rpc.js';
import { bytes } from './testing.js';

const samples: Command[] = [
  { type: 'put', put: putRequest({ key: bytes('k'), value: bytes('v'), lease: 7 as LeaseId, prevKv: true, ignoreLease: false }) },
  { type: 'put', put: putRequest({ key: bytes('k'), ignoreValue: true, ignoreLease: true }) },
  { type: 'deleteRange', deleteRange: deleteRangeRequest({ key: bytes('a'), rangeEnd: bytes('b'), prevKv: true }) },
  {
    type: 'range',
    range: rangeRequest({
      key: bytes('a'), rangeEnd: new Uint8Array([0]), limit: 5, revision: -3, sortOrder: SortOrder.Descend,
      sortTarget: SortTarget.Mod, serializable: true, keysOnly: true, countOnly: true, minModRevision: 1,
      maxModRevision: 2 ** 40, minCreateRevision: 3, maxCreateRevision: 4,
    }),
  },
  {
    type: 'txn',
    txn: {
      compare: [
        compare({ key: bytes('a'), target: CompareTarget.Value, result: CompareResult.NotEqual, targetValue: bytes('x') }),
        compare({ key: bytes('a'), rangeEnd: bytes('z'), target: CompareTarget.Lease, result: CompareResult.Less, targetNumber: -1 }),
      ],
      success: [
        { type: 'put', put: putRequest({ key: bytes('p'), value: bytes('q') }) },
        { type: 'txn', txn: { compare: [], success: [{ type: 'range', range: rangeRequest({ key: bytes('r') }) }], failure: [] } },
      ],
      failure: [{ type: 'deleteRange', deleteRange: deleteRangeRequest({ key: bytes('d') }) }],
    },
  },
  { type: 'compact', revision: 123456789012, physical: true },
  { type: 'leaseGrant', id: 0 as LeaseId, ttlSeconds: 60 },
  { type: 'leaseGrant', id: (2 ** 53 - 1) as LeaseId, ttlSeconds: -5 },
  { type: 'leaseRevoke', id: 42 as LeaseId },
  { type: 'leaseCheckpoint', checkpoints: [{ id: 1 as LeaseId, remainingTtlMs: 1500 }, { id: 2 as LeaseId, remainingTtlMs: 0 }] },
  { type: 'alarm', action: AlarmAction.Deactivate, memberId: 99, alarm: AlarmType.NoSpace },
];

/** Byte fields decode as plain Uint8Array views; compare them by content. */
function plain(x: unknown): unknown {
  if (x instanceof Uint8Array) return [...x];
  if (Array.isArray(x)) return x.map(plain);
  if (x !== null && typeof x === 'object') return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, plain(v)]));
  return x;
}

test('every command round-trips with its request id', () => {
  for (const [i, c] of samples.entries()) {
    const decoded = decodeCommand(encodeCommand(c, i * 1000));
    assert.equal(decoded.requestId, i * 1000);
    assert.deepEqual(plain(decoded.command), plain(c));
  }
});

test('every truncation of a valid encoding is a BadCommandError', () => {
  for (const c of samples) {
    const data = encodeCommand(c, 5);
    for (let n = 0; n < data.length; n++) assert.throws(() => decodeCommand(data.subarray(0, n)), BadCommandError);
  }
});

test('malformed inputs are refused with a clear error', () => {
  const put = encodeCommand(samples[0] as Command);
  const cases: [string, Uint8Array, RegExp][] = [
    ['empty', new Uint8Array(0), /truncated/],
    ['unknown version', Uint8Array.from([9, 1, 0]), /codec version 9/],
    ['unknown tag', Uint8Array.from([1, 77, 0]), /command tag 77/],
    ['trailing bytes', Uint8Array.from([...put, 0]), /trailing/],
    ['length overrun', Uint8Array.from([1, 1, 0, 0, 0x7f]), /exceeds the 0 bytes left/],
    ['varint too long', Uint8Array.from([1, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), /longer than 8 bytes/],
    ['non-minimal varint', Uint8Array.from([1, 7, 0x80, 0x00, 1]), /minimally/],
    ['unknown flag bits', Uint8Array.from([1, 1, 0, 0x80, 0, 0, 0]), /unknown bits/],
    ['bad enum', Uint8Array.from([1, 9, 0, 7, 0, 1]), /alarm action 7/],
    ['forged count', Uint8Array.from([1, 3, 0, 0x7f]), /impossible/],
  ];
  for (const [what, data, message] of cases) {
    assert.throws(() => decodeCommand(data), (err: unknown) => err instanceof BadCommandError && message.test(err.message), what);
  }
});

test('txns nested deeper than MAX_TXN_DEPTH do not decode', () => {
  let t: TxnRequest = { compare: [], success: [], failure: [] };
  for (let i = 0; i < MAX_TXN_DEPTH; i++) t = { compare: [], success: [{ type: 'txn', txn: t }], failure: [] };
  assert.throws(() => decodeCommand(encodeCommand({ type: 'txn', txn: t })), /nested deeper/);
});

test('the encoder refuses numbers it cannot represent', () => {
  assert.throws(() => encodeCommand({ type: 'compact', revision: 2 ** 53, physical: false }), BadCommandError);
  assert.throws(() => encodeCommand({ type: 'leaseRevoke', id: -1 as LeaseId }), BadCommandError);
  assert.throws(() => encodeCommand({ type: 'leaseRevoke', id: 1.5 as LeaseId }), BadCommandError);
});

test('random mutations either decode or fail with BadCommandError, never anything else', () => {
  const seed = Number(process.env['SEED'] ?? Date.now() >>> 0);
  console.log(`command fuzz seed ${seed} (replay with SEED=${seed})`);
  const rng = new Prng(seed);
  for (let i = 0; i < 5000; i++) {
    const data = Uint8Array.from(encodeCommand(rng.pick(samples), rng.int(1000)));
    for (let m = rng.range(1, 4); m > 0; m--) data[rng.int(data.length)] = rng.int(256);
    try {
      const d = decodeCommand(data);
      encodeCommand(d.command, d.requestId); // whatever decodes must encode again
    } catch (err) {
      assert.ok(err instanceof BadCommandError, `seed ${seed} iteration ${i}: ${String(err)}`);
    }
  }
});
