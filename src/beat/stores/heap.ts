/**
 * Entry names ordered by next due time: a binary min-heap with lazy deletion (a name moved or removed
 * leaves its old node behind, skipped when it surfaces), so moving an entry costs O(log n) and a tick
 * touches only the entries that are due.
 */
interface Node {
  at: number;
  name: string;
  version: number;
}

export class DueHeap {
  private nodes: Node[] = [];
  private readonly current = new Map<string, { at: number; version: number }>();
  private versions = 0;

  /** Schedules `name` at `at` (epoch ms), or takes it out (null). */
  set(name: string, at: number | null): void {
    if (at === null) {
      this.current.delete(name);
      return;
    }
    const version = ++this.versions;
    this.current.set(name, { at, version });
    this.push({ at, name, version });
    if (this.nodes.length > 4 * this.current.size + 64) this.rebuild();
  }

  /** Removes and returns every name due at or before `until`, earliest first. */
  popUntil(until: number): string[] {
    const out: string[] = [];
    for (;;) {
      const top = this.top();
      if (top === undefined || top.at > until) return out;
      this.pop();
      this.current.delete(top.name);
      out.push(top.name);
    }
  }

  /** The earliest due time, or null when empty. */
  peekAt(): number | null {
    return this.top()?.at ?? null;
  }

  get size(): number {
    return this.current.size;
  }

  /** The first live node (stale ones are dropped on the way). */
  private top(): Node | undefined {
    for (;;) {
      const n = this.nodes[0];
      if (n === undefined) return undefined;
      const cur = this.current.get(n.name);
      if (cur !== undefined && cur.version === n.version) return n;
      this.pop();
    }
  }

  private rebuild(): void {
    this.nodes = [];
    for (const [name, { at, version }] of this.current) this.push({ at, name, version });
  }

  private push(node: Node): void {
    const a = this.nodes;
    a.push(node);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]!.at <= node.at) break;
      a[i] = a[p]!;
      i = p;
    }
    a[i] = node;
  }

  private pop(): void {
    const a = this.nodes;
    const last = a.pop()!;
    if (a.length === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= a.length) break;
      const r = l + 1;
      const c = r < a.length && a[r]!.at < a[l]!.at ? r : l;
      if (a[c]!.at >= last.at) break;
      a[i] = a[c]!;
      i = c;
    }
    a[i] = last;
  }
}
