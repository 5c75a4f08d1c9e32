// The simulator's replicated state machine: a small key-value register store with compare-and-set,
// applied from the log in order and deterministic. (The real MVCC store lives in src/kv.)

export type KvOp =
  | { readonly kind: 'get' }
  | { readonly kind: 'put'; readonly value: string }
  | { readonly kind: 'cas'; readonly expected: string | null; readonly value: string }
  | { readonly kind: 'delete' };

export type KvResult =
  | { readonly kind: 'get'; readonly value: string | null; readonly revision: number }
  | { readonly kind: 'put'; readonly revision: number }
  | { readonly kind: 'cas'; readonly ok: boolean; readonly revision: number }
  | { readonly kind: 'delete'; readonly deleted: boolean; readonly revision: number };

/** A client request as it travels in a log entry. */
export interface KvCommand {
  readonly client: number;
  readonly request: number;
  readonly key: string;
  readonly op: KvOp;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeCommand(c: KvCommand): Uint8Array {
  return encoder.encode(JSON.stringify(c));
}

export function decodeCommand(data: Uint8Array): KvCommand {
  return JSON.parse(decoder.decode(data)) as KvCommand;
}

export class KvModelStore {
  private readonly data = new Map<string, string>();
  /**
   * Each client's last applied request and its result (Raft thesis §6.3): a proposal delivered twice
   * (a duplicated message, a retry) is applied once and answered from here.
   */
  private readonly sessions = new Map<number, { request: number; result: KvResult }>();
  /** Number of writes applied; what a read or write reports as its revision. */
  revision = 0;

  apply(c: KvCommand): KvResult {
    const session = this.sessions.get(c.client);
    if (session !== undefined && c.request <= session.request) return session.result;
    const result = this.execute(c);
    this.sessions.set(c.client, { request: c.request, result });
    return result;
  }

  private execute(c: KvCommand): KvResult {
    const op = c.op;
    switch (op.kind) {
      case 'get':
        return this.read(c.key);
      case 'put':
        this.data.set(c.key, op.value);
        return { kind: 'put', revision: ++this.revision };
      case 'cas': {
        const current = this.data.get(c.key) ?? null;
        if (current !== op.expected) return { kind: 'cas', ok: false, revision: this.revision };
        this.data.set(c.key, op.value);
        return { kind: 'cas', ok: true, revision: ++this.revision };
      }
      case 'delete':
        // As in etcd, deleting a missing key creates no revision.
        if (!this.data.delete(c.key)) return { kind: 'delete', deleted: false, revision: this.revision };
        return { kind: 'delete', deleted: true, revision: ++this.revision };
    }
  }

  read(key: string): KvResult {
    return { kind: 'get', value: this.data.get(key) ?? null, revision: this.revision };
  }

  snapshot(): Uint8Array {
    const entries = [...this.data.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const sessions = [...this.sessions.entries()].sort(([a], [b]) => a - b);
    return encoder.encode(JSON.stringify({ revision: this.revision, entries, sessions }));
  }

  restore(data: Uint8Array): void {
    this.data.clear();
    this.sessions.clear();
    if (data.byteLength === 0) {
      this.revision = 0;
      return;
    }
    const s = JSON.parse(decoder.decode(data)) as {
      revision: number;
      entries: [string, string][];
      sessions: [number, { request: number; result: KvResult }][];
    };
    this.revision = s.revision;
    for (const [k, v] of s.entries) this.data.set(k, v);
    for (const [c, v] of s.sessions) this.sessions.set(c, v);
  }

  /** A digest of the whole state, to compare members after convergence. */
  hash(): string {
    let h = 0x811c9dc5;
    const text = decoder.decode(this.snapshot());
    for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
    return `${this.revision}:${h.toString(16)}`;
  }
}
