import { ATTR_TYPE } from "@cognive/semconv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NormalizedSpan } from "../src/pipeline/span.ts";
import type { Storage } from "../src/storage/client.ts";
import {
  NativeColumnWriter,
  parseNativeType,
  plainTypeName,
  streamCount,
  writeNativeBlock,
} from "../src/storage/native.ts";
import { RowWriter } from "../src/storage/rowbinary.ts";
import { SPAN_TABLE } from "../src/storage/schema.ts";
import {
  encodeSpanBinary,
  encodeSpanNative,
  encodeSpanRow,
  SPAN_COLUMNS,
  SPAN_ROW_TYPES,
  SPAN_TABLE_COLUMNS,
} from "../src/storage/span-table.ts";
import { openTestStorage } from "./support/storage.ts";

const T0 = 1_764_000_000_123_456_789n;

/** A span whose every stored column gets a value no other column has. */
function distinctSpan(spanId: string): NormalizedSpan {
  return {
    traceId: "0af7651916cd43dd8448eb211c80319c",
    spanId,
    parentSpanId: "b7ad6b7169203331",
    traceState: "ts=state",
    name: "chat span-name",
    kind: "Client",
    startNs: T0,
    durationNs: 7_001n,
    statusCode: "Error",
    statusMessage: "status-message",
    serviceName: "service-name",
    environment: "environment",
    resource: { "service.name": "service-name", cores: 4 },
    resourceTypes: { cores: ATTR_TYPE.int },
    scopeName: "scope-name",
    scopeVersion: "scope-version",
    attributes: { "span.attr": "v", ratio: 0.5 },
    attributeTypes: { ratio: ATTR_TYPE.double },
    events: [
      {
        timeNs: T0 + 5n,
        name: "event-name",
        attributes: { "event.attr": "e", flag: true },
        attributeTypes: { flag: ATTR_TYPE.bool },
      },
    ],
    links: [
      {
        traceId: "11111111111111111111111111111111",
        spanId: "2222222222222222",
        traceState: "link=state",
        attributes: { "link.attr": "l", n: 3 },
        attributeTypes: { n: ATTR_TYPE.int },
      },
    ],
    operation: "chat",
    provider: "provider-name",
    requestModel: "request-model",
    responseModel: "response-model",
    inputTokens: 101,
    outputTokens: 102,
    cacheReadTokens: 103,
    cacheWriteTokens: 104,
    reasoningTokens: 105,
    agentName: null,
    toolName: "tool-name",
    conversationId: "conversation-id",
    userId: "user-id",
    usageRole: "model_call",
    spanAgent: null,
    traceInvokeAgent: null,
    resourceAgent: null,
    resourceTeam: null,
    usageInvalid: null,
    agent: "agent-name",
    team: "team-name",
    cost: {
      inputNanos: 250_000_001,
      outputNanos: 500_000_002,
      cacheReadNanos: 125_000_003,
      cacheWriteNanos: 62_500_004,
      totalNanos: 937_500_010,
      source: "override",
    },
  };
}

