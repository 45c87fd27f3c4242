import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Storage } from "../src/storage/client.ts";
import { migrate } from "../src/storage/migrate.ts";
import { LLM_ROLLUP_TABLE, migrations, SPAN_TABLE, TRACE_SUMMARY_TABLE } from "../src/storage/schema.ts";
import { queryRows } from "../src/storage/sql.ts";
import { insertSpanRows, modelCallRow, openTestStorage, rerunCopyMigration } from "./support/storage.ts";

// Migration 31: money columns from Float64 to Decimal (exact nano-dollars).
const COSTS = ["CostInputUsd", "CostOutputUsd", "CostCacheReadUsd", "CostCacheWriteUsd", "CostUsd"];
// Doubles just below a whole nano-dollar (1.5e-8 is 14.999… nano-dollars), noise above one, and 0.1 + 0.2.
const FLOATS = [1.5e-8, 3e-8, 6.3e-8, 1.2e-7, 0.000504, 0.0030000000000000005, 0.1 + 0.2, 0];
const NANOS = [15, 30, 63, 120, 504_000, 3_000_000, 300_000_000, 0];

let storage: Storage;
let close: () => Promise<void>;

const types = async (table: string) =>
  (
    await queryRows<{ name: string; type: string }>(
      storage,
      `SELECT name, type FROM system.columns WHERE database = {db:String} AND table = {t:String} AND name LIKE 'Cost%Usd' ORDER BY name`,
      { db: storage.database, t: table },
    )
  ).map((r) => r.type);

/** Each span's costs as integer nano-dollars, in span id order. */
const spanNanos = async () =>
  (
    await queryRows<Record<string, string>>(
      storage,
      `SELECT ${COSTS.map((c) => `toString(toInt64(${c} * 1000000000)) AS ${c}`).join(", ")}
       FROM ${storage.database}.${SPAN_TABLE} WHERE AgentName = 'old' ORDER BY SpanId`,
      {},
    )
  ).map((r) => COSTS.map((c) => Number(r[c])));

const rollupAndSummary = async () =>
  (
    await queryRows<{ rollup: string; summary: string }>(
      storage,
      `SELECT (SELECT toString(sum(CostUsd)) FROM ${storage.database}.${LLM_ROLLUP_TABLE} WHERE AgentName = {a:String}) AS rollup,
              (SELECT toString(sum(CostUsd)) FROM ${storage.database}.${TRACE_SUMMARY_TABLE} WHERE has(Agents, {a:String})) AS summary`,
      { a: "new" },
    )
  )[0];

beforeAll(async () => {
  ({ storage, close } = await openTestStorage("money"));
  // A store as migration 30 left it: its span costs are Float64, written before the migration.
  await storage.client.command({
    query: `DELETE FROM ${storage.database}.schema_migrations WHERE Version >= 31`,
  });
  await storage.client.command({
    query: `ALTER TABLE ${storage.database}.${SPAN_TABLE} ${COSTS.map((c) => `MODIFY COLUMN ${c} Float64`).join(", ")}`,
  });
  for (const t of [LLM_ROLLUP_TABLE, TRACE_SUMMARY_TABLE]) {
    const cols = t === TRACE_SUMMARY_TABLE ? ["CostUsd"] : COSTS;
    const type = t === TRACE_SUMMARY_TABLE ? "SimpleAggregateFunction(sum, Float64)" : "Float64";
    await storage.client.command({
      query: `ALTER TABLE ${storage.database}.${t} ${cols.map((c) => `MODIFY COLUMN ${c} ${type}`).join(", ")}`,
    });
  }
  await insertSpanRows(
    storage,
    FLOATS.map((usd, i) => ({
      ...modelCallRow("2025-06-01T12:00:00Z", "old", "t", usd, `${"0".repeat(31)}${i}`),
      SpanId: `${"0".repeat(15)}${i}`,
      CostInputUsd: usd,
      CostOutputUsd: usd,
      CostCacheReadUsd: usd,
      CostCacheWriteUsd: usd,
    })),
  );
  expect(await types(SPAN_TABLE)).toEqual(COSTS.map(() => "Float64"));
  expect(await migrate(storage)).toBe(migrations.filter((m) => m.version >= 31).length);
}, 120_000);
afterAll(async () => close());

describe("money as Decimal(18, 9) (migration 31)", () => {
  it("turns stored float costs into their nearest nano-dollar, the same on a re-run", async () => {
    const expected = NANOS.map((n) => COSTS.map(() => n));
    expect(await types(SPAN_TABLE)).toEqual(COSTS.map(() => "Decimal(18, 9)"));
    expect(await types(LLM_ROLLUP_TABLE)).toEqual(COSTS.map(() => "Decimal(38, 9)"));
    expect(await types(TRACE_SUMMARY_TABLE)).toEqual(["SimpleAggregateFunction(sum, Decimal(38, 9))"]);
    expect(await spanNanos()).toEqual(expected);
    await rerunCopyMigration(storage, 31, async () => {
      expect(await spanNanos()).toEqual(expected);
    });
  });

  it("sums in the rollups past what one call can cost, through inserts and merges", async () => {
    // 2,000 calls of $9 million (about the most one call can cost) in one minute: $18 billion, past
    // Decimal(18, 9)'s range, so a per-minute sum needs Decimal(38, 9) or its view fails the insert.
    for (let i = 0; i < 2; i++) {
      await insertSpanRows(
        storage,
        Array.from({ length: 1000 }, () => ({
          ...modelCallRow("2025-06-02T12:00:00Z", "huge", "t", 0, "b".repeat(32)),
          CostUsd: "9000000.000000001",
        })),
      );
    }
    await storage.client.command({ query: `OPTIMIZE TABLE ${storage.database}.${LLM_ROLLUP_TABLE} FINAL` });
    const [row] = await queryRows<{ total: string; rows: string }>(
      storage,
      `SELECT toString(sum(CostUsd)) AS total, toString(count()) AS rows FROM ${storage.database}.${LLM_ROLLUP_TABLE} WHERE AgentName = 'huge'`,
      {},
    );
    expect(row).toEqual({ total: "18000000000.000002", rows: "1" });
  });

  it("sums costs written after it exactly, in the rollups and the trace summaries", async () => {
    // Ten calls of 0.1 USD: 0.9999999999999999 as doubles added up, 1 as decimals.
    await insertSpanRows(
      storage,
      Array.from({ length: 10 }, () => modelCallRow("2025-06-01T12:00:00Z", "new", "t", 0.1, "a".repeat(32))),
    );
    expect(await rollupAndSummary()).toEqual({ rollup: "1", summary: "1" });
  });
});
