import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadEnvConfig } from "../src/config.ts";
import type { Storage } from "../src/storage/client.ts";
import { repairDerived } from "../src/storage/repair.ts";
import { applyRetention, retentionDays, tableTtl } from "../src/storage/retention.ts";
import { queryRows } from "../src/storage/sql.ts";
import { openTestStorage } from "./support/storage.ts";

let storage: Storage;
let close: () => Promise<void>;

beforeAll(async () => {
  // The defaults of migration 12, not the test fixtures' long retention.
  ({ storage, close } = await openTestStorage("retention", true));
});
afterAll(async () => {
  await close?.();
});

async function showCreate(table: string): Promise<string> {
  const [r] = await queryRows<{ statement: string }>(storage, `SHOW CREATE TABLE cognive.${table}`);
  return r.statement;
}

const SPAN_GROUP = ["otel_traces", "otel_logs", "otel_traces_trace_id_ts", "trace_summary", "trace_docs"];
const ROLLUP_GROUP = ["llm_rollup_1m", "llm_histogram_1m", "agent_runs_1m", "alerts", "alert_deliveries"];

async function ttls(tables: string[]): Promise<Record<string, string | null>> {
  const out: Record<string, string | null> = {};
  for (const t of tables) {
    const ttl = tableTtl(await showCreate(t));
    out[t] = ttl ? `${ttl.expr} ${ttl.days}` : null;
  }
  return out;
}

const DAY_S = 86_400;
const nowS = () => Math.floor(Date.now() / 1000);

async function insertSpan(traceId: string, atS: number): Promise<void> {
  await storage.client.insert({
    table: "cognive.otel_traces",
    values: [
      {
        Timestamp: `${atS}.000000000`,
        TraceId: traceId,
        SpanId: "s1",
        SpanName: "chat",
        ServiceName: "svc",
        Duration: 1_000_000,
        TeamName: "t",
        GenAiUsageRole: "model_call",
        InputTokens: 10,
        CostUsd: 0.5,
      },
    ],
    format: "JSONEachRow",
  });
  await storage.client.insert({
    table: "cognive.otel_logs",
    values: [{ Timestamp: `${atS}.000000000`, TraceId: traceId, ServiceName: "svc", Body: "hello" }],
    format: "JSONEachRow",
  });
}

const count = async (sql: string) => Number((await queryRows<{ n: string }>(storage, sql))[0].n);

describe("retention", () => {
  it("migrates to 30 days for spans, logs and trace tables and 400 for rollups and alerts, dropping whole parts", async () => {
    expect(await ttls(SPAN_GROUP)).toEqual({
      otel_traces: "toDateTime(Timestamp) 30",
      otel_logs: "TimestampTime 30",
      otel_traces_trace_id_ts: "End 30",
      trace_summary: "toDateTime(End) 30",
      trace_docs: "Start 30",
    });
    expect(await ttls(ROLLUP_GROUP)).toEqual({
      llm_rollup_1m: "Minute 400",
      llm_histogram_1m: "Minute 400",
      agent_runs_1m: "Minute 400",
      alerts: "toDateTime(Time) 400",
      alert_deliveries: "toDateTime(Time) 400",
    });
    for (const t of [...SPAN_GROUP, ...ROLLUP_GROUP]) expect(await showCreate(t)).toMatch(/ttl_only_drop_parts = 1/);
    // Keys and the audit log never expire.
    for (const t of ["api_keys", "api_key_usage", "audit_log", "schema_migrations"]) {
      expect(await showCreate(t)).not.toMatch(/\bTTL\b/);
    }
    // Defaults already in place: a start with default settings alters nothing.
    expect(await applyRetention(storage, retentionDays(loadEnvConfig({})))).toEqual([]);
  });

  it("a start with a new COGNIVE_RETENTION_DAYS changes the span tables' TTL and leaves the rollups alone", async () => {
    const rollupsBefore = await ttls(ROLLUP_GROUP);
    const config = loadEnvConfig({ COGNIVE_RETENTION_DAYS: "10" });
    expect((await applyRetention(storage, retentionDays(config))).sort()).toEqual([...SPAN_GROUP].sort());
    expect(await ttls(SPAN_GROUP)).toEqual({
      otel_traces: "toDateTime(Timestamp) 10",
      otel_logs: "TimestampTime 10",
      otel_traces_trace_id_ts: "End 10",
      trace_summary: "toDateTime(End) 10",
      trace_docs: "Start 10",
    });
    expect(await ttls(ROLLUP_GROUP)).toEqual(rollupsBefore);
    expect(await showCreate("otel_traces")).toMatch(/ttl_only_drop_parts = 1/);
    // The same setting again: nothing to alter.
    expect(await applyRetention(storage, retentionDays(config))).toEqual([]);
    const rollups = loadEnvConfig({ COGNIVE_RETENTION_DAYS: "10", COGNIVE_ROLLUP_RETENTION_DAYS: "90" });
    expect((await applyRetention(storage, retentionDays(rollups))).sort()).toEqual([...ROLLUP_GROUP].sort());
    expect((await ttls(["alerts"])).alerts).toBe("toDateTime(Time) 90");
    await expect(applyRetention(storage, { spans: 0 })).rejects.toThrow(/invalid spans retention/);
    await expect(applyRetention(storage, { rollups: 1.5 })).rejects.toThrow(/invalid rollups retention/);
  });

  it("drops spans, logs and trace rows older than the retention, keeps recent ones and the rollups of both", async () => {
    await applyRetention(storage, { spans: 30, rollups: 400 });
    const now = nowS();
    await insertSpan("old", now - 20 * DAY_S);
    await insertSpan("new", now - 60);
    const spans = () => count("SELECT count() AS n FROM cognive.otel_traces");
    expect(await spans()).toBe(2);
    // 20-day-old rows are past a 10-day retention; their partition (one day) goes whole.
    await applyRetention(storage, { spans: 10 });
    for (const t of [...SPAN_GROUP, ...ROLLUP_GROUP]) {
      await storage.client.command({ query: `OPTIMIZE TABLE cognive.${t} FINAL` });
    }
    const traces = async (table: string) =>
      (
        await queryRows<{ TraceId: string }>(storage, `SELECT DISTINCT TraceId FROM cognive.${table} ORDER BY TraceId`)
      ).map((r) => r.TraceId);
    expect(await traces("otel_traces")).toEqual(["new"]);
    expect(await traces("otel_logs")).toEqual(["new"]);
    expect(await traces("otel_traces_trace_id_ts")).toEqual(["new"]);
    expect(await traces("trace_summary")).toEqual(["new"]);
    expect(await traces("trace_docs")).toEqual(["new"]);
    // The per-minute rollups outlive the spans: both calls still count towards spend.
    const rollup = await queryRows<{ calls: string; cost: number }>(
      storage,
      "SELECT sum(Calls) AS calls, sum(CostUsd) AS cost FROM cognive.llm_rollup_1m",
    );
    expect(rollup[0]).toEqual({ calls: "2", cost: 1 });
    expect(await count("SELECT sum(Runs) AS n FROM cognive.agent_runs_1m")).toBe(2);
    // A repair over all time finds nothing to rebuild: minutes without spans are not compared.
    expect(await repairDerived(storage, 0n)).toEqual({ traces: 0, minutes: 0 });
    expect(await count("SELECT sum(Calls) AS n FROM cognive.llm_rollup_1m")).toBe(2);
  });
});
