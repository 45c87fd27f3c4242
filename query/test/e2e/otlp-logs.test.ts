import { randomBytes } from "node:crypto";
import { decodeTracesProto, generateKey, LOGS_EXPORT_PATH } from "@cognive/collector";
import * as grpc from "@grpc/grpc-js";
import { context, SpanKind, trace } from "@opentelemetry/api";
import type { AnyValue } from "@opentelemetry/api-logs";
import { OTLPLogExporter as GrpcLogExporter } from "@opentelemetry/exporter-logs-otlp-grpc";
import { OTLPLogExporter as JsonLogExporter } from "@opentelemetry/exporter-logs-otlp-http";
import { OTLPLogExporter as ProtoLogExporter } from "@opentelemetry/exporter-logs-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  LoggerProvider,
  type LogRecordExporter,
  type ReadableLogRecord,
  SimpleLogRecordProcessor,
} from "@opentelemetry/sdk-logs";
import protobuf from "protobufjs/minimal.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Answer, retryDelaySeconds, unaryExport } from "../helpers/grpc.ts";
import { type Encoding, otelProvider } from "../helpers/otel.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

// The official OTel JS log exporters (devDependencies of this workspace) are the clients here:
// what they send is what agents send, in each of the three encodings.

/** ExportResult of the exporters (@opentelemetry/core's SUCCESS is 0). */
interface ExportResult {
  code: number;
  error?: Error;
}
const SUCCESS = 0;

/** A log exporter that remembers every export's result, so the test can assert the exporter saw success. */
function recording(inner: LogRecordExporter): LogRecordExporter & { results: ExportResult[] } {
  const results: ExportResult[] = [];
  return {
    results,
    export(logs: ReadableLogRecord[], done: (r: ExportResult) => void) {
      inner.export(logs, (r) => {
        results.push(r);
        done(r);
      });
    },
    shutdown: () => inner.shutdown(),
    forceFlush: () => inner.forceFlush?.() ?? Promise.resolve(),
  };
}

function logExporter(encoding: Encoding, server: TestServer, authorization?: string) {
  if (encoding === "grpc") {
    const metadata = new grpc.Metadata();
    if (authorization) metadata.set("authorization", authorization);
    return new GrpcLogExporter({ url: server.grpcUrl, metadata });
  }
  const headers: Record<string, string> = authorization ? { authorization } : {};
  const config = { url: `${server.otlpUrl}/v1/logs`, headers };
  return encoding === "json" ? new JsonLogExporter(config) : new ProtoLogExporter(config);
}

const INPUT_MESSAGES = [
  { role: "system", parts: [{ type: "text", content: "You are terse." }] },
  { role: "user", parts: [{ type: "text", content: "What is 2+2?" }] },
];
const OUTPUT_MESSAGES = [{ role: "assistant", parts: [{ type: "text", content: "4" }], finish_reason: "stop" }];

interface Emitted {
  traceId: string;
  currentSpanId: string;
  legacySpanId: string;
}

/**
 * One agent run whose first chat call reports its messages as a current
 * `gen_ai.client.inference.operation.details` event and is scored by an evaluation, and whose
 * second chat call reports them as the legacy per-message events (content in the body).
 */
