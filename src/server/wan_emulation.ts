// `--emulate-wan`: parses a round-trip matrix between data centers and maps it to the peer transport's
// per-peer WanEmulation, so a multi-DC cluster with realistic latency runs on one machine.
//
// Syntax (comma-separated entries, order of the two DCs does not matter):
//
//   DC_A:DC_B=RTT[/JITTER][/LOSS%]        e.g.  us-east:eu-west=80ms,us-east:ap-south=200ms/20ms/0.5%
//
// - RTT: the round trip between a member of DC_A and one of DC_B: `80ms`, `0.2s` or a bare number of ms.
//   Half of it is added on each direction's send side, so the peer transport measures the whole RTT.
// - JITTER (optional): extra random delay of up to JITTER per round trip (up to JITTER/2 each way). The
//   transport never reorders a link's messages, so jitter delays, it does not shuffle.
// - LOSS% (optional): the share of messages lost in each direction, 0–100 with a `%` sign.
// - DC_A may equal DC_B (`us-east:us-east=1ms`) for the links inside one DC. A pair that is not listed
//   is not emulated (plain loopback).

import { MeridianError } from '../util/errors.js';
import { assert } from '../util/assert.js';
import { PEER_EMULATION_DELAY_MS_MAX } from './transport/limits.js';
import type { WanEmulation } from './transport/peer_link.js';

/** The emulated link between two DCs, as the user wrote it (round-trip figures). */
export interface DcPairLink {
  readonly a: string;
  readonly b: string;
  readonly rttMs: number;
  readonly jitterMs: number;
  /** Probability that one message in one direction is lost, in [0, 1]. */
  readonly lossRate: number;
}

/** DC pair key (see pairKey) → its emulated link. */
export type RttMatrix = ReadonlyMap<string, DcPairLink>;

export class WanEmulationSyntaxError extends MeridianError {
  constructor(message: string) {
    super('ERR_WAN_EMULATION_SYNTAX', message);
    this.name = 'WanEmulationSyntaxError';
  }
}

/** Entries in one matrix at most (21 pairs cover 6 DCs; more is a typo or an abuse). */
export const WAN_MATRIX_PAIRS_MAX = 64;
/** A DC name longer than this is refused (it travels in every member record). */
export const DC_NAME_CHARS_MAX = 64;
/** Round trip plus jitter at most: each direction's half must fit the transport's emulation bound. */
export const WAN_RTT_PLUS_JITTER_MS_MAX = 2 * PEER_EMULATION_DELAY_MS_MAX;

const DC_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const DURATION = /^(\d+(?:\.\d+)?)(ms|s)?$/;
const PERCENT = /^(\d+(?:\.\d+)?)%$/;

/** A DC name as topology flags accept it: letters, digits, `.`, `_`, `-`, starting with a letter or digit. */
export function checkDcName(name: string, where: string): string {
  if (name.length === 0 || name.length > DC_NAME_CHARS_MAX || !DC_NAME.test(name)) {
    throw new WanEmulationSyntaxError(`${where}: "${name}" is not a DC name (letters, digits, '.', '_', '-'; at most ${DC_NAME_CHARS_MAX} characters)`);
  }
  return name;
}

/** The key of an unordered DC pair. */
export function pairKey(a: string, b: string): string {
  return a <= b ? `${a}:${b}` : `${b}:${a}`;
}

/** Parses `80ms`, `0.2s` or `80` (ms) into milliseconds. */
export function parseDurationMs(text: string, where: string): number {
  const m = DURATION.exec(text.trim());
  if (m === null) throw new WanEmulationSyntaxError(`${where}: "${text}" is not a duration (e.g. 80ms, 0.2s)`);
  const value = Number(m[1]);
  return m[2] === 's' ? value * 1000 : value;
}

export function parseRttMatrix(text: string): RttMatrix {
  const matrix = new Map<string, DcPairLink>();
  const entries = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (entries.length > WAN_MATRIX_PAIRS_MAX) throw new WanEmulationSyntaxError(`--emulate-wan: ${entries.length} pairs, at most ${WAN_MATRIX_PAIRS_MAX}`);
  for (const entry of entries) {
    const link = parseEntry(entry);
    const key = pairKey(link.a, link.b);
    if (matrix.has(key)) throw new WanEmulationSyntaxError(`--emulate-wan: the pair ${key} is given twice ("${entry}")`);
    matrix.set(key, link);
  }
  return matrix;
}

