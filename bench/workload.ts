/**
 * The synthetic agent workload the benchmarks send: one request's worth of realistic agent runs made
 * by the official OpenTelemetry SDK and serialized once by the official serializer, then copied per
 * request with fresh trace ids and times moved to the moment of sending, so nothing is de-duplicated,
 * stored data spreads over time as real traffic does, and no CPU goes into building spans.
 */
import type { Agent } from "node:http";
import { request } from "node:http";
import { context, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { ProtobufTraceSerializer } from "@opentelemetry/otlp-transformer";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";

/** Spans in one agent run: invoke_agent, an HTTP call, three chat calls, two tool calls. */
export const SPANS_PER_TRACE = 7;

const MODELS = [
  ["openai", "gpt-4o"],
  ["openai", "gpt-4o-mini"],
  ["anthropic", "claude-sonnet-4-20250514"],
  ["anthropic", "claude-3-5-haiku-20241022"],
] as const;

export interface Template {
  payload: Buffer;
  traceIdOffsets: number[][];
  /** The last 16 hex digits of each trace id; the first 16 are patched per request. */
  traceIdTails: string[];
  /** Where each span start and end time (fixed64, nanoseconds) sits in the payload, and its value. */
  timeOffsets: number[];
  times: BigUint64Array;
  /** The latest end time in the template: a request's spans are moved so that it becomes now. */
  endNs: bigint;
  spans: number;
}

/** One request's worth of agent runs (7 spans each), made by the official SDK and serialized by the official serializer. */
export function buildTemplate(traces: number): Template {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      "service.name": "support-bot",
      "service.version": "1.8.2",
      "deployment.environment.name": "prod",
      "cognive.team": "cx",
      "telemetry.sdk.language": "nodejs",
      "telemetry.sdk.name": "opentelemetry",
      "host.name": "agent-7f9c",
    }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer("@cognive/bench", "1.0.0");
  const base = Date.now() - 60_000;
  for (let t = 0; t < traces; t++) {
    // Realistic durations: a run lasts seconds, model calls hundreds of ms, tools a few ms to tens of ms.
    let clock = base + t * 50;
    const agent = ["refund-agent", "triage-agent", "billing-agent"][t % 3];
    const rootStart = clock;
    const root = tracer.startSpan(`invoke_agent ${agent}`, {
      kind: SpanKind.INTERNAL,
      startTime: rootStart,
      attributes: {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": agent,
        "gen_ai.conversation.id": `conv-${t}`,
      },
    });
    const ctx = trace.setSpan(context.active(), root);
    const http = tracer.startSpan(
      "GET /orders/{id}",
      {
        kind: SpanKind.CLIENT,
        startTime: clock,
        attributes: {
          "http.request.method": "GET",
          "url.full": `https://orders.internal/orders/${1000 + t}`,
          "http.response.status_code": 200,
          "server.address": "orders.internal",
        },
      },
      ctx,
    );
    clock += 3 + (t % 9);
    http.end(clock);
    for (let c = 0; c < 3; c++) {
      const [prov, model] = MODELS[(t + c) % MODELS.length];
      const chat = tracer.startSpan(
        `chat ${model}`,
        {
          kind: SpanKind.CLIENT,
          startTime: clock,
          attributes: {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": prov,
            "gen_ai.request.model": model,
            "gen_ai.response.model": model,
            "gen_ai.response.id": `resp_${t}_${c}_a81c0f`,
            "gen_ai.response.finish_reasons": ["stop"],
            "gen_ai.request.temperature": 0.2,
            "gen_ai.request.max_tokens": 1024,
            "gen_ai.usage.input_tokens": 800 + 37 * c + t,
            "gen_ai.usage.output_tokens": 120 + 11 * c,
            "gen_ai.usage.cache_read.input_tokens": c === 0 ? 0 : 512,
            "server.address": prov === "openai" ? "api.openai.com" : "api.anthropic.com",
          },
        },
        ctx,
      );
      clock += 300 + ((t * 7 + c * 131) % 1700);
      chat.end(clock);
    }
    for (const tool of ["lookup_order", "issue_refund"]) {
      const span = tracer.startSpan(
        `execute_tool ${tool}`,
        {
          startTime: clock,
          attributes: {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": tool,
            "gen_ai.tool.call.id": `call_${t}_${tool}`,
            "gen_ai.tool.type": "function",
          },
        },
        ctx,
      );
      if (t % 17 === 0 && tool === "issue_refund")
        span.setStatus({ code: SpanStatusCode.ERROR, message: "refund limit" });
      clock += 2 + (t % 40);
      span.end(clock);
    }
    root.end(clock + 1);
  }
  const spans = exporter.getFinishedSpans();
  const payload = Buffer.from(ProtobufTraceSerializer.serializeRequest(spans) as Uint8Array);
  const traceIds = [...new Set(spans.map((s) => s.spanContext().traceId))];
  const traceIdOffsets = traceIds.map((id) => {
    const needle = Buffer.from(id, "hex");
    const offsets: number[] = [];
    for (let i = payload.indexOf(needle); i >= 0; i = payload.indexOf(needle, i + 1)) offsets.push(i);
    return offsets;
  });
  const timeOffsets: number[] = [];
  const times: bigint[] = [];
  const distinct = new Set(
    spans.flatMap((s) => [s.startTime, s.endTime].map(([sec, ns]) => BigInt(sec) * 1_000_000_000n + BigInt(ns))),
  );
  for (const ns of distinct) {
    const needle = Buffer.alloc(8);
    needle.writeBigUInt64LE(ns);
    for (let i = payload.indexOf(needle); i >= 0; i = payload.indexOf(needle, i + 1)) {
      timeOffsets.push(i);
      times.push(ns);
    }
  }
  if (timeOffsets.length < spans.length * 2) throw new Error("workload: span times not found in the payload");
  return {
    payload,
    traceIdOffsets,
    traceIdTails: traceIds.map((id) => id.slice(16)),
    timeOffsets,
    times: BigUint64Array.from(times),
    endNs: BigUint64Array.from(times).sort().at(-1) ?? 0n,
    spans: spans.length,
  };
}

