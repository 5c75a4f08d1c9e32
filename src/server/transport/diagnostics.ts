// What the transport reports about itself, on the diagnostics channel 'meridian:transport'
// (subscribe with node:diagnostics_channel); the member turns these into logs and metrics.

import diagnostics_channel from 'node:diagnostics_channel';
import type { NodeId } from '../../util/branded.js';

export const TRANSPORT_CHANNEL_NAME = 'meridian:transport';
export const transportChannel = diagnostics_channel.channel(TRANSPORT_CHANNEL_NAME);

/** Outbound: the connection this member dialed to send to the peer. Inbound: the one the peer dialed. */
export type Direction = 'outbound' | 'inbound';

export type DropReason =
  | 'queue-full' // the peer or its socket is slow: the bounded queue is full
  | 'not-connected' // waiting to reconnect; raft retries once told the peer is unreachable
  | 'connection-lost' // queued when the connection closed
  | 'unknown-peer' // addressed to a member that was never added (or was removed)
  | 'too-large' // breaks a wire limit (raft's maxSizePerMsg is set too high)
  | 'emulated-loss' // the WAN emulation dropped it
  | 'wrong-recipient' // inbound, addressed to another member
  | 'wrong-sender' // inbound, `from` is not the member that completed the handshake
  | 'local-type'; // inbound, a message type that never travels between members

export type SnapshotEventStatus = 'streaming' | 'sent' | 'failed' | 'received' | 'rejected';

export type TransportEventBody =
  | { readonly kind: 'listening'; readonly host: string; readonly port: number }
  | { readonly kind: 'listen-error'; readonly reason: string }
  | { readonly kind: 'connected'; readonly peer: NodeId; readonly direction: Direction }
  | { readonly kind: 'disconnected'; readonly peer: NodeId; readonly direction: Direction; readonly reason: string; readonly retryInMs: number | null }
  | { readonly kind: 'refused'; readonly peer: NodeId | null; readonly direction: Direction; readonly reason: string }
  | { readonly kind: 'frame-error'; readonly peer: NodeId | null; readonly direction: Direction; readonly code: string; readonly reason: string }
  | { readonly kind: 'dropped'; readonly peer: NodeId; readonly direction: Direction; readonly reason: DropReason; readonly messages: number; readonly detail: string }
  | { readonly kind: 'snapshot'; readonly peer: NodeId; readonly direction: Direction; readonly status: SnapshotEventStatus; readonly bytes: number; readonly detail: string }
  | { readonly kind: 'rtt'; readonly peer: NodeId; readonly sampleMs: number; readonly smoothedMs: number };

/** Every event names the cluster and the member whose transport published it. */
export type TransportEvent = TransportEventBody & { readonly clusterId: number; readonly member: NodeId };

export type Publish = (body: TransportEventBody) => void;

export function publisher(clusterId: number, member: NodeId): Publish {
  return (body) => {
    if (transportChannel.hasSubscribers) transportChannel.publish({ ...body, clusterId, member });
  };
}
