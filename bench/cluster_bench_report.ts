// The tables of the side-by-side benchmark: one per row kind (put, range, txn) with each side's figures and the
// Meridian/etcd ratios, then a summary.

import { formatErrors, type LoadResult } from './etcd_load.js';

export const SIDES = ['etcd', 'meridian'] as const;
export type Side = (typeof SIDES)[number];

export type RowKind = 'put' | 'range' | 'txn';

export interface RowSpec {
  readonly name: string;
  readonly kind: RowKind;
  readonly clients: number;
  readonly label: string;
}

/** What one side measured in one row. */
export interface SideRow {
  readonly load: LoadResult;
  /** CPU seconds of the side's member processes during the window. */
  readonly cpuSeconds: number;
  /** Sum of the members' VmHWM at the end of the row. */
  readonly peakRssBytes: number;
  /** CPU seconds of this process (the load generator) during the window. */
  readonly generatorCpuSeconds: number;
}

export interface SideStatus {
  readonly state: 'ran' | 'skipped' | 'failed';
  /** Why it was skipped or failed, or a note on how it ran (version, peak-memory mode). */
  readonly note: string;
}

export type Results = ReadonlyMap<Side, ReadonlyMap<string, SideRow>>;

const KIND_TITLES: Readonly<Record<RowKind, string>> = {
  put: 'put',
  range: 'range',
  txn: 'txn compare-and-swap',
};

const MIB = 1024 * 1024;

interface Column {
  readonly title: string;
  readonly width: number;
  readonly left?: boolean;
}

const COLUMNS: readonly Column[] = [
  { title: 'row', width: 10, left: true },
  { title: 'side', width: 9, left: true },
  { title: 'ops/s', width: 9 },
  { title: 'p50 ms', width: 8 },
  { title: 'p90 ms', width: 8 },
  { title: 'p99 ms', width: 8 },
  { title: 'CPU s', width: 7 },
  { title: 'CPU ms/op', width: 10 },
  { title: 'peak MB', width: 8 },
  { title: 'gen CPU s', width: 10 },
  { title: 'errors', width: 7 },
];

function line(cells: readonly string[]): string {
  return cells.map((c, i) => {
    const col = COLUMNS[i];
    if (col === undefined) return c;
    return col.left === true ? c.padEnd(col.width) : c.padStart(col.width);
  }).join(' ');
}

function fixed(n: number, digits: number): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '—';
}

function grouped(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '—';
}

export function ratio(meridian: number, etcd: number): string {
  if (!Number.isFinite(meridian) || !Number.isFinite(etcd) || etcd === 0) return '—';
  return `${(meridian / etcd).toFixed(2)}x`;
}

function cpuMsPerOp(r: SideRow): number {
  return r.load.ops === 0 ? Number.NaN : (r.cpuSeconds * 1000) / r.load.ops;
}

function sideLine(row: RowSpec, side: Side, r: SideRow): string {
  return line([
    row.name, side, grouped(r.load.opsPerSecond), fixed(r.load.p50Ms, 2), fixed(r.load.p90Ms, 2), fixed(r.load.p99Ms, 2),
    fixed(r.cpuSeconds, 2), fixed(cpuMsPerOp(r), 3), fixed(r.peakRssBytes / MIB, 1), fixed(r.generatorCpuSeconds, 2),
    String(r.load.errorCount),
  ]);
}

function ratioLine(row: RowSpec, m: SideRow, e: SideRow): string {
  return line([
    row.name, 'M/E', ratio(m.load.opsPerSecond, e.load.opsPerSecond), ratio(m.load.p50Ms, e.load.p50Ms),
    ratio(m.load.p90Ms, e.load.p90Ms), ratio(m.load.p99Ms, e.load.p99Ms), ratio(m.cpuSeconds, e.cpuSeconds),
    ratio(cpuMsPerOp(m), cpuMsPerOp(e)), ratio(m.peakRssBytes, e.peakRssBytes), '', '',
  ]);
}