/**
 * The first 4 bytes of the trace id of trace `t` of request `requestNo`: a hash of both (murmur3's
 * finalizer), so that the newest traces' ids are spread over the whole id space as real random ids
 * are, not clustered by request (which made look-ups of the newest traces by id cheaper than they
 * are). bench/peers/loadgen computes the same.
 */
export function traceIdHead(requestNo: number, t: number): number {
  let h = (requestNo ^ Math.imul(t, 0x9e3779b9)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Bytes of a trace id: the head hash, the request number, the trace's index (u16), then the template's tail. */
const ID_REQUEST_AT = 4;
const ID_TRACE_AT = 8;
const ID_TAIL_AT = 10;

/** A copy of the template whose trace ids are unique to this request and whose spans ended just now. */
export function patched(tpl: Template, requestNo: number): Buffer {
  const buf = Buffer.from(tpl.payload);
  tpl.traceIdOffsets.forEach((offsets, t) => {
    // The tail too: a template may carry the tails of an earlier load (bench/query.ts --data-dir).
    const tail = Buffer.from(tpl.traceIdTails[t], "hex");
    for (const o of offsets) {
      buf.writeUInt32BE(traceIdHead(requestNo, t), o);
      buf.writeUInt32BE(requestNo, o + ID_REQUEST_AT);
      buf.writeUInt16BE(t, o + ID_TRACE_AT);
      tail.copy(buf, o + ID_TAIL_AT, ID_TAIL_AT - 8);
    }
  });
  const shift = BigInt(Date.now()) * 1_000_000n - tpl.endNs;
  for (let i = 0; i < tpl.timeOffsets.length; i++) buf.writeBigUInt64LE(tpl.times[i] + shift, tpl.timeOffsets[i]);
  return buf;
}

/** The trace id `patched` gives trace `t` of request `requestNo`. */
export function traceIdOf(tpl: Template, requestNo: number, t: number): string {
  return (
    traceIdHead(requestNo, t).toString(16).padStart(8, "0") +
    requestNo.toString(16).padStart(8, "0") +
    t.toString(16).padStart(4, "0") +
    tpl.traceIdTails[t].slice((ID_TAIL_AT - 8) * 2)
  );
}

/** The layout of trace ids `patched` writes; a data directory loaded with another cannot be looked up. */
export const TRACE_ID_LAYOUT = 2;

export interface Reply {
  status: number;
  body: Buffer;
}

/** One HTTP request on a keep-alive agent to 127.0.0.1. */
export function send(
  agent: Agent,
  port: number,
  method: string,
  path: string,
  headers: Record<string, string | number>,
  body?: Buffer,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method, agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    req.end(body);
  });
}
