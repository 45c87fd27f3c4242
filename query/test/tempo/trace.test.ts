import { decodeTracesProto } from "@cognive/collector";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { beforeAll, describe, expect, it } from "vitest";
import { emitAgentRun } from "../helpers/otel.ts";
import { useTestServer } from "../helpers/server.ts";

const server = useTestServer();

const memory = new InMemorySpanExporter();
let traceId = "";
let ingested: ReadableSpan[] = [];

const toNs = (t: [number, number]) => BigInt(t[0]) * 1_000_000_000n + BigInt(t[1]);
const KIND = { [SpanKind.INTERNAL]: 1, [SpanKind.SERVER]: 2, [SpanKind.CLIENT]: 3 } as Record<number, number>;

async function get(path: string, accept = "application/json") {
  return fetch(`${server().queryUrl}${path}`, { headers: { accept } });
}

beforeAll(async () => {
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ "service.name": "tempo-bot", "deployment.environment.name": "prod" }),
    spanProcessors: [
      new SimpleSpanProcessor(new OTLPTraceExporter({ url: `${server().otlpUrl}/v1/traces` })),
      new SimpleSpanProcessor(memory),
    ],
  });
  traceId = emitAgentRun(provider, "refund-agent", [{ provider: "openai", model: "gpt-4o", input: 100, output: 20 }], {
    failTool: true,
  });
  await provider.forceFlush();
  ingested = [...memory.getFinishedSpans()]; // shutdown clears the in-memory exporter
  await provider.shutdown();
});

function expectMatchesIngested(decoded: ReturnType<typeof decodeTracesProto>) {
  expect(ingested.length).toBe(3);
  const spans = decoded.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));
  expect(spans).toHaveLength(ingested.length);
  expect(decoded.resourceSpans).toHaveLength(1);
  expect(decoded.resourceSpans[0].resource["service.name"]).toBe("tempo-bot");
  expect(decoded.resourceSpans[0].scopeSpans.map((s) => [s.scopeName, s.scopeVersion])).toEqual([
    ["cognive-test", "1.0.0"],
  ]);
  for (const want of ingested) {
    const got = spans.find((s) => s.spanId === want.spanContext().spanId);
    expect(got, want.name).toBeDefined();
    if (!got) continue;
    expect(got.traceId).toBe(traceId);
    expect(got.parentSpanId).toBe(want.parentSpanContext?.spanId ?? "");
    expect(got.name).toBe(want.name);
    expect(got.kind).toBe(KIND[want.kind]);
    expect(got.startNs).toBe(toNs(want.startTime));
    expect(got.endNs).toBe(toNs(want.endTime));
    for (const [k, v] of Object.entries(want.attributes)) expect(String(got.attributes[k]), k).toBe(String(v));
    const code = want.status.code === SpanStatusCode.ERROR ? 2 : want.status.code === SpanStatusCode.OK ? 1 : 0;
    expect(got.statusCode).toBe(code);
    expect(got.statusMessage).toBe(want.status.message ?? "");
  }
}

describe("Tempo basics", () => {
  it("answers echo and buildinfo", async () => {
    const echo = await get("/api/echo");
    expect(echo.status).toBe(200);
    expect(await echo.text()).toBe("echo");
    const info = await (await get("/api/status/buildinfo")).json();
    expect(info).toMatchObject({ version: "2.7.0-cognive" });
    for (const k of ["revision", "branch", "buildDate", "buildUser", "goVersion"])
      expect(typeof info[k]).toBe("string");
  });
});

describe("Tempo trace by id", () => {
  it("v2 protobuf is a TraceByIDResponse whose trace matches what was exported", async () => {
    const res = await get(`/api/v2/traces/${traceId}`, "application/protobuf");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("application/protobuf");
    const bytes = new Uint8Array(await res.arrayBuffer());
    // TraceByIDResponse.trace is field 1 (length-delimited); its body is a TracesData.
    expect(bytes[0]).toBe(0x0a);
    let len = 0;
    let shift = 0;
    let i = 1;
    for (;;) {
      const b = bytes[i++];
      len |= (b & 0x7f) << shift;
      shift += 7;
      if (b < 0x80) break;
    }
    expect(i + len).toBe(bytes.length); // status COMPLETE (0) and empty message are omitted
    expectMatchesIngested(decodeTracesProto(bytes.subarray(i, i + len)));
  });

  it("v1 protobuf is a Trace (TracesData)", async () => {
    const res = await get(`/api/traces/${traceId}`, "application/protobuf");
    expect(res.status).toBe(200);
    expectMatchesIngested(decodeTracesProto(new Uint8Array(await res.arrayBuffer())));
  });

  it("JSON follows OTLP/JSON conventions", async () => {
    const v2 = await (await get(`/api/v2/traces/${traceId}?start=1&end=9999999999`)).json();
    expect(Object.keys(v2)).toEqual(["trace"]);
    const rs = v2.trace.resourceSpans;
    expect(rs).toHaveLength(1);
    expect(rs[0].resource.attributes).toContainEqual({ key: "service.name", value: { stringValue: "tempo-bot" } });
    expect(rs[0].scopeSpans.map((s: any) => s.scope)).toEqual([{ name: "cognive-test", version: "1.0.0" }]);
    const spans = rs[0].scopeSpans.flatMap((s: any) => s.spans);
    const tool = spans.find((s: any) => s.name === "execute_tool lookup_order");
    expect(tool.traceId).toBe(traceId);
    expect(tool.kind).toBe(1);
    expect(tool.status).toEqual({ code: 2, message: "order service down" });
    expect(typeof tool.startTimeUnixNano).toBe("string");
    expect(typeof tool.endTimeUnixNano).toBe("string");
    const v1 = await (await get(`/api/traces/${traceId}`)).json();
    expect(v1.resourceSpans).toEqual(rs);
  });

  it("left-pads short ids, 404s unknown ids and 400s non-hex ids", async () => {
    expect((await get("/api/v2/traces/abc")).status).toBe(404);
    expect((await get(`/api/v2/traces/${"f".repeat(32)}`)).status).toBe(404);
    expect((await get(`/api/traces/${"f".repeat(32)}`)).status).toBe(404);
    expect((await get("/api/v2/traces/not-hex")).status).toBe(400);
    expect((await get(`/api/v2/traces/${"a".repeat(33)}`)).status).toBe(400);
    const short = traceId.replace(/^0+/, "");
    if (short !== traceId) expect((await get(`/api/v2/traces/${short}`)).status).toBe(200);
  });
});
