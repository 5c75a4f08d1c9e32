// Helpers for the kv tests: a harness that encodes commands and applies them at increasing log indexes.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assert } from '../util/assert.js';
import { MemoryBackend } from '../storage/backend/memory_backend.js';
import { encodeCommand } from './command.js';
import type { ApplyResult, Command, CommandResponse } from './rpc.js';
import { KvStateMachine, type KvStateMachineOptions } from './state_machine.js';

export const bytes = (s: string): Uint8Array => Buffer.from(s, 'latin1');
export const str = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1');
export const FROM_KEY = new Uint8Array([0]);

export class Harness {
  index = 0;
  readonly log: Uint8Array[] = [];
  constructor(public sm: KvStateMachine) {}

  static memory(options: Partial<KvStateMachineOptions> = {}): Harness {
    return new Harness(KvStateMachine.open({ backend: new MemoryBackend(), ...options }));
  }

  apply(command: Command): ApplyResult {
    const data = encodeCommand(command, this.index + 1);
    this.log.push(data);
    return this.sm.apply(++this.index, data);
  }

  ok(command: Command): CommandResponse {
    const r = this.apply(command);
    if (!r.ok) throw r.error;
    return r.response;
  }

  /** The error code a command fails with. */
  fail(command: Command): string {
    const r = this.apply(command);
    assert(!r.ok, `${command.type} unexpectedly succeeded`);
    return r.error.code;
  }
}

/** A fresh directory under os.tmpdir(), removed after `body` (also when it throws). */
export async function withTmpDir<T>(body: (dir: string) => Promise<T> | T): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'meridian-kv-test-'));
  try {
    return await body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
