/**
 * The span tree of one trace and its waterfall geometry. Pure functions over the trace-detail
 * response, so the nesting and timing rules are tested without a browser.
 */

/** The fields of a span the tree needs (the API's span has many more). */
export interface SpanLike {
  spanId: string;
  parentSpanId: string;
  startTimeUnixNano: string;
  durationNs: string;
}

export interface TreeNode<S extends SpanLike> {
  span: S;
  depth: number;
  /** Nanoseconds from the trace start to the span's start. */
  startOffsetNs: number;
  durationNs: number;
  children: TreeNode<S>[];
  /** Number of descendants, so a collapsed node skips its whole subtree in one step. */
  descendants: number;
  /** The span names a parent that is not in the trace (lost, dropped or not yet arrived). */
  orphan: boolean;
}

export interface SpanTree<S extends SpanLike> {
  roots: TreeNode<S>[];
  /** Every node in display order: depth first, siblings by start time. */
  order: TreeNode<S>[];
  startNs: bigint;
  durationNs: number;
}

/** Where a span's bar sits in the waterfall, as fractions 0..1 of the trace's duration. */
export interface BarGeometry {
  offset: number;
  width: number;
}

/**
 * Builds the tree: each span under its parent, spans whose parent is missing (or that sit in a
 * parent cycle) at the root level, siblings sorted by start then span id so the order is stable.
 */
export function buildSpanTree<S extends SpanLike>(spans: readonly S[]): SpanTree<S> {
  let startNs: bigint | undefined;
  let endNs: bigint | undefined;
  const starts: bigint[] = new Array(spans.length);
  for (let i = 0; i < spans.length; i++) {
    const s = spans[i] as S;
    const start = BigInt(s.startTimeUnixNano);
    const end = start + BigInt(s.durationNs);
    starts[i] = start;
    if (startNs === undefined || start < startNs) startNs = start;
    if (endNs === undefined || end > endNs) endNs = end;
  }
  const t0 = startNs ?? 0n;

  const nodes: TreeNode<S>[] = spans.map((span, i) => ({
    span,
    depth: 0,
    // Offsets from the trace start fit a double exactly; absolute Unix nanoseconds do not.
    startOffsetNs: Number((starts[i] as bigint) - t0),
    durationNs: Number(span.durationNs),
    children: [],
    descendants: 0,
    orphan: false,
  }));
  const byId = new Map<string, TreeNode<S>>();
  for (const n of nodes) if (!byId.has(n.span.spanId)) byId.set(n.span.spanId, n);

  const roots: TreeNode<S>[] = [];
  for (const n of nodes) {
    const pid = n.span.parentSpanId;
    const parent = pid === "" ? undefined : byId.get(pid);
    if (parent && parent !== n) parent.children.push(n);
    else {
      n.orphan = pid !== "";
      roots.push(n);
    }
  }

  const order: TreeNode<S>[] = [];
  const visited = new Set<TreeNode<S>>();
  const walk = (root: TreeNode<S>) => {
    // Iterative depth-first walk: a 5,000-deep chain must not overflow the stack.
    const stack: TreeNode<S>[] = [root];
    root.depth = 0;
    while (stack.length > 0) {
      const n = stack.pop() as TreeNode<S>;
      if (visited.has(n)) continue;
      visited.add(n);
      order.push(n);
      n.children.sort(byStart);
      for (let i = n.children.length - 1; i >= 0; i--) {
        const c = n.children[i] as TreeNode<S>;
        c.depth = n.depth + 1;
        stack.push(c);
      }
    }
  };
  roots.sort(byStart);
  for (const r of roots) walk(r);
  // Spans in a parent cycle are reachable from no root: show them at the root level too.
  if (visited.size < nodes.length) {
    for (const n of nodes) {
      if (visited.has(n)) continue;
      n.orphan = true;
      for (const p of nodes) {
        const i = p.children.indexOf(n);
        if (i >= 0) p.children.splice(i, 1);
      }
      roots.push(n);
      walk(n);
    }
  }
  countDescendants(order);
  return { roots, order, startNs: t0, durationNs: Number((endNs ?? t0) - t0) };
}

function byStart<S extends SpanLike>(a: TreeNode<S>, b: TreeNode<S>): number {
  return (
    a.startOffsetNs - b.startOffsetNs || (a.span.spanId < b.span.spanId ? -1 : a.span.spanId > b.span.spanId ? 1 : 0)
  );
}

/** Descendant counts from the display order: a node's subtree is the run of deeper nodes after it. */
function countDescendants<S extends SpanLike>(order: TreeNode<S>[]): void {
  const open: TreeNode<S>[] = [];
  for (const n of order) {
    while (open.length > 0 && (open[open.length - 1] as TreeNode<S>).depth >= n.depth) open.pop();
    for (const a of open) a.descendants++;
    open.push(n);
  }
}

/** The rows on screen: the display order without the subtrees of collapsed spans. */
export function visibleRows<S extends SpanLike>(tree: SpanTree<S>, collapsed: ReadonlySet<string>): TreeNode<S>[] {
  if (collapsed.size === 0) return tree.order;
  const out: TreeNode<S>[] = [];
  const order = tree.order;
  for (let i = 0; i < order.length; i++) {
    const n = order[i] as TreeNode<S>;
    out.push(n);
    if (n.descendants > 0 && collapsed.has(n.span.spanId)) i += n.descendants;
  }
  return out;
}

/**
 * A span's bar relative to the trace: clamped to the trace, never past its end. A trace of zero
 * duration draws every span at the start with zero width (the view gives bars a minimum width).
 */
export function barGeometry(startOffsetNs: number, durationNs: number, traceDurationNs: number): BarGeometry {
  if (!(traceDurationNs > 0)) return { offset: 0, width: 0 };
  const offset = clamp01(startOffsetNs / traceDurationNs);
  const width = Math.min(clamp01(durationNs / traceDurationNs), 1 - offset);
  return { offset, width };
}

function clamp01(x: number): number {
  return Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : 0;
}

/** Which rows to render for a scroll position: the viewport's rows plus `overscan` on each side. */
export function rowWindow(
  scrollTop: number,
  viewportHeight: number,
  rowHeight: number,
  rowCount: number,
  overscan: number,
): { first: number; last: number } {
  const fit = Math.ceil(Math.max(0, viewportHeight) / rowHeight);
  const shown = fit + 1; // a partly scrolled row at the top and bottom
  // A scroll position left over from a longer list (before a collapse) still shows its last rows.
  const top = Math.min(Math.floor(Math.max(0, scrollTop) / rowHeight), Math.max(0, rowCount - fit));
  const first = Math.max(0, top - overscan);
  const last = Math.min(rowCount, top + shown + overscan);
  return { first, last: Math.max(first, last) };
}