function parseEntry(entry: string): DcPairLink {
  const where = `--emulate-wan entry "${entry}"`;
  const eq = entry.indexOf('=');
  if (eq < 0) throw new WanEmulationSyntaxError(`${where}: expected DC_A:DC_B=RTT[/JITTER][/LOSS%], e.g. us-east:eu-west=80ms`);
  const dcs = entry.slice(0, eq).split(':');
  if (dcs.length !== 2) throw new WanEmulationSyntaxError(`${where}: expected two DCs separated by ':' before '='`);
  const a = checkDcName((dcs[0] as string).trim(), where);
  const b = checkDcName((dcs[1] as string).trim(), where);
  const parts = entry.slice(eq + 1).split('/').map((s) => s.trim());
  if (parts.length > 3) throw new WanEmulationSyntaxError(`${where}: at most RTT/JITTER/LOSS%`);
  const rttMs = parseDurationMs(parts[0] as string, where);
  let jitterMs = 0;
  let lossRate = 0;
  for (const [i, part] of parts.entries()) {
    if (i === 0) continue;
    const pct = PERCENT.exec(part);
    if (pct !== null && i === parts.length - 1) {
      lossRate = Number(pct[1]) / 100;
      if (lossRate > 1) throw new WanEmulationSyntaxError(`${where}: loss ${part} is above 100%`);
    } else if (i === 1) {
      jitterMs = parseDurationMs(part, where);
    } else {
      throw new WanEmulationSyntaxError(`${where}: "${part}" is not a loss percentage (e.g. 0.5%)`);
    }
  }
  if (rttMs + jitterMs > WAN_RTT_PLUS_JITTER_MS_MAX) {
    throw new WanEmulationSyntaxError(`${where}: RTT plus jitter is ${rttMs + jitterMs} ms, at most ${WAN_RTT_PLUS_JITTER_MS_MAX} ms`);
  }
  return { a, b, rttMs, jitterMs, lossRate };
}

/** The link between two DCs, or null when the matrix does not list the pair. */
export function pairLink(matrix: RttMatrix, a: string, b: string): DcPairLink | null {
  return matrix.get(pairKey(a, b)) ?? null;
}

/**
 * What a member in `selfDc` adds to what it sends to a peer in `peerDc`: half the round trip and half the
 * jitter (the peer adds the other half on its replies), the loss as given. Null when not emulated (the
 * pair is not listed, or a DC is not known yet: a peer's DC arrives with its published attributes).
 */
export function emulationFor(matrix: RttMatrix, selfDc: string, peerDc: string): WanEmulation | null {
  if (selfDc === '' || peerDc === '') return null;
  const link = pairLink(matrix, selfDc, peerDc);
  if (link === null) return null;
  const em = { delayMs: link.rttMs / 2, jitterMs: link.jitterMs / 2, lossRate: link.lossRate };
  assert(em.delayMs + em.jitterMs <= PEER_EMULATION_DELAY_MS_MAX, `emulationFor ${selfDc}:${peerDc}: ${em.delayMs}+${em.jitterMs} ms is over the bound`);
  return em;
}

/** Pairs of distinct DCs among `dcs` that the matrix does not list (a topology should list them all). */
export function missingPairs(matrix: RttMatrix, dcs: readonly string[]): string[] {
  const unique = [...new Set(dcs)];
  const missing: string[] = [];
  for (const [i, a] of unique.entries()) {
    for (const b of unique.slice(i + 1)) if (!matrix.has(pairKey(a, b))) missing.push(pairKey(a, b));
  }
  return missing;
}

/** The matrix in the flag's own syntax (parseRttMatrix(formatRttMatrix(m)) equals m). */
export function formatRttMatrix(matrix: RttMatrix): string {
  return [...matrix.values()].map((l) => {
    let text = `${l.a}:${l.b}=${l.rttMs}ms`;
    if (l.jitterMs > 0 || l.lossRate > 0) text += `/${l.jitterMs}ms`;
    if (l.lossRate > 0) text += `/${l.lossRate * 100}%`;
    return text;
  }).join(',');
}
