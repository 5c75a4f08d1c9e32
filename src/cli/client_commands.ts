// Quick client commands (`meridian put/get/del/watch/status`) over the etcd v3 API, with the etcd3 client.

import { Etcd3 } from 'etcd3';
import { clusterStatusByDc, type ClusterStatusJson, type MemberStatusJson } from '../server/http/status.js';
import { helpText, parseFlags, splitList, UsageError, type FlagSpecs } from './flags.js';

export const CLIENT_COMMANDS: readonly string[] = ['put', 'get', 'del', 'watch', 'status'];

const CLIENT_FLAGS: FlagSpecs = {
  'endpoints': { kind: 'string', default: '127.0.0.1:2379,127.0.0.1:22379,127.0.0.1:32379', help: 'members to talk to' },
  'prefix': { kind: 'bool', default: 'false', help: 'get/del/watch every key with this prefix' },
  'json': { kind: 'bool', default: 'false', help: 'status: print the cluster view by DC as JSON' },
  'help': { kind: 'bool', default: 'false', help: 'print this help' },
};

export async function runClientCommand(command: string, argv: readonly string[]): Promise<number> {
  const { values: v, rest } = parseFlags(argv, CLIENT_FLAGS);
  if (v.get('help') === 'true') {
    console.log(helpText(`${command} ${command === 'put' ? 'KEY VALUE' : command === 'status' ? '' : 'KEY'}`, CLIENT_FLAGS));
    return 0;
  }
  const hosts = splitList(v.get('endpoints') ?? '').map((e) => (e.startsWith('http') ? e : `http://${e}`));
  const client = new Etcd3({ hosts, dialTimeout: 3000 });
  const prefix = v.get('prefix') === 'true';
  try {
    switch (command) {
      case 'put': {
        const [key, value] = rest;
        if (key === undefined || value === undefined) throw new UsageError('put needs KEY and VALUE');
        await client.put(key).value(value);
        console.log('OK');
        return 0;
      }
      case 'get': {
        const key = need(rest[0], 'get needs KEY');
        const kvs = prefix ? await client.getAll().prefix(key).strings() : { [key]: await client.get(key).string() };
        for (const [k, val] of Object.entries(kvs)) if (val !== null) console.log(`${k}\n${val}`);
        return 0;
      }
      case 'del': {
        const key = need(rest[0], 'del needs KEY');
        const res = prefix ? await client.delete().prefix(key).exec() : await client.delete().key(key).exec();
        console.log(res.deleted);
        return 0;
      }
      case 'watch':
        return await watch(client, need(rest[0], 'watch needs KEY'), prefix);
      case 'status':
        return await status(client, hosts, v.get('json') === 'true');
      default:
        throw new UsageError(`unknown command ${command}`);
    }
  } catch (err) {
    if (err instanceof UsageError) throw err;
    console.error(`meridian ${command}: ${(err as Error).message}. Is a cluster running at ${hosts.join(', ')}? Start one with: npm start`);
    return 1;
  } finally {
    if (command !== 'watch') client.close();
  }
}

function need(value: string | undefined, message: string): string {
  if (value === undefined) throw new UsageError(message);
  return value;
}

async function watch(client: Etcd3, key: string, prefix: boolean): Promise<number> {
  const builder = client.watch();
  const w = await (prefix ? builder.prefix(key) : builder.key(key)).create();
  w.on('put', (kv) => console.log(`PUT\n${kv.key.toString()}\n${kv.value.toString()}`));
  w.on('delete', (kv) => console.log(`DELETE\n${kv.key.toString()}`));
  await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
  await w.cancel();
  client.close();
  return 0;
}

/** Bound of one member's /v1/status fetch: an unreachable member must not hold the whole command up. */
const STATUS_FETCH_TIMEOUT_MS = 2000;
/** Meridian serves its HTTP status on the client port + 2 (the default of --listen-metrics-urls). */
const STATUS_HTTP_PORT_OFFSET = 2;

