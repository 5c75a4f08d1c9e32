// Runnable example of docs/client.md: KV, a transaction, a watch, a lease and a read at chosen freshness.
// Run against a local cluster (`npm start`): node dist/src/client/examples/quick_start.js [host:port,...]

import { fileURLToPath } from 'node:url';
import { Compare, connect, Op } from '../index.js';

export async function quickStart(endpoints: readonly string[]): Promise<string[]> {
  const lines: string[] = [];
  const client = await connect({ endpoints, dc: 'us-east', dialTimeoutMs: 2_000, requestTimeoutMs: 5_000 });
  try {
    lines.push(`members: ${client.members().map((m) => `${m.name}@${m.address} (${m.dc || 'no dc'})`).join(', ')}`);

    // Watch a prefix before writing to it; the iterator yields each event once, in order.
    const watcher = client.watch('config/', { prefix: true, prevKv: true });
    await watcher.created;

    const { revision } = await client.put('config/feature-x', 'on');
    lines.push(`feature-x = ${await client.getString('config/feature-x')} (revision ${revision})`);

    // Compare-and-swap: switch only if still 'on'.
    const swap = await client.txn()
      .if(Compare.value('config/feature-x', '=', 'on'))
      .then(Op.put('config/feature-x', 'off'))
      .else(Op.get('config/feature-x'))
      .commit();
    lines.push(`swapped: ${swap.succeeded}`);

    // Reads at a chosen freshness: a local read that is still at least as new as our write.
    const fresh = await client.range('config/', { prefix: true, consistency: { minRevision: revision } });
    lines.push(`keys under config/: ${fresh.count} (served by ${fresh.endpoint}, path ${fresh.readPath ?? 'not reported'})`);

    for await (const ev of watcher) {
      lines.push(`event: ${ev.type} ${ev.kv.key.toString()} = ${ev.kv.value.toString()} (was ${ev.prevKv?.value.toString() ?? 'absent'})`);
      if (ev.kv.value.toString() === 'off') break; // leaving the loop cancels the watcher
    }

    // A lease kept alive automatically; its keys go when it is revoked or lost.
    const lease = await client.grant(10);
    lease.onLost((err) => console.error(err.message));
    await client.put('workers/w1', 'alive', { lease: lease.id });
    await lease.revoke();
    lines.push(`after revoke: workers/w1 = ${await client.getString('workers/w1')}`);
  } finally {
    client.close();
  }
  return lines;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const endpoints = (process.argv[2] ?? '127.0.0.1:2379,127.0.0.1:22379,127.0.0.1:32379').split(',');
  for (const line of await quickStart(endpoints)) console.log(line);
}
