import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { postRaw } from "../helpers/http.ts";
import { emitAgentRun, otelProvider } from "../helpers/otel.ts";
import { modelCallBodies } from "../helpers/otlp-json.ts";
import { freePort, spawnCognive, stopProcess } from "../helpers/process.ts";
import { getJson, useTestServer } from "../helpers/server.ts";

const JSON_CT = { "content-type": "application/json" };

function body(traceId: string, spans: number): Buffer {
  return modelCallBodies({
    traceId,
    requests: 1,
    perRequest: spans,
    service: "durability",
    tokens: { input: 100, output: 10 },
  })[0];
}

describe("acknowledged means durable", () => {
  const server = useTestServer();

  async function storedSpans(traceId: string): Promise<number> {
    const rs = await server().running.storage.client.query({
      query: "SELECT count() AS n FROM cognive.otel_traces WHERE TraceId = {t:String}",
      query_params: { t: traceId },
      format: "JSONEachRow",
    });
    return Number(((await rs.json()) as { n: string }[])[0].n);
  }

  it("answers 503 with Retry-After when the write fails, stores nothing, and stores a retry once", async () => {
    const storage = server().running.storage;
    const traceId = randomBytes(16).toString("hex");
    const payload = body(traceId, 7);
    await storage.client.command({ query: "RENAME TABLE cognive.otel_traces TO cognive.otel_traces_offline" });
    let failed: Awaited<ReturnType<typeof postRaw>>;
    try {
      failed = await postRaw(`${server().otlpUrl}/v1/traces`, payload, JSON_CT);
      expect((await fetch(`${server().otlpUrl}/readyz`)).status).toBe(503);
    } finally {
      await storage.client.command({ query: "RENAME TABLE cognive.otel_traces_offline TO cognive.otel_traces" });
    }
    expect(failed.status).toBe(503);
    expect(Number(failed.headers["retry-after"])).toBeGreaterThan(0);
    expect(await storedSpans(traceId)).toBe(0);

    const retried = await postRaw(`${server().otlpUrl}/v1/traces`, payload, JSON_CT);
    expect(retried.status).toBe(200);
    expect(await storedSpans(traceId)).toBe(7);
    expect((await fetch(`${server().otlpUrl}/readyz`)).status).toBe(200);

    // The client did not see the 200 and retries again: still stored once, costs counted once.
    const again = await postRaw(`${server().otlpUrl}/v1/traces`, payload, JSON_CT);
    expect(again.status).toBe(200);
    expect(await storedSpans(traceId)).toBe(7);
    const trace = await getJson(`${server().queryUrl}/api/v1/traces/${traceId}`);
    expect(trace.body.summary.spanCount).toBe(7);
    expect(trace.body.summary.inputTokens).toBe(700);
    const list = await getJson(`${server().queryUrl}/api/v1/traces?service=durability`);
    const listed = list.body.traces.find((t: any) => t.traceId === traceId);
    expect(listed.spanCount).toBe(7);
    expect(listed.inputTokens).toBe(700);
  });

  it("stores concurrent duplicates of one batch once", async () => {
    const traceId = randomBytes(16).toString("hex");
    const payload = body(traceId, 20);
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => postRaw(`${server().otlpUrl}/v1/traces`, payload, JSON_CT)),
    );
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(await storedSpans(traceId)).toBe(20);
  });
});

describe("restart", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "cognive-restart-"));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true, maxRetries: 5 }));

  it("keeps spans written before a restart on the same data directory", async () => {
    const env = {
      COGNIVE_DATA_DIR: dataDir,
      COGNIVE_OTLP_PORT: String(await freePort()),
      COGNIVE_PORT: String(await freePort()),
    };
    const first = await spawnCognive(env);
    let traceId: string;
    try {
      const provider = otelProvider("proto", `http://127.0.0.1:${env.COGNIVE_OTLP_PORT}`, {
        "service.name": "restart",
      });
      traceId = emitAgentRun(provider, "restart-agent", [
        { provider: "openai", model: "gpt-4o", input: 10, output: 5 },
      ]);
      await provider.forceFlush();
      await provider.shutdown();
    } finally {
      expect(await stopProcess(first)).toBe(0);
    }
    const second = await spawnCognive(env);
    try {
      const trace = await getJson(`http://127.0.0.1:${env.COGNIVE_PORT}/api/v1/traces/${traceId}`);
      expect(trace.status).toBe(200);
      expect(trace.body.spans).toHaveLength(3);
      expect(trace.body.summary.inputTokens).toBe(10);
    } finally {
      await stopProcess(second);
    }
  }, 120_000);
});
