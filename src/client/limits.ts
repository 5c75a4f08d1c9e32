// Every default and bound of the client in one place (times in milliseconds unless named otherwise).

import { assert } from '../util/assert.js';

/** Defaults of connect()'s options. */
export const CONNECT_DEFAULTS = Object.freeze({
  dialTimeoutMs: 2_000,
  requestTimeoutMs: 10_000,
  /**
   * Ten rounds over a three-member cluster: with the back-off between rounds (50 ms doubling to 1 s) that spans
   * about 5 s, longer than an election, so a call outlasts a leader change; the deadline bounds it anyway.
   */
  retryAttemptsMax: 30,
  retryBackoffMsBase: 50,
  retryBackoffMsMax: 1_000,
  memberDownMs: 1_000,
});

/** grpc-js's reconnect back-off for one member's channel. */
export const RECONNECT_BACKOFF_MS_INITIAL = 100;
export const RECONNECT_BACKOFF_MS_MAX = 2_000;

/** Meridian serves /v1/status on the client port + 2 by default. */
export const STATUS_PORT_OFFSET_DEFAULT = 2;
export const STATUS_FETCH_TIMEOUT_MS = 2_000;
/** Member list refreshes after failovers happen at most this often. */
export const MEMBER_REFRESH_INTERVAL_MS_MIN = 2_000;

/**
 * The staleness bound a member accepts (issue #6: 1 ms to 24 h). A looser bound is sent as this one (stricter, so
 * still what was asked); a bound below 1 ms is a linearizable read.
 */
export const MAX_STALENESS_MS_MAX = 24 * 60 * 60 * 1000;

/** Events buffered for one watcher whose consumer is not reading, before it fails with SlowConsumer. */
export const WATCH_BUFFERED_EVENTS_MAX = 100_000;
/** Consecutive failed attempts to reopen the watch stream before every watcher fails with Unavailable. */
export const WATCH_RECONNECT_ATTEMPTS_MAX = 30;

/** Keep-alives are sent every TTL / this (etcd's client uses a third of the TTL). */
export const LEASE_KEEPALIVE_DIVISOR = 3;
/** Floor of the keep-alive period, so a tiny TTL cannot make the client spin. */
export const LEASE_KEEPALIVE_MS_MIN = 200;
/** Consecutive failed attempts to reopen the keep-alive stream before the leases are reported lost. */
export const LEASE_RECONNECT_ATTEMPTS_MAX = 30;

/** Default TTL of the lease a recipe holds its keys with (etcd's concurrency session default). */
export const RECIPE_SESSION_TTL_SECONDS = 60;

assert(CONNECT_DEFAULTS.retryBackoffMsBase <= CONNECT_DEFAULTS.retryBackoffMsMax, 'back-off base above its cap');
assert(RECONNECT_BACKOFF_MS_INITIAL <= RECONNECT_BACKOFF_MS_MAX, 'reconnect back-off inverted');
assert(LEASE_KEEPALIVE_DIVISOR >= 2, 'a keep-alive must leave time for at least one retry within the TTL');
/** Meridian serves the ZooKeeper protocol on the client port - 198 by default (2379 → 2181). */
export const ZK_PORT_BELOW_CLIENT_DEFAULT = 198;
