// The peer transport's public surface, as the member's driver loop uses it.

export { PeerTransport, type PeerTransportOptions } from './peer_transport.js';
export type { PeerStatus, LinkState, WanEmulation } from './peer_link.js';
export { DEFAULT_TUNING, type PeerTransportTuning } from './tuning.js';
export { TRANSPORT_CHANNEL_NAME, type TransportEvent, type DropReason, type Direction } from './diagnostics.js';
export { encodeMessage, decodeMessage, encodedMessageBytes } from './message_codec.js';
export { PeerDecodeError, PeerEncodeError, PeerFrameError } from './transport_errors.js';
export * from './limits.js';
