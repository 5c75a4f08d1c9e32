// `meridian dev`: a local cluster of N members in one command, on etcd's Procfile ports, each member's log
// prefixed with its name; Ctrl-C stops them all.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { helpText, parseFlags, splitList, UsageError, type FlagSpecs } from './flags.js';

export const DEV_FLAGS: FlagSpecs = {
  'members': { kind: 'int', default: '3', help: 'how many members to start' },
  'base-dir': { kind: 'string', default: '.meridian-dev', help: 'where the members keep their data directories' },
  'client-port': { kind: 'int', default: '2379', help: "first member's client port; others at +20000, +30000, ..." },
  'peer-port': { kind: 'int', default: '2380', help: "first member's peer port; others at +20000, +30000, ..." },
  'dcs': { kind: 'string', default: 'us-east,eu-west,ap-south', help: 'data center labels, given to members in turn' },
  'log-level': { kind: 'string', default: 'info', help: 'members\' log level' },
  'help': { kind: 'bool', default: 'false', help: 'print this help' },
};

/** Members at most: ports run out past this with the Procfile layout. */
const DEV_MEMBERS_MAX = 7;
/** How long members get to stop after SIGTERM before they are killed. */
const DEV_STOP_TIMEOUT_MS = 10_000;

/** etcd's Procfile layout: 2379, 22379, 32379, ... */
export function devPort(base: number, i: number): number {
  return i === 0 ? base : base + (i + 1) * 10_000;
}

export async function runDev(argv: readonly string[]): Promise<number> {
  const { values: v } = parseFlags(argv, DEV_FLAGS);
  if (v.get('help') === 'true') {
    console.log(helpText('dev', DEV_FLAGS));
    return 0;
  }
  const n = Number(v.get('members'));
  if (n < 1 || n > DEV_MEMBERS_MAX) throw new UsageError(`--members must be between 1 and ${DEV_MEMBERS_MAX}, got ${n}`);
  const baseDir = resolve(v.get('base-dir') ?? '.meridian-dev');
  const clientBase = Number(v.get('client-port'));
  const peerBase = Number(v.get('peer-port'));
  const dcs = splitList(v.get('dcs') ?? '');
  const names = Array.from({ length: n }, (_, i) => `m${i + 1}`);
  const cluster = names.map((name, i) => `${name}=http://127.0.0.1:${devPort(peerBase, i)}`).join(',');
  const main = join(fileURLToPath(new URL('.', import.meta.url)), 'main.js');
  mkdirSync(baseDir, { recursive: true });
  const children: ChildProcess[] = [];
  for (const [i, name] of names.entries()) {
    const client = `http://127.0.0.1:${devPort(clientBase, i)}`;
    const peer = `http://127.0.0.1:${devPort(peerBase, i)}`;
    const args = [
      main, 'server', '--name', name, '--data-dir', join(baseDir, name),
      '--listen-client-urls', client, '--advertise-client-urls', client,
      '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
      '--initial-cluster', cluster, '--initial-cluster-state', 'new', '--initial-cluster-token', 'meridian-dev',
      '--dc', dcs.length > 0 ? (dcs[i % dcs.length] as string) : '', '--log-level', v.get('log-level') ?? 'info',
    ];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    prefixLines(child, name.padEnd(3));
  }
  const endpoints = names.map((_, i) => `127.0.0.1:${devPort(clientBase, i)}`).join(',');
  console.log(`\nMeridian dev cluster: ${n} members, data in ${baseDir}`);
  console.log(`  endpoints: ${endpoints}`);
  console.log(`  zookeeper: ${names.map((_, i) => `127.0.0.1:${devPort(clientBase, i) - 198}`).join(',')}`);
  console.log(`  try:       etcdctl --endpoints=${endpoints} put greeting hello`);
  console.log(`             etcdctl --endpoints=${endpoints} get greeting`);
  console.log(`             etcdctl --endpoints=${endpoints} member list -w table`);
  console.log('  Ctrl-C stops every member.\n');
  return await supervise(children);
}

/** Waits for Ctrl-C (then stops every member) or for a member to exit on its own (then stops the rest). */
function supervise(children: ChildProcess[]): Promise<number> {
  return new Promise((resolveExit) => {
    let stopping = false;
    let exitCode = 0;
    let alive = children.length;
    const stopAll = (): void => {
      if (stopping) return;
      stopping = true;
      for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
      setTimeout(() => {
        for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
      }, DEV_STOP_TIMEOUT_MS).unref();
    };
    for (const c of children) {
      c.on('exit', (code, signal) => {
        alive--;
        if (!stopping) {
          console.error(`a member exited (${signal ?? `code ${code}`}); stopping the others`);
          exitCode = 1;
          stopAll();
        }
        if (alive === 0) resolveExit(exitCode);
      });
    }
    process.once('SIGINT', stopAll);
    process.once('SIGTERM', stopAll);
  });
}

/** Prints each line of a member's JSON log as "name | LEVEL message key=value". */
function prefixLines(child: ChildProcess, prefix: string): void {
  const levels: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' };
  for (const stream of [child.stdout, child.stderr]) {
    if (stream === null) continue;
    createInterface({ input: stream }).on('line', (line) => {
      try {
        const o = JSON.parse(line) as Record<string, unknown>;
        const { level, msg, time: _t, pid: _p, hostname: _h, member: _m, ...rest } = o;
        const extra = Object.entries(rest).map(([k, val]) => `${k}=${typeof val === 'string' ? val : JSON.stringify(val)}`).join(' ');
        console.log(`${prefix} | ${levels[Number(level)] ?? 'INFO '} ${String(msg)}${extra === '' ? '' : ` ${extra}`}`);
      } catch {
        console.log(`${prefix} | ${line}`);
      }
    });
  }
}
