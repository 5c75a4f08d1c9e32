// Shared helpers for the storage tests: seeds that replay, entries, configurations, a simulated data directory.

import { randomInt } from 'node:crypto';
import { logIndex, nodeId, term, type NodeId } from '../util/branded.js';
import { Prng } from '../util/prng.js';
import type { ConfState, Entry, HardState } from '../raft/types.js';

/** The seed of a randomized test: SEED from the environment, else a fresh one; always reported. */
export function testSeed(report: (line: string) => void): number {
  const fromEnv = process.env['SEED'];
  const seed = fromEnv !== undefined && fromEnv !== '' ? Number(fromEnv) >>> 0 : randomInt(0x7fff_ffff);
  report(`SEED=${seed} (replay with SEED=${seed})`);
  return seed;
}

export function prngFor(report: (line: string) => void): Prng {
  return new Prng(testSeed(report));
}

export function entry(index: number, t: number, data: Uint8Array | number = 8): Entry {
  const bytes = typeof data === 'number' ? new Uint8Array(data).fill(index & 0xff) : data;
  return { index: logIndex(index), term: term(t), type: 0, data: bytes };
}

export function entries(from: number, to: number, t: number, size = 8): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(entry(i, t, size));
  return out;
}

export function hardState(t: number, vote: number, commit: number): HardState {
  return { term: term(t), vote: nodeId(vote), commit: logIndex(commit) };
}

export function voters(...ids: number[]): ConfState {
  return { voters: ids.map((i): NodeId => nodeId(i)), learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
}

export const MEMBER = { clusterId: 'cluster-a', memberId: nodeId(1) } as const;
