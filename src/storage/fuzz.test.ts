// Random and mutated bytes into every storage decoder: they never crash or hang, and either recover
// a valid prefix of what was written or report corruption with a coded error.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { logIndex, nodeId, term } from '../util/branded.js';
import { Prng } from '../util/prng.js';
import { StorageCorruptionError, StorageInconsistentError } from './errors.js';
import { decodeIdentity, encodeIdentity } from './identity.js';
import { RaftLog } from './raft_log.js';
import { collectSegment, judgeSealed, judgeTail, lastSeqOf } from './segment_scan.js';
import { SimFileSystem } from './sim_file_system.js';
import { decodeSnapshot, encodeSnapshotHead } from './snapshotter.js';
import { BatchEncoder, readRecord } from './wal_record.js';
import { entries, hardState, MEMBER, prngFor, voters } from './test_helpers.js';

const ITERATIONS = 3000;
const TIME_BUDGET_MS = 2500;

/** Runs `body` up to `count` times or until the time budget is spent, whichever comes first. */
function bounded(count: number, body: (i: number) => void): number {
  const deadline = performance.now() + TIME_BUDGET_MS;
  let i = 0;
  for (; i < count && performance.now() < deadline; i++) body(i);
  return i;
}

function randomBytes(prng: Prng, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = prng.int(256);
  return out;
}

/** Random damage of the kinds disks and bugs produce. */
function mutate(prng: Prng, src: Uint8Array): Uint8Array {
  const out = src.slice();
  const count = prng.range(1, 4);
  for (let m = 0; m < count && out.byteLength > 0; m++) {
    const at = prng.int(out.byteLength);
    switch (prng.int(5)) {
      case 0:
        out[at] = (out[at] as number) ^ (1 << prng.int(8));
        break;
      case 1:
        out[at] = prng.int(256);
        break;
      case 2:
        out.fill(0, at, at + prng.range(1, 600));
        break;
      case 3: {
        const from = prng.int(out.byteLength);
        out.copyWithin(at, from, from + prng.range(1, 300));
        break;
      }
      default:
        return out.subarray(0, at);
    }
  }
  return out;
}

/** A valid segment of `batches` batches followed by preallocated zeros. */
function validSegment(prng: Prng, batches: number): { bytes: Uint8Array } {
  const enc = new BatchEncoder();
  const parts: Uint8Array[] = [];
  let index = 1;
  for (let seq = 1; seq <= batches; seq++) {
    enc.begin(seq);
    if (seq === 1) enc.addMetadata({ version: 1, segmentSeq: 1, memberId: nodeId(1), clusterId: 'c' });
    const n = prng.range(1, 5);
    for (const e of entries(index, index + n - 1, 1, prng.int(200))) enc.addEntry(e);
    index += n;
    enc.addHardState(hardState(1, 1, index - 1));
    parts.push(enc.finish().slice());
  }
  const total = parts.reduce((s, p) => s + p.byteLength, 0);
  const bytes = new Uint8Array(total + 2048);
  let at = 0;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.byteLength;
  }
  return { bytes };
}

test('random bytes never crash or hang the WAL decoder', (t) => {
  const prng = prngFor((l) => t.diagnostic(l));
  const runs = bounded(ITERATIONS, () => {
    const bytes = randomBytes(prng, prng.int(2048));
    // Sprinkle plausible small lengths so the decoder gets past its first checks now and then.
    if (bytes.byteLength >= 8 && prng.chance(0.5)) new DataView(bytes.buffer).setUint32(4, prng.int(64), true);
    readRecord(bytes, prng.int(bytes.byteLength + 1));
    const { scan } = collectSegment(bytes, prng.chance(0.5) ? null : prng.range(1, 5));
    assert.ok(scan.end <= bytes.byteLength);
    judgeSealed(bytes, scan);
    judgeTail(bytes, scan, lastSeqOf(scan, 1));
  });
  t.diagnostic(`${runs} inputs`);
});

