import { randomBytes } from "node:crypto";
import { context, trace } from "@opentelemetry/api";
import { SeverityNumber } from "@opentelemetry/api-logs";
import { JsonLogsSerializer, ProtobufLogsSerializer } from "@opentelemetry/otlp-transformer";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor } from "@opentelemetry/sdk-logs";
import protobuf from "protobufjs/minimal.js";
import { describe, expect, it } from "vitest";
import { decodeLogsJson, decodeLogsProto } from "../src/otlp/decode-logs.ts";
import { DecodeError } from "../src/otlp/model.ts";
import { normalizeLogs } from "../src/pipeline/logs.ts";
import { defaultSpanLimits } from "../src/pipeline/normalize.ts";

const TRACE_ID = "0af7651916cd43dd8448eb211c80319c";
const SPAN_ID = "b7ad6b7169203331";

/** Log records made by the official SDK: an event with structured attributes, a plain log, a legacy event. */
function sdkLogs() {
  const exporter = new InMemoryLogRecordExporter();
  const provider = new LoggerProvider({
    resource: resourceFromAttributes({ "service.name": "decoder-test", "cognive.team": "cx" }),
    processors: [new SimpleLogRecordProcessor({ exporter })],
  });
  const logger = provider.getLogger("scope-l", "2.0.0");
  const ctx = trace.setSpanContext(context.active(), { traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: 1 });
  logger.emit({
    context: ctx,
    timestamp: new Date(Date.UTC(2026, 0, 2, 3, 4, 5)),
    eventName: "gen_ai.client.inference.operation.details",
    attributes: {
      "gen_ai.input.messages": [{ role: "user", parts: [{ type: "text", content: "hi\tthere 'q' ünï 🚀" }] }] as never,
      "gen_ai.usage.input_tokens": 12,
      "gen_ai.request.stream": true,
    },
  });
  logger.emit({ context: ctx, severityNumber: SeverityNumber.WARN, severityText: "WARN", body: "line1\nline2" });
  logger.emit({ attributes: { "event.name": "gen_ai.user.message" }, body: { content: "legacy", n: 2.5 } });
  return exporter.getFinishedLogRecords();
}

/** ExportLogsServiceRequest with one record whose fields are given as raw bytes. */
function oneRecord(record: Uint8Array): Uint8Array {
  const scopeLogs = protobuf.Writer.create().uint32(18).bytes(record).finish();
  const resourceLogs = protobuf.Writer.create().uint32(18).bytes(scopeLogs).finish();
  return protobuf.Writer.create().uint32(10).bytes(resourceLogs).finish();
}

