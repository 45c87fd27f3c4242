import { Metadata } from "@grpc/grpc-js";
import { context, type Span, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { OTLPTraceExporter as GrpcExporter } from "@opentelemetry/exporter-trace-otlp-grpc";
import { OTLPTraceExporter as JsonExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPTraceExporter as ProtoExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, BatchSpanProcessor } from "@opentelemetry/sdk-trace-base";

export type Encoding = "json" | "proto" | "grpc";

export interface ExportOptions {
  compression?: "gzip";
  /** An `Authorization` value: an HTTP header, or gRPC metadata. */
  authorization?: string;
}

function exporterFor(encoding: Encoding, otlpUrl: string, opts: ExportOptions) {
  // The exporters type `compression` as their own string enum, whose values are these strings.
  const compressed = opts.compression ? { compression: opts.compression as never } : {};
  if (encoding === "grpc") {
    const metadata = new Metadata();
    if (opts.authorization) metadata.set("authorization", opts.authorization);
    return new GrpcExporter({ url: otlpUrl, metadata, ...compressed });
  }
  const url = `${otlpUrl}/v1/traces`;
  const headers: Record<string, string> = opts.authorization ? { authorization: opts.authorization } : {};
  const config = { url, headers, ...compressed };
  return encoding === "json" ? new JsonExporter(config) : new ProtoExporter(config);
}

/**
 * A tracer provider exporting with the official OTLP exporter of the given encoding (OTLP/HTTP
 * JSON or protobuf to the HTTP base URL, OTLP/gRPC to the gRPC URL), batched as agents run it in
 * production (a trace's spans usually travel together).
 */
export function otelProvider(
  encoding: Encoding,
  otlpUrl: string,
  resource: Record<string, string>,
  opts: ExportOptions = {},
) {
  const exporter = exporterFor(encoding, otlpUrl, opts);
  return new BasicTracerProvider({
    resource: resourceFromAttributes(resource),
    spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: 50 })],
  });
}

export interface LlmCall {
  provider: string;
  model: string;
  input: number;
  output: number;
  cacheRead?: number;
  cacheWrite?: number;
}

/**
 * One realistic agent run in current GenAI conventions: invoke_agent (with aggregate usage)
 * over chat calls and a tool call. Returns the trace id.
 */
export function emitAgentRun(
  provider: BasicTracerProvider,
  agent: string,
  calls: LlmCall[],
  opts: { failTool?: boolean } = {},
): string {
  const tracer = provider.getTracer("cognive-test", "1.0.0");
  const root = tracer.startSpan(`invoke_agent ${agent}`, {
    kind: SpanKind.INTERNAL,
    attributes: { "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": agent },
  });
  const ctx = trace.setSpan(context.active(), root);
  let totalIn = 0;
  let totalOut = 0;
  for (const call of calls) {
    const span: Span = tracer.startSpan(
      `chat ${call.model}`,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          "gen_ai.operation.name": "chat",
          "gen_ai.provider.name": call.provider,
          "gen_ai.request.model": call.model,
          "gen_ai.response.model": call.model,
          "gen_ai.usage.input_tokens": call.input,
          "gen_ai.usage.output_tokens": call.output,
          ...(call.cacheRead ? { "gen_ai.usage.cache_read.input_tokens": call.cacheRead } : {}),
          ...(call.cacheWrite ? { "gen_ai.usage.cache_creation.input_tokens": call.cacheWrite } : {}),
        },
      },
      ctx,
    );
    totalIn += call.input;
    totalOut += call.output;
    span.end();
  }
  const tool = tracer.startSpan(
    "execute_tool lookup_order",
    { attributes: { "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup_order" } },
    ctx,
  );
  if (opts.failTool) tool.setStatus({ code: SpanStatusCode.ERROR, message: "order service down" });
  tool.end();
  root.setAttributes({ "gen_ai.usage.input_tokens": totalIn, "gen_ai.usage.output_tokens": totalOut });
  root.end();
  return root.spanContext().traceId;
}