async function status(client: Etcd3, hosts: readonly string[], json: boolean): Promise<number> {
  const members = (await client.cluster.memberList({})).members;
  const urls = members.flatMap((m) => m.clientURLs.slice(0, 1));
  const docs = (await Promise.all(urls.map(fetchStatus))).filter((d): d is MemberStatusJson => d !== null);
  if (docs.length > 0) {
    const view = clusterStatusByDc(docs);
    console.log(json ? JSON.stringify(view, null, 2) : renderClusterStatus(view));
    return 0;
  }
  // No member serves Meridian's HTTP status (e.g. a stock etcd): what the etcd API alone tells.
  console.log(`${'ID'.padEnd(16)} ${'NAME'.padEnd(8)} ${'LEARNER'.padEnd(8)} CLIENT URLS`);
  // Hex, as etcdctl prints member ids.
  const hex = (id: string): string => BigInt(id).toString(16);
  for (const m of members) console.log(`${hex(m.ID).padEnd(16)} ${m.name.padEnd(8)} ${String(m.isLearner).padEnd(8)} ${m.clientURLs.join(',')}`);
  const s = await client.maintenance.status();
  console.log(`\nanswered by ${hosts[0] ?? ''}: leader ${hex(s.leader)}, raft term ${s.raftTerm}, raft index ${s.raftIndex}, db ${s.dbSize} bytes`);
  return 0;
}

async function fetchStatus(clientUrl: string): Promise<MemberStatusJson | null> {
  try {
    const u = new URL(clientUrl);
    const res = await fetch(`http://${u.hostname}:${Number(u.port) + STATUS_HTTP_PORT_OFFSET}/v1/status`, { signal: AbortSignal.timeout(STATUS_FETCH_TIMEOUT_MS) });
    return res.ok ? ((await res.json()) as MemberStatusJson) : null;
  } catch {
    return null;
  }
}

/** The cluster view as text: one table per DC, then the round trips between DCs. */
export function renderClusterStatus(view: ClusterStatusJson): string {
  const all = view.dcs.flatMap((d) => d.members);
  const leader = all.find((m) => m.id === view.leaderId);
  const lines = [`cluster ${view.clusterId}: ${leader === undefined ? 'no leader' : `leader ${leader.name} (${leader.id}) in ${leader.dc}`}, ${all.length} members in ${view.dcs.length} DCs`];
  if (view.placement !== undefined) {
    lines.push(`placement: survival goal ${view.placement.survivalGoal} (${view.placement.met ? 'met' : 'NOT met'}), leader preference ${view.placement.leaderPreference.join(' > ') || 'none'}`);
    if (view.placement.explanation !== undefined) lines.push(`  ${view.placement.explanation}`);
  }
  if (view.timing !== undefined) lines.push(`timing: heartbeat ${view.timing.heartbeatMs} ms, election ${view.timing.electionMs} ms${view.timing.adaptive === true ? ' (adaptive: follows measured round trips)' : ''}`);
  const text = (v: number | null): string => (v === null ? '-' : String(v));
  const rows = [['', 'NAME', 'ID', 'ROLE', 'TERM', 'COMMIT', 'APPLIED', 'LAG', 'CLIENT URL']];
  for (const d of view.dcs) {
    rows.push([`DC ${d.dc}`]);
    for (const m of d.members) {
      rows.push(['', m.name, m.id, m.role, text(m.term), text(m.commitIndex), text(m.appliedIndex), text(m.replicationLagEntries), m.clientUrls[0] ?? '']);
    }
  }
  lines.push('', ...table(rows));
  const dcs = view.dcs.map((d) => d.dc);
  if (view.roundTrips.length > 0) {
    const rtt = (a: string, b: string): string => {
      const r = view.roundTrips.find((x) => (x.a === a && x.b === b) || (x.a === b && x.b === a));
      return r === undefined ? '-' : r.roundTripMs.toFixed(1);
    };
    lines.push('', 'round trips between DCs (ms, median of the members\' measurements):');
    lines.push(...table([['', ...dcs], ...dcs.map((a) => [a, ...dcs.map((b) => rtt(a, b))])]));
  }
  return lines.join('\n');
}

function table(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  // A one-cell row (a DC heading) spans the table: it does not widen the first column.
  for (const r of rows) if (r.length > 1) r.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((r) => (r.length === 1 ? (r[0] ?? '') : r.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd()));
}
