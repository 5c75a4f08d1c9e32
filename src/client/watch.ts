// Watches as async iterators: one bidirectional Watch stream per client carries every watcher (ids chosen by the
// client), and when the stream breaks it is reopened on another member with each watcher resumed from the
// revision after the last one it delivered, so no event is lost or repeated.

import type * as grpc from '@grpc/grpc-js';
import { etcdMethod } from '../wire/etcd_proto.js';
import { type Revision, revision } from '../util/branded.js';
import type { Connection, PbMessage } from './connection.js';
import { MeridianClientError } from './errors.js';
import { type Bytes, headerFromPb, type KeyValue, keyValueFromPb, prefixEnd, toBuffer } from './kv.js';
import { WATCH_RECONNECT_ATTEMPTS_MAX } from './limits.js';

export interface WatchOptions {
  /** Watch every key starting with the key given. */
  readonly prefix?: boolean;
  /** Watch keys in [key, rangeEnd). */
  readonly rangeEnd?: Bytes;
  /** Deliver events from this revision on (history included); absent: from now. */
  readonly startRevision?: number;
  /** Each event carries the key's previous value. */
  readonly prevKv?: boolean;
  readonly noPut?: boolean;
  readonly noDelete?: boolean;
}

export interface WatchEvent {
  readonly type: 'put' | 'delete';
  readonly kv: KeyValue;
  /** The key before this event, when `prevKv` was asked for and the key existed. */
  readonly prevKv: KeyValue | null;
}

const FILTER_NOPUT = 0;
const FILTER_NODELETE = 1;
const EVENT_DELETE = 1;

/** One watcher: iterate it with `for await`; `cancel()` (or leaving the loop) stops it. */
export class Watcher implements AsyncIterable<WatchEvent> {
  /** Resolves once a member confirmed the watcher; rejects if the watcher fails first. */
  readonly created: Promise<void>;
  private resolveCreated!: () => void;
  private rejectCreated!: (err: unknown) => void;
  private readonly queue: WatchEvent[] = [];
  private waiting: { resolve: (r: IteratorResult<WatchEvent>) => void; reject: (e: unknown) => void } | null = null;
  private error: MeridianClientError | null = null;
  private done = false;
  /** The revision the next event must have at least: the last delivered + 1 (null: from now). */
  nextRevision: number | null;
  isCreated = false;

  constructor(
    readonly id: number,
    readonly key: Buffer,
    readonly rangeEnd: Buffer,
    readonly options: WatchOptions,
    private readonly onCancel: (w: Watcher) => void,
    private readonly bufferedEventsMax: number,
  ) {
    this.nextRevision = options.startRevision ?? null;
    this.created = new Promise((resolve, reject) => {
      this.resolveCreated = resolve;
      this.rejectCreated = reject;
    });
    // A watcher that fails before anyone awaited `created` must not crash the process with an unhandled rejection.
    this.created.catch(() => undefined);
  }

  /** The last revision delivered (or confirmed by progress), or null before any. */
  get revision(): Revision | null {
    return this.nextRevision === null ? null : revision(this.nextRevision - 1);
  }

  get isDone(): boolean {
    return this.done;
  }

  /** Called by the stream when the member confirmed the watcher at `headerRevision`. */
  confirm(headerRevision: number): void {
    if (this.nextRevision === null) this.nextRevision = headerRevision + 1;
    if (!this.isCreated) {
      this.isCreated = true;
      this.resolveCreated();
    }
  }

  /** Delivers events; those below nextRevision were delivered before a resume and are dropped. */
  deliver(events: readonly WatchEvent[]): void {
    if (this.done) return;
    for (const ev of events) {
      const rev = ev.kv.modRevision;
      if (this.nextRevision !== null && rev < this.nextRevision) continue;
      this.push(ev);
      if (this.done) return;
    }
    const last = events[events.length - 1];
    if (last !== undefined) this.nextRevision = Math.max(this.nextRevision ?? 0, last.kv.modRevision + 1);
  }

