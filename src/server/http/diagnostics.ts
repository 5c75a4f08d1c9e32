// What the HTTP endpoints report about themselves, on the diagnostics channel 'meridian:http'
// (subscribe with node:diagnostics_channel); the server process turns these into logs.

import diagnostics_channel from 'node:diagnostics_channel';

export const HTTP_CHANNEL_NAME = 'meridian:http';
export const httpChannel = diagnostics_channel.channel(HTTP_CHANNEL_NAME);

export type HttpEvent =
  | { readonly kind: 'listening'; readonly host: string; readonly port: number }
  /** status() or the metrics collection threw or timed out; the request was answered 500 or 503. */
  | { readonly kind: 'handler-error'; readonly path: string; readonly reason: string }
  /** The server itself reported an error after it started listening. */
  | { readonly kind: 'server-error'; readonly reason: string }
  | { readonly kind: 'closed'; readonly port: number };

export function publishHttpEvent(event: HttpEvent): void {
  if (httpChannel.hasSubscribers) httpChannel.publish(event);
}
