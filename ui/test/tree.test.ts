import { describe, expect, it } from "vitest";
import { barGeometry, buildSpanTree, rowWindow, type SpanLike, visibleRows } from "../src/tree.ts";

const T0 = 1_700_000_000_000_000_000n;

/** A span starting `startMs` after T0 and lasting `durMs`. */
function span(spanId: string, parentSpanId: string, startMs: number, durMs: number): SpanLike {
  return {
    spanId,
    parentSpanId,
    startTimeUnixNano: String(T0 + BigInt(startMs * 1_000_000)),
    durationNs: String(durMs * 1_000_000),
  };
}

const ids = (nodes: { span: SpanLike }[]) => nodes.map((n) => n.span.spanId);

describe("buildSpanTree", () => {
  it("nests children under parents depth first, siblings by start time", () => {
    // Given out of order on purpose: the API sorts by start, but the tree must not depend on it.
    const tree = buildSpanTree([
      span("c2", "root", 50, 10),
      span("root", "", 0, 100),
      span("c1", "root", 10, 30),
      span("g1", "c1", 12, 5),
    ]);
    expect(ids(tree.roots)).toEqual(["root"]);
    expect(ids(tree.order)).toEqual(["root", "c1", "g1", "c2"]);
    expect(tree.order.map((n) => n.depth)).toEqual([0, 1, 2, 1]);
    expect(tree.order.map((n) => n.descendants)).toEqual([3, 1, 0, 0]);
    expect(tree.startNs).toBe(T0);
    expect(tree.durationNs).toBe(100_000_000);
    expect(tree.order[2]?.startOffsetNs).toBe(12_000_000);
  });

  it("puts spans whose parent is missing at the root level, marked as orphans, in start order", () => {
    const tree = buildSpanTree([span("root", "", 5, 10), span("lost", "gone", 0, 3), span("kid", "lost", 1, 1)]);
    expect(ids(tree.roots)).toEqual(["lost", "root"]);
    expect(tree.roots.map((n) => n.orphan)).toEqual([true, false]);
    expect(ids(tree.order)).toEqual(["lost", "kid", "root"]);
    expect(tree.order.map((n) => n.depth)).toEqual([0, 1, 0]);
  });

  it("breaks ties in start time by span id so the order is stable", () => {
    const tree = buildSpanTree([span("b", "", 0, 1), span("a", "", 0, 1), span("c", "a", 0, 1)]);
    expect(ids(tree.order)).toEqual(["a", "c", "b"]);
  });

  it("keeps spans in a parent cycle or parented to themselves instead of losing them", () => {
    const tree = buildSpanTree([span("x", "y", 0, 1), span("y", "x", 1, 1), span("self", "self", 2, 1)]);
    expect(tree.order).toHaveLength(3);
    expect(new Set(ids(tree.order))).toEqual(new Set(["x", "y", "self"]));
    expect(tree.roots.every((r) => r.orphan)).toBe(true);
  });

  it("handles a 5,000-deep chain without recursion and an empty trace", () => {
    const chain = Array.from({ length: 5000 }, (_, i) => span(`s${i}`, i === 0 ? "" : `s${i - 1}`, i, 5000 - i));
    const tree = buildSpanTree(chain);
    expect(tree.order).toHaveLength(5000);
    expect(tree.order[4999]?.depth).toBe(4999);
    expect(tree.order[0]?.descendants).toBe(4999);
    const empty = buildSpanTree([]);
    expect(empty.order).toEqual([]);
    expect(empty.durationNs).toBe(0);
  });

  it("keeps nanosecond offsets exact where absolute Unix nanoseconds would lose them as doubles", () => {
    const a: SpanLike = { spanId: "a", parentSpanId: "", startTimeUnixNano: String(T0 + 1n), durationNs: "1" };
    const b: SpanLike = { spanId: "b", parentSpanId: "a", startTimeUnixNano: String(T0 + 2n), durationNs: "1" };
    const tree = buildSpanTree([a, b]);
    expect(tree.order.map((n) => n.startOffsetNs)).toEqual([0, 1]);
    expect(tree.durationNs).toBe(2);
  });
});

describe("visibleRows", () => {
  const tree = buildSpanTree([
    span("root", "", 0, 100),
    span("a", "root", 1, 10),
    span("a1", "a", 2, 1),
    span("a2", "a", 3, 1),
    span("b", "root", 20, 10),
    span("b1", "b", 21, 1),
  ]);

  it("shows every span when nothing is collapsed", () => {
    expect(ids(visibleRows(tree, new Set()))).toEqual(["root", "a", "a1", "a2", "b", "b1"]);
  });

  it("hides the whole subtree of a collapsed span and nothing else", () => {
    expect(ids(visibleRows(tree, new Set(["a"])))).toEqual(["root", "a", "b", "b1"]);
    expect(ids(visibleRows(tree, new Set(["a", "b"])))).toEqual(["root", "a", "b"]);
    expect(ids(visibleRows(tree, new Set(["root"])))).toEqual(["root"]);
    // Collapsing a leaf changes nothing.
    expect(ids(visibleRows(tree, new Set(["a1"])))).toEqual(["root", "a", "a1", "a2", "b", "b1"]);
  });
});

describe("barGeometry", () => {
  it("places a bar as fractions of the trace duration", () => {
    expect(barGeometry(25, 50, 100)).toEqual({ offset: 0.25, width: 0.5 });
    expect(barGeometry(0, 100, 100)).toEqual({ offset: 0, width: 1 });
  });

  it("never draws past the end of the trace or before its start", () => {
    expect(barGeometry(90, 50, 100)).toEqual({ offset: 0.9, width: 0.09999999999999998 });
    expect(barGeometry(-10, 5, 100)).toEqual({ offset: 0, width: 0.05 });
    expect(barGeometry(200, 5, 100)).toEqual({ offset: 1, width: 0 });
  });

  it("draws zero-width bars at the start for a zero-length trace", () => {
    expect(barGeometry(0, 0, 0)).toEqual({ offset: 0, width: 0 });
    expect(barGeometry(5, 5, Number.NaN)).toEqual({ offset: 0, width: 0 });
  });

  it("lines the bars of a built tree up with the spans' start and duration", () => {
    const tree = buildSpanTree([span("root", "", 0, 200), span("c", "root", 50, 100)]);
    const c = tree.order[1];
    expect(c && barGeometry(c.startOffsetNs, c.durationNs, tree.durationNs)).toEqual({ offset: 0.25, width: 0.5 });
  });
});

describe("rowWindow", () => {
  it("covers the viewport plus overscan, clamped to the rows", () => {
    expect(rowWindow(0, 280, 28, 5000, 10)).toEqual({ first: 0, last: 21 });
    expect(rowWindow(28 * 1000, 280, 28, 5000, 10)).toEqual({ first: 990, last: 1021 });
    expect(rowWindow(28 * 4990, 280, 28, 5000, 10)).toEqual({ first: 4980, last: 5000 });
    expect(rowWindow(0, 280, 28, 3, 10)).toEqual({ first: 0, last: 3 });
    expect(rowWindow(1e9, 280, 28, 0, 10)).toEqual({ first: 0, last: 0 });
    expect(rowWindow(1e9, 280, 28, 100, 10)).toEqual({ first: 80, last: 100 });
  });
});