async function emitRunWithLogs(
  encoding: Encoding,
  server: TestServer,
  resource: Record<string, string>,
  authorization?: string,
): Promise<Emitted & { results: ExportResult[] }> {
  const spans = otelProvider(encoding, encoding === "grpc" ? server.grpcUrl : server.otlpUrl, resource, {
    authorization,
  });
  const exporter = recording(logExporter(encoding, server, authorization));
  const logs = new LoggerProvider({
    resource: resourceFromAttributes(resource),
    processors: [new SimpleLogRecordProcessor({ exporter })],
  });
  const tracer = spans.getTracer("logs-test");
  const logger = logs.getLogger("logs-test", "1.0.0");
  const root = tracer.startSpan("invoke_agent helper", { attributes: { "gen_ai.operation.name": "invoke_agent" } });
  const rootCtx = trace.setSpan(context.active(), root);
  const chat = (name: string) =>
    tracer.startSpan(
      name,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          "gen_ai.operation.name": "chat",
          "gen_ai.provider.name": "openai",
          "gen_ai.request.model": "gpt-4o-mini",
          "gen_ai.usage.input_tokens": 12,
          "gen_ai.usage.output_tokens": 1,
        },
      },
      rootCtx,
    );
  const current = chat("chat gpt-4o-mini");
  const currentCtx = trace.setSpan(context.active(), current);
  // Records a millisecond apart: the SDK stamps them with Date.now(), and records of equal time come
  // back in no particular order.
  let at = Date.now();
  logger.emit({
    context: currentCtx,
    timestamp: at++,
    eventName: "gen_ai.client.inference.operation.details",
    attributes: {
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": "openai",
      "gen_ai.input.messages": INPUT_MESSAGES as unknown as AnyValue,
      "gen_ai.output.messages": OUTPUT_MESSAGES as unknown as AnyValue,
    } as never,
  });
  logger.emit({
    context: currentCtx,
    timestamp: at++,
    eventName: "gen_ai.evaluation.result",
    attributes: {
      "gen_ai.evaluation.name": "relevance",
      "gen_ai.evaluation.score.value": 0.75,
      "gen_ai.evaluation.score.label": "pass",
      "gen_ai.evaluation.explanation": "answers the question",
    },
  });
  logger.emit({ context: currentCtx, timestamp: at++, severityText: "INFO", severityNumber: 9, body: "retrying once" });
  current.end();

  const legacy = chat("chat gpt-4o-mini legacy");
  const legacyCtx = trace.setSpan(context.active(), legacy);
  // Legacy events name themselves with the `event.name` attribute (before LogRecord.event_name).
  const legacyEvent = (name: string, body: AnyValue) =>
    logger.emit({
      context: legacyCtx,
      timestamp: at++,
      attributes: { "event.name": name, "gen_ai.system": "openai" },
      body,
    });
  legacyEvent("gen_ai.system.message", { content: "Be brief." });
  legacyEvent("gen_ai.user.message", { content: "Weather in Paris?" });
  legacyEvent("gen_ai.assistant.message", {
    tool_calls: [{ id: "call_1", type: "function", function: { name: "weather", arguments: '{"city":"Paris"}' } }],
  });
  legacyEvent("gen_ai.tool.message", { content: "sunny", id: "call_1" });
  legacyEvent("gen_ai.choice", { index: 0, finish_reason: "stop", message: { content: "Sunny." } });
  legacy.end();
  root.end();
  await logs.forceFlush();
  await spans.forceFlush();
  await logs.shutdown();
  await spans.shutdown();
  return {
    traceId: root.spanContext().traceId,
    currentSpanId: current.spanContext().spanId,
    legacySpanId: legacy.spanContext().spanId,
    results: exporter.results,
  };
}

async function storedLogs(server: TestServer, where: string, params: Record<string, unknown>) {
  const rs = await server.running.storage.client.query({
    query: `SELECT TraceId, SpanId, EventName, Body, SeverityText, SeverityNumber, TeamName, LogAttributes
            FROM cognive.otel_logs WHERE ${where} ORDER BY Timestamp`,
    query_params: params,
    format: "JSONEachRow",
  });
  return (await rs.json()) as {
    TraceId: string;
    SpanId: string;
    EventName: string;
    Body: string;
    SeverityText: string;
    SeverityNumber: number;
    TeamName: string;
    LogAttributes: Record<string, string>;
  }[];
}

// --- ExportLogsServiceRequest in protobuf, written by hand ----------------------------------------

function fixed64(w: protobuf.Writer, field: number, v: bigint): void {
  w.uint32((field << 3) | 1)
    .fixed32(Number(v & 0xffffffffn))
    .fixed32(Number(v >> 32n));
}

interface RawRecord {
  timeNs?: bigint;
  body?: Uint8Array;
  traceId?: string;
  spanId?: string;
  eventName?: string;
}

