import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import { calcPrice } from "@pydantic/genai-prices";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../../query/test/helpers/server.ts";
import { EXAMPLES_DIR, modelCalls, run, waitForTrace } from "./helpers.ts";

const SERVICE_NAME = "java-sdk-example";
const PROJECT = join(EXAMPLES_DIR, "java-sdk");
/** In CI every example must run: a missing JDK or Maven, or a failed build, fails instead of skipping. */
const REQUIRED = process.env.COGNIVE_REQUIRE_SERVICES === "1";
const hasJava =
  spawnSync("java", ["-version"], { stdio: "ignore" }).status === 0 &&
  spawnSync("mvn", ["-v"], { stdio: "ignore" }).status === 0;
if (!hasJava && !REQUIRED) console.warn("java-sdk example: skipped, java or mvn is not available");

describe.skipIf(!hasJava && !REQUIRED)("java-sdk example: the Java SDK with autoconfigure defaults (OTLP/gRPC)", () => {
  let cognive: TestServer | undefined;
  let classpath: string | undefined;
  let unavailable: string | undefined;

  beforeAll(async () => {
    cognive = await startTestServer();
    // Maven takes the SDK from the registry once; later runs build from the ~/.m2 cache.
    const build = await run(
      "mvn",
      ["-B", "-q", "compile", "dependency:build-classpath", "-Dmdep.outputFile=target/classpath.txt"],
      { cwd: PROJECT, timeoutMs: 600_000 },
    );
    if (build.code !== 0) {
      unavailable = `mvn failed (${build.code}): ${build.stdout.slice(-2000)}${build.stderr.slice(-2000)}`;
      if (REQUIRED) throw new Error(unavailable);
      return;
    }
    const deps = readFileSync(join(PROJECT, "target", "classpath.txt"), "utf8").trim();
    classpath = [join(PROJECT, "target", "classes"), deps].join(delimiter);
  }, 660_000);

  afterAll(async () => {
    await cognive?.stop();
  });

  const prom = async (query: string) => {
    const url = `${cognive!.queryUrl}/api/v1/query?query=${encodeURIComponent(query)}&time=${Date.now() / 1000 + 60}`;
    const body = await (await fetch(url)).json();
    expect(body.status, JSON.stringify(body)).toBe("success");
    return body.data.result as { metric: Record<string, string>; value: [number, string] }[];
  };

  it("sends a chat span and metrics with no protocol set; the SDK reports success, Cognive prices the span and serves the metrics", async (ctx) => {
    if (unavailable) ctx.skip(`the Java example could not be built: ${unavailable}`);
    const env = {
      OTEL_EXPORTER_OTLP_ENDPOINT: cognive!.grpcUrl,
      OTEL_SERVICE_NAME: SERVICE_NAME,
      // The SDK's defaults: whatever the environment running the tests says about protocols is removed.
      OTEL_EXPORTER_OTLP_PROTOCOL: undefined,
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: undefined,
      OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: undefined,
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: undefined,
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: undefined,
      OTEL_TRACES_EXPORTER: undefined,
      OTEL_METRICS_EXPORTER: undefined,
      OTEL_RESOURCE_ATTRIBUTES: undefined,
      OTEL_SDK_DISABLED: undefined,
      NO_PROXY: "127.0.0.1,localhost",
      no_proxy: "127.0.0.1,localhost",
    };
    const result = await run("java", ["-cp", classpath!, "dev.cognive.example.Main"], {
      cwd: PROJECT,
      env,
      timeoutMs: 60_000,
    });
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
    const traceId = /exported trace ([0-9a-f]{32})/.exec(result.stdout)?.[1];
    expect(traceId, result.stdout).toBeDefined();

    const trace = await waitForTrace(cognive!.queryUrl, SERVICE_NAME);
    expect(trace.traceId).toBe(traceId);
    const calls = modelCalls(trace);
    expect(calls).toHaveLength(1);
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

    // The instrumentation's GenAI metrics, beside the span-derived series of the same names.
    const tokens = await prom(
      `sum by (gen_ai_token_type) (gen_ai_client_token_usage_sum{cognive_source="otlp_metrics", service_name="${SERVICE_NAME}"})`,
    );
    expect(Object.fromEntries(tokens.map((s) => [s.metric.gen_ai_token_type, Number(s.value[1])]))).toEqual({
      input: 1200,
      output: 300,
    });
    const spanTokens = await prom(
      `sum by (gen_ai_token_type) (gen_ai_client_token_usage_sum{cognive_source="spans", service_name="${SERVICE_NAME}"})`,
    );
    expect(Object.fromEntries(spanTokens.map((s) => [s.metric.gen_ai_token_type, Number(s.value[1])]))).toEqual({
      input: 1200,
      output: 300,
    });
    const duration = await prom(
      `sum(gen_ai_client_operation_duration_seconds_count{cognive_source="otlp_metrics", gen_ai_request_model="gpt-4o-mini"})`,
    );
    expect(Number(duration[0].value[1])).toBe(1);
    const requests = await prom(`example_requests_total{service_name="${SERVICE_NAME}"}`);
    expect(requests.map((s) => [s.metric.route, Number(s.value[1])])).toEqual([["/chat", 3]]);

    const metrics = await (await fetch(`${cognive!.otlpUrl}/metrics`)).text();
    expect(metrics).toMatch(/cognive_spans_received_total\{transport="grpc"\} 1/);
    expect(metrics).toMatch(/cognive_metric_points_received_total\{transport="grpc"\} [1-9]/);
  }, 90_000);
});
