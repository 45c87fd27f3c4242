/**
 * An agent using the official `openai` Node client, traced by OpenInference's OpenAI instrumentation
 * and exported over OTLP/HTTP (protobuf) straight to Cognive's collector.
 *
 *   OPENAI_API_KEY=sk-… npx tsx examples/openai-openinference/agent.ts
 */
import { pathToFileURL } from "node:url";
import { OpenAIInstrumentation } from "@arizeai/openinference-instrumentation-openai";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { detectResources, envDetector, resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import OpenAI from "openai";

export const SERVICE_NAME = "openai-openinference-example";

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
  provider.register();

  // Under ES modules `registerInstrumentations` cannot hook `import "openai"`, so patch the client class
  // we imported by hand (it must happen before the client is used). (CommonJS: `registerInstrumentations({ instrumentations: [instrumentation] })`.)
  const instrumentation = new OpenAIInstrumentation({ tracerProvider: provider });
  instrumentation.manuallyInstrument(OpenAI);

  try {
    const client = new OpenAI({
      apiKey: process.env.OPENAI_API_KEY,
      baseURL: process.env.OPENAI_BASE_URL || undefined, // undefined: api.openai.com
    });
    const completion = await client.chat.completions.create({
      model: process.env.OPENAI_MODEL || "gpt-4o-mini",
      messages: [
        { role: "system", content: "You are a terse support agent." },
        { role: "user", content: "How do I reset my password?" },
      ],
    });
    const answer = completion.choices[0]?.message.content ?? "";
    console.log(answer);
    return answer;
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