describe("OTLP logs decoders", () => {
  it("decode the official serializers' protobuf and JSON to the same records", () => {
    const records = sdkLogs();
    const proto = decodeLogsProto(ProtobufLogsSerializer.serializeRequest(records) as Uint8Array);
    const json = decodeLogsJson(Buffer.from(JsonLogsSerializer.serializeRequest(records) as Uint8Array).toString());
    expect(proto).toEqual(json);

    const rl = proto.resourceLogs[0];
    expect(rl.resource["service.name"]).toBe("decoder-test");
    const sl = rl.scopeLogs[0];
    expect([sl.scopeName, sl.scopeVersion]).toEqual(["scope-l", "2.0.0"]);
    const [event, plain, legacy] = sl.records;
    expect(event).toMatchObject({
      eventName: "gen_ai.client.inference.operation.details",
      traceId: TRACE_ID,
      spanId: SPAN_ID,
      flags: 1,
      timeNs: BigInt(Date.UTC(2026, 0, 2, 3, 4, 5)) * 1_000_000n,
    });
    expect(event.observedNs).toBeGreaterThan(0n);
    expect(event.attributes).toEqual({
      "gen_ai.input.messages": [{ role: "user", parts: [{ type: "text", content: "hi\tthere 'q' ünï 🚀" }] }],
      "gen_ai.usage.input_tokens": 12,
      "gen_ai.request.stream": true,
    });
    expect(plain).toMatchObject({ severityNumber: 13, severityText: "WARN", body: "line1\nline2", eventName: "" });
    expect(legacy).toMatchObject({ body: { content: "legacy", n: 2.5 }, traceId: "", spanId: "" });
    expect(legacy.attributes["event.name"]).toBe("gen_ai.user.message");
  });

  it("writes rows as the ClickHouse exporter does: observed-time fallback, JSON text for maps, event.name fallback", () => {
    const decoded = decodeLogsProto(ProtobufLogsSerializer.serializeRequest(sdkLogs()) as Uint8Array);
    decoded.resourceLogs[0].scopeLogs[0].records[1].timeNs = 0n;
    const observed = decoded.resourceLogs[0].scopeLogs[0].records[1].observedNs;
    const n = normalizeLogs(decoded, { team: null }, 1n, { agents: new Map() }, defaultSpanLimits);
    expect(n.rejected).toBe(0);
    const rows = n.rows
      .trimEnd()
      .split("\n")
      .map((l) => l.split("\t"));
    expect(rows).toHaveLength(3);
    // Timestamp, TraceId, SpanId, TraceFlags, SeverityText, SeverityNumber, ServiceName, Body, …, EventName, TeamName
    expect(rows[0].slice(1, 7)).toEqual([TRACE_ID, SPAN_ID, "1", "", "0", "decoder-test"]);
    expect(rows[0].at(-2)).toBe("gen_ai.client.inference.operation.details");
    expect(rows[0].at(-1)).toBe("cx");
    expect(rows[1][0]).toBe(`${observed / 1_000_000_000n}.${String(observed % 1_000_000_000n).padStart(9, "0")}`);
    expect(rows[1][7]).toBe("line1\\nline2");
    expect(rows[2][7]).toBe('{"content":"legacy","n":2.5}');
    expect(rows[2].at(-2)).toBe("gen_ai.user.message");
    // The ingest key's team wins over the resource's.
    expect(normalizeLogs(decoded, { team: "ops" }, 1n, { agents: new Map() }, defaultSpanLimits).rows).toMatch(
      /\tops\n/,
    );
  });

  it("refuse garbage, truncation and type confusion with a DecodeError", () => {
    for (let i = 0; i < 200; i++) {
      const junk = randomBytes(1 + (i % 64));
      // Random bytes may happen to be valid protobuf; what must never escape is another error type.
      try {
        decodeLogsProto(junk);
      } catch (err) {
        expect(err).toBeInstanceOf(DecodeError);
      }
    }
    expect(() => decodeLogsProto(Uint8Array.from([0x0a, 0x7f, 0x01]))).toThrow(DecodeError);
    // time_unix_nano (fixed64) sent as a varint.
    expect(() => decodeLogsProto(oneRecord(Uint8Array.from([0x08, 0x01])))).toThrow(/wire type/);
    expect(() => decodeLogsJson("[]")).toThrow(DecodeError);
    expect(() => decodeLogsJson('{"resourceLogs":{}}')).toThrow(/must be an array/);
    expect(() => decodeLogsJson('{"resourceLogs":[{"scopeLogs":[{"logRecords":[7]}]}]}')).toThrow(/object/);
  });

  it("reject only the record whose body nests 10,000 levels deep, or whose fields have the wrong type", () => {
    // Innermost first: each level is an AnyValue holding a kvlist holding one KeyValue.
    const deep = protobuf.Writer.create();
    for (let i = 0; i < 10_000; i++) deep.uint32(50).fork().uint32(10).fork().uint32(10).string("k").uint32(18).fork();
    deep.uint32(10).string("leaf");
    for (let i = 0; i < 10_000; i++) deep.ldelim().ldelim().ldelim();
    const body = deep.finish();
    const record = protobuf.Writer.create().uint32(42).bytes(body).finish();
    const fine = protobuf.Writer.create().uint32(42).fork().uint32(10).string("ok").ldelim().finish();
    const scopeLogs = protobuf.Writer.create().uint32(18).bytes(record).uint32(18).bytes(fine).finish();
    const resourceLogs = protobuf.Writer.create().uint32(18).bytes(scopeLogs).finish();
    const decoded = decodeLogsProto(protobuf.Writer.create().uint32(10).bytes(resourceLogs).finish());
    const [bad, good] = decoded.resourceLogs[0].scopeLogs[0].records;
    expect(bad.invalid).toMatch(/nested deeper than 16/);
    expect(good).toMatchObject({ body: "ok" });
    expect(good.invalid).toBeUndefined();

    const json = decodeLogsJson(
      JSON.stringify({
        resourceLogs: [
          {
            scopeLogs: [
              {
                logRecords: [
                  { timeUnixNano: "soon" },
                  { severityNumber: 99 },
                  { traceId: "zz" },
                  { attributes: { a: 1 } },
                  { flags: -1 },
                  { eventName: ["x"] },
                  { severityNumber: "SEVERITY_NUMBER_ERROR2", eventName: "ok" },
                ],
              },
            ],
          },
        ],
      }),
    );
    const recs = json.resourceLogs[0].scopeLogs[0].records;
    expect(recs.slice(0, 6).map((r) => r.invalid !== undefined)).toEqual([true, true, true, true, true, true]);
    expect(recs[6]).toMatchObject({ severityNumber: 18, eventName: "ok" });
    expect(recs[6].invalid).toBeUndefined();
  });
});
