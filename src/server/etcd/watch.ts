// The Watch service (etcd's v3rpc watch.go): one bidirectional gRPC stream per WatchStream of the hub. Requests
// create, cancel and ask for progress; responses leave in the hub's order, and the gRPC stream's write()
// result is the hub's backpressure signal ('drain' → ready()). Also the timers that drive the hub.

import type * as grpc from '@grpc/grpc-js';
import type { WatchHub } from '../../kv/watch_hub.js';
import type { WatchResponse } from '../../kv/watch_response.js';
import type { WatchStream } from '../../kv/watch_stream.js';
import { int64Field, messageField, type PbMessage, type PbOut, watchCreateFromPb, watchResponseToPb } from './convert.js';
import { asMessage, serviceError, type ServiceContext } from './rpc_util.js';

export function watchService(ctx: ServiceContext): grpc.UntypedServiceImplementation {
  const Watch: grpc.handleBidiStreamingCall<unknown, PbOut> = (call) => serveWatchStream(ctx, call);
  return { Watch };
}

function serveWatchStream(ctx: ServiceContext, call: grpc.ServerDuplexStream<unknown, PbOut>): void {
  const { backend } = ctx;
  let finished = false;
  let sending = false;
  const stream: WatchStream = backend.watchHub.newStream({
    // The sink only writes: the stream forbids calls back into it from here, and there is no need for any.
    send: (response: WatchResponse): boolean => {
      if (finished) return true;
      sending = true;
      try {
        return call.write(watchResponseToPb(backend.header(), response));
      } finally {
        sending = false;
      }
    },
  });
  // Reading stops while a client that does not drain lets answers pile up, and resumes once it drains.
  const maybeResume = (): void => {
    if (!finished && stream.acceptingRequests && call.isPaused()) call.resume();
  };
  const finish = (): void => {
    if (finished) return;
    finished = true;
    // Node reports a failed write asynchronously; should a call ever end from inside write(), the close
    // must still wait until the stream's send returned.
    if (sending) queueMicrotask(() => stream.close());
    else stream.close();
  };
  call.on('drain', () => {
    if (finished) return;
    stream.ready();
    maybeResume();
  });
  call.on('data', (request: unknown) => {
    if (finished) return;
    try {
      handleWatchRequest(stream, asMessage(request));
    } catch (err) {
      // A request Meridian cannot represent ends the stream, as gRPC ends it for a malformed message.
      finish();
      call.emit('error', serviceError(err));
      return;
    }
    if (!stream.acceptingRequests) call.pause();
  });
  // As etcd, the client closing its side keeps the stream serving; it ends when the call does.
  call.on('cancelled', finish);
  call.on('close', finish);
  call.on('error', finish);
}

function handleWatchRequest(stream: WatchStream, request: PbMessage): void {
  switch (request['request_union']) {
    case 'create_request':
      stream.create(watchCreateFromPb(messageField(request, 'create_request')));
      return;
    case 'cancel_request': {
      const id = int64Field(messageField(request, 'cancel_request'), 'watch_id');
      // An id the stream cannot hold is unknown, and an unknown cancel is answered with nothing, as etcd.
      if (id >= BigInt(Number.MIN_SAFE_INTEGER) && id <= BigInt(Number.MAX_SAFE_INTEGER)) stream.cancel(Number(id));
      return;
    }
    case 'progress_request':
      stream.requestProgress();
      return;
    default:
      // etcd ignores an empty or unknown request instead of ending the stream.
      return;
  }
}

/**
 * The hub's clock: catch-up rounds for behind watchers (etcd's syncWatchersLoop) and the progress ticker of
 * `progress_notify` watchers. A stream whose consumer drains also catches up at once, from ready().
 */
export class WatchHubDriver {
  private syncTimer: NodeJS.Timeout | null = null;
  private progressTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly hub: WatchHub,
    private readonly syncIntervalMs: number,
    private readonly progressIntervalMs: number,
  ) {}

  start(): void {
    if (this.syncTimer !== null) return;
    this.syncTimer = setInterval(() => this.hub.syncWatchers(), this.syncIntervalMs);
    this.progressTimer = setInterval(() => this.hub.tickProgress(), this.progressIntervalMs);
  }

  stop(): void {
    if (this.syncTimer !== null) clearInterval(this.syncTimer);
    if (this.progressTimer !== null) clearInterval(this.progressTimer);
    this.syncTimer = null;
    this.progressTimer = null;
  }
}
