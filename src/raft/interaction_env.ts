// Runs Raft interaction scripts (testdata/*.txt): commands drive RawNodes by hand and print what they emit,
// so a script with its expected output documents and pins one behaviour (after etcd-io/raft's rafttest).

import { assert } from '../util/assert.js';
import { logIndex, nodeId, type LogIndex, type NodeId } from '../util/branded.js';
import { Prng } from '../util/prng.js';
import { decodeConfChange } from './confchange_codec.js';
import { MemoryStorage } from './memory_storage.js';
import { RawNode, type Ready } from './raw_node.js';
import { defaultRaftConfig, type TestClusterOptions } from './test_cluster.js';
import {
  ConfChangeType,
  EntryType,
  messageTypeName,
  type ConfChangeSingle,
  type ConfChangeTransition,
  type ConfState,
  type Entry,
  type Message,
  type Snapshot,
} from './types.js';

export interface ScriptCase {
  /** 1-based line of the command in the script. */
  readonly line: number;
  readonly command: string;
  readonly expected: string;
}

/** Splits a script into command/expected-output cases. Comments (#) before a command are kept out. */
export function parseScript(text: string): ScriptCase[] {
  const lines = text.split('\n');
  const cases: ScriptCase[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = (lines[i] as string).trim();
    if (line === '' || line.startsWith('#')) {
      i++;
      continue;
    }
    const at = i + 1;
    i++;
    assert((lines[i] ?? '').trim() === '----', `script line ${at + 1}: expected "----" after command "${line}"`);
    i++;
    const out: string[] = [];
    while (i < lines.length && (lines[i] as string) !== '') out.push(lines[i++] as string);
    cases.push({ line: at, command: line, expected: out.join('\n') });
  }
  return cases;
}

/** Writes cases back as a script, keeping the original text's comments (used by REWRITE=1). */
export function rewriteScript(text: string, outputs: readonly string[]): string {
  const lines = text.split('\n');
  const result: string[] = [];
  let i = 0;
  let n = 0;
  while (i < lines.length) {
    const line = (lines[i] as string).trim();
    if (line === '' || line.startsWith('#')) {
      result.push(lines[i] as string);
      i++;
      continue;
    }
    result.push(lines[i] as string, '----');
    i += 2;
    while (i < lines.length && (lines[i] as string) !== '') i++;
    const out = outputs[n++] ?? '';
    if (out !== '') result.push(out);
  }
  return result.join('\n');
}

interface EnvNode {
  readonly id: NodeId;
  readonly options: TestClusterOptions;
  rawNode: RawNode;
  readonly storage: MemoryStorage;
  readonly applied: string[];
}

const dec = new TextDecoder();
const enc = new TextEncoder();

export function describeEntry(e: Entry): string {
  if (e.type === EntryType.ConfChange) return `${e.term}/${e.index} EntryConfChange ${describeConfChange(e.data)}`;
  return `${e.term}/${e.index} EntryNormal${e.data.byteLength > 0 ? ` "${dec.decode(e.data)}"` : ''}`;
}

function describeConfChange(data: Uint8Array): string {
  const cc = decodeConfChange(data);
  const names = cc.changes.map((c) => `${c.type === ConfChangeType.AddNode ? 'v' : c.type === ConfChangeType.AddLearnerNode ? 'l' : 'r'}${c.nodeId}`);
  return names.length === 0 ? 'leave-joint' : `${cc.transition === 'auto' ? '' : `${cc.transition} `}${names.join(' ')}`;
}

function describeConfState(cs: ConfState): string {
  let s = `voters=(${cs.voters.join(' ')})`;
  if (cs.votersOutgoing.length > 0) s += `&&(${cs.votersOutgoing.join(' ')})`;
  if (cs.learners.length > 0) s += ` learners=(${cs.learners.join(' ')})`;
  if (cs.learnersNext.length > 0) s += ` learners_next=(${cs.learnersNext.join(' ')})`;
  return s;
}

function describeSnapshot(s: Snapshot): string {
  return `Index:${s.metadata.index} Term:${s.metadata.term} ConfState:${describeConfState(s.metadata.confState)}`;
}

