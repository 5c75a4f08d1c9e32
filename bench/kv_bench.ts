// Benchmark of the key-value state machine alone (no Raft, no network): puts/s, txns/s and range reads/s with
// 256-byte values over 100k and 1M keys on LMDB, and the memory the in-memory index uses per key.
// Run: npm run bench:kv   (KV_BENCH_KEYS=100000 to run one size only)

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Prng } from '../src/util/prng.js';
import { LmdbBackend } from '../src/storage/backend/lmdb_backend.js';
import { encodeCommand } from '../src/kv/command.js';
import { CompareResult, CompareTarget, compare, putRequest, rangeRequest } from '../src/kv/rpc.js';
import { KvStateMachine } from '../src/kv/state_machine.js';

const VALUE_BYTES = 256;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function key(i: number): Uint8Array {
  return Buffer.from(`/registry/pods/default/pod-${i.toString().padStart(8, '0')}`);
}

function heapMb(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

function rate(n: number, ms: number): string {
  return `${Math.round((n / ms) * 1000).toLocaleString('en-US')}/s`;
}

function run(keys: number): void {
  const dir = mkdtempSync(join(tmpdir(), 'meridian-kv-bench-'));
  const backend = new LmdbBackend({ path: dir });
  const sm = KvStateMachine.open({ backend });
  const rng = new Prng(42);
  const value = Buffer.alloc(VALUE_BYTES, 0x61);
  let index = 0;
  try {
    const heapBefore = heapMb();
    // Puts that create every key, encoded ahead so the timing is apply alone (decode + MVCC + backend batches).
    const creates = Array.from({ length: keys }, (_, i) => encodeCommand({ type: 'put', put: putRequest({ key: key(i), value }) }));
    const encodedBytes = creates.reduce((n, c) => n + c.length, 0);
    let t0 = performance.now();
    for (const c of creates) sm.apply(++index, c);
    sm.commit();
    const createMs = performance.now() - t0;
    creates.length = 0;
    const heapAfter = heapMb();
    void encodedBytes;

    const updates = Array.from({ length: keys }, () => encodeCommand({ type: 'put', put: putRequest({ key: key(rng.int(keys)), value }) }));
    t0 = performance.now();
    for (const c of updates) sm.apply(++index, c);
    sm.commit();
    const updateMs = performance.now() - t0;
    updates.length = 0;

    const txnCount = Math.min(keys, 200_000);
    const txns = Array.from({ length: txnCount }, () => {
      const k = key(rng.int(keys));
      return encodeCommand({
        type: 'txn',
        txn: {
          compare: [compare({ key: k, target: CompareTarget.Version, result: CompareResult.Greater, targetNumber: 0 })],
          success: [{ type: 'put', put: putRequest({ key: k, value }) }],
          failure: [],
        },
      });
    });
    t0 = performance.now();
    for (const c of txns) sm.apply(++index, c);
    sm.commit();
    const txnMs = performance.now() - t0;
    txns.length = 0;

    const reads = Math.min(keys, 500_000);
    const readKeys = Array.from({ length: reads }, () => key(rng.int(keys)));
    t0 = performance.now();
    let found = 0;
    for (const k of readKeys) found += sm.range(rangeRequest({ key: k })).kvs.length;
    const readMs = performance.now() - t0;
    if (found !== reads) throw new Error(`range found ${found} of ${reads} keys`);

    const st = sm.status();
    console.log(`keys ${keys.toLocaleString('en-US')} (256-byte values, LMDB, batch commits of 20k writes)`);
    console.log(`  puts (create)        ${rate(keys, createMs)}`);
    console.log(`  puts (overwrite)     ${rate(keys, updateMs)}`);
    console.log(`  txns (compare + put) ${rate(txnCount, txnMs)}`);
    console.log(`  range reads (1 key)  ${rate(reads, readMs)}`);
    console.log(`  index memory / key   ${Math.round((heapAfter - heapBefore) / keys)} bytes (JS heap, values live in LMDB)`);
    console.log(`  stored bytes         ${(st.sizeBytes / 1e6).toFixed(1)} MB logical, ${(st.backendBytes / 1e6).toFixed(1)} MB LMDB`);
  } finally {
    sm.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const only = process.env['KV_BENCH_KEYS'];
for (const n of only !== undefined ? [Number(only)] : [100_000, 1_000_000]) run(n);