  /** A progress notification: every event up to `headerRevision` was delivered. */
  progress(headerRevision: number): void {
    if (this.nextRevision !== null) this.nextRevision = Math.max(this.nextRevision, headerRevision + 1);
  }

  private push(ev: WatchEvent): void {
    if (this.waiting !== null) {
      const w = this.waiting;
      this.waiting = null;
      w.resolve({ value: ev, done: false });
      return;
    }
    if (this.queue.length >= this.bufferedEventsMax) {
      // The buffered events are still delivered, then the error; the event that did not fit is dropped with it.
      this.fail(new MeridianClientError('SlowConsumer', `watcher ${this.id} fell more than ${this.bufferedEventsMax} events behind; consume events faster or watch fewer keys`));
      this.onCancel(this);
      return;
    }
    this.queue.push(ev);
  }

  /** Ends the iteration with an error (after the events already queued). */
  fail(err: MeridianClientError): void {
    if (this.done) return;
    this.done = true;
    this.error = err;
    if (!this.isCreated) this.rejectCreated(err);
    if (this.waiting !== null && this.queue.length === 0) {
      const w = this.waiting;
      this.waiting = null;
      w.reject(err);
    }
  }

  /** Ends the iteration normally (after the events already queued). */
  finish(): void {
    if (this.done) return;
    this.done = true;
    if (!this.isCreated) this.rejectCreated(new MeridianClientError('Closed', `watcher ${this.id} was cancelled before a member confirmed it`));
    if (this.waiting !== null && this.queue.length === 0) {
      const w = this.waiting;
      this.waiting = null;
      w.resolve({ value: undefined, done: true });
    }
  }

  /** Stops the watcher; the iteration ends after the events already queued. */
  cancel(): void {
    if (this.done) return;
    this.finish();
    this.onCancel(this);
  }

