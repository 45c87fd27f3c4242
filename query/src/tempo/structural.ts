import type { Spansets } from "./traceql.ts";

/** One span of a trace as the structural operators see it: its place in the tree and which spanset filters it matches. */
export interface TreeSpan {
  spanId: string;
  parentSpanId: string;
  /** `leaves[i]`: the span matches the i-th spanset filter (left to right in the query). */
  leaves: boolean[];
}

/** Whether a query relates spans to each other (`>`, `>>`, `<`, `<<`, `~`) anywhere. */
export function hasStructure(s: Spansets): boolean {
  if (s.type === "spanset") return false;
  if (s.type === "and" || s.type === "or") return hasStructure(s.left) || hasStructure(s.right);
  return true;
}

/** A trace's spans indexed for walking up and down the tree. */
class Tree {
  readonly index = new Map<string, number>();
  readonly children = new Map<string, number[]>();
  constructor(readonly spans: readonly TreeSpan[]) {
    spans.forEach((s, i) => {
      this.index.set(s.spanId, i);
      if (s.parentSpanId === "") return;
      const list = this.children.get(s.parentSpanId);
      if (list) list.push(i);
      else this.children.set(s.parentSpanId, [i]);
    });
  }
  parent(i: number): number | undefined {
    const p = this.spans[i].parentSpanId;
    return p === "" ? undefined : this.index.get(p);
  }
  /** Ancestors of span i, nearest first (a cycle in bad data ends the walk). */
  *ancestors(i: number): Generator<number> {
    const seen = new Set<number>([i]);
    for (let p = this.parent(i); p !== undefined && !seen.has(p); p = this.parent(p)) {
      seen.add(p);
      yield p;
    }
  }
}

/**
 * The spans of one trace that a spanset expression yields (indexes into `spans`): a filter yields
 * its matching spans; `&&` yields both sides' spans when both have some, `||` either side's; a
 * structural operator yields the right side's spans related to some span of the left side.
 */
export function matchSpans(s: Spansets, spans: readonly TreeSpan[]): Set<number> {
  const tree = new Tree(spans);
  let leaf = 0;
  const evaluate = (node: Spansets): Set<number> => {
    if (node.type === "spanset") {
      const i = leaf++;
      const out = new Set<number>();
      spans.forEach((sp, j) => {
        if (sp.leaves[i]) out.add(j);
      });
      return out;
    }
    const left = evaluate(node.left);
    const right = evaluate(node.right);
    switch (node.type) {
      case "and":
        return left.size > 0 && right.size > 0 ? new Set([...left, ...right]) : new Set();
      case "or":
        return new Set([...left, ...right]);
      case "child":
        return filter(right, (r) => {
          const p = tree.parent(r);
          return p !== undefined && left.has(p);
        });
      case "descendant":
        return filter(right, (r) => {
          for (const a of tree.ancestors(r)) if (left.has(a)) return true;
          return false;
        });
      case "parent": {
        const parents = new Set<number>();
        for (const l of left) {
          const p = tree.parent(l);
          if (p !== undefined) parents.add(p);
        }
        return filter(right, (r) => parents.has(r));
      }
      case "ancestor": {
        const ancestors = new Set<number>();
        for (const l of left) for (const a of tree.ancestors(l)) ancestors.add(a);
        return filter(right, (r) => ancestors.has(r));
      }
      case "sibling":
        return filter(right, (r) => {
          const parent = spans[r].parentSpanId;
          if (parent === "") return false;
          return (tree.children.get(parent) ?? []).some((c) => c !== r && left.has(c));
        });
    }
  };
  return evaluate(s);
}

function filter(set: Set<number>, keep: (i: number) => boolean): Set<number> {
  const out = new Set<number>();
  for (const i of set) if (keep(i)) out.add(i);
  return out;
}
