import { describe, expect, it } from "vitest";
import { writeSpanKey, writeSpanKeys } from "../src/pipeline/span-keys.ts";

const hex = (n: number, digits: number) => n.toString(16).padStart(digits, "0");

describe("span keys of a request", () => {
  it("are each span's own key, whether its trace's spans come together, alternate or return later", () => {
    const traces = [
      "0af7651916cd43dd8448eb211c80319c",
      "4bf92f3577b34da6a3ce929d0e0e4736",
      "ffffffffffffffff0000000000000001",
    ];
    const order = [0, 0, 0, 1, 1, 0, 2, 1, 2, 2, 0, 0];
    const spans = order.map((t, i) => ({ traceId: traces[t], spanId: hex(0x1000 + i * 7919, 16) }));
    // Span ids repeated in another trace: the key must still tell them apart by trace.
    spans.push({ traceId: traces[1], spanId: spans[0].spanId }, { traceId: traces[2], spanId: spans[0].spanId });
    const batch = new Uint32Array(spans.length * 4);
    writeSpanKeys(batch, spans);
    const one = new Uint32Array(spans.length * 4);
    for (const [i, s] of spans.entries()) writeSpanKey(one, i, s.traceId, s.spanId);
    expect([...batch]).toEqual([...one]);
    const distinct = new Set(spans.map((_, i) => batch.subarray(i * 4, i * 4 + 4).join(",")));
    expect(distinct.size).toBe(spans.length);
  });
});
