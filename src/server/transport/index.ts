// The peer transport's public surface, as the member's driver loop uses it. Wiring, in short:
//   const t = await PeerTransport.listen({ clusterId, memberId, host, port,
//     onMessage: (m) => rawNode.step(m), onUnreachable: (id) => rawNode.reportUnreachable(id),
//     onSnapshotStatus: (id, s) => rawNode.reportSnapshot(id, s) });
//   t.addPeer(id, host, port) per member;  t.send(ready.messages);  after the fsync: t.send(ready.messagesAfterPersist).
// raft's maxSizePerMsg must not exceed PEER_RAFT_MAX_SIZE_PER_MSG_MAX, or large appends are dropped as too large.

export { PeerTransport, type PeerTransportOptions } from './peer_transport.js';
export type { PeerStatus, LinkState, WanEmulation } from './peer_link.js';
export { DEFAULT_TUNING, type PeerTransportTuning } from './tuning.js';
export { TRANSPORT_CHANNEL_NAME, type TransportEvent, type DropReason, type Direction } from './diagnostics.js';
export { encodeMessage, decodeMessage, encodedMessageBytes } from './message_codec.js';
export { PeerDecodeError, PeerEncodeError, PeerFrameError } from './transport_errors.js';
export * from './limits.js';
