import { ATTR_TYPE, Pricer } from "@cognive/semconv";
import { ProtobufTraceSerializer } from "@opentelemetry/otlp-transformer";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeTracesJson } from "../src/otlp/decode-json.ts";
import { decodeTracesProto } from "../src/otlp/decode-proto.ts";
import { normalize } from "../src/pipeline/normalize.ts";
import type { Storage } from "../src/storage/client.ts";
import { migrate } from "../src/storage/migrate.ts";
import { migrations, SPAN_COLUMNS, SPAN_TABLE } from "../src/storage/schema.ts";
import { tsvMap, tsvNanos, tsvTypes } from "../src/storage/tsv.ts";
import { openTestStorage } from "./support/storage.ts";

const { bool, int, double, array, kvlist, bytes } = ATTR_TYPE;
const now = BigInt(Date.now()) * 1_000_000n;

/** OTLP/JSON with every AnyValue case on the span, its resource, an event and a link. */
function jsonBody(traceId: string) {
  const attrs = [
    { key: "s", value: { stringValue: "404" } },
    { key: "i", value: { intValue: "42" } },
    { key: "big", value: { intValue: "4611686018427387904" } },
    { key: "neg", value: { intValue: -7 } },
    { key: "d", value: { doubleValue: 1.5 } },
    { key: "whole", value: { doubleValue: 2 } },
    { key: "b", value: { boolValue: true } },
    { key: "arr", value: { arrayValue: { values: [{ intValue: "1" }, { stringValue: "a" }] } } },
    { key: "kv", value: { kvlistValue: { values: [{ key: "x", value: { boolValue: false } }] } } },
    { key: "raw", value: { bytesValue: "AAEC" } },
    { key: "empty", value: {} },
    // A repeated key: the last one wins, and so does its type.
    { key: "dup", value: { intValue: "1" } },
    { key: "dup", value: { stringValue: "one" } },
  ];
  return JSON.stringify({
    resourceSpans: [
      {
        resource: { attributes: [{ key: "service.name", value: { stringValue: "typed" } }, ...attrs] },
        scopeSpans: [
          {
            spans: [
              {
                traceId,
                spanId: "00000000000000a1",
                name: "typed",
                startTimeUnixNano: String(now),
                endTimeUnixNano: String(now + 1000n),
                attributes: attrs,
                events: [{ timeUnixNano: String(now), name: "e", attributes: attrs }],
                links: [{ traceId, spanId: "00000000000000a2", attributes: attrs }],
              },
            ],
          },
        ],
      },
    ],
  });
}

const WANT = { i: int, big: int, neg: int, d: double, whole: double, b: bool, arr: array, kv: kvlist, raw: bytes };

describe("decoders keep each attribute's OTLP type", () => {
  it("OTLP/JSON: every AnyValue case, on spans, resources, events and links", () => {
    const rs = decodeTracesJson(jsonBody("0000000000000000000000000000a001")).resourceSpans[0];
    const span = rs.scopeSpans[0].spans[0];
    for (const types of [
      span.attributeTypes,
      rs.resourceTypes,
      span.events[0].attributeTypes,
      span.links[0].attributeTypes,
    ])
      expect(types).toEqual(WANT);
    expect(span.attributes.big).toBe("4611686018427387904");
    expect(span.attributes.whole).toBe(2);
    expect(span.attributes.dup).toBe("one");
  });

  it("OTLP/protobuf from the official SDK: ints, doubles (whole ones too), bools, arrays", () => {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ "service.name": "typed", cores: 8 }),
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    });
    const span = provider.getTracer("t").startSpan("s", {
      attributes: { i: 42, d: 1.5, b: false, s: "7", arr: [1, 2] },
    });
    span.addEvent("e", { n: 3 });
    span.end();
    const decoded = decodeTracesProto(
      ProtobufTraceSerializer.serializeRequest(exporter.getFinishedSpans()) as Uint8Array,
    );
    const rs = decoded.resourceSpans[0];
    const s = rs.scopeSpans[0].spans[0];
    expect(rs.resourceTypes).toEqual({ cores: int });
    expect(s.attributeTypes).toEqual({ i: int, d: double, b: bool, arr: array });
    expect(s.events[0].attributeTypes).toEqual({ n: int });
  });
});

