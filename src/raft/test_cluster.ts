// A synchronous in-memory cluster of RawNodes for tests, scripts and the raft benchmark: persistence is
// instant (MemoryStorage) and messages are delivered in rounds until the cluster is quiet.

import { assert } from '../util/assert.js';
import { nodeId, type LogIndex, type NodeId } from '../util/branded.js';
import { Prng } from '../util/prng.js';
import { decodeConfChange } from './confchange_codec.js';
import { MemoryStorage } from './memory_storage.js';
import type { PlantedBugs, RaftConfig } from './raft.js';
import { RawNode, type Ready } from './raw_node.js';
import { EntryType, type ConfState, type Entry, type Message } from './types.js';

export interface TestNode {
  readonly id: NodeId;
  rawNode: RawNode;
  readonly storage: MemoryStorage;
  /** Normal entries with data, in the order applied. */
  readonly applied: Entry[];
}

export interface TestClusterOptions {
  readonly seed?: number;
  readonly preVote?: boolean;
  readonly checkQuorum?: boolean;
  readonly electionTicks?: number;
  readonly heartbeatTicks?: number;
  readonly learners?: readonly number[];
  readonly maxSizePerMsg?: number;
  readonly maxInflightMsgs?: number;
  readonly plantedBugs?: PlantedBugs;
  /** The index the application has applied (on restart). */
  readonly applied?: LogIndex;
  /** Keep applied entries in TestNode.applied (off for benchmarks). */
  readonly recordApplied?: boolean;
}

export function defaultRaftConfig(id: NodeId, storage: MemoryStorage, prng: Prng, o: TestClusterOptions = {}): RaftConfig {
  return {
    id,
    electionTicks: o.electionTicks ?? 10,
    heartbeatTicks: o.heartbeatTicks ?? 1,
    storage,
    maxSizePerMsg: o.maxSizePerMsg ?? 1024 * 1024,
    maxCommittedSizePerReady: 64 * 1024 * 1024,
    maxUncommittedEntriesSize: 0,
    maxInflightMsgs: o.maxInflightMsgs ?? 256,
    maxInflightBytes: 0,
    checkQuorum: o.checkQuorum ?? false,
    preVote: o.preVote ?? false,
    readOnlyOption: 'safe',
    disableProposalForwarding: false,
    prng,
    ...(o.applied === undefined ? {} : { applied: o.applied }),
    ...(o.plantedBugs === undefined ? {} : { plantedBugs: o.plantedBugs }),
  };
}

export class TestCluster {
  readonly nodes = new Map<NodeId, TestNode>();
  /** Messages that a filter dropped, for inspection. */
  dropped: Message[] = [];
  /** Return false to drop a message. */
  filter: (m: Message) => boolean = () => true;
  /** Rewrites a message on the way (after the filter), e.g. to cut entries off an append. */
  transform: (m: Message) => Message = (m) => m;
  private readonly prng: Prng;
  private readonly recordApplied: boolean;

  constructor(voters: readonly number[], private readonly options: TestClusterOptions = {}) {
    this.prng = new Prng(options.seed ?? 1);
    this.recordApplied = options.recordApplied ?? true;
    const cs: ConfState = {
      voters: voters.map(nodeId),
      learners: (options.learners ?? []).map(nodeId),
      votersOutgoing: [],
      learnersNext: [],
      autoLeave: false,
    };
    for (const id of [...voters, ...(options.learners ?? [])]) {
      const storage = MemoryStorage.withConfState(cs);
      const rawNode = new RawNode(defaultRaftConfig(nodeId(id), storage, this.prng.fork(), options));
      this.nodes.set(nodeId(id), { id: nodeId(id), rawNode, storage, applied: [] });
    }
  }

  /** Crash and restart: the node keeps only its storage (what was persisted) and what it had applied. */
  restart(id: number): void {
    const n = this.node(id);
    const applied = n.rawNode.raft.log.applied;
    n.rawNode = new RawNode(defaultRaftConfig(n.id, n.storage, this.prng.fork(), { ...this.options, applied }));
  }

  node(id: number): TestNode {
    const n = this.nodes.get(nodeId(id));
    assert(n !== undefined, `no node ${id}`);
    return n;
  }

  /** Persists, applies and advances one Ready; returns every message it produced. */
  handleReady(n: TestNode, rd: Ready): Message[] {
    if (rd.snapshot !== null) n.storage.applySnapshot(rd.snapshot);
    n.storage.append(rd.entries);
    if (rd.hardState !== null) n.storage.setHardState(rd.hardState);
    for (const e of rd.committedEntries) {
      if (e.type === EntryType.ConfChange) n.rawNode.applyConfChange(decodeConfChange(e.data));
      else if (this.recordApplied && e.data.byteLength > 0) n.applied.push(e);
    }
    n.rawNode.advance(rd);
    return [...rd.messages, ...rd.messagesAfterPersist];
  }

  /** Runs Readies and delivers messages until nothing is left; bounded to catch livelock. */
  stabilize(maxRounds = 10_000): number {
    let delivered = 0;
    for (let round = 0; round < maxRounds; round++) {
      const outbox: Message[] = [];
      for (const n of this.nodes.values()) {
        while (n.rawNode.hasReady()) outbox.push(...this.handleReady(n, n.rawNode.ready()));
      }
      if (outbox.length === 0) return delivered;
      for (const m of outbox) {
        if (!this.filter(m)) {
          this.dropped.push(m);
          continue;
        }
        const to = this.nodes.get(m.to);
        if (to === undefined) continue;
        to.rawNode.step(this.transform(m));
        delivered++;
      }
    }
    assert(false, `cluster did not stabilize within ${maxRounds} rounds`);
  }

  /** Isolates a node: messages to or from it are dropped until heal(). */
  isolate(id: number): void {
    const prev = this.filter;
    this.filter = (m) => m.from !== id && m.to !== id && prev(m);
  }

  heal(): void {
    this.filter = () => true;
  }

  tickAll(ticks = 1): void {
    for (let i = 0; i < ticks; i++) for (const n of this.nodes.values()) n.rawNode.tick();
  }

  leader(): TestNode | undefined {
    for (const n of this.nodes.values()) if (n.rawNode.raft.role === 'leader') return n;
    return undefined;
  }
}
