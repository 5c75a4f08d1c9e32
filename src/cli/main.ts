#!/usr/bin/env node
// The `meridian` command: run a member (`server`), a local cluster (`dev`), or talk to a cluster.

import { runClientCommand, CLIENT_COMMANDS } from './client_commands.js';
import { runDev } from './dev_command.js';
import { UsageError } from './flags.js';
import { runServer } from './server_command.js';

const USAGE = `Usage: meridian <command> [flags]

Commands:
  server    run one member (etcd's flags: --name, --data-dir, --listen-client-urls, --initial-cluster, ...)
  dev       run a local cluster of several members in one command (etcd's Procfile ports)
  status    show every member: role, term, indexes, DC
  put KEY VALUE | get KEY [--prefix] | del KEY [--prefix] | watch KEY [--prefix]
            quick use of a cluster (--endpoints 127.0.0.1:2379,...)

Run 'meridian <command> --help' for a command's flags.`;

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'server':
      return runServer(rest);
    case 'dev':
      return runDev(rest);
    case undefined:
    case 'help':
    case '--help':
      console.log(USAGE);
      return command === undefined ? 2 : 0;
    default:
      if (CLIENT_COMMANDS.includes(command)) return runClientCommand(command, rest);
      throw new UsageError(`unknown command "${command}"\n\n${USAGE}`);
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  if (err instanceof UsageError) {
    console.error(`meridian: ${err.message}`);
    process.exitCode = 2;
  } else {
    console.error(`meridian: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  }
}