/** AnyValue{kvlist_value{values: [{key "k", value: …}]}} nested `depth` levels, in one writer. */
function deepKvlist(depth: number): Uint8Array {
  const w = protobuf.Writer.create();
  for (let i = 0; i < depth; i++) w.uint32(50).fork().uint32(10).fork().uint32(10).string("k").uint32(18).fork();
  w.uint32(10).string("leaf");
  for (let i = 0; i < depth; i++) w.ldelim().ldelim().ldelim();
  return w.finish();
}

function logsRequest(records: RawRecord[], service = "raw-logs"): Buffer {
  const w = protobuf.Writer.create();
  w.uint32(10).fork(); // resource_logs
  w.uint32(10).fork(); // resource
  w.uint32(10).fork().uint32(10).string("service.name").uint32(18).fork().uint32(10).string(service).ldelim().ldelim();
  w.ldelim();
  w.uint32(18).fork(); // scope_logs
  for (const r of records) {
    w.uint32(18).fork();
    fixed64(w, 1, r.timeNs ?? BigInt(Date.now()) * 1_000_000n);
    if (r.body) w.uint32(42).bytes(r.body);
    if (r.traceId) w.uint32(74).bytes(Buffer.from(r.traceId, "hex"));
    if (r.spanId) w.uint32(82).bytes(Buffer.from(r.spanId, "hex"));
    if (r.eventName) w.uint32(98).string(r.eventName);
    w.ldelim();
  }
  w.ldelim();
  w.ldelim();
  return Buffer.from(w.finish());
}

const stringBody = (s: string) => protobuf.Writer.create().uint32(10).string(s).finish();

/** rejected_log_records of an ExportLogsServiceResponse (0 when partial_success is unset). */
function rejectedOf(response: Buffer): number {
  if (response.length === 0) return 0;
  const r = protobuf.Reader.create(response);
  r.uint32();
  const inner = protobuf.Reader.create(r.bytes());
  inner.uint32();
  return Number(inner.int64());
}

function exportLogsGrpc(client: grpc.Client, message: Buffer, key?: string): Promise<Answer> {
  return unaryExport(client, LOGS_EXPORT_PATH, message, key);
}

