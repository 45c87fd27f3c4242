import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { SpanDeduper } from "../src/pipeline/dedup.ts";
import { Part } from "../src/pipeline/writer.ts";

class Batch extends Part {
  constructor() {
    super(1, new Set([0]), 0n, 0n);
  }
}

const id = () => ({ traceId: randomBytes(16).toString("hex"), spanId: randomBytes(8).toString("hex") });

describe("span de-duplication", () => {
  it("points a retry at the pending batch, then reports it committed", () => {
    const d = new SpanDeduper(1000);
    const b = new Batch();
    const s = id();
    expect(d.lookup(s.traceId, s.spanId)).toBeUndefined();
    d.add([s], b);
    expect(d.lookup(s.traceId, s.spanId)).toBe(b);
    b.state = "committed";
    d.committed(b);
    expect(d.lookup(s.traceId, s.spanId)).toBe("stored");
  });

  it("forgets the spans of a failed batch so their retry is written", () => {
    const d = new SpanDeduper(1000);
    const failed = new Batch();
    const s = id();
    d.add([s], failed);
    d.forget(failed);
    expect(d.lookup(s.traceId, s.spanId)).toBeUndefined();
    const retry = new Batch();
    d.add([s], retry);
    expect(d.lookup(s.traceId, s.spanId)).toBe(retry);
  });

  it("remembers spans learned from storage as stored, or recovered from a failed insert", () => {
    const d = new SpanDeduper(1000);
    const [a, b, c] = [id(), id(), id()];
    d.remember([a], "stored");
    d.remember([b], "recovered");
    expect(d.lookup(a.traceId, a.spanId)).toBe("stored");
    expect(d.lookup(b.traceId, b.spanId)).toBe("recovered");
    expect(d.lookup(c.traceId, c.spanId)).toBeUndefined();
  });

  it("tells apart spans that share a span id but not a trace id", () => {
    const d = new SpanDeduper(1000);
    const a = id();
    const b = { ...id(), spanId: a.spanId };
    d.add([a], new Batch());
    expect(d.lookup(b.traceId, b.spanId)).toBeUndefined();
  });

  it("tells apart numbered span ids in traces that differ in any part of the trace id", () => {
    const d = new SpanDeduper(100_000);
    const base = "0123456789abcdef0123456789abcdef";
    const b = new Batch();
    for (let pos = 0; pos < 32; pos++) {
      const traceId = base.slice(0, pos) + (base[pos] === "0" ? "1" : "0") + base.slice(pos + 1);
      d.add([{ traceId, spanId: "0000000000000001" }], b);
    }
    expect(d.lookup(base, "0000000000000001")).toBeUndefined();
    expect(d.size).toBe(32);
  });

  it("stays bounded and remembers at least the most recent half of its capacity", () => {
    const cap = 2000;
    const d = new SpanDeduper(cap);
    const b = new Batch();
    b.state = "committed";
    const all = Array.from({ length: 10 * cap }, id);
    for (const s of all) d.add([s], b);
    expect(d.size).toBeLessThanOrEqual(cap);
    for (const s of all.slice(-cap / 2)) expect(d.lookup(s.traceId, s.spanId)).toBeDefined();
    const forgotten = all.slice(0, cap).filter((s) => d.lookup(s.traceId, s.spanId) === undefined).length;
    expect(forgotten).toBe(cap);
  });
});
