// Every bound of the peer transport, named in one place: wire sizes, queue bounds, timings.
// The transport's tuning defaults to these; tests shrink the timings, never the wire limits.

import { CONF_CHANGE_MEMBERS_MAX } from '../../raft/confchange_codec.js';
import { ENTRY_OVERHEAD_BYTES } from '../../raft/types.js';
import { assert } from '../../util/assert.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Version of the connection protocol (handshake and frame kinds); both ends must agree exactly. */
export const PEER_PROTOCOL_VERSION = 1;
/** Version byte at the start of every encoded raft Message. */
export const PEER_MESSAGE_CODEC_VERSION = 1;

/** An encoded raft Message larger than this is refused by the encoder and rejected by the decoder. */
export const PEER_MESSAGE_BYTES_MAX = 8 * MiB;
/** Entries one Message may carry. */
export const PEER_MESSAGE_ENTRIES_MAX = 256 * KiB;
/** Bytes of one entry's data (the kv layer's request limit, 1.5 MiB, plus room for the command envelope). */
export const PEER_ENTRY_DATA_BYTES_MAX = 2 * MiB;
/** Bytes of a Message's context (heartbeat and ReadIndex contexts are a few bytes). */
export const PEER_MESSAGE_CONTEXT_BYTES_MAX = 64 * KiB;
/** Member ids in one list of a snapshot's ConfState; the same bound as a ConfChange. */
export const PEER_CONF_STATE_MEMBERS_MAX = CONF_CHANGE_MEMBERS_MAX;
/**
 * The largest raft `maxSizePerMsg` the member may configure: a MsgApp holds entries up to that many
 * bytes (each counted with ENTRY_OVERHEAD_BYTES) plus one entry that may overshoot, and must still fit
 * both the byte and the entry-count limits above.
 */
export const PEER_RAFT_MAX_SIZE_PER_MSG_MAX = 4 * MiB;

/** Frame header: payload length (u32) and CRC32C of the payload (u32), big-endian. */
export const PEER_FRAME_HEADER_BYTES = 8;
/** Frame payload beyond the message: kind byte and the snapshot-begin header. */
export const PEER_FRAME_PREFIX_BYTES_MAX = 64;
/** The largest frame payload accepted once a connection is established. */
export const PEER_FRAME_PAYLOAD_BYTES_MAX = PEER_MESSAGE_BYTES_MAX + PEER_FRAME_PREFIX_BYTES_MAX;
/** The largest frame payload accepted before the handshake completed (a hello or its answer). */
export const PEER_HANDSHAKE_PAYLOAD_BYTES_MAX = 512;
/** Bytes of the reason text a refusal carries. */
export const PEER_REFUSAL_REASON_BYTES_MAX = 256;

/** Snapshot data travels in chunks of this many bytes, so heartbeats are never stuck behind a whole snapshot. */
export const PEER_SNAPSHOT_CHUNK_BYTES = 256 * KiB;
/** The largest snapshot sent or reassembled; the receiver holds it in memory until it is verified. */
export const PEER_SNAPSHOT_BYTES_MAX = 1024 * MiB;

/** Bytes queued for one peer (not yet written plus the socket's own buffer) before messages are dropped. */
export const PEER_QUEUE_BYTES_MAX = 16 * MiB;
/** Messages queued for one peer before further ones are dropped; raft's inflight window keeps far below. */
export const PEER_QUEUE_MESSAGES_MAX = 4096;

/** First reconnect delay; it doubles per failed attempt up to PEER_BACKOFF_MAX_MS. */
export const PEER_BACKOFF_BASE_MS = 50;
export const PEER_BACKOFF_MAX_MS = 5000;
/** Each delay is shortened by a random fraction up to this, so members do not reconnect in lock step. */
export const PEER_BACKOFF_JITTER_FRACTION = 0.5;
/** A connection must stay up this long before the next failure starts again from the base delay. */
export const PEER_BACKOFF_RESET_AFTER_MS = 2000;
/** Connecting plus the handshake must finish within this, on either side. */
export const PEER_HANDSHAKE_TIMEOUT_MS = 3000;
/** How often the dialing side sends a ping to measure the round trip and prove the link alive. */
export const PEER_PING_INTERVAL_MS = 1000;
/** A connection on which nothing was heard for this long is closed (dead peer, stalled socket). */
export const PEER_SILENT_LIMIT_MS = 5000;
/** Weight of a new round-trip sample in the smoothed value (TCP's SRTT gain, RFC 6298). */
export const PEER_RTT_SMOOTHING_GAIN = 0.125;
/** Accepted connections that have not completed their handshake; more are closed at once. */
export const PEER_INBOUND_HANDSHAKING_MAX = 64;
/** Answers (pongs, acks) waiting to be written to a peer that does not read them; beyond this they are dropped. */
export const PEER_REPLY_BACKLOG_BYTES_MAX = 64 * KiB;
/** close() ends every socket gracefully, and destroys those still open after this long. */
export const PEER_CLOSE_TIMEOUT_MS = 1000;
/** The emulated one-way delay plus jitter may not exceed this (a misconfiguration, not a WAN). */
export const PEER_EMULATION_DELAY_MS_MAX = 10_000;

// Relationships between the bounds.
assert(PEER_QUEUE_BYTES_MAX >= PEER_FRAME_HEADER_BYTES + PEER_FRAME_PAYLOAD_BYTES_MAX, 'a queue must hold one largest frame');
assert(PEER_SNAPSHOT_CHUNK_BYTES + PEER_FRAME_PREFIX_BYTES_MAX <= PEER_FRAME_PAYLOAD_BYTES_MAX, 'a chunk must fit a frame');
assert(PEER_RAFT_MAX_SIZE_PER_MSG_MAX + PEER_ENTRY_DATA_BYTES_MAX + PEER_MESSAGE_CONTEXT_BYTES_MAX + 4 * KiB <= PEER_MESSAGE_BYTES_MAX,
  'a MsgApp of raft maxSizePerMsg plus one overshooting entry must fit a message');
assert(Math.floor(PEER_RAFT_MAX_SIZE_PER_MSG_MAX / ENTRY_OVERHEAD_BYTES) + 1 <= PEER_MESSAGE_ENTRIES_MAX,
  'a MsgApp of raft maxSizePerMsg must fit the entry count limit');
assert(PEER_SILENT_LIMIT_MS >= 3 * PEER_PING_INTERVAL_MS, 'several pings must fit in the silence limit');
assert(PEER_BACKOFF_BASE_MS > 0 && PEER_BACKOFF_BASE_MS <= PEER_BACKOFF_MAX_MS, 'backoff bounds');
assert(PEER_BACKOFF_JITTER_FRACTION >= 0 && PEER_BACKOFF_JITTER_FRACTION < 1, 'jitter is a fraction');
