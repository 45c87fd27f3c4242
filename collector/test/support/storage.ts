import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "vitest";
import { createStorage, type Storage } from "../../src/storage/client.ts";
import { migrate } from "../../src/storage/migrate.ts";
import { applyRetention } from "../../src/storage/retention.ts";
import { migrations, SPAN_TABLE } from "../../src/storage/schema.ts";
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

/** A trace's stored spans in span id order, as the columns of `select` (an SQL select list). */
export function spansOfTrace<T>(storage: Storage, traceId: string, select: string): Promise<T[]> {
  const table = `${storage.database}.${SPAN_TABLE}`;
  return queryRows<T>(storage, `SELECT ${select} FROM ${table} WHERE TraceId = {t:String} ORDER BY SpanId`, {
    t: traceId,
  });
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

/**
 * Runs the copy-and-swap migration `version` again, twice (the second run finds the first's swap
 * done but not recorded, as after a crash in between), calling `check` after each run, then the
 * migrations after it.
 */
export async function rerunCopyMigration(storage: Storage, version: number, check: () => Promise<void>): Promise<void> {
  const upTo = migrations.filter((m) => m.version <= version);
  for (let run = 0; run < 2; run++) {
    await storage.client.command({
      query: `DELETE FROM ${storage.database}.schema_migrations WHERE Version >= ${version}`,
    });
    expect(await migrate(storage, undefined, upTo)).toBe(1);
    await check();
  }
  expect(await migrate(storage)).toBe(migrations.filter((m) => m.version > version).length);
}

/** The tables named `prefix…` of `engine`, each with the values of the named settings in its definition. */
export async function tableSettings(
  storage: Storage,
  prefix: string,
  engine: string,
  settings: readonly string[],
): Promise<Record<string, string>[]> {
  const rows = await queryRows<{ name: string; engine_full: string }>(
    storage,
    `SELECT name, engine_full FROM system.tables
     WHERE database = {db:String} AND startsWith(name, {prefix:String}) AND NOT is_temporary AND engine = {engine:String}
     ORDER BY name`,
    { db: storage.database, prefix, engine },
  );
  return rows.map((r) => ({
    name: r.name,
    ...Object.fromEntries(settings.map((k) => [k, new RegExp(`\\b${k} = (\\d+)`).exec(r.engine_full)?.[1] ?? ""])),
  }));
}