describe("storage keeps attribute types (migration 8)", () => {
  let storage: Storage;
  let close: () => Promise<void>;
  beforeAll(async () => {
    // A store as it was before migration 8, holding a row written then.
    ({ storage, close } = await openTestStorage("attr-types"));
    await storage.client.command({ query: "DROP DATABASE cognive SYNC" });
    await migrate(
      storage,
      undefined,
      migrations.filter((m) => m.version < 8),
    );
    const old = SPAN_COLUMNS.slice(0, -4);
    expect(old.some((c) => c.includes("Types"))).toBe(false);
    const values: Record<string, string> = Object.fromEntries(old.map((c) => [c, ""]));
    Object.assign(values, {
      Timestamp: tsvNanos(now),
      TraceId: "0000000000000000000000000000a000",
      SpanId: "00000000000000b0",
      ResourceAttributes: tsvMap({ "service.name": "old" }),
      SpanAttributes: tsvMap({ code: "500" }),
      Duration: "1",
      "Events.Timestamp": `['${tsvNanos(now)}','${tsvNanos(now)}']`,
      "Events.Name": "['a','b']",
      "Events.Attributes": "[{'n':'1'},{}]",
      "Links.TraceId": "['0000000000000000000000000000a000']",
      "Links.SpanId": "['00000000000000b1']",
      "Links.TraceState": "['']",
      "Links.Attributes": "[{'n':'2'}]",
      GenAiUsageRole: "none",
    });
    for (const c of [
      "Duration",
      "InputTokens",
      "OutputTokens",
      "CacheReadTokens",
      "CacheWriteTokens",
      "ReasoningTokens",
    ])
      values[c] ||= "0";
    for (const c of ["Priced", "CostInputUsd", "CostOutputUsd", "CostCacheReadUsd", "CostCacheWriteUsd", "CostUsd"])
      values[c] = "0";
    await storage.insertTsv(SPAN_TABLE, old, `${old.map((c) => values[c]).join("\t")}\n`);
    expect(await migrate(storage)).toBe(migrations.filter((m) => m.version >= 8).length);
  }, 60_000); // every migration, in two passes: over 10 s on a slow machine
  afterAll(() => close());

  async function row(spanId: string) {
    const rs = await storage.client.query({
      query: `SELECT SpanAttributes, SpanAttributeTypes, ResourceAttributeTypes, EventAttributeTypes AS ev,
                LinkAttributeTypes AS links
              FROM cognive.${SPAN_TABLE} WHERE SpanId = {id:String}`,
      query_params: { id: spanId },
      format: "JSONEachRow",
    });
    return ((await rs.json()) as Record<string, unknown>[])[0];
  }

  it("reads rows written before it as strings: empty type maps", async () => {
    expect(await row("00000000000000b0")).toEqual({
      SpanAttributes: { code: "500" },
      SpanAttributeTypes: {},
      ResourceAttributeTypes: {},
      ev: [],
      links: [],
    });
  });

  it("stores the non-string types of new rows, beside unchanged string maps", async () => {
    const n = normalize(
      decodeTracesJson(jsonBody("0000000000000000000000000000a001")),
      { team: null },
      new Pricer(),
      now,
    );
    expect(n.rejected).toBe(0);
    await storage.insertTsv(SPAN_TABLE, SPAN_COLUMNS, n.rows.join(""));
    const got = await row("00000000000000a1");
    const strings = got.SpanAttributes as Record<string, string>;
    expect(strings).toMatchObject({ i: "42", big: "4611686018427387904", whole: "2", b: "true", arr: '[1,"a"]' });
    expect(strings.kv).toBe('{"x":false}');
    expect(got.SpanAttributeTypes).toEqual(WANT);
    expect(got.ResourceAttributeTypes).toEqual(WANT);
    expect(got.ev).toEqual([WANT]);
    expect(got.links).toEqual([WANT]);
  });

  it("keeps hostile keys in type maps byte for byte", async () => {
    const keys = ["q'uote", "tab\there", "new\nline", "back\\slash", "{'x':1}", "ünï🚀", "') OR 1=1 --"];
    const attrs = Object.fromEntries(keys.map((k, i) => [k, i + 0.5]));
    const types = tsvTypes(attrs, undefined);
    await storage.client.command({
      query: "CREATE TABLE cognive.types_probe (T Map(LowCardinality(String), UInt8)) ENGINE = Memory",
    });
    await storage.insertTsv("types_probe", ["T"], `${types}\n`);
    const rs = await storage.client.query({ query: "SELECT T FROM cognive.types_probe", format: "JSONEachRow" });
    expect(((await rs.json()) as { T: Record<string, number> }[])[0].T).toEqual(
      Object.fromEntries(keys.map((k) => [k, double])),
    );
  });
});
