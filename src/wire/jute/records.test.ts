// The jute codec: round trips of every record we exchange, and hostile input (truncated frames, negative and
// oversized lengths, lying vector counts, random bytes) that must end in JuteDecodeError, never a crash.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Prng } from '../../util/prng.js';
import { JuteDecodeError, JuteReader, JuteWriter, JUTE_MAX_BUFFER_BYTES } from './jute_buffer.js';
import {
  type CreateRequest, type MultiOp, type MultiResult, type SetWatches, readConnectRequest, readConnectResponse, readCreateRequest, readMultiRequest,
  readMultiResponse, readReplyHeader, readSetWatches, readStat, readWatcherEvent, writeConnectRequest,
  writeConnectResponse, writeCreateRequest, writeMultiRequest, writeMultiResponse, writeReplyHeader, writeSetWatches,
  writeStat, writeWatcherEvent,
} from './records.js';
import { OpCode } from './zk_codes.js';

const stat = { czxid: 5, mzxid: 7, ctime: 1_700_000_000_123, mtime: 1_700_000_000_999, version: 2, cversion: 3, aversion: 0, ephemeralOwner: 2 ** 52 - 5, dataLength: 10, numChildren: 1, pzxid: 9 };

function roundTrip<T>(write: (w: JuteWriter, v: T) => void, read: (r: JuteReader) => T, v: T): void {
  const w = new JuteWriter(4);
  write(w, v);
  const r = new JuteReader(w.finish());
  assert.deepEqual(read(r), v);
  assert.equal(r.remaining(), 0);
}

test('records round trip', () => {
  roundTrip(writeStat, readStat, stat);
  roundTrip(writeReplyHeader, readReplyHeader, { xid: -2, zxid: 123456789012, err: -101 });
  roundTrip(writeWatcherEvent, readWatcherEvent, { type: 3, state: 3, path: '/a/ü' });
  roundTrip(writeConnectRequest, readConnectRequest, { protocolVersion: 0, lastZxidSeen: 77, timeOut: 30000, sessionId: 0, passwd: Buffer.alloc(16, 1), readOnly: false });
  roundTrip(writeConnectRequest, readConnectRequest, { protocolVersion: 0, lastZxidSeen: 0, timeOut: 4000, sessionId: 99, passwd: Buffer.alloc(16, 2), readOnly: null });
  roundTrip(writeConnectResponse, readConnectResponse, { protocolVersion: 0, timeOut: 4000, sessionId: 99, passwd: Buffer.alloc(16, 2), readOnly: false });
  roundTrip<CreateRequest>((w, v) => writeCreateRequest(w, v, true), (r) => readCreateRequest(r, true), { path: '/t', data: Buffer.from('x'), acl: [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }], flags: 5, ttl: 1000 });
  roundTrip<SetWatches>((w, v) => writeSetWatches(w, v, true), (r) => readSetWatches(r, true), { relativeZxid: 5, dataWatches: ['/a'], existWatches: [], childWatches: ['/b', '/c'], persistentWatches: [], persistentRecursiveWatches: ['/'] });
  const ops: MultiOp[] = [
    { type: OpCode.create, create: { path: '/m', data: Buffer.from('1'), acl: [], flags: 0, ttl: 0 } },
    { type: OpCode.delete, path: '/m', version: -1 },
    { type: OpCode.setData, path: '/m', data: Buffer.from('2'), version: 3 },
    { type: OpCode.check, path: '/m', version: 1 },
  ];
  roundTrip(writeMultiRequest, readMultiRequest, ops);
  const results: MultiResult[] = [
    { type: OpCode.create, path: '/m' }, { type: OpCode.create2, path: '/n', stat }, { type: OpCode.delete },
    { type: OpCode.setData, stat }, { type: OpCode.error, err: -101 }, { type: OpCode.getChildren, children: ['a'] },
  ];
  roundTrip(writeMultiResponse, readMultiResponse, results);
});

test('hostile lengths and truncation end in JuteDecodeError', () => {
  const cases: [string, Buffer, (r: JuteReader) => unknown][] = [
    ['truncated int', Buffer.from([0, 0]), (r) => r.int()],
    ['truncated long', Buffer.alloc(7), (r) => r.long()],
    ['negative buffer length', Buffer.from([0xff, 0xff, 0xff, 0xfe]), (r) => r.buffer()],
    ['oversized buffer length', new JuteWriter().int(JUTE_MAX_BUFFER_BYTES + 1).finish(), (r) => r.buffer()],
    ['buffer longer than the frame', new JuteWriter().int(100).int(1).finish(), (r) => r.buffer()],
    ['vector count lies', new JuteWriter().int(1000).finish(), (r) => r.vector((x) => x.int())],
    ['negative vector count', new JuteWriter().int(-5).finish(), (r) => r.vector((x) => x.int())],
    ['invalid utf-8', new JuteWriter().buffer(Buffer.from([0xc3, 0x28])).finish(), (r) => r.string()],
    ['multi without end', new JuteWriter().int(OpCode.delete).bool(false).int(-1).string('/a').int(-1).finish(), readMultiRequest],
    ['multi with a read op type', new JuteWriter().int(OpCode.sync).bool(false).int(-1).finish(), readMultiRequest],
  ];
  for (const [name, buf, read] of cases) {
    assert.throws(() => read(new JuteReader(buf)), JuteDecodeError, name);
  }
});

test('random bytes never crash a decoder', () => {
  const seed = Number(process.env['SEED'] ?? Date.now() % 2 ** 31);
  console.log(`SEED=${seed}`);
  const prng = new Prng(seed);
  const decoders: ((r: JuteReader) => unknown)[] = [readStat, readConnectRequest, readMultiRequest, readMultiResponse, (r) => readCreateRequest(r, true), (r) => readSetWatches(r, true)];
  for (let i = 0; i < 2000; i++) {
    const buf = Buffer.alloc(prng.int(64));
    for (let j = 0; j < buf.length; j++) buf[j] = prng.int(256);
    for (const decode of decoders) {
      try {
        decode(new JuteReader(buf));
      } catch (err) {
        assert.ok(err instanceof JuteDecodeError, `seed ${seed}: ${String(err)}`);
      }
    }
  }
});
