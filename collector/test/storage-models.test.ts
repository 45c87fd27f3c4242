import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStorage, type Storage } from "../src/storage/client.ts";
import { migrate } from "../src/storage/migrate.ts";
import { migrations } from "../src/storage/schema.ts";

let storage: Storage;
const dir = mkdtempSync(join(tmpdir(), "cognive-models-"));
afterAll(async () => {
  await storage?.close();
  rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
});

let n = 0;
/** An hour ago on a minute boundary: within every retention, so the TTL (migration 12) keeps it. */
const RECENT_S = Math.floor(Date.now() / 60_000) * 60 - 3600;
/** Model calls in one minute: [request model, response model, cost]. */
async function insert(calls: [string, string, number][]): Promise<void> {
  const values = calls.map(([request, response, cost]) => ({
    Timestamp: `${RECENT_S}.000000000`,
    TraceId: "t",
    SpanId: `s${n++}`,
    ParentSpanId: "p",
    SpanName: "chat",
    ServiceName: "svc",
    Duration: 5_000_000,
    TeamName: "t",
    AgentName: "a",
    GenAiRequestModel: request,
    GenAiResponseModel: response,
    GenAiProvider: "openai",
    GenAiUsageRole: "model_call",
    InputTokens: 10,
    OutputTokens: 1,
    CostUsd: cost,
  }));
  await storage.client.insert({ table: "cognive.otel_traces", values, format: "JSONEachRow" });
}

async function rows(sql: string): Promise<Record<string, string>[]> {
  const rs = await storage.client.query({ query: sql, format: "JSONEachRow" });
  return (await rs.json()) as Record<string, string>[];
}

/** Calls per (Model, RequestModel, ResponseModel) in the rollup and in the duration histogram. */
async function byModels(): Promise<{ rollup: string[]; histogram: string[] }> {
  const rollup = await rows(`
    SELECT Model, RequestModel, ResponseModel, sum(Calls) AS C FROM cognive.llm_rollup_1m
    GROUP BY Model, RequestModel, ResponseModel ORDER BY Model, RequestModel, ResponseModel`);
  const histogram = await rows(`
    SELECT Model, RequestModel, ResponseModel, sum(Count) AS C FROM cognive.llm_histogram_1m WHERE Metric = 'duration'
    GROUP BY Model, RequestModel, ResponseModel ORDER BY Model, RequestModel, ResponseModel`);
  const line = (r: Record<string, string>) => `${r.Model}|${r.RequestModel}|${r.ResponseModel}=${r.C}`;
  return { rollup: rollup.map(line), histogram: histogram.map(line) };
}

describe("migration 11: request and response model columns", () => {
  beforeAll(async () => {
    storage = createStorage({ dataDir: dir, database: "cognive" });
    // A data directory from before version 11, with spans already stored.
    await migrate(
      storage,
      undefined,
      migrations.filter((m) => m.version < 11),
    );
    await insert([
      ["gpt-4o", "gpt-4o-2024-08-06", 0.5],
      ["gpt-4o", "", 0.25],
      ["", "claude-3", 1],
    ]);
    expect(await migrate(storage)).toBeGreaterThan(0);
  }, 60_000); // every migration after it: over 10 s on a slow machine

  it("rebuilds the stored rows with both models, keeping the effective model and the sums", async () => {
    const expected = ["claude-3||claude-3=1", "gpt-4o|gpt-4o|=1", "gpt-4o-2024-08-06|gpt-4o|gpt-4o-2024-08-06=1"];
    expect(await byModels()).toEqual({ rollup: expected, histogram: expected });
    const [cost] = await rows("SELECT sum(CostUsd) AS c FROM cognive.llm_rollup_1m");
    expect(Number(cost.c)).toBeCloseTo(1.75, 12);
  });

  it("fills both columns for new spans through the views, and re-running the statements counts nothing twice", async () => {
    await insert([["gpt-4o", "gpt-4o-2024-08-06", 0.5]]);
    const v11 = migrations.find((m) => m.version === 11);
    for (const s of v11?.statements ?? []) await storage.client.command({ query: s.replaceAll("{db}", "cognive") });
    // Merged parts must keep the models apart too: the models are in the sorting key.
    await storage.client.command({ query: "OPTIMIZE TABLE cognive.llm_rollup_1m FINAL" });
    const expected = ["claude-3||claude-3=1", "gpt-4o|gpt-4o|=1", "gpt-4o-2024-08-06|gpt-4o|gpt-4o-2024-08-06=2"];
    expect(await byModels()).toEqual({ rollup: expected, histogram: expected });
    const raw = await rows("SELECT count() AS n FROM cognive.llm_rollup_1m");
    expect(raw[0].n).toBe("3");
  });
});
