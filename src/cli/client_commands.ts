// Quick client commands (`meridian put/get/del/watch/status`) over the etcd v3 API, with the etcd3 client.

import { Etcd3 } from 'etcd3';
import { helpText, parseFlags, splitList, UsageError, type FlagSpecs } from './flags.js';

export const CLIENT_COMMANDS: readonly string[] = ['put', 'get', 'del', 'watch', 'status'];

const CLIENT_FLAGS: FlagSpecs = {
  'endpoints': { kind: 'string', default: '127.0.0.1:2379,127.0.0.1:22379,127.0.0.1:32379', help: 'members to talk to' },
  'prefix': { kind: 'bool', default: 'false', help: 'get/del/watch every key with this prefix' },
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
        return await status(client, hosts);
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

async function status(client: Etcd3, hosts: readonly string[]): Promise<number> {
  const members = (await client.cluster.memberList({})).members;
  console.log(`${'ID'.padEnd(16)} ${'NAME'.padEnd(8)} ${'LEARNER'.padEnd(8)} CLIENT URLS`);
  // Hex, as etcdctl prints member ids.
  const hex = (id: string): string => BigInt(id).toString(16);
  for (const m of members) console.log(`${hex(m.ID).padEnd(16)} ${m.name.padEnd(8)} ${String(m.isLearner).padEnd(8)} ${m.clientURLs.join(',')}`);
  const s = await client.maintenance.status();
  console.log(`\nanswered by ${hosts[0] ?? ''}: leader ${hex(s.leader)}, raft term ${s.raftTerm}, raft index ${s.raftIndex}, db ${s.dbSize} bytes`);
  return 0;
}