export function describeMessage(m: Message): string {
  let s = `${m.from}->${m.to} Msg${messageTypeName[m.type]} Term:${m.term}`;
  const t = messageTypeName[m.type];
  if (t === 'App' || t === 'Vote' || t === 'PreVote') s += ` Log:${m.logTerm}/${m.index}`;
  if (t === 'AppResp' || t === 'ReadIndexResp') s += ` Index:${m.index}`;
  if (m.reject) s += ` Rejected (Hint: ${m.rejectHint}${m.logTerm > 0 ? `, LogTerm: ${m.logTerm}` : ''})`;
  if (m.commit > 0) s += ` Commit:${m.commit}`;
  if (m.context.byteLength > 0) s += ` Context:${JSON.stringify(dec.decode(m.context))}`;
  if (m.entries.length > 0) s += ` Entries:[${m.entries.map(describeEntry).join(', ')}]`;
  if (m.snapshot !== null) s += ` Snapshot:[${describeSnapshot(m.snapshot)}]`;
  return s;
}

/** Parses `key=value` and `key=(a b c)` arguments; bare words go to `_`. */
function parseArgs(words: readonly string[]): { positional: string[]; named: Map<string, string> } {
  const positional: string[] = [];
  const named = new Map<string, string>();
  const text = words.join(' ');
  for (const m of text.matchAll(/(\w+)=\(([^)]*)\)|(\w+)=(\S+)|(\S+)/g)) {
    if (m[1] !== undefined) named.set(m[1], (m[2] ?? '').trim());
    else if (m[3] !== undefined) named.set(m[3], m[4] ?? '');
    else positional.push(m[5] ?? '');
  }
  return { positional, named };
}

export class InteractionEnv {
  private readonly nodes = new Map<NodeId, EnvNode>();
  /** Messages produced and not yet delivered, per recipient. */
  private readonly inbox = new Map<NodeId, Message[]>();
  private readonly isolated = new Set<NodeId>();
  private readonly prng = new Prng(42);
  private out: string[] = [];

  /** Runs one command and returns what it printed. */
  handle(command: string): string {
    this.out = [];
    const [cmd, ...rest] = command.split(/\s+/);
    const { positional, named } = parseArgs(rest);
    const id = (i = 0): NodeId => nodeId(Number(positional[i]));
    switch (cmd) {
      case 'add-nodes': this.addNodes(Number(positional[0]), named); break;
      case 'campaign': this.node(id()).rawNode.campaign(); break;
      case 'propose': this.print(this.node(id()).rawNode.propose(enc.encode(positional[1] ?? '')).kind === 'dropped' ? 'dropped' : ''); break;
      case 'propose-conf-change': this.proposeConfChange(id(), positional.slice(1), named); break;
      case 'read-index': this.node(id()).rawNode.readIndex(enc.encode(positional[1] ?? '')); break;
      case 'transfer-leadership': this.node(nodeId(Number(named.get('from')))).rawNode.transferLeader(nodeId(Number(named.get('to')))); break;
      case 'tick-election': this.tick(id(), (n) => n.rawNode.raft.electionTimeoutTicks()); break;
      case 'tick-heartbeat': this.tick(id(), () => 1); break;
      case 'tick': this.tick(id(), () => Number(positional[1] ?? '1')); break;
      case 'process-ready': for (const i of this.ids(positional)) this.processReady(i); break;
      case 'deliver-msgs': for (const i of this.ids(positional)) this.deliver(i); break;
      case 'stabilize': this.stabilize(this.ids(positional)); break;
      case 'isolate': this.isolated.add(id()); break;
      case 'heal': this.isolated.clear(); break;
      case 'status': this.status(id()); break;
      case 'raft-log': this.raftLog(id()); break;
      case 'raft-state': this.raftState(); break;
      case 'applied': this.print(`${id()}: [${this.node(id()).applied.join(' ')}]`); break;
      case 'compact': this.compact(id(), logIndex(Number(positional[1]))); break;
      case 'restart': this.restart(id()); break;
      default: assert(false, `unknown command "${cmd ?? ''}"`);
    }
    return this.out.filter((l) => l !== '').join('\n');
  }

  private print(line: string): void {
    this.out.push(line);
  }