  next(): Promise<IteratorResult<WatchEvent>> {
    const ev = this.queue.shift();
    if (ev !== undefined) return Promise.resolve({ value: ev, done: false });
    if (this.error !== null) return Promise.reject(this.error);
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<WatchEvent> {
    return {
      next: () => this.next(),
      return: (): Promise<IteratorResult<WatchEvent>> => {
        this.cancel();
        this.queue.length = 0;
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

type WatchCall = grpc.ClientDuplexStream<object, PbMessage>;

function eventFromPb(e: PbMessage): WatchEvent {
  const prev = e['prev_kv'];
  return { type: Number(e['type']) === EVENT_DELETE ? 'delete' : 'put', kv: keyValueFromPb(e['kv']), prevKv: prev === null || prev === undefined ? null : keyValueFromPb(prev) };
}

/** The client's one Watch stream and the watchers on it. */
export class WatchManager {
  private readonly watchers = new Map<number, Watcher>();
  private nextId = 1;
  private call: WatchCall | null = null;
  private address: string | null = null;
  private connecting = false;
  private failedAttempts = 0;
  private closed = false;

  constructor(private readonly conn: Connection) {}

  /** The member the stream is on, or null while there is none. */
  get endpoint(): string | null {
    return this.address;
  }

  watch(key: Bytes, options: WatchOptions = {}): Watcher {
    if (this.closed) throw new MeridianClientError('Closed', 'the client is closed; connect() again to watch');
    const k = toBuffer(key);
    const end = options.prefix === true ? prefixEnd(k) : options.rangeEnd === undefined ? Buffer.alloc(0) : toBuffer(options.rangeEnd);
    const w = new Watcher(this.nextId++, k, end, options, (x) => this.remove(x), this.conn.watchBufferedEventsMax);
    this.watchers.set(w.id, w);
    if (this.call !== null) this.sendCreate(w);
    else void this.open();
    return w;
  }

  private remove(w: Watcher): void {
    if (!this.watchers.delete(w.id)) return;
    if (this.call !== null) this.call.write({ cancel_request: { watch_id: w.id } });
    if (this.watchers.size === 0) this.closeCall();
  }

  private sendCreate(w: Watcher): void {
    const filters: number[] = [];
    if (w.options.noPut === true) filters.push(FILTER_NOPUT);
    if (w.options.noDelete === true) filters.push(FILTER_NODELETE);
    this.call?.write({
      create_request: {
        key: w.key, range_end: w.rangeEnd, start_revision: w.nextRevision ?? 0, prev_kv: w.options.prevKv ?? false,
        filters, watch_id: w.id, progress_notify: false, fragment: false,
      },
    });
  }

  /** Opens the stream on the preferred member that connects, with bounded jittered retries. */
  private async open(): Promise<void> {
    if (this.connecting || this.call !== null || this.closed) return;
    this.connecting = true;
    try {
      while (this.watchers.size > 0 && !this.closed) {
        if (this.failedAttempts >= WATCH_RECONNECT_ATTEMPTS_MAX) {
          this.failAll(new MeridianClientError('Unavailable', `watch: no member accepted the watch stream after ${WATCH_RECONNECT_ATTEMPTS_MAX} attempts; check that the members are running`));
          this.failedAttempts = 0;
          return;
        }
        const picked = await this.conn.connectForStream(this.failedAttempts);
        if (picked !== null) {
          this.startCall(picked.channel, picked.address);
          return;
        }
        this.failedAttempts++;
      }
    } finally {
      this.connecting = false;
    }
  }

  private startCall(channel: grpc.Client, address: string): void {
    const def = etcdMethod('watch', 'Watch');
    const call = channel.makeBidiStreamRequest(def.path, def.requestSerialize, (b: Buffer) => def.responseDeserialize(b) as PbMessage) as WatchCall;
    this.call = call;
    this.address = address;
    call.on('data', (m: PbMessage) => {
      if (this.call !== call) return;
      this.failedAttempts = 0;
      this.handle(m);
    });
    // Whatever broke the stream (the member died, restarted or cancelled it), every watcher resumes elsewhere.
    const broken = (): void => {
      if (this.call !== call) return;
      this.call = null;
      this.address = null;
      if (this.closed || this.watchers.size === 0) return;
      this.conn.markDown(address);
      this.failedAttempts++;
      setTimeout(() => void this.open(), this.conn.backoffMs(this.failedAttempts));
    };
    call.on('error', broken);
    call.on('end', broken);
    for (const w of this.watchers.values()) this.sendCreate(w);
  }

  private handle(m: PbMessage): void {
    const id = Number(m['watch_id']);
    const w = this.watchers.get(id);
    if (w === undefined) return; // cancelled by us, or an answer to a cancel
    const header = headerFromPb(m['header']);
    const compactRevision = Number(m['compact_revision'] ?? 0);
    if (compactRevision > 0) {
      this.watchers.delete(id);
      w.fail(new MeridianClientError('Compacted', `watch from revision ${w.nextRevision ?? 0}: the history before revision ${compactRevision} was compacted; read the current state and watch from its revision + 1`, { compactRevision, endpoint: this.address }));
      return;
    }
    if (m['canceled'] === true) {
      this.watchers.delete(id);
      const reason = String(m['cancel_reason'] ?? '');
      w.fail(new MeridianClientError('Server', `the member cancelled watcher ${id}${reason === '' ? '' : `: ${reason}`}`, { endpoint: this.address }));
      return;
    }
    if (m['created'] === true) {
      w.confirm(header.revision);
      return;
    }
    const events = Array.isArray(m['events']) ? (m['events'] as PbMessage[]) : [];
    if (events.length === 0) w.progress(header.revision);
    else w.deliver(events.map(eventFromPb));
  }

  private failAll(err: MeridianClientError): void {
    for (const w of this.watchers.values()) w.fail(err);
    this.watchers.clear();
  }

  private closeCall(): void {
    const call = this.call;
    this.call = null;
    this.address = null;
    call?.cancel();
  }

  close(): void {
    this.closed = true;
    for (const w of this.watchers.values()) w.finish();
    this.watchers.clear();
    this.closeCall();
  }
}