function postLogs(server: TestServer, body: Uint8Array | string, contentType: string, key?: string) {
  return fetch(`${server.otlpUrl}/v1/logs`, {
    method: "POST",
    headers: { "content-type": contentType, ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: typeof body === "string" ? body : new Uint8Array(body),
  });
}

const newTraceId = () => randomBytes(16).toString("hex");
const newSpanId = () => randomBytes(8).toString("hex");

describe("OTLP logs: official exporters → collector → native and Tempo trace APIs", () => {
  let server: TestServer;
  let client: grpc.Client;
  beforeAll(async () => {
    server = await startTestServer({ COGNIVE_MAX_BODY_BYTES: String(1024 * 1024) });
    client = new grpc.Client(new URL(server.grpcUrl).host, grpc.credentials.createInsecure(), {
      "grpc.max_send_message_length": -1,
    });
  }, 60_000);
  afterAll(async () => {
    client?.close();
    await server?.stop();
  });

  for (const encoding of ["grpc", "proto", "json"] as const) {
    it(`attaches logs, GenAI messages and scores to their spans (${encoding})`, async () => {
      const run = await emitRunWithLogs(encoding, server, { "service.name": `logs-${encoding}` });
      expect(run.results.length).toBeGreaterThan(0);
      expect(run.results.every((r) => r.code === SUCCESS)).toBe(true);

      const res = await fetch(`${server.queryUrl}/api/v1/traces/${run.traceId}`);
      expect(res.status).toBe(200);
      const detail = await res.json();
      const current = detail.spans.find((s: { spanId: string }) => s.spanId === run.currentSpanId);
      const legacy = detail.spans.find((s: { spanId: string }) => s.spanId === run.legacySpanId);
      const root = detail.spans.find((s: { parentSpanId: string }) => s.parentSpanId === "");
      expect(root.logs).toEqual([]);

      expect(current.logs.map((l: { eventName: string }) => l.eventName)).toEqual([
        "gen_ai.client.inference.operation.details",
        "gen_ai.evaluation.result",
        "",
      ]);
      const plain = current.logs[2];
      expect(plain).toMatchObject({ severityText: "INFO", body: "retrying once" });
      expect(BigInt(plain.timeUnixNano)).toBeGreaterThan(0n);
      // Structured attribute values are stored as the ClickHouse exporter stores them: JSON text.
      expect(JSON.parse(current.logs[0].attributes["gen_ai.input.messages"])).toEqual(INPUT_MESSAGES);
      expect(current.messages).toEqual({ input: INPUT_MESSAGES, output: OUTPUT_MESSAGES, systemInstructions: [] });
      expect(current.scores).toEqual([
        { name: "relevance", value: 0.75, label: "pass", explanation: "answers the question" },
      ]);

      // Legacy events: named by the deprecated attribute (kept), content in the body, normalized to messages.
      expect(legacy.logs).toHaveLength(5);
      expect(legacy.logs[1].eventName).toBe("gen_ai.user.message");
      expect(legacy.logs[1].attributes["event.name"]).toBe("gen_ai.user.message");
      expect(JSON.parse(legacy.logs[1].body)).toEqual({ content: "Weather in Paris?" });
      expect(legacy.messages).toEqual({
        input: [
          { role: "system", parts: [{ type: "text", content: "Be brief." }] },
          { role: "user", parts: [{ type: "text", content: "Weather in Paris?" }] },
          {
            role: "assistant",
            parts: [{ type: "tool_call", id: "call_1", name: "weather", arguments: { city: "Paris" } }],
          },
          { role: "tool", parts: [{ type: "tool_call_response", id: "call_1", response: "sunny" }] },
        ],
        output: [{ role: "assistant", parts: [{ type: "text", content: "Sunny." }], finish_reason: "stop" }],
        systemInstructions: [],
      });
      expect(legacy.scores).toEqual([]);

      // Tempo: the logs are span events, JSON (v1 and v2) and protobuf (v1 and v2).
      const v1 = await (await fetch(`${server.queryUrl}/api/traces/${run.traceId}`)).json();
      const v2 = await (await fetch(`${server.queryUrl}/api/v2/traces/${run.traceId}`)).json();
      for (const resourceSpans of [v1.resourceSpans, v2.trace.resourceSpans]) {
        const spans = resourceSpans.flatMap((r: any) => r.scopeSpans.flatMap((s: any) => s.spans));
        const tempoCurrent = spans.find((s: { spanId: string }) => s.spanId === run.currentSpanId);
        const names = tempoCurrent.events.map((e: { name: string }) => e.name);
        expect(names).toEqual(["gen_ai.client.inference.operation.details", "gen_ai.evaluation.result", "log"]);
        const log = tempoCurrent.events[2];
        const attr = (k: string) => log.attributes.find((a: { key: string }) => a.key === k)?.value.stringValue;
        expect(attr("body")).toBe("retrying once");
        expect(attr("severity")).toBe("INFO");
      }
      for (const path of ["/api/traces/", "/api/v2/traces/"]) {
        const pb = await fetch(`${server.queryUrl}${path}${run.traceId}`, {
          headers: { accept: "application/protobuf" },
        });
        let bytes: Uint8Array = new Uint8Array(await pb.arrayBuffer());
        // v2 wraps the trace in TraceByIDResponse.trace (field 1).
        if (path.includes("v2")) {
          const r = protobuf.Reader.create(bytes);
          expect(r.uint32()).toBe(10);
          bytes = r.bytes();
        }
        const decoded = decodeTracesProto(bytes);
        const spans = decoded.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));
        const span = spans.find((s) => s.spanId === run.legacySpanId);
        expect(span?.events.map((e) => e.name)).toEqual([
          "gen_ai.system.message",
          "gen_ai.user.message",
          "gen_ai.assistant.message",
          "gen_ai.tool.message",
          "gen_ai.choice",
        ]);
        expect(JSON.parse(String(span?.events[1].attributes.body))).toEqual({ content: "Weather in Paris?" });
      }
    });
  }

  it("answers 200 only once the rows are in otel_logs, with a partial success for a bad timestamp (HTTP/JSON)", async () => {
    const traceId = newTraceId();
    const spanId = newSpanId();
    const now = String(BigInt(Date.now()) * 1_000_000n);
    const body = {
      resourceLogs: [
        {
          resource: { attributes: [{ key: "service.name", value: { stringValue: "durable" } }] },
          scopeLogs: [
            {
              logRecords: [
                {
                  timeUnixNano: now,
                  traceId,
                  spanId,
                  body: { stringValue: "kept" },
                  severityNumber: "SEVERITY_NUMBER_WARN",
                },
                { timeUnixNano: "1000", traceId, spanId, body: { stringValue: "1970 is not storable" } },
                {
                  observedTimeUnixNano: now,
                  traceId,
                  spanId,
                  body: { kvlistValue: { values: [{ key: "n", value: { intValue: "7" } }] } },
                },
              ],
            },
          ],
        },
      ],
    };
    const res = await postLogs(server, JSON.stringify(body), "application/json");
    expect(res.status).toBe(200);
    const answer = await res.json();
    expect(answer.partialSuccess.rejectedLogRecords).toBe("1");
    expect(answer.partialSuccess.errorMessage).toMatch(/outside the storable range/);
    // No wait and no retry: the answer promised durability.
    const rows = await storedLogs(server, "TraceId = {t:String}", { t: traceId });
    expect(rows.map((r) => r.Body)).toEqual(["kept", '{"n":7}']);
    expect(rows[0]).toMatchObject({ SeverityNumber: 13, SpanId: spanId });
  });

  it("stores over gRPC before OK and reports rejected records in partial_success", async () => {
    const traceId = newTraceId();
    const spanId = newSpanId();
    const msg = logsRequest([
      { traceId, spanId, body: stringBody("grpc kept"), eventName: "custom.event" },
      { traceId, spanId, timeNs: 5n, body: stringBody("too old") },
      { traceId, spanId: "00000000000000ff00", body: stringBody("bad span id") },
    ]);
    const r = await exportLogsGrpc(client, msg);
    expect(r.code).toBe(grpc.status.OK);
    expect(rejectedOf(r.response as Buffer)).toBe(2);
    const rows = await storedLogs(server, "TraceId = {t:String}", { t: traceId });
    expect(rows.map((x) => [x.Body, x.EventName])).toEqual([["grpc kept", "custom.event"]]);
  });

  it("answers 503 / UNAVAILABLE with a retry delay while storage fails, stores nothing, and stores the retry", async () => {
    const storage = server.running.storage;
    const traceId = newTraceId();
    const message = logsRequest([{ traceId, body: stringBody("during outage") }]);
    await storage.client.command({ query: "RENAME TABLE cognive.otel_logs TO cognive.otel_logs_offline" });
    let http: Response;
    let failed: Answer;
    try {
      http = await postLogs(server, message, "application/x-protobuf");
      failed = await exportLogsGrpc(client, message);
    } finally {
      await storage.client.command({ query: "RENAME TABLE cognive.otel_logs_offline TO cognive.otel_logs" });
    }
    expect(http.status).toBe(503);
    expect(http.headers.get("retry-after")).toBe("2");
    expect(failed.code).toBe(grpc.status.UNAVAILABLE);
    expect(retryDelaySeconds(failed.metadata)).toBe(2);
    expect(await storedLogs(server, "TraceId = {t:String}", { t: traceId })).toHaveLength(0);

    expect((await exportLogsGrpc(client, message)).code).toBe(grpc.status.OK);
    expect(await storedLogs(server, "TraceId = {t:String}", { t: traceId })).toHaveLength(1);
  });

  it("rejects undecodable, wrongly typed, too deep and oversize input, and keeps serving", async () => {
    const garbage = randomBytes(4096);
    garbage[0] = 0x0a;
    garbage[1] = 0xff; // a length running past the end
    expect((await postLogs(server, garbage, "application/x-protobuf")).status).toBe(400);
    expect((await exportLogsGrpc(client, garbage)).code).toBe(grpc.status.INVALID_ARGUMENT);
    expect((await postLogs(server, "{not json", "application/json")).status).toBe(400);
    expect((await postLogs(server, JSON.stringify({ resourceLogs: "x" }), "application/json")).status).toBe(400);
    expect((await postLogs(server, "x", "text/plain")).status).toBe(415);

    // A wrongly typed field rejects its record alone.
    const traceId = newTraceId();
    const typed = await postLogs(
      server,
      JSON.stringify({
        resourceLogs: [
          {
            scopeLogs: [
              {
                logRecords: [
                  { traceId, severityNumber: "loud", body: { stringValue: "bad severity" } },
                  { traceId, severityText: 5, body: { stringValue: "bad text" } },
                  { traceId, body: "not an AnyValue" },
                  { traceId, body: { stringValue: "fine'); DROP TABLE otel_logs; --\t\n\\" } },
                ],
              },
            ],
          },
        ],
      }),
      "application/json",
    );
    expect(typed.status).toBe(200);
    expect((await typed.json()).partialSuccess.rejectedLogRecords).toBe("3");
    const typedRows = await storedLogs(server, "TraceId = {t:String}", { t: traceId });
    expect(typedRows.map((r) => r.Body)).toEqual(["fine'); DROP TABLE otel_logs; --\t\n\\"]);

    // 10k-deep kvlist bodies: the record is refused, its neighbour kept, on both transports.
    const deepTrace = newTraceId();
    const deep = logsRequest([
      { traceId: deepTrace, body: deepKvlist(10_000) },
      { traceId: deepTrace, body: stringBody("shallow") },
    ]);
    const httpDeep = await postLogs(server, deep, "application/x-protobuf");
    expect(httpDeep.status).toBe(200);
    expect(rejectedOf(Buffer.from(await httpDeep.arrayBuffer()))).toBe(1);
    const grpcDeep = await exportLogsGrpc(client, deep);
    expect(grpcDeep.code).toBe(grpc.status.OK);
    expect(rejectedOf(grpcDeep.response as Buffer)).toBe(1);
    // Written as text: JSON.stringify itself cannot nest this deep.
    const level = '{"kvlistValue":{"values":[{"key":"k","value":';
    const jsonDeep = `${level.repeat(10_000)}{"stringValue":"leaf"}${"}]}}".repeat(10_000)}`;
    const jsonRes = await postLogs(
      server,
      `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"${deepTrace}","body":${jsonDeep}}]}]}]}`,
      "application/json",
    );
    expect(jsonRes.status).toBe(200);
    expect((await jsonRes.json()).partialSuccess.rejectedLogRecords).toBe("1");
    expect((await storedLogs(server, "TraceId = {t:String}", { t: deepTrace })).map((r) => r.Body)).toEqual([
      "shallow",
      "shallow",
    ]);

    // Over COGNIVE_MAX_BODY_BYTES (1 MiB here).
    const big = logsRequest([{ body: stringBody("x".repeat(2 * 1024 * 1024)) }]);
    expect((await postLogs(server, big, "application/x-protobuf")).status).toBe(413);
    expect((await exportLogsGrpc(client, big)).code).toBe(grpc.status.RESOURCE_EXHAUSTED);

    const after = newTraceId();
    expect((await exportLogsGrpc(client, logsRequest([{ traceId: after, body: stringBody("still here") }]))).code).toBe(
      grpc.status.OK,
    );
    expect(await storedLogs(server, "TraceId = {t:String}", { t: after })).toHaveLength(1);

    const metrics = await (await fetch(`${server.otlpUrl}/metrics`)).text();
    expect(metrics).toMatch(/cognive_log_records_received_total\{transport="grpc"\} [1-9]/);
    expect(metrics).toMatch(/cognive_log_records_rejected_total\{reason="invalid"\} [1-9]/);
    expect(metrics).toMatch(/cognive_otlp_requests_total\{signal="logs",status="400"\} [1-9]/);
  }, 60_000);
});

