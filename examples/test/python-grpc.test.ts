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

  afterAll(async () => {
    await cognive?.stop();
    if (venv) rmSync(venv, { recursive: true, force: true, maxRetries: 5 });
  });

  it("exports a chat span and its messages event over OTLP/gRPC with no protocol set; Cognive stores, prices and attaches them", async (ctx) => {
    if (unavailable) ctx.skip(`the Python environment could not be set up: ${unavailable}`);
    const env = {
      ...exampleEnv(cognive!.grpcUrl, "http://127.0.0.1:9"),
      // The SDK's defaults: what the environment running the tests says about protocols is removed
      // (undefined, not empty: an empty OTEL_EXPORTER_OTLP_INSECURE means "use TLS" to the Python SDK).
      OTEL_EXPORTER_OTLP_PROTOCOL: undefined,
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: undefined,
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: undefined,
      OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: undefined,
      OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: undefined,
      OTEL_EXPORTER_OTLP_INSECURE: undefined,
      OTEL_EXPORTER_OTLP_TRACES_INSECURE: undefined,
      OTEL_EXPORTER_OTLP_LOGS_INSECURE: undefined,
    };
    const result = await run(join(venv!, "bin", "python"), [join(EXAMPLES_DIR, "python-grpc", "send_span.py")], {
      env,
      timeoutMs: 30_000,
    });
    expect(result.code, result.stderr).toBe(0);
    const traceId = /exported trace ([0-9a-f]{32})/.exec(result.stdout)?.[1];
    expect(traceId, result.stdout).toBeDefined();

    const trace = await waitForTrace(cognive!.queryUrl, SERVICE_NAME);
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
    expect(metrics).toMatch(/cognive_spans_received_total\{transport="grpc"\} 1/);
    expect(metrics).toMatch(/cognive_log_records_received_total\{transport="grpc"\} 1/);
  }, 45_000);
});