/** What each column must read back as (JSONEachRow), written out by hand: not derived from the table. */
const EXPECTED: Record<string, unknown> = {
  Timestamp: "2025-11-24 16:00:00.123456789",
  TraceId: "0af7651916cd43dd8448eb211c80319c",
  ParentSpanId: "b7ad6b7169203331",
  TraceState: "ts=state",
  SpanName: "chat span-name",
  SpanKind: "Client",
  ServiceName: "service-name",
  ResourceAttributes: { "service.name": "service-name", cores: "4" },
  ScopeName: "scope-name",
  ScopeVersion: "scope-version",
  SpanAttributes: { "span.attr": "v", ratio: "0.5" },
  Duration: "7001",
  StatusCode: "Error",
  StatusMessage: "status-message",
  "Events.Timestamp": ["2025-11-24 16:00:00.123456794"],
  "Events.Name": ["event-name"],
  "Events.Attributes": [{ "event.attr": "e", flag: "true" }],
  "Links.TraceId": ["11111111111111111111111111111111"],
  "Links.SpanId": ["2222222222222222"],
  "Links.TraceState": ["link=state"],
  "Links.Attributes": [{ "link.attr": "l", n: "3" }],
  TeamName: "team-name",
  Environment: "environment",
  AgentName: "agent-name",
  GenAiOperation: "chat",
  GenAiProvider: "provider-name",
  GenAiRequestModel: "request-model",
  GenAiResponseModel: "response-model",
  GenAiUsageRole: "model_call",
  InputTokens: "101",
  OutputTokens: "102",
  CacheReadTokens: "103",
  CacheWriteTokens: "104",
  ReasoningTokens: "105",
  ToolName: "tool-name",
  ConversationId: "conversation-id",
  UserId: "user-id",
  Priced: 1,
  CostInputUsd: 0.250000001,
  CostOutputUsd: 0.500000002,
  CostCacheReadUsd: 0.125000003,
  CostCacheWriteUsd: 0.062500004,
  CostUsd: 0.93750001,
  ResourceAttributeTypes: { cores: ATTR_TYPE.int },
  SpanAttributeTypes: { ratio: ATTR_TYPE.double },
  EventAttributeTypes: [{ flag: ATTR_TYPE.bool }],
  LinkAttributeTypes: [{ n: ATTR_TYPE.int }],
};