describe("OTLP logs with keys required", () => {
  const ADMIN = generateKey().key;
  let server: TestServer;
  let client: grpc.Client;
  const keys: Record<string, string> = {};
  const api = (path: string, key = ADMIN) =>
    fetch(`${server.queryUrl}${path}`, { headers: { authorization: `Bearer ${key}` } });

  beforeAll(async () => {
    server = await startTestServer({ COGNIVE_AUTH: "required", COGNIVE_ADMIN_KEY: ADMIN });
    for (const [name, role, teams, rateLimit] of [
      ["ingest-alpha", "ingest", ["alpha"], undefined],
      ["ingest-bravo", "ingest", ["bravo"], undefined],
      ["viewer-alpha", "viewer", ["alpha"], undefined],
      ["viewer-bravo", "viewer", ["bravo"], undefined],
      ["slow", "ingest", ["alpha"], { requestsPerSecond: 0.5 }],
    ] as const) {
      const res = await fetch(`${server.queryUrl}/api/v1/keys`, {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
        body: JSON.stringify({ name, role, teams, rateLimit }),
      });
      expect(res.status).toBe(201);
      keys[name] = (await res.json()).key;
    }
    client = new grpc.Client(new URL(server.grpcUrl).host, grpc.credentials.createInsecure());
  }, 60_000);
  afterAll(async () => {
    client?.close();
    await server?.stop();
  });

  it("stamps logs with the ingest key's team and shows a team only its own logs", async () => {
    const run = await emitRunWithLogs(
      "grpc",
      server,
      { "service.name": "alpha-svc", "cognive.team": "bravo" },
      `Bearer ${keys["ingest-alpha"]}`,
    );
    expect(run.results.every((r) => r.code === SUCCESS)).toBe(true);
    // Another team's key writes a log onto alpha's span: stored as bravo's, never shown to alpha.
    const injected = logsRequest([{ traceId: run.traceId, spanId: run.currentSpanId, body: stringBody("from bravo") }]);
    expect((await exportLogsGrpc(client, injected, keys["ingest-bravo"])).code).toBe(grpc.status.OK);
    const teams = (await storedLogs(server, "TraceId = {t:String}", { t: run.traceId })).map((r) => r.TeamName);
    expect(new Set(teams)).toEqual(new Set(["alpha", "bravo"]));

    const alpha = await api(`/api/v1/traces/${run.traceId}`, keys["viewer-alpha"]);
    expect(alpha.status).toBe(200);
    const span = (await alpha.json()).spans.find((s: { spanId: string }) => s.spanId === run.currentSpanId);
    expect(span.logs.map((l: { body: string }) => l.body)).not.toContain("from bravo");
    expect(span.logs).toHaveLength(3);
    expect(span.scores).toHaveLength(1);
    const tempo = await (await api(`/api/traces/${run.traceId}`, keys["viewer-alpha"])).text();
    expect(tempo).not.toContain("from bravo");
    // Bravo sees no spans of the trace, so not the trace nor its log.
    expect((await api(`/api/v1/traces/${run.traceId}`, keys["viewer-bravo"])).status).toBe(404);
  });

  it("refuses viewer keys and unknown keys, and counts logs toward the request rate limit", async () => {
    const msg = logsRequest([{ body: stringBody("x") }]);
    expect((await exportLogsGrpc(client, msg, keys["viewer-alpha"])).code).toBe(grpc.status.PERMISSION_DENIED);
    expect((await exportLogsGrpc(client, msg, generateKey().key)).code).toBe(grpc.status.UNAUTHENTICATED);
    expect((await postLogs(server, msg, "application/x-protobuf", keys["viewer-alpha"])).status).toBe(403);
    expect((await postLogs(server, msg, "application/x-protobuf")).status).toBe(401);
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++)
      statuses.push((await postLogs(server, msg, "application/x-protobuf", keys.slow)).status);
    expect(statuses[0]).toBe(200);
    expect(statuses).toContain(429);
  });
});