test('a mutated segment yields a prefix of the batches written, or corruption', (t) => {
  const prng = prngFor((l) => t.diagnostic(l));
  let prefixes = 0;
  let corrupt = 0;
  const runs = bounded(ITERATIONS, () => {
    const { bytes } = validSegment(prng, prng.range(1, 8));
    const damaged = mutate(prng, bytes);
    const { scan, batches } = collectSegment(damaged, 1);
    const verdict = judgeTail(damaged, scan, lastSeqOf(scan, 1));
    if (verdict.kind === 'corrupt') {
      corrupt++;
      assert.ok(verdict.offset >= 0 && verdict.offset <= damaged.byteLength);
      return;
    }
    prefixes++;
    // Compared as decoded records: padding between records is not covered by checksums, and need not be.
    const original = collectSegment(bytes, 1);
    assert.ok(batches.length <= original.batches.length, 'more batches than were written');
    batches.forEach((b, i) => assert.deepEqual(b, original.batches[i], `batch ${i + 1} differs from what was written`));
    assert.equal(scan.end, original.batches[batches.length]?.offset ?? original.scan.end);
  });
  t.diagnostic(`${runs} inputs: ${prefixes} recovered a prefix, ${corrupt} reported corruption`);
});

test('random and mutated snapshot and identity files decode or raise StorageCorruptionError, nothing else', (t) => {
  const prng = prngFor((l) => t.diagnostic(l));
  const snap = { metadata: { index: logIndex(77), term: term(3), confState: voters(1, 2, 3) }, data: new Uint8Array(300).fill(9) };
  const head = encodeSnapshotHead(snap);
  const snapBytes = new Uint8Array(head.byteLength + snap.data.byteLength);
  snapBytes.set(head, 0);
  snapBytes.set(snap.data, head.byteLength);
  const idBytes = encodeIdentity(MEMBER);
  const expectCorruption = (f: () => unknown): void => {
    try {
      f();
    } catch (e) {
      assert.ok(e instanceof StorageCorruptionError, `unexpected ${String(e)}`);
    }
  };
  const runs = bounded(ITERATIONS, (i) => {
    const random = randomBytes(prng, prng.int(400));
    if (i % 2 === 0 && random.byteLength >= 8) random.set(new TextEncoder().encode('MRDNSNAP'), 0);
    expectCorruption(() => decodeSnapshot(random, 'f'));
    expectCorruption(() => decodeIdentity(random, 'f'));
    expectCorruption(() => {
      const got = decodeSnapshot(mutate(prng, snapBytes), 'f');
      assert.deepEqual(got, snap, 'a mutated snapshot decoded to something else');
    });
    expectCorruption(() => assert.deepEqual(decodeIdentity(mutate(prng, idBytes), 'f'), MEMBER));
  });
  t.diagnostic(`${runs} rounds`);
});

test('a data directory with mutated WAL segments opens to a prefix of what was written, or refuses with a coded error', async (t) => {
  const prng = prngFor((l) => t.diagnostic(l));
  const options = { ...MEMBER, segmentBytes: 4096, bootstrapConfState: voters(1) };
  const deadline = performance.now() + TIME_BUDGET_MS;
  let opened = 0;
  let refused = 0;
  for (let round = 0; round < 150 && performance.now() < deadline; round++) {
    const fs = new SimFileSystem(prng.fork());
    await fs.mkdir('/d');
    const log = await RaftLog.open(fs, '/d/m', options);
    const written = entries(1, prng.range(5, 60), 1, 100);
    for (let i = 0; i < written.length; i += 5) await log.save({ hardState: hardState(1, 1, 0), entries: written.slice(i, i + 5) });
    await log.close();
    const segments = (await fs.readdir('/d/m/wal')).filter((n) => n.endsWith('.wal'));
    const victim = `/d/m/wal/${prng.pick(segments)}`;
    const damaged = mutate(prng, await fs.readFile(victim));
    await fs.unlink(victim);
    const h = await fs.open(victim, 'create');
    await h.write(damaged, 0);
    await h.close();
    try {
      const again = await RaftLog.open(fs, '/d/m', options);
      opened++;
      const last = again.storage.lastIndex();
      assert.ok(last <= written.length);
      const got = last === 0 ? [] : again.storage.entries(logIndex(1), logIndex(last + 1), Number.MAX_SAFE_INTEGER);
      assert.ok(Array.isArray(got));
      got.forEach((e, i) => assert.deepEqual(e, written[i]));
      await again.close();
    } catch (e) {
      refused++;
      assert.ok(e instanceof StorageCorruptionError || e instanceof StorageInconsistentError, `unexpected ${String(e)}`);
    }
  }
  t.diagnostic(`${opened} opened to a prefix, ${refused} refused`);
});
