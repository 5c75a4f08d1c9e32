// A typed builder for etcd's mini-transactions: if every comparison holds, run `then`, else run `else`, atomically
// at one revision.

import type { Connection, PbMessage } from './connection.js';
import {
  type Bytes, type DeleteOptions, type DeleteResult, deleteRequestToPb, deleteResultFromPb, headerFromPb, type PutOptions,
  type PutResult, putRequestToPb, putResultFromPb, type RangeOptions, rangeRequestToPb, type RangeResult, rangeResultFromPb,
  type ResponseHeader, toBuffer,
} from './kv.js';

export type CompareOp = '=' | '!=' | '>' | '<';
const COMPARE_RESULT: Record<CompareOp, number> = { '=': 0, '>': 1, '<': 2, '!=': 3 };
const COMPARE_TARGET = { version: 0, createRevision: 1, modRevision: 2, value: 3, lease: 4 } as const;
const TARGET_FIELD = { version: 'version', createRevision: 'create_revision', modRevision: 'mod_revision', value: 'value', lease: 'lease' } as const;

export interface Comparison {
  readonly target: keyof typeof COMPARE_TARGET;
  readonly key: Bytes;
  readonly op: CompareOp;
  readonly operand: number | Bytes;
  /** Compare every key in [key, rangeEnd) (etcd's range compare). */
  readonly rangeEnd?: Bytes;
}

/** Comparisons for `txn().if(...)`. A key that does not exist has version, create and mod revision 0. */
export const Compare = {
  value: (key: Bytes, op: CompareOp, value: Bytes): Comparison => ({ target: 'value', key, op, operand: value }),
  version: (key: Bytes, op: CompareOp, version: number): Comparison => ({ target: 'version', key, op, operand: version }),
  createRevision: (key: Bytes, op: CompareOp, rev: number): Comparison => ({ target: 'createRevision', key, op, operand: rev }),
  modRevision: (key: Bytes, op: CompareOp, rev: number): Comparison => ({ target: 'modRevision', key, op, operand: rev }),
  lease: (key: Bytes, op: CompareOp, lease: number): Comparison => ({ target: 'lease', key, op, operand: lease }),
  /** The key does not exist (its create revision is 0). */
  absent: (key: Bytes): Comparison => ({ target: 'createRevision', key, op: '=', operand: 0 }),
} as const;

export type TxnOp =
  | { readonly type: 'get'; readonly key: Bytes; readonly options: RangeOptions }
  | { readonly type: 'put'; readonly key: Bytes; readonly value: Bytes; readonly options: PutOptions }
  | { readonly type: 'delete'; readonly key: Bytes; readonly options: DeleteOptions };

/** Operations for `then(...)` / `else(...)`. Reads inside a txn are always linearizable. */
export const Op = {
  get: (key: Bytes, options: Omit<RangeOptions, 'consistency' | 'timeoutMs'> = {}): TxnOp => ({ type: 'get', key, options }),
  put: (key: Bytes, value: Bytes, options: PutOptions = {}): TxnOp => ({ type: 'put', key, value, options }),
  delete: (key: Bytes, options: DeleteOptions = {}): TxnOp => ({ type: 'delete', key, options }),
} as const;

export type TxnResponse =
  | { readonly type: 'get'; readonly result: RangeResult }
  | { readonly type: 'put'; readonly result: PutResult }
  | { readonly type: 'delete'; readonly result: DeleteResult };

export interface TxnResult {
  readonly header: ResponseHeader;
  /** Whether every comparison held (and `then` ran). */
  readonly succeeded: boolean;
  /** One per operation of the branch that ran, in order. */
  readonly responses: readonly TxnResponse[];
}

function compareToPb(c: Comparison): PbMessage {
  const operand = c.target === 'value' ? toBuffer(c.operand as Bytes) : c.operand;
  return {
    result: COMPARE_RESULT[c.op], target: COMPARE_TARGET[c.target], key: toBuffer(c.key),
    range_end: c.rangeEnd === undefined ? Buffer.alloc(0) : toBuffer(c.rangeEnd), [TARGET_FIELD[c.target]]: operand,
  };
}

function opToPb(op: TxnOp): PbMessage {
  switch (op.type) {
    case 'get': return { request_range: rangeRequestToPb(op.key, op.options, false) };
    case 'put': return { request_put: putRequestToPb(op.key, op.value, op.options) };
    case 'delete': return { request_delete_range: deleteRequestToPb(op.key, op.options) };
  }
}

function responseFromPb(r: PbMessage, endpoint: string): TxnResponse {
  const inner = (name: string): PbMessage => (r[name] ?? {}) as PbMessage;
  switch (r['response']) {
    case 'response_range': return { type: 'get', result: rangeResultFromPb(inner('response_range'), { readPath: null, appliedRevision: null, endpoint }) };
    case 'response_put': return { type: 'put', result: putResultFromPb(inner('response_put')) };
    default: return { type: 'delete', result: deleteResultFromPb(inner('response_delete_range')) };
  }
}

export class Txn {
  private readonly compares: Comparison[] = [];
  private readonly success: TxnOp[] = [];
  private readonly failure: TxnOp[] = [];

  constructor(private readonly conn: Connection) {}

  if(...comparisons: Comparison[]): this {
    this.compares.push(...comparisons);
    return this;
  }

  then(...ops: TxnOp[]): this {
    this.success.push(...ops);
    return this;
  }

  else(...ops: TxnOp[]): this {
    this.failure.push(...ops);
    return this;
  }

  async commit(): Promise<TxnResult> {
    const req = { compare: this.compares.map(compareToPb), success: this.success.map(opToPb), failure: this.failure.map(opToPb) };
    const { response, endpoint } = await this.conn.unary('kv', 'Txn', req, { action: `txn (${this.compares.length} comparisons)`, write: true });
    const responses = Array.isArray(response['responses']) ? (response['responses'] as PbMessage[]) : [];
    return { header: headerFromPb(response['header']), succeeded: response['succeeded'] === true, responses: responses.map((r) => responseFromPb(r, endpoint)) };
  }
}
