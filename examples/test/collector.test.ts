import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../collector/test/support/services.ts";
import { AGENT_RUN_CALLS, expectAgentRunStored } from "../../query/test/helpers/agent-run-check.ts";
import { emitAgentRun, otelProvider } from "../../query/test/helpers/otel.ts";
import { startTestServer, type TestServer } from "../../query/test/helpers/server.ts";
import { EXAMPLES_DIR, waitForTrace } from "./helpers.ts";

// A stock OpenTelemetry Collector (core components, built by scripts/build-collector.sh, which CI
// runs before the tests) running the repository's otel-config.yaml in front of Cognive.
const ROOT = join(EXAMPLES_DIR, "..");
const CONFIG = join(ROOT, "otel-config.yaml");
const REQUIRED = process.env.COGNIVE_REQUIRE_SERVICES === "1";
const OTELCOL = spawnSync(join(ROOT, "scripts/build-collector.sh"), ["--path"], { encoding: "utf8" }).stdout.trim();
const hasCollector = OTELCOL !== "" && existsSync(OTELCOL);
if (!hasCollector && !REQUIRED) {
  console.warn(`collector test: skipped, no Collector at ${OTELCOL || "?"} (run scripts/build-collector.sh)`);
}

/** Resolves once the Collector accepts connections on its gRPC port. */
async function waitForPort(port: number, collector: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (collector.exitCode !== null) throw new Error(`the Collector exited (${collector.exitCode}): ${log()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1", () => {
        socket.destroy();
        resolve(true);
      }).on("error", () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`the Collector did not listen on ${port}: ${log()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(!hasCollector && !REQUIRED)("a stock OpenTelemetry Collector with otel-config.yaml in front", () => {
  let cognive: TestServer | undefined;

  beforeAll(async () => {
    cognive = await startTestServer();
  }, 60_000);
  afterAll(async () => {
    await cognive?.stop();
  });

  it("validates otel-config.yaml", () => {
    expect(hasCollector, `no Collector at ${OTELCOL} (run scripts/build-collector.sh)`).toBe(true);
    const result = spawnSync(OTELCOL, ["validate", "--config", CONFIG], { encoding: "utf8" });
    expect(result.status, result.stderr).toBe(0);
  });

  // The otlphttp exporter's compressions (x-snappy-framed and deflate too: they cost a second each).
  it.each(["gzip", "zstd", "snappy", "lz4", "none", "x-snappy-framed", "deflate"])(
    "receives OTLP/gRPC and forwards it to Cognive with compression %s: every span stored",
    async (compression) => {
      const [grpcPort, httpPort] = [await freePort(), await freePort()];
      let output = "";
      const collector = spawn(OTELCOL, ["--config", CONFIG], {
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          OTELCOL_GRPC_ENDPOINT: `127.0.0.1:${grpcPort}`,
          OTELCOL_HTTP_ENDPOINT: `127.0.0.1:${httpPort}`,
          COGNIVE_ENDPOINT: cognive!.otlpUrl,
          COGNIVE_COMPRESSION: compression,
        },
        stdio: ["ignore", "pipe", "pipe"],
      });
      collector.stdout?.on("data", (d) => (output += d));
      collector.stderr?.on("data", (d) => (output += d));
      try {
        await waitForPort(grpcPort, collector, () => output);
        const service = `collector-${compression}`;
        const provider = otelProvider("grpc", `http://127.0.0.1:${grpcPort}`, { "service.name": service });
        const traceId = emitAgentRun(provider, "refund-agent", AGENT_RUN_CALLS, { failTool: true });
        await provider.shutdown();
        const trace = await waitForTrace(cognive!.queryUrl, service, 30_000).catch((err) => {
          throw new Error(`${err.message}; Collector output: ${output}`);
        });
        expect(trace.traceId).toBe(traceId);
        await expectAgentRunStored(cognive!.queryUrl, traceId, service);
        expect(output).not.toMatch(/Exporting failed/);
        // Current component names only: a deprecated alias warns at every start.
        expect(output).not.toMatch(/deprecated/);
      } finally {
        collector.kill("SIGTERM");
        if (collector.exitCode === null) await new Promise((r) => collector.once("exit", r));
      }
    },
    60_000,
  );
});