  private node(id: NodeId): EnvNode {
    const n = this.nodes.get(id);
    assert(n !== undefined, `no node ${id}`);
    return n;
  }

  private ids(positional: readonly string[]): NodeId[] {
    if (positional.length === 0) return [...this.nodes.keys()].sort((a, b) => a - b);
    return positional.map((p) => nodeId(Number(p)));
  }

  private addNodes(count: number, named: Map<string, string>): void {
    const list = (k: string): NodeId[] => (named.get(k) ?? '').split(/\s+/).filter((s) => s !== '').map((s) => nodeId(Number(s)));
    const first = this.nodes.size + 1;
    const voters = named.has('voters') ? list('voters') : Array.from({ length: count }, (_, i) => nodeId(first + i));
    const cs: ConfState = { voters, learners: list('learners'), votersOutgoing: [], learnersNext: [], autoLeave: false };
    for (let i = 0; i < count; i++) {
      const id = nodeId(first + i);
      const storage = MemoryStorage.withConfState(named.has('empty') ? { ...cs, voters: [], learners: [] } : cs);
      const options: TestClusterOptions = {
        preVote: named.get('prevote') === 'true',
        checkQuorum: named.get('checkquorum') === 'true',
        ...(named.has('max-msg-size') ? { maxSizePerMsg: Number(named.get('max-msg-size')) } : {}),
      };
      const rawNode = new RawNode(defaultRaftConfig(id, storage, this.prng.fork(), options));
      this.nodes.set(id, { id, options, rawNode, storage, applied: [] });
      this.print(`INFO ${id} is ${describeConfState(cs)} term 0`);
    }
  }

  private proposeConfChange(id: NodeId, changes: readonly string[], named: Map<string, string>): void {
    const parsed: ConfChangeSingle[] = changes.map((c) => {
      const type = c[0] === 'v' ? ConfChangeType.AddNode : c[0] === 'l' ? ConfChangeType.AddLearnerNode : ConfChangeType.RemoveNode;
      assert(c[0] === 'v' || c[0] === 'l' || c[0] === 'r', `conf change "${c}" must start with v, l or r`);
      return { type, nodeId: nodeId(Number(c.slice(1))) };
    });
    const transition = (named.get('transition') ?? 'auto') as ConfChangeTransition;
    const r = this.node(id).rawNode.proposeConfChange({ transition, changes: parsed, context: new Uint8Array(0) });
    if (r.kind === 'dropped') this.print(`dropped: ${r.reason}`);
  }

  private tick(id: NodeId, count: (n: EnvNode) => number): void {
    const n = this.node(id);
    const ticks = count(n);
    for (let i = 0; i < ticks; i++) n.rawNode.tick();
  }

  private processReady(id: NodeId): void {
    const n = this.node(id);
    if (!n.rawNode.hasReady()) return;
    const rd = n.rawNode.ready();
    this.print(`> ${id} handling Ready`);
    this.printReady(rd);
    if (rd.snapshot !== null) n.storage.applySnapshot(rd.snapshot);
    n.storage.append(rd.entries);
    if (rd.hardState !== null) n.storage.setHardState(rd.hardState);
    for (const e of rd.committedEntries) {
      if (e.type === EntryType.ConfChange) {
        const cs = n.rawNode.applyConfChange(decodeConfChange(e.data));
        this.print(`  INFO ${id} applied conf change at ${e.index}: ${describeConfState(cs)}`);
      } else if (e.data.byteLength > 0) {
        n.applied.push(dec.decode(e.data));
      }
    }
    for (const m of [...rd.messages, ...rd.messagesAfterPersist]) {
      if (this.isolated.has(m.from) || this.isolated.has(m.to)) continue; // lost on the way
      const q = this.inbox.get(m.to) ?? [];
      q.push(m);
      this.inbox.set(m.to, q);
    }
    n.rawNode.advance(rd);
  }

