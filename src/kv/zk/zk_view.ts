// Local reads of the ZooKeeper data model from the MVCC store (what the server answers reads with, on the member
// the session is connected to): znodes, children, sessions, ephemerals, and the containers/TTL nodes to reap.

import { keyRange, type MvccStore } from '../mvcc.js';
import { latin1ToBytes } from '../../storage/backend/backend.js';
import { readZnode } from './zk_apply.js';
import { decodeSession, decodeZnode, type Znode, type ZkSessionRecord } from './zk_node.js';
import {
  allNodesRange, childrenRange, isNodeKey, markersRange, nodeKey, pathOfKey, pathOfMarker, sessionIdOfKey, sessionKey, sessionsRange,
} from './zk_path.js';

export class ZkView {
  constructor(private readonly mvcc: MvccStore, private readonly leaseKeys: (id: number) => readonly string[] | null) {}

  node(path: string): Znode | null {
    return readZnode(this.mvcc, path);
  }

  private visitRange(start: string, end: string, visit: (key: string) => boolean): void {
    this.mvcc.visit(keyRange(latin1ToBytes(start), latin1ToBytes(end)), (ki) => (ki.isLive() ? visit(ki.key) : true));
  }

  /** Names of the children of `path`, in byte order. */
  children(path: string): string[] {
    const { start, end } = childrenRange(path);
    const out: string[] = [];
    this.visitRange(start, end, (key) => {
      const p = pathOfKey(key);
      out.push(p.slice(p.lastIndexOf('/') + 1));
      return true;
    });
    return out;
  }

  /** Every descendant of `path` (getAllChildrenNumber). */
  descendantCount(path: string): number {
    let n = 0;
    const count = (): boolean => {
      n++;
      return true;
    };
    if (path === '/') {
      // Every znode key but the root's own ("n\0").
      const all = allNodesRange();
      this.visitRange(`${all.start}\x01`, all.end, count);
      return n;
    }
    const { start, end } = childrenRange(path);
    this.visitRange(start, end, count);
    // Deeper descendants have a parent path starting with `path/`: keys in ["n" + path + "/", "n" + path + "0").
    const base = start.slice(0, -1);
    this.visitRange(`${base}/`, `${base}0`, count);
    return n;
  }

  session(id: number): ZkSessionRecord | null {
    const kv = this.mvcc.getLive(sessionKey(id));
    return kv === null ? null : decodeSession(id, kv.value);
  }

  sessionIds(): number[] {
    const out: number[] = [];
    const { start, end } = sessionsRange();
    this.visitRange(start, end, (key) => {
      out.push(sessionIdOfKey(key));
      return true;
    });
    return out;
  }

  /** Paths of the session's ephemeral znodes under `prefix` (every one for "/"), sorted. */
  ephemerals(id: number, prefix = '/'): string[] {
    const keys = this.leaseKeys(id) ?? [];
    return keys.filter(isNodeKey).map(pathOfKey).filter((p) => prefix === '/' || p.startsWith(prefix)).sort();
  }

  /** Containers and TTL nodes (the leader checks each for reaping). */
  reapCandidates(max: number): { path: string; node: Znode }[] {
    const out: { path: string; node: Znode }[] = [];
    const { start, end } = markersRange();
    this.visitRange(start, end, (key) => {
      const path = pathOfMarker(key);
      const kv = this.mvcc.getLive(nodeKey(path));
      if (kv !== null) out.push({ path, node: decodeZnode(kv.value, kv.createRevision) });
      return out.length < max;
    });
    return out;
  }
}
