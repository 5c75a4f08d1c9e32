// The coded errors storage raises at its edge: corruption (naming file and offset), a dead log, a foreign directory.

import { MeridianError } from '../util/errors.js';

/** Bytes on disk are wrong in a way a crash cannot explain; the member must not start. */
export class StorageCorruptionError extends MeridianError {
  readonly file: string;
  readonly offset: number;
  constructor(file: string, offset: number, reason: string, options?: { cause?: unknown }) {
    super('ERR_STORAGE_CORRUPT', `${file} is corrupt at byte offset ${offset}: ${reason}`, options);
    this.name = 'StorageCorruptionError';
    this.file = file;
    this.offset = offset;
  }
}

/** The files are individually sound but do not fit together (a lost segment, a missing snapshot). */
export class StorageInconsistentError extends MeridianError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_STORAGE_INCONSISTENT', message, options);
    this.name = 'StorageInconsistentError';
  }
}

/**
 * A write, fsync or other I/O failed: what is on disk is unknown, so the log refuses all further
 * work and the member must stop (retrying an fsync after a failure can silently lose data).
 */
export class StorageFailedError extends MeridianError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_STORAGE_FAILED', message, options);
    this.name = 'StorageFailedError';
  }
}

/** The data directory belongs to another cluster or member. */
export class WrongDataDirError extends MeridianError {
  constructor(message: string) {
    super('ERR_STORAGE_WRONG_MEMBER', message);
    this.name = 'WrongDataDirError';
  }
}

/** The log was closed; no further calls are accepted. */
export class StorageClosedError extends MeridianError {
  constructor(what: string) {
    super('ERR_STORAGE_CLOSED', `Cannot ${what}: the log is closed`);
    this.name = 'StorageClosedError';
  }
}
