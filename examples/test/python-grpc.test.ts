import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { calcPrice } from "@pydantic/genai-prices";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../../query/test/helpers/server.ts";
import { EXAMPLES_DIR, exampleEnv, modelCalls, pythonVenv, run, waitForTrace } from "./helpers.ts";

const SERVICE_NAME = "python-grpc-example";
/** In CI every example must run: a missing Python or a failed install fails instead of skipping. */
const REQUIRED = process.env.COGNIVE_REQUIRE_SERVICES === "1";
const PYTHON = process.env.PYTHON || "python3";
const hasPython = spawnSync(PYTHON, ["--version"], { stdio: "ignore" }).status === 0;
if (!hasPython && !REQUIRED) console.warn(`python-grpc example: skipped, ${PYTHON} is not available`);

describe.skipIf(!hasPython && !REQUIRED)("python-grpc example: the Python SDK on its default protocol", () => {
  let venv: string | undefined;
  let unavailable: string | undefined;
  let cognive: TestServer | undefined;

  beforeAll(async () => {
    cognive = await startTestServer();
    const env = await pythonVenv(PYTHON, "python-grpc", REQUIRED);
    venv = env.dir;
    unavailable = env.unavailable;
  }, 300_000);

  async function promVector(query: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
    const res = await fetch(`${cognive!.queryUrl}/api/v1/query?query=${encodeURIComponent(query)}`);
    const body = await res.json();
    expect(res.status, JSON.stringify(body)).toBe(200);
    return body.data.result;
  }

  afterAll(async () => {
    await cognive?.stop();
    if (venv) rmSync(venv, { recursive: true, force: true, maxRetries: 5 });
  });

  // The SDK's default protocol (gRPC, nothing set) and http/protobuf, each as its own service.
  const RUNS: { protocol: string | undefined; service: string; transport: "grpc" | "proto" }[] = [
    { protocol: undefined, service: SERVICE_NAME, transport: "grpc" },
    { protocol: "http/protobuf", service: "python-http-example", transport: "proto" },
  ];

  it.for(RUNS)(
    "exports a chat span, its messages event and GenAI metrics over $transport (protocol $protocol); Cognive stores, prices and attaches them",
    { timeout: 45_000 },
    async ({ protocol, service, transport }, ctx) => {
      if (unavailable) ctx.skip(`the Python environment could not be set up: ${unavailable}`);
      const env = {
        ...exampleEnv(transport === "grpc" ? cognive!.grpcUrl : cognive!.otlpUrl, "http://127.0.0.1:9"),
        OTEL_SERVICE_NAME: service,
        // The SDK's defaults: what the environment running the tests says about protocols is removed
        // (undefined, not empty: an empty OTEL_EXPORTER_OTLP_INSECURE means "use TLS" to the Python SDK).
        OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: undefined,
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: undefined,
        OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: undefined,
        OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: undefined,
        OTEL_EXPORTER_OTLP_INSECURE: undefined,
        OTEL_EXPORTER_OTLP_TRACES_INSECURE: undefined,
        OTEL_EXPORTER_OTLP_LOGS_INSECURE: undefined,
        OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: undefined,
        OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: undefined,
        OTEL_EXPORTER_OTLP_METRICS_INSECURE: undefined,
      };
      const result = await run(join(venv!, "bin", "python"), [join(EXAMPLES_DIR, "python-grpc", "send_span.py")], {
        env,
        timeoutMs: 30_000,
      });
      expect(result.code, result.stderr).toBe(0);
      const traceId = /exported trace ([0-9a-f]{32})/.exec(result.stdout)?.[1];
      expect(traceId, result.stdout).toBeDefined();

      const trace = await waitForTrace(cognive!.queryUrl, service);
      expect(trace.traceId).toBe(traceId);
      const calls = modelCalls(trace);
      expect(calls).toHaveLength(1);
      expect(calls[0].kind).toMatch(/client/i);
      expect(calls[0].genAi).toMatchObject({
        operation: "chat",
        provider: "openai",
        requestModel: "gpt-4o-mini",
        inputTokens: 1200,
        outputTokens: 300,
        priced: true,
      });
      const price = calcPrice({ input_tokens: 1200, output_tokens: 300 }, "gpt-4o-mini", { providerId: "openai" });
      expect(calls[0].genAi.costUsd).toBeCloseTo(price!.total_price, 12);
      expect(trace.summary.costUsd).toBeCloseTo(price!.total_price, 12);

      // The log exporter's event, stored before its OK (the script exited 0 only on success), is on the span.
      const detail = await (await fetch(`${cognive!.queryUrl}/api/v1/traces/${traceId}`)).json();
      const chat = detail.spans.find((s: { spanId: string }) => s.spanId === calls[0].spanId);
      expect(chat.logs.map((l: { eventName: string }) => l.eventName)).toEqual([
        "gen_ai.client.inference.operation.details",
      ]);
      expect(chat.messages).toEqual({
        input: [
          { role: "system", parts: [{ type: "text", content: "You answer in one sentence." }] },
          { role: "user", parts: [{ type: "text", content: "Where is my order #42?" }] },
        ],
        output: [
          { role: "assistant", parts: [{ type: "text", content: "Order #42 shipped today." }], finish_reason: "stop" },
        ],
        systemInstructions: [],
      });

      const metrics = await (await fetch(`${cognive!.otlpUrl}/metrics`)).text();
      expect(metrics).toMatch(new RegExp(`cognive_spans_received_total\\{transport="${transport}"\\} 1`));
      expect(metrics).toMatch(new RegExp(`cognive_log_records_received_total\\{transport="${transport}"\\} 1`));

      // The metrics exporter's histograms, served beside the span-derived series and told apart by source.
      const sums = await promVector(
        `sum by (gen_ai_token_type) (gen_ai_client_token_usage_sum{cognive_source="otlp_metrics", service_name="${service}"})`,
      );
      expect(Object.fromEntries(sums.map((r) => [r.metric.gen_ai_token_type, Number(r.value[1])]))).toEqual({
        input: 1200,
        output: 300,
      });
      const durations = await promVector(
        `sum(gen_ai_client_operation_duration_seconds_count{cognive_source="otlp_metrics", service_name="${service}"})`,
      );
      expect(Number(durations[0]?.value[1])).toBe(1);
    },
  );
});