describe("the span table, defined once", () => {
  let storage: Storage;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ storage, close } = await openTestStorage("span-table"));
  });
  afterAll(() => close());

  /** Columns of the stored span `spanId` whose value is not the expected one. */
  async function mismatches(spanId: string): Promise<string[]> {
    const rs = await storage.client.query({
      query: `SELECT ${SPAN_COLUMNS.map((c) => `\`${c}\``).join(", ")} FROM cognive.${SPAN_TABLE} WHERE SpanId = {id:String}`,
      query_params: { id: spanId },
      format: "JSONEachRow",
      clickhouse_settings: { date_time_output_format: "simple" },
    });
    const rows = (await rs.json()) as Record<string, unknown>[];
    expect(rows).toHaveLength(1);
    return SPAN_COLUMNS.filter((c) => {
      try {
        expect(rows[0][c]).toEqual(c === "SpanId" ? spanId : EXPECTED[c]);
        return false;
      } catch {
        return true;
      }
    });
  }

  it("gives every column a distinct value in this test", () => {
    expect(Object.keys(EXPECTED).sort()).toEqual(SPAN_COLUMNS.filter((c) => c !== "SpanId").sort());
    const seen = Object.values(EXPECTED).map((v) => JSON.stringify(v));
    expect(new Set(seen).size).toBe(seen.length);
  });

  it("matches the columns storage created from it (name and type, in order)", async () => {
    const rs = await storage.client.query({
      query: `SELECT name, type FROM system.columns WHERE database = 'cognive' AND table = {t:String} ORDER BY position`,
      query_params: { t: SPAN_TABLE },
      format: "JSONEachRow",
    });
    const stored = (await rs.json()) as { name: string; type: string }[];
    const declared = SPAN_TABLE_COLUMNS.map((c) => ({
      name: c.name,
      type: c.name.includes(".") ? `Array(${c.type})` : c.type,
    }));
    expect(stored).toEqual(declared);
  });

  it("round-trips every column of an encoded span", async () => {
    await storage.insertTsv(SPAN_TABLE, SPAN_COLUMNS, encodeSpanRow(distinctSpan("00000000000000a1")));
    expect(await mismatches("00000000000000a1")).toEqual([]);
  });

  it("catches two columns encoded in each other's place", async () => {
    const span = distinctSpan("00000000000000a2");
    const row = encodeSpanRow(span).slice(0, -1).split("\t");
    const input = SPAN_COLUMNS.indexOf("InputTokens");
    const output = SPAN_COLUMNS.indexOf("OutputTokens");
    [row[input], row[output]] = [row[output], row[input]];
    await storage.insertTsv(SPAN_TABLE, SPAN_COLUMNS, `${row.join("\t")}\n`);
    expect(await mismatches("00000000000000a2")).toEqual(["InputTokens", "OutputTokens"]);
  });

  /** RowBinary of the columns one by one: one buffer per column, so a test can swap two. */
  function binaryColumns(span: NormalizedSpan): Buffer[] {
    return SPAN_TABLE_COLUMNS.map((c) => {
      const w = new RowWriter(16);
      c.binary(w, span);
      return Buffer.from(w.bytes());
    });
  }

  it("round-trips every column of a span encoded as RowBinary", async () => {
    const w = new RowWriter(16);
    encodeSpanBinary(w, distinctSpan("00000000000000b1"));
    await storage.insertRowBinary(SPAN_TABLE, SPAN_ROW_TYPES, Buffer.from(w.bytes()));
    expect(await mismatches("00000000000000b1")).toEqual([]);
    // The whole row is the columns one after another.
    expect(Buffer.from(w.bytes())).toEqual(Buffer.concat(binaryColumns(distinctSpan("00000000000000b1"))));
  });

  it("catches two RowBinary columns encoded in each other's place", async () => {
    const cols = binaryColumns(distinctSpan("00000000000000b2"));
    const input = SPAN_COLUMNS.indexOf("InputTokens");
    const output = SPAN_COLUMNS.indexOf("OutputTokens");
    [cols[input], cols[output]] = [cols[output], cols[input]];
    await storage.insertRowBinary(SPAN_TABLE, SPAN_ROW_TYPES, Buffer.concat(cols));
    expect(await mismatches("00000000000000b2")).toEqual(["InputTokens", "OutputTokens"]);
  });

  /** A Native block of `spans` built column by column from the table's encoders, so a test can swap two. */
  function nativeColumns(spans: NormalizedSpan[]) {
    return SPAN_TABLE_COLUMNS.map((c) => {
      const type = plainTypeName(c.name.includes(".") ? `Array(${c.type})` : c.type);
      const data = new NativeColumnWriter(streamCount(parseNativeType(type)));
      for (const s of spans) c.native ? c.native(data, s) : c.binary(data.streams[0], s);
      return { name: c.name, type, data };
    });
  }

  it("round-trips every column of a span encoded in a Native block, beside spans of other shapes", async () => {
    // Spans before and after with more and fewer events, links and attributes: each row's offsets count.
    const other = (spanId: string, n: number): NormalizedSpan => {
      const base = distinctSpan(spanId);
      return {
        ...base,
        attributes: Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i])),
        attributeTypes: undefined,
        events: Array.from({ length: n }, () => base.events[0]),
        links: n === 0 ? [] : [base.links[0], base.links[0]],
        resource: { "service.name": `svc-${n}` },
        resourceTypes: undefined,
      };
    };
    const spans = [other("00000000000000d0", 3), distinctSpan("00000000000000d1"), other("00000000000000d2", 0)];
    const w = new RowWriter(16);
    encodeSpanNative(w, spans);
    await storage.insertNative(SPAN_TABLE, SPAN_COLUMNS, Buffer.from(w.bytes()));
    expect(await mismatches("00000000000000d1")).toEqual([]);
    // The block is the table's columns one after another.
    const block = new RowWriter(16);
    writeNativeBlock(block, spans.length, nativeColumns(spans));
    expect(Buffer.from(w.bytes())).toEqual(Buffer.from(block.bytes()));
    // The other shapes read back as their RowBinary twins do.
    const twin = new RowWriter(16);
    for (const [id, n] of [
      ["00000000000000e0", 3],
      ["00000000000000e2", 0],
    ] as const)
      encodeSpanBinary(twin, other(id, n));
    await storage.insertRowBinary(SPAN_TABLE, SPAN_ROW_TYPES, Buffer.from(twin.bytes()));
    const rs = await storage.client.query({
      query: `SELECT * EXCEPT SpanId FROM cognive.${SPAN_TABLE}
              WHERE SpanId IN ('00000000000000d0', '00000000000000d2', '00000000000000e0', '00000000000000e2')
              ORDER BY SpanId`,
      format: "JSONEachRow",
    });
    const [d0, d2, e0, e2] = (await rs.json()) as Record<string, unknown>[];
    expect(d0.SpanAttributes).toEqual({ k0: "0", k1: "1", k2: "2" });
    expect(d0["Events.Name"]).toHaveLength(3);
    expect(d0).toEqual(e0);
    expect(d2).toEqual(e2);
  });

  it("catches two Native columns encoded in each other's place", async () => {
    const cols = nativeColumns([distinctSpan("00000000000000d3")]);
    const input = SPAN_COLUMNS.indexOf("InputTokens");
    const output = SPAN_COLUMNS.indexOf("OutputTokens");
    [cols[input].data, cols[output].data] = [cols[output].data, cols[input].data];
    const w = new RowWriter(16);
    writeNativeBlock(w, 1, cols);
    await storage.insertNative(SPAN_TABLE, SPAN_COLUMNS, Buffer.from(w.bytes()));
    expect(await mismatches("00000000000000d3")).toEqual(["InputTokens", "OutputTokens"]);
  });

  it("stores long and non-ASCII strings and empty events and links the same in every encoding", async () => {
    const long = `${"é€😀\t\n'\\".repeat(40)}`;
    const make = (spanId: string): NormalizedSpan => ({
      ...distinctSpan(spanId),
      statusMessage: long,
      attributes: { [long]: long, n: 1.5 },
      attributeTypes: undefined,
      events: [],
      links: [],
      cost: null,
      inputTokens: null,
    });
    const w = new RowWriter(16);
    encodeSpanBinary(w, make("00000000000000c1"));
    encodeSpanBinary(w, make("00000000000000c2"));
    await storage.insertRowBinary(SPAN_TABLE, SPAN_ROW_TYPES, Buffer.from(w.bytes()));
    await storage.insertTsv(SPAN_TABLE, SPAN_COLUMNS, encodeSpanRow(make("00000000000000c3")));
    const n = new RowWriter(16);
    encodeSpanNative(n, [make("00000000000000c4")]);
    await storage.insertNative(SPAN_TABLE, SPAN_COLUMNS, Buffer.from(n.bytes()));
    const rs = await storage.client.query({
      query: `SELECT * EXCEPT SpanId FROM cognive.${SPAN_TABLE} WHERE SpanId IN ('00000000000000c1', '00000000000000c2', '00000000000000c3', '00000000000000c4') ORDER BY SpanId`,
      format: "JSONEachRow",
    });
    const rows = (await rs.json()) as Record<string, unknown>[];
    expect(rows).toHaveLength(4);
    expect(rows[0].StatusMessage).toBe(long);
    expect(rows[0]).toEqual(rows[2]);
    expect(rows[1]).toEqual(rows[2]);
    expect(rows[3]).toEqual(rows[2]);
  });
  it("writes a safe integer as the same Int64 whatever its sign and size", () => {
    const values = [
      0,
      1,
      -1,
      937_500_010,
      2 ** 32 - 1,
      2 ** 32,
      -(2 ** 32),
      -(2 ** 32) - 1,
      2 ** 53 - 1,
      -(2 ** 53 - 1),
    ];
    for (const n of values) {
      const w = new RowWriter(4);
      w.i64(n);
      const expected = Buffer.alloc(8);
      expected.writeBigInt64LE(BigInt(n));
      expect(Buffer.from(w.bytes()), String(n)).toEqual(expected);
    }
  });

  it("writes each string as its UTF-8 length and bytes, short or long, ASCII or not", () => {
    const strings = [
      "",
      "gpt-4o-mini",
      "a".repeat(42),
      `${"a".repeat(41)}é`,
      "é",
      `ascii then ${"😀"}`,
      "日".repeat(42),
      "😀".repeat(21),
      "a".repeat(43),
      "x".repeat(200),
      `\u007f\u0080`,
    ];
    for (const s of strings) {
      const w = new RowWriter(4);
      w.string(s);
      const utf8 = Buffer.from(s, "utf8");
      const v = new RowWriter(4);
      v.varint(utf8.length);
      expect(Buffer.from(w.bytes())).toEqual(Buffer.concat([Buffer.from(v.bytes()), utf8]));
    }
  });
});
