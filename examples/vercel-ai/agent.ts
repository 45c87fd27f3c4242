/**
 * An agent using the Vercel AI SDK's `generateText` with its built-in OpenTelemetry spans
 * (`experimental_telemetry`), exported over OTLP/HTTP (protobuf) straight to Cognive's collector.
 *
 *   OPENAI_API_KEY=sk-… npx tsx examples/vercel-ai/agent.ts
 */
import { pathToFileURL } from "node:url";
import { createOpenAI } from "@ai-sdk/openai";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { detectResources, envDetector, resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { generateText } from "ai";

export const SERVICE_NAME = "vercel-ai-example";
export const FUNCTION_ID = "support-agent";

/** `${endpoint}/v1/traces` from COGNIVE_OTLP_URL or OTEL_EXPORTER_OTLP_ENDPOINT (default: `npm start`'s collector). */
export function tracesUrl(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.COGNIVE_OTLP_URL || env.OTEL_EXPORTER_OTLP_ENDPOINT || "http://127.0.0.1:4318";
  return `${base.replace(/\/+$/, "")}/v1/traces`;
}

export async function main(): Promise<string> {
  // service.name defaults to this example's; OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES override it.
  const resource = resourceFromAttributes({ "service.name": SERVICE_NAME }).merge(
    detectResources({ detectors: [envDetector] }),
  );
  const provider = new NodeTracerProvider({
    resource,
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: tracesUrl() }))],
  });
  // The AI SDK takes its tracer from the global OpenTelemetry API, so register the provider globally.
  provider.register();

  try {
    const openai = createOpenAI({
      apiKey: process.env.OPENAI_API_KEY,
      baseURL: process.env.OPENAI_BASE_URL || undefined, // undefined: https://api.openai.com/v1
    });
    const { text } = await generateText({
      // `openai.chat(…)` calls Chat Completions, which every OpenAI-compatible server speaks;
      // `openai(…)` would call the Responses API.
      model: openai.chat(process.env.OPENAI_MODEL || "gpt-4o-mini"),
      system: "You are a terse support agent.",
      prompt: "How do I reset my password?",
      experimental_telemetry: {
        isEnabled: true,
        functionId: FUNCTION_ID, // shown as the agent's name in Cognive
        metadata: { example: "vercel-ai" },
      },
    });
    console.log(text);
    return text;
  } finally {
    // Flush queued spans to the collector before the process exits.
    await provider.shutdown();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
