// What a ZooKeeper connection needs from its member, as one small interface: the server wires it to the Member
// (and to the leader forwarder for session keep-alives), tests can wire it to anything.

import type { Command, CommandResponse } from '../../kv/rpc.js';
import type { KvStateMachine } from '../../kv/state_machine.js';
import type { LeaseId } from '../../util/branded.js';

export interface ZkHost {
  /** The member's state machine now (it is replaced when a snapshot is installed). */
  kv(): KvStateMachine;
  propose(command: Command): Promise<CommandResponse>;
  /** Waits until this member applied everything committed when called (ZooKeeper's sync, via ReadIndex). */
  readBarrier(): Promise<void>;
  /**
   * Waits, before every read, as the member's configured freshness requires (`--zk-read-consistency`); absent:
   * reads are served from the member's state at once, as ZooKeeper does.
   */
  readonly readGate?: () => Promise<void>;
  /** The freshness of reads, for the four-letter words ('serializable' when there is no gate). */
  readonly readConsistency?: string;
  /** Renews a session's lease on the leader (forwarded from a follower); rejects when it is gone. */
  keepAlive(id: LeaseId): Promise<{ readonly ttlSeconds: number }>;
  isLeader(): boolean;
  /** Wall-clock ms, stamped into commands (ctime, mtime, TTLs). */
  wallNow(): number;
}
