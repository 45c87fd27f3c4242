import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createStorage, type Storage } from "../../src/storage/client.ts";
import { migrate } from "../../src/storage/migrate.ts";
import { applyRetention } from "../../src/storage/retention.ts";
import { SPAN_TABLE } from "../../src/storage/schema.ts";
import { queryRows } from "../../src/storage/sql.ts";

/** Retention that keeps the fixtures, which are dated from 2023 on (20000 days is the most allowed). */
export const FIXTURE_RETENTION = { spans: 20_000, rollups: 20_000 } as const;

/**
 * A migrated embedded store in a temporary directory, removed by `close`. It keeps dated fixtures
 * unless `defaultRetention` asks for the migrations' own TTLs.
 */
export async function openTestStorage(
  name: string,
  defaultRetention = false,
): Promise<{ storage: Storage; close(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), `cognive-${name}-`));
  const storage = createStorage({ dataDir: dir, database: "cognive" });
  await migrate(storage);
  if (!defaultRetention) await applyRetention(storage, FIXTURE_RETENTION);
  return {
    storage,
    async close() {
      await storage.close();
      rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
    },
  };
}

/** Writes rows straight into the span table (its views fire as for ingest). */
export async function insertSpanRows(storage: Storage, values: Record<string, unknown>[]): Promise<void> {
  await storage.client.insert({ table: `${storage.database}.${SPAN_TABLE}`, format: "JSONEachRow", values });
}

/** One priced model-call span as a row of the span table (the rollup view counts it), at a UTC time. */
export function modelCallRow(
  at: string,
  agent: string,
  team: string,
  cost: number,
  traceId = "0af7651916cd43dd8448eb211c80319c",
) {
  return {
    Timestamp: at.replace("T", " ").replace("Z", ""),
    TraceId: traceId,
    SpanId: Math.random().toString(16).slice(2, 18).padEnd(16, "0"),
    SpanName: "chat gpt-4o",
    ServiceName: "svc",
    AgentName: agent,
    TeamName: team,
    GenAiUsageRole: "model_call",
    Priced: 1,
    CostUsd: cost,
  };
}

/**
 * Granules a read's plan keeps after an index step, from `EXPLAIN indexes = 1`: `PrimaryKey`, or a
 * skip index by its name. Throws when the plan has no such step.
 */
export async function granulesAfter(
  storage: Storage,
  select: string,
  params: Record<string, unknown>,
  step: string,
): Promise<number> {
  const rows = await queryRows<{ explain: string }>(storage, `EXPLAIN indexes = 1 ${select}`, params);
  const text = rows.map((r) => r.explain).join("\n");
  const at = step === "PrimaryKey" ? "PrimaryKey" : `Name: ${step}`;
  const found = new RegExp(`${at}[\\s\\S]*?Granules: (\\d+)\\/\\d+`).exec(text);
  if (!found) throw new Error(`no ${step} step in:\n${text}`);
  return Number(found[1]);
}
