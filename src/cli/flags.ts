// A small command-line flag parser: `--flag value` and `--flag=value`, every flag declared with a type and a
// default, and an error that names the flag and says what it expects.

import { MeridianError } from '../util/errors.js';

export class UsageError extends MeridianError {
  constructor(message: string) {
    super('ERR_USAGE', message);
    this.name = 'UsageError';
  }
}

export type FlagKind = 'string' | 'int' | 'bool' | 'urls' | 'duration-ms';

export interface FlagSpec {
  readonly kind: FlagKind;
  readonly default: string;
  readonly help: string;
}

export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

export function parseFlags(argv: readonly string[], specs: FlagSpecs): { values: Map<string, string>; rest: string[] } {
  const values = new Map<string, string>();
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith('--')) {
      rest.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const spec = specs[name];
    if (spec === undefined) throw new UsageError(`unknown flag --${name}; run with --help to see the flags`);
    let value: string;
    if (eq >= 0) value = arg.slice(eq + 1);
    else if (spec.kind === 'bool') value = 'true';
    else {
      const next = argv[i + 1];
      if (next === undefined) throw new UsageError(`flag --${name} needs a value (${spec.help})`);
      value = next;
      i++;
    }
    check(name, spec, value);
    values.set(name, value);
  }
  for (const [name, spec] of Object.entries(specs)) if (!values.has(name)) values.set(name, spec.default);
  return { values, rest };
}

function check(name: string, spec: FlagSpec, value: string): void {
  switch (spec.kind) {
    case 'int':
    case 'duration-ms':
      if (!/^\d+$/.test(value)) throw new UsageError(`flag --${name} expects a whole number, got "${value}"`);
      return;
    case 'bool':
      if (value !== 'true' && value !== 'false') throw new UsageError(`flag --${name} expects true or false, got "${value}"`);
      return;
    case 'urls':
      for (const u of splitList(value)) parseUrl(name, u);
      return;
    case 'string':
      return;
  }
}

export function splitList(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

export function parseUrl(flag: string, text: string): URL {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new UsageError(`flag --${flag}: "${text}" is not a URL (expected e.g. http://127.0.0.1:2379)`);
  }
  if (u.protocol !== 'http:') throw new UsageError(`flag --${flag}: only http:// URLs are supported, got "${text}"`);
  if (u.port === '') throw new UsageError(`flag --${flag}: "${text}" needs an explicit port`);
  return u;
}

export function helpText(command: string, specs: FlagSpecs): string {
  const lines = [`Usage: meridian ${command} [flags]`, '', 'Flags:'];
  for (const [name, spec] of Object.entries(specs)) {
    lines.push(`  --${name}${spec.kind === 'bool' ? '' : ' <' + spec.kind + '>'}`.padEnd(44) + `${spec.help}${spec.default !== '' ? ` (default ${spec.default})` : ''}`);
  }
  return lines.join('\n');
}
