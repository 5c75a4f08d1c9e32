// The byte encoding of a ConfChange inside a log entry. Decoding never trusts a length.

import { nodeId } from '../util/branded.js';
import { ConfChangeType, type ConfChange, type ConfChangeSingle, type ConfChangeTransition } from './types.js';

const VERSION = 1;
const TRANSITIONS: readonly ConfChangeTransition[] = ['auto', 'implicit', 'explicit'];
/** A conf change naming more members than this is malformed. */
export const CONF_CHANGE_MEMBERS_MAX = 1024;
/** Bytes of opaque context (member name, URLs, DC) a conf change may carry. */
export const CONF_CHANGE_CONTEXT_BYTES_MAX = 64 * 1024;

export class ConfChangeDecodeError extends Error {
  override readonly name = 'ConfChangeDecodeError';
}

export function encodeConfChange(cc: ConfChange): Uint8Array {
  const size = 1 + 1 + 2 + cc.changes.length * 9 + 4 + cc.context.byteLength;
  const buf = new Uint8Array(size);
  const view = new DataView(buf.buffer);
  let o = 0;
  view.setUint8(o, VERSION);
  o += 1;
  view.setUint8(o, TRANSITIONS.indexOf(cc.transition));
  o += 1;
  view.setUint16(o, cc.changes.length);
  o += 2;
  for (const c of cc.changes) {
    view.setUint8(o, c.type);
    view.setBigUint64(o + 1, BigInt(c.nodeId));
    o += 9;
  }
  view.setUint32(o, cc.context.byteLength);
  o += 4;
  buf.set(cc.context, o);
  return buf;
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const need = (o: number, n: number, what: string): void => {
    if (o + n > data.byteLength) throw new ConfChangeDecodeError(`conf change truncated reading ${what} at byte ${o}`);
  };
  need(0, 4, 'header');
  const version = view.getUint8(0);
  if (version !== VERSION) throw new ConfChangeDecodeError(`conf change version ${version} is not supported`);
  const transition = TRANSITIONS[view.getUint8(1)];
  if (transition === undefined) throw new ConfChangeDecodeError(`conf change transition ${view.getUint8(1)} is unknown`);
  const count = view.getUint16(2);
  if (count > CONF_CHANGE_MEMBERS_MAX) throw new ConfChangeDecodeError(`conf change names ${count} members, more than ${CONF_CHANGE_MEMBERS_MAX}`);
  let o = 4;
  const changes: ConfChangeSingle[] = [];
  for (let i = 0; i < count; i++) {
    need(o, 9, `change ${i}`);
    const type = view.getUint8(o);
    if (type !== ConfChangeType.AddNode && type !== ConfChangeType.RemoveNode && type !== ConfChangeType.AddLearnerNode) {
      throw new ConfChangeDecodeError(`conf change type ${type} is unknown`);
    }
    const id = view.getBigUint64(o + 1);
    if (id > BigInt(Number.MAX_SAFE_INTEGER)) throw new ConfChangeDecodeError(`member id ${id} is too large`);
    changes.push({ type, nodeId: nodeId(Number(id)) });
    o += 9;
  }
  need(o, 4, 'context length');
  const ctxLen = view.getUint32(o);
  o += 4;
  if (ctxLen > CONF_CHANGE_CONTEXT_BYTES_MAX) throw new ConfChangeDecodeError(`conf change context of ${ctxLen} bytes is too large`);
  need(o, ctxLen, 'context');
  const context = data.slice(o, o + ctxLen);
  o += ctxLen;
  if (o !== data.byteLength) throw new ConfChangeDecodeError(`conf change has ${data.byteLength - o} trailing bytes`);
  return { transition, changes, context };
}