  private printReady(rd: Ready): void {
    const p = (s: string): void => this.print(`  ${s}`);
    if (rd.softState !== null) p(`Lead:${rd.softState.lead} State:${rd.softState.role}`);
    if (rd.hardState !== null) p(`HardState Term:${rd.hardState.term} Vote:${rd.hardState.vote} Commit:${rd.hardState.commit}`);
    if (rd.entries.length > 0) p(`Entries: ${rd.entries.map(describeEntry).join(', ')}`);
    if (rd.snapshot !== null) p(`Snapshot: ${describeSnapshot(rd.snapshot)}`);
    if (rd.committedEntries.length > 0) p(`CommittedEntries: ${rd.committedEntries.map(describeEntry).join(', ')}`);
    for (const m of rd.messages) p(`Send now: ${describeMessage(m)}`);
    for (const m of rd.messagesAfterPersist) p(`Send after persist: ${describeMessage(m)}`);
    for (const rs of rd.readStates) p(`ReadState: Index:${rs.index} Context:${JSON.stringify(dec.decode(rs.requestContext))}`);
  }

  private deliver(id: NodeId): void {
    const msgs = this.inbox.get(id) ?? [];
    this.inbox.set(id, []);
    for (const m of msgs) {
      if (this.isolated.has(m.from) || this.isolated.has(m.to)) {
        this.print(`dropped: ${describeMessage(m)}`);
        continue;
      }
      this.print(`${describeMessage(m)}`);
      this.node(id).rawNode.step(m);
    }
  }

  private stabilize(ids: readonly NodeId[]): void {
    for (let round = 0; round < 1000; round++) {
      let busy = false;
      for (const id of ids) {
        if (this.node(id).rawNode.hasReady()) {
          busy = true;
          this.processReady(id);
        }
      }
      for (const id of ids) {
        if ((this.inbox.get(id) ?? []).length > 0) {
          busy = true;
          this.print(`> ${id} receiving messages`);
          this.deliver(id);
        }
      }
      if (!busy) return;
    }
    assert(false, 'stabilize did not converge in 1000 rounds');
  }

  private status(id: NodeId): void {
    const s = this.node(id).rawNode.status();
    this.print(`${id}: ${s.softState.role} term=${s.hardState.term} lead=${s.softState.lead} vote=${s.hardState.vote} commit=${s.hardState.commit} applied=${s.applied} last=${s.lastIndex} ${s.config}`);
    for (const [pid, pr] of s.progress) {
      this.print(`  ${pid}: ${pr.state} match=${pr.match} next=${pr.next}${pr.isLearner ? ' learner' : ''}`);
    }
  }

  private raftLog(id: NodeId): void {
    const s = this.node(id).storage;
    const first = s.firstIndex();
    const last = s.lastIndex();
    if (last < first) {
      this.print('log is empty: first index=' + first + ', last index=' + last);
      return;
    }
    const ents = s.entries(first, logIndex(last + 1), Number.MAX_SAFE_INTEGER);
    assert(typeof ents !== 'string', 'raft-log: storage miss');
    for (const e of ents) this.print(describeEntry(e));
  }

  private raftState(): void {
    for (const n of [...this.nodes.values()].sort((a, b) => a.id - b.id)) {
      const r = n.rawNode.raft;
      this.print(`${n.id}: ${r.role} (${r.tracker.isVoter(n.id) ? 'Voter' : 'Non-Voter'}) term=${r.term} lead=${r.lead}${this.isolated.has(n.id) ? ' (isolated)' : ''}`);
    }
  }

  private compact(id: NodeId, index: LogIndex): void {
    const n = this.node(id);
    n.storage.createSnapshot(index, n.rawNode.raft.confState(), enc.encode(`snap@${index}`));
    n.storage.compact(index);
    this.print(`${id}: snapshot and compaction at ${index}; first index now ${n.storage.firstIndex()}`);
  }

  /** Restarts a node from its storage: everything not persisted is lost. */
  private restart(id: NodeId): void {
    const n = this.node(id);
    const snap = n.storage.snapshot();
    const applied = snap?.metadata.index ?? logIndex(0);
    n.rawNode = new RawNode(defaultRaftConfig(id, n.storage, this.prng.fork(), { ...n.options, applied }));
    n.applied.length = 0;
    this.inbox.set(id, []);
    this.print(`${id}: restarted at term ${n.rawNode.raft.term}, applied ${applied}, last index ${n.rawNode.raft.log.lastIndex()}`);
  }
}
