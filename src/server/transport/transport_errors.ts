// Coded errors of the peer transport: bad bytes from the wire, refused handshakes, oversized messages.
// They reach the owner only through diagnostics (a bad peer must never harm the member); codecs throw them.

import { MeridianError } from '../../util/errors.js';

/** Bytes that do not decode: names what was being read and at which byte offset. */
export class PeerDecodeError extends MeridianError {
  override readonly name = 'PeerDecodeError';
  readonly what: string;
  readonly offset: number;
  constructor(what: string, offset: number, detail: string) {
    super('ERR_PEER_DECODE', `Cannot decode ${what} at byte ${offset}: ${detail}`);
    this.what = what;
    this.offset = offset;
  }
}

export type PeerFrameErrorCode = 'ERR_PEER_FRAME_TOO_LARGE' | 'ERR_PEER_FRAME_CHECKSUM' | 'ERR_PEER_FRAME_UNEXPECTED';

/** A frame that breaks the framing rules: over the length limit, a checksum mismatch, or the wrong kind. */
export class PeerFrameError extends MeridianError {
  override readonly name = 'PeerFrameError';
  declare readonly code: PeerFrameErrorCode;
  constructor(code: PeerFrameErrorCode, message: string) {
    super(code, message);
  }
}

/** A message the encoder refuses because it breaks a wire limit (a misconfigured raft, not a bad peer). */
export class PeerEncodeError extends MeridianError {
  override readonly name = 'PeerEncodeError';
  constructor(message: string) {
    super('ERR_PEER_MESSAGE_TOO_LARGE', message);
  }
}
