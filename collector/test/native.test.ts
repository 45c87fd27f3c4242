import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DecodedTraces } from "../src/otlp/model.ts";
import { defaultSpanLimits } from "../src/pipeline/normalize.ts";
import type { NormalizedSpan } from "../src/pipeline/span.ts";
import { SpanStage } from "../src/pipeline/stage.ts";
import type { Storage } from "../src/storage/client.ts";
import { filterNative, nativeStrings, parseNativeType } from "../src/storage/native.ts";
import { RowWriter } from "../src/storage/rowbinary.ts";
import { SPAN_TABLE } from "../src/storage/schema.ts";
import { encodeSpanBinary, encodeSpanNative, SPAN_COLUMNS, SPAN_ROW_TYPES } from "../src/storage/span-table.ts";
import { traceSpans } from "./support/spans.ts";
import { openTestStorage } from "./support/storage.ts";

const now = BigInt(Date.now()) * 1_000_000n;

/** `n` spans of trace `traceId`, each with its own number of attributes, events and links. */
function spansOf(traceId: string, n: number): NormalizedSpan[] {
  const req: DecodedTraces = {
    resourceSpans: [
      {
        resource: { "service.name": "svc-native", host: "h1" },
        scopeSpans: [
          {
            scopeName: "scope",
            scopeVersion: "1",
            // traceSpans gives no events or links: each span gets its own number of them here.
            spans: traceSpans(
              traceId,
              now,
              Array.from({ length: n }, (_, i) => ({
                name: `step-${i}`,
                attributes: Object.fromEntries(
                  Array.from({ length: i % 4 }, (_, k) => [`a${k}`, k === 1 ? i : `v${i}`]),
                ),
              })),
            ).map((span, i) => ({
              ...span,
              events: Array.from({ length: i % 3 }, (_, k) => ({
                timeNs: now + BigInt(k),
                name: `ev-${i}-${k}`,
                attributes: { k, note: "é\t'" },
              })),
              links:
                i % 2 === 0
                  ? []
                  : [{ traceId: "1".repeat(32), spanId: "2".repeat(16), traceState: "", attributes: { i } }],
            })),
          },
        ],
      },
    ],
  };
  const stage = new SpanStage({ processors: [], limits: defaultSpanLimits, format: "native", govern: false });
  return stage.normalize(req, now).spans;
}

const block = (spans: NormalizedSpan[]) => {
  const w = new RowWriter(16);
  encodeSpanNative(w, spans);
  return Buffer.from(w.bytes());
};

describe("Native blocks of span rows", () => {
  let storage: Storage;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ storage, close } = await openTestStorage("native"));
  });
  afterAll(() => close());

  /** The stored spans of a trace, without their trace id, by span id. */
  async function stored(traceId: string): Promise<Record<string, unknown>[]> {
    const rs = await storage.client.query({
      query: `SELECT * EXCEPT TraceId FROM cognive.${SPAN_TABLE} WHERE TraceId = {t:String} ORDER BY SpanId`,
      query_params: { t: traceId },
      format: "JSONEachRow",
    });
    return (await rs.json()) as Record<string, unknown>[];
  }

  it("reads each row's trace and span id, over every block of a stream", () => {
    const a = spansOf("a".repeat(32), 5);
    const b = spansOf("b".repeat(32), 3);
    expect(nativeStrings(Buffer.concat([block(a), block(b)]), ["TraceId", "SpanId"])).toEqual(
      [...a, ...b].map((s) => [s.traceId, s.spanId]),
    );
  });

  it("keeps exactly the rows asked for, across blocks, as RowBinary stores them", async () => {
    const keep = Uint8Array.from([1, 0, 1, 1, 0, 0, 1, 0, 1]);
    const kept = (spans: NormalizedSpan[]) => spans.filter((_, i) => keep[i] === 1);
    const viaNative = spansOf("c".repeat(32), 9);
    const filtered = filterNative(Buffer.concat([block(viaNative.slice(0, 5)), block(viaNative.slice(5))]), keep);
    await storage.insertNative(SPAN_TABLE, SPAN_COLUMNS, filtered);
    const viaBinary = spansOf("d".repeat(32), 9);
    const w = new RowWriter(16);
    for (const s of kept(viaBinary)) encodeSpanBinary(w, s);
    await storage.insertRowBinary(SPAN_TABLE, SPAN_ROW_TYPES, Buffer.from(w.bytes()));

    const rows = await stored("c".repeat(32));
    expect(rows.map((r) => r.SpanId)).toEqual(kept(viaNative).map((s) => s.spanId));
    expect(rows).toEqual(await stored("d".repeat(32)));
    // Offsets were rebuilt: the kept spans' own attributes and events, not their neighbours'.
    expect(rows.map((r) => Object.keys(r.SpanAttributes as object).length)).toEqual([0, 2, 3, 2, 0]);
    expect(rows.map((r) => (r["Events.Name"] as string[]).length)).toEqual([0, 2, 0, 0, 2]);
  });

  it("leaves nothing of a block whose rows are all dropped, and keeps a whole one as it was", () => {
    const one = block(spansOf("e".repeat(32), 4));
    const two = block(spansOf("f".repeat(32), 2));
    expect(filterNative(one, new Uint8Array(4))).toHaveLength(0);
    expect(filterNative(Buffer.concat([one, two]), Uint8Array.from([0, 0, 0, 0, 1, 1]))).toEqual(two);
    expect(filterNative(one, Uint8Array.from([1, 1, 1, 1]))).toEqual(one);
  });

  it("refuses a truncated block and types it does not lay out", () => {
    const one = block(spansOf("g".repeat(32), 3));
    expect(() => filterNative(one.subarray(0, one.length - 5), Uint8Array.from([1, 1, 1]))).toThrow(/ends early/);
    expect(() => nativeStrings(one.subarray(0, 40), ["TraceId"])).toThrow(/ends early/);
    for (const t of ["LowCardinality(String)", "Nullable(String)", "Tuple(String, UInt8)", "Decimal(38, 9)"])
      expect(() => parseNativeType(t), t).toThrow(/not supported/);
    expect(parseNativeType("Map(String, Array(Map(String, UInt8)))")).toEqual({
      kind: "map",
      key: { kind: "string" },
      value: { kind: "array", of: { kind: "map", key: { kind: "string" }, value: { kind: "fixed", width: 1 } } },
    });
    expect(parseNativeType("Enum8('a, b' = 0, 'c' = 1)")).toEqual({ kind: "fixed", width: 1 });
  });
});
