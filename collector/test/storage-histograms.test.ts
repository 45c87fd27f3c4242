import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStorage, type Storage } from "../src/storage/client.ts";
import { migrate } from "../src/storage/migrate.ts";
import { DURATION_BUCKETS_SECONDS, migrations, TOKEN_BUCKETS } from "../src/storage/schema.ts";

let storage: Storage;
const dir = mkdtempSync(join(tmpdir(), "cognive-histograms-"));
afterAll(async () => {
  await storage?.close();
  rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
});

interface Span {
  trace: string;
  parent?: string;
  durationNs: number;
  input: number;
  output: number;
  role?: "model_call" | "aggregate" | "none";
  agent?: string;
}

let n = 0;
/** An hour ago on a minute boundary: within every retention, so the TTL (migration 12) keeps it. */
const RECENT_S = Math.floor(Date.now() / 60_000) * 60 - 3600;
async function insert(spans: Span[]): Promise<void> {
  const values = spans.map((s) => ({
    Timestamp: `${RECENT_S}.000000000`,
    TraceId: s.trace,
    SpanId: `s${n++}`,
    ParentSpanId: s.parent ?? "",
    SpanName: "chat",
    ServiceName: "svc",
    Duration: s.durationNs,
    TeamName: "t",
    AgentName: s.agent ?? "a",
    GenAiRequestModel: "m",
    GenAiProvider: "p",
    GenAiUsageRole: s.role ?? "model_call",
    InputTokens: s.input,
    OutputTokens: s.output,
  }));
  await storage.client.insert({ table: "cognive.otel_traces", values, format: "JSONEachRow" });
}

async function rows(sql: string): Promise<Record<string, string>[]> {
  const rs = await storage.client.query({ query: sql, format: "JSONEachRow" });
  return (await rs.json()) as Record<string, string>[];
}

/** Count and sum per (metric, bucket), merged: what a reader sees whatever parts exist. */
async function histogram(): Promise<Map<string, { count: number; sum: number }>> {
  const out = new Map<string, { count: number; sum: number }>();
  for (const r of await rows(
    "SELECT Metric, Bucket, sum(Count) AS C, sum(Sum) AS S FROM cognive.llm_histogram_1m GROUP BY Metric, Bucket",
  )) {
    out.set(`${r.Metric}/${r.Bucket}`, { count: Number(r.C), sum: Number(r.S) });
  }
  return out;
}

/** The bucket index a value belongs to, computed here from the bounds: the first bound ≥ v. */
function bucketOf(v: number, bounds: readonly number[]): number {
  const i = bounds.findIndex((b) => v <= b);
  return i === -1 ? bounds.length : i;
}

function expected(spans: Span[]): Map<string, { count: number; sum: number }> {
  const out = new Map<string, { count: number; sum: number }>();
  const add = (metric: string, bucket: number, v: number) => {
    const e = out.get(`${metric}/${bucket}`) ?? { count: 0, sum: 0 };
    e.count++;
    e.sum += v;
    out.set(`${metric}/${bucket}`, e);
  };
  for (const s of spans) {
    if ((s.role ?? "model_call") !== "model_call") continue;
    add(
      "duration",
      bucketOf(
        s.durationNs,
        DURATION_BUCKETS_SECONDS.map((b) => b * 1e9),
      ),
      s.durationNs,
    );
    if (s.input > 0) add("input_tokens", bucketOf(s.input, TOKEN_BUCKETS), s.input);
    if (s.output > 0) add("output_tokens", bucketOf(s.output, TOKEN_BUCKETS), s.output);
  }
  return out;
}

// Bounds are inclusive upper limits (Prometheus `le`): a value on a bound falls in that bucket.
const before: Span[] = [
  { trace: "t1", durationNs: 10_000_000, input: 1, output: 0 },
  { trace: "t1", parent: "x", durationNs: 10_000_001, input: 2, output: 4 },
  { trace: "t2", durationNs: 81_920_000_000, input: 67_108_864, output: 5 },
  { trace: "t2", parent: "x", durationNs: 100_000_000_000, input: 67_108_865, output: 16_385 },
  { trace: "t3", durationNs: 0, input: 0, output: 0 },
  // Aggregates are never counted; their root still marks a run.
  { trace: "t4", durationNs: 5_000_000_000, input: 900, output: 90, role: "aggregate", agent: "b" },
];
const after: Span[] = [
  { trace: "t5", durationNs: 300_000_000, input: 300, output: 30 },
  { trace: "t5", parent: "y", durationNs: 300_000_000, input: 300, output: 30 },
];

describe("histogram and run rollups", () => {
  beforeAll(async () => {
    storage = createStorage({ dataDir: dir, database: "cognive" });
    // A data directory from before the histograms: spans already stored.
    await migrate(
      storage,
      undefined,
      migrations.filter((m) => m.version < 3),
    );
    await insert(before);
    expect(await migrate(storage)).toBeGreaterThan(0);
  }, 60_000); // every migration after it: over 10 s on a slow machine

  it("backfill the spans stored before the migration, bucketed by inclusive upper bounds", async () => {
    expect(await histogram()).toEqual(expected(before));
    // Spot checks of the bounds, independent of the helper above.
    const h = await histogram();
    expect(h.get("duration/0")?.count).toBe(2); // 0 ns and exactly 10 ms
    expect(h.get("duration/1")?.count).toBe(1); // 10 ms + 1 ns
    expect(h.get("duration/13")?.count).toBe(1); // exactly 81.92 s
    expect(h.get("duration/14")?.count).toBe(1); // above the last bound: +Inf
    expect(h.get("input_tokens/13")?.count).toBe(1);
    expect(h.get("input_tokens/14")?.count).toBe(1);
  });

  it("count new spans through the materialized views", async () => {
    await insert(after);
    expect(await histogram()).toEqual(expected([...before, ...after]));
  });

  it("count runs at root spans, per agent", async () => {
    const runs = await rows(
      "SELECT AgentName, sum(Runs) AS R FROM cognive.agent_runs_1m GROUP BY AgentName ORDER BY AgentName",
    );
    expect(runs).toEqual([
      { AgentName: "a", R: "4" },
      { AgentName: "b", R: "1" },
    ]);
  });

  it("re-running the migration's statements does not count stored spans twice", async () => {
    const v3 = migrations.find((m) => m.version === 3);
    for (const s of v3?.statements ?? []) await storage.client.command({ query: s.replaceAll("{db}", "cognive") });
    expect(await histogram()).toEqual(expected([...before, ...after]));
    const [r] = await rows("SELECT sum(Runs) AS R FROM cognive.agent_runs_1m");
    expect(r.R).toBe("5");
  });
});