/** Notes under a table: errors by kind and CAS conflicts, per side and row. */
function rowNotes(row: RowSpec, side: Side, r: SideRow): string[] {
  const notes: string[] = [];
  if (r.load.errorCount > 0) notes.push(`  ${row.name} ${side} errors: ${formatErrors(r.load.errors)}`);
  if (row.kind === 'txn' && r.load.ops > 0) {
    notes.push(`  ${row.name} ${side}: ${r.load.casFailed} of ${r.load.ops} CAS compares false (${((100 * r.load.casFailed) / r.load.ops).toFixed(1)}%, counted as ops)`);
  }
  return notes;
}

export function printTables(rows: readonly RowSpec[], results: Results): void {
  for (const kind of ['put', 'range', 'txn'] as const) {
    const ofKind = rows.filter((r) => r.kind === kind && SIDES.some((side) => results.get(side)?.has(r.name) === true));
    if (ofKind.length === 0) continue;
    console.log(`\n== ${KIND_TITLES[kind]} ==`);
    console.log(line(COLUMNS.map((c) => c.title)));
    const notes: string[] = [];
    for (const row of ofKind) {
      const e = results.get('etcd')?.get(row.name);
      const m = results.get('meridian')?.get(row.name);
      if (e !== undefined) console.log(sideLine(row, 'etcd', e));
      if (m !== undefined) console.log(sideLine(row, 'meridian', m));
      if (e !== undefined && m !== undefined) console.log(ratioLine(row, m, e));
      if (e !== undefined) notes.push(...rowNotes(row, 'etcd', e));
      if (m !== undefined) notes.push(...rowNotes(row, 'meridian', m));
    }
    for (const n of notes) console.log(n);
  }
}

function geometricMean(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  return Math.exp(values.reduce((s, v) => s + Math.log(v), 0) / values.length);
}

export function printSummary(rows: readonly RowSpec[], results: Results, status: ReadonlyMap<Side, SideStatus>): void {
  console.log('\n== summary ==');
  for (const side of SIDES) {
    const s = status.get(side);
    if (s !== undefined) console.log(`${side}: ${s.state}${s.note === '' ? '' : ` — ${s.note}`}`);
  }
  const e = results.get('etcd');
  const m = results.get('meridian');
  if (e === undefined && m === undefined) return;
  console.log(`${'row'.padEnd(10)} ${'label'.padEnd(34)} ${'etcd ops/s'.padStart(10)} ${'Meridian ops/s'.padStart(14)} ${'ops/s M/E'.padStart(9)} ${'p99 M/E'.padStart(8)} ${'CPU/op M/E'.padStart(10)} ${'peak M/E'.padStart(8)}`);
  const throughputRatios: number[] = [];
  for (const row of rows) {
    const er = e?.get(row.name);
    const mr = m?.get(row.name);
    if (er === undefined && mr === undefined) continue;
    if (er !== undefined && mr !== undefined && er.load.opsPerSecond > 0 && mr.load.opsPerSecond > 0) {
      throughputRatios.push(mr.load.opsPerSecond / er.load.opsPerSecond);
    }
    const both = er !== undefined && mr !== undefined;
    console.log([
      row.name.padEnd(10), row.label.padEnd(34),
      (er === undefined ? '—' : grouped(er.load.opsPerSecond)).padStart(10),
      (mr === undefined ? '—' : grouped(mr.load.opsPerSecond)).padStart(14),
      (both ? ratio(mr.load.opsPerSecond, er.load.opsPerSecond) : '—').padStart(9),
      (both ? ratio(mr.load.p99Ms, er.load.p99Ms) : '—').padStart(8),
      (both ? ratio(cpuMsPerOp(mr), cpuMsPerOp(er)) : '—').padStart(10),
      (both ? ratio(mr.peakRssBytes, er.peakRssBytes) : '—').padStart(8),
    ].join(' '));
  }
  if (throughputRatios.length > 0) {
    console.log(`Meridian/etcd throughput, geometric mean over ${throughputRatios.length} rows: ${geometricMean(throughputRatios).toFixed(2)}x (above 1 is faster; for latency, CPU and memory below 1 is better)`);
  } else {
    console.log('No ratios: only one side has figures. The machine is shared and noisy; only ratios within one run count.');
  }
}
