// The ordered in-memory index of all keys (etcd's treeIndex): a B+tree of KeyIndex by key, for point lookups
// and ordered range scans. Removal does not rebalance; the tree is rebuilt when removals pile up.

import { assert } from '../util/assert.js';
import { KeyIndex } from './key_index.js';

const NODE_MAX = 64;

class Leaf {
  items: KeyIndex[] = [];
  next: Leaf | null = null;
}

class Inner {
  /** keys[i] <= every key under children[i + 1]; every key under children[i] < keys[i]. */
  keys: string[] = [];
  children: Node[] = [];
}

type Node = Leaf | Inner;

/** First position in `items` whose key is >= key. */
function lowerBound(items: KeyIndex[], key: string): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((items[mid] as KeyIndex).key < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Child to descend into: the number of separators <= key. */
function childIndex(keys: string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((keys[mid] as string) <= key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class TreeIndex {
  private root: Node = new Leaf();
  private count = 0;
  private removedSinceRebuild = 0;

  size(): number {
    return this.count;
  }

  private leafFor(key: string): Leaf {
    let node = this.root;
    while (node instanceof Inner) node = node.children[childIndex(node.keys, key)] as Node;
    return node;
  }

  get(key: string): KeyIndex | undefined {
    const leaf = this.leafFor(key);
    const i = lowerBound(leaf.items, key);
    const ki = leaf.items[i];
    return ki !== undefined && ki.key === key ? ki : undefined;
  }

  /** The KeyIndex of `key`, created (empty) if absent. */
  getOrCreate(key: string): KeyIndex {
    const path: Inner[] = [];
    const slots: number[] = [];
    let node = this.root;
    while (node instanceof Inner) {
      const c = childIndex(node.keys, key);
      path.push(node);
      slots.push(c);
      node = node.children[c] as Node;
    }
    const i = lowerBound(node.items, key);
    const found = node.items[i];
    if (found !== undefined && found.key === key) return found;
    const ki = new KeyIndex(key);
    node.items.splice(i, 0, ki);
    this.count++;
    if (node.items.length > NODE_MAX) this.split(node, path, slots);
    return ki;
  }

  private split(leaf: Leaf, path: Inner[], slots: number[]): void {
    const right = new Leaf();
    right.items = leaf.items.splice(NODE_MAX >> 1);
    right.next = leaf.next;
    leaf.next = right;
    let sep = (right.items[0] as KeyIndex).key;
    let newChild: Node = right;
    for (let level = path.length - 1; level >= 0; level--) {
      const parent = path[level] as Inner;
      const slot = slots[level] as number;
      parent.keys.splice(slot, 0, sep);
      parent.children.splice(slot + 1, 0, newChild);
      if (parent.children.length <= NODE_MAX) return;
      const half = parent.keys.length >> 1;
      const sibling = new Inner();
      sep = parent.keys[half] as string;
      sibling.keys = parent.keys.splice(half + 1);
      parent.keys.length = half;
      sibling.children = parent.children.splice(half + 1);
      newChild = sibling;
    }
    const root = new Inner();
    root.keys = [sep];
    root.children = [this.root, newChild];
    this.root = root;
  }

  remove(key: string): void {
    const leaf = this.leafFor(key);
    const i = lowerBound(leaf.items, key);
    const ki = leaf.items[i];
    assert(ki !== undefined && ki.key === key, 'TreeIndex.remove: key not present');
    leaf.items.splice(i, 1);
    this.count--;
    this.removedSinceRebuild++;
    if (this.removedSinceRebuild > 1024 && this.removedSinceRebuild > this.count) this.rebuild();
  }

  /**
   * Calls `visit` for each KeyIndex with start <= key < end in key order (end null: no upper bound) until it
   * returns false.
   */
  forRange(start: string, end: string | null, visit: (ki: KeyIndex) => boolean): void {
    let leaf: Leaf | null = this.leafFor(start);
    let i = lowerBound(leaf.items, start);
    while (leaf !== null) {
      const items = leaf.items;
      for (; i < items.length; i++) {
        const ki = items[i] as KeyIndex;
        if (end !== null && ki.key >= end) return;
        if (!visit(ki)) return;
      }
      leaf = leaf.next;
      i = 0;
    }
  }

  /** Every KeyIndex in key order. */
  forEach(visit: (ki: KeyIndex) => void): void {
    this.forRange('', null, (ki) => {
      visit(ki);
      return true;
    });
  }

  /** Rebuilds the tree densely from its items (after many removals left empty or thin leaves). */
  rebuild(): void {
    const all: KeyIndex[] = [];
    this.forEach((ki) => all.push(ki));
    this.root = TreeIndex.build(all);
    this.count = all.length;
    this.removedSinceRebuild = 0;
  }

  private static build(sorted: KeyIndex[]): Node {
    const fill = (NODE_MAX * 3) >> 2;
    let level: Node[] = [];
    let firstKeys: string[] = [];
    let prev: Leaf | null = null;
    for (let i = 0; i < sorted.length || level.length === 0; i += fill) {
      const leaf = new Leaf();
      leaf.items = sorted.slice(i, i + fill);
      if (prev !== null) prev.next = leaf;
      prev = leaf;
      level.push(leaf);
      firstKeys.push(leaf.items.length > 0 ? (leaf.items[0] as KeyIndex).key : '');
    }
    while (level.length > 1) {
      const up: Node[] = [];
      const upKeys: string[] = [];
      for (let i = 0; i < level.length; i += fill) {
        const inner = new Inner();
        inner.children = level.slice(i, i + fill);
        inner.keys = firstKeys.slice(i + 1, i + fill);
        up.push(inner);
        upKeys.push(firstKeys[i] as string);
      }
      level = up;
      firstKeys = upKeys;
    }
    return level[0] as Node;
  }
}
