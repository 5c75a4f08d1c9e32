// Benchmark of the key-value state machine alone (no Raft, no network): puts/s, txns/s and range reads/s with
// 256-byte values over 100k and 1M keys on LMDB (durable batch commits), compaction time, and the memory the
// in-memory index uses per key. Commands are encoded ahead in WAL-like segments; only apply is timed.
// Run: npm run bench:kv   (KV_BENCH_KEYS=100000 to run one size only)

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Prng } from '../src/util/prng.js';
import { LmdbBackend } from '../src/storage/backend/lmdb_backend.js';
import { encodeCommand } from '../src/kv/command.js';
import { type Command, CompareResult, CompareTarget, compare, putRequest, rangeRequest } from '../src/kv/rpc.js';
import { KvStateMachine } from '../src/kv/state_machine.js';

const VALUE_BYTES = 256;
const SEGMENT_COMMANDS = 10_000;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function key(i: number): Uint8Array {
  return Buffer.from(`/registry/pods/default/pod-${i.toString().padStart(8, '0')}`);
}

function heapBytes(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

interface Timing {
  wallMs: number;
  cpuMs: number;
}

function timed(body: () => void): Timing {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  body();
  const cpu = process.cpuUsage(cpu0);
  return { wallMs: performance.now() - t0, cpuMs: (cpu.user + cpu.system) / 1000 };
}

function rate(n: number, t: Timing): string {
  const r = (ms: number): string => Math.round((n / ms) * 1000).toLocaleString('en-US').padStart(9);
  return `${r(t.wallMs)}/s  (${r(t.cpuMs)}/s of CPU time)`;
}

/** Applies `count` commands made by `make`, encoded SEGMENT_COMMANDS at a time into one buffer like a WAL read. */
function applyMany(sm: KvStateMachine, start: { index: number }, count: number, make: (i: number) => Command): Timing {
  const total: Timing = { wallMs: 0, cpuMs: 0 };
  for (let done = 0; done < count; done += SEGMENT_COMMANDS) {
    const n = Math.min(SEGMENT_COMMANDS, count - done);
    const encoded = Array.from({ length: n }, (_, i) => encodeCommand(make(done + i)));
    const segment = Buffer.allocUnsafe(encoded.reduce((s, e) => s + e.length, 0));
    const entries: Uint8Array[] = [];
    let pos = 0;
    for (const e of encoded) {
      segment.set(e, pos);
      entries.push(segment.subarray(pos, pos + e.length));
      pos += e.length;
    }
    const t = timed(() => {
      for (const data of entries) {
        const r = sm.apply(++start.index, data);
        if (!r.ok) throw r.error;
      }
    });
    total.wallMs += t.wallMs;
    total.cpuMs += t.cpuMs;
  }
  const t = timed(() => sm.commit());
  total.wallMs += t.wallMs;
  total.cpuMs += t.cpuMs;
  return total;
}

function run(keys: number): void {
  const dir = mkdtempSync(join(tmpdir(), 'meridian-kv-bench-'));
  const backend = new LmdbBackend({ path: dir });
  const sm = KvStateMachine.open({ backend });
  const rng = new Prng(42);
  const value = Buffer.alloc(VALUE_BYTES, 0x61);
  const index = { index: 0 };
  try {
    const heapBefore = heapBytes();
    const creates = applyMany(sm, index, keys, (i) => ({ type: 'put', put: putRequest({ key: key(i), value }) }));
    const heapAfter = heapBytes();
    const overwrites = applyMany(sm, index, keys, () => ({ type: 'put', put: putRequest({ key: key(rng.int(keys)), value }) }));
    const txnCount = Math.min(keys, 200_000);
    const txns = applyMany(sm, index, txnCount, () => {
      const k = key(rng.int(keys));
      return {
        type: 'txn',
        txn: {
          compare: [compare({ key: k, target: CompareTarget.Version, result: CompareResult.Greater, targetNumber: 0 })],
          success: [{ type: 'put', put: putRequest({ key: k, value }) }],
          failure: [],
        },
      };
    });
    const reads = Math.min(keys, 500_000);
    const readKeys = Array.from({ length: reads }, () => key(rng.int(keys)));
    let found = 0;
    const ranges = timed(() => {
      for (const k of readKeys) found += sm.range(rangeRequest({ key: k })).kvs.length;
    });
    if (found !== reads) throw new Error(`range found ${found} of ${reads} keys`);
    const compaction = timed(() => {
      sm.apply(++index.index, encodeCommand({ type: 'compact', revision: sm.currentRevision(), physical: true }));
      sm.commit(true);
    });

    const st = sm.status();
    console.log(`${keys.toLocaleString('en-US')} keys, ${VALUE_BYTES}-byte values, LMDB with durable commits every 20k writes`);
    console.log(`  puts (create)          ${rate(keys, creates)}`);
    console.log(`  puts (overwrite)       ${rate(keys, overwrites)}`);
    console.log(`  txns (compare + put)   ${rate(txnCount, txns)}`);
    console.log(`  range reads (1 key)    ${rate(reads, ranges)}`);
    console.log(`  compact ${(keys + txnCount).toLocaleString('en-US')} old versions: ${compaction.wallMs.toFixed(0)} ms`);
    console.log(`  index memory per key   ${Math.round((heapAfter - heapBefore) / keys)} bytes of JS heap (values live in LMDB)`);
    console.log(`  stored                 ${(st.sizeBytes / 1e6).toFixed(1)} MB logical, ${(st.backendBytes / 1e6).toFixed(1)} MB LMDB file`);
  } finally {
    sm.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const only = process.env['KV_BENCH_KEYS'];
for (const n of only !== undefined ? [Number(only)] : [100_000, 1_000_000]) run(n);
