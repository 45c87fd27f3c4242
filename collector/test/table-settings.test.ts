import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Storage } from "../src/storage/client.ts";
import { RETENTION_TABLES, SPAN_TABLE } from "../src/storage/schema.ts";
import { queryRows } from "../src/storage/sql.ts";
import { applyTableSettings, TABLE_SETTINGS, tableHasSetting } from "../src/storage/table-settings.ts";
import { insertSpanRows, openTestStorage } from "./support/storage.ts";

let storage: Storage;
let close: () => Promise<void>;

beforeAll(async () => {
  ({ storage, close } = await openTestStorage("table-settings"));
});
afterAll(async () => {
  await close?.();
});

const spanRow = (n: number) => ({
  Timestamp: `${Math.floor(Date.now() / 1000) - n}.000000000`,
  TraceId: `trace-${n}`,
  SpanId: `span-${n}`,
  SpanName: "chat",
  ServiceName: "svc",
  Duration: 1_000 + n,
  TeamName: "t",
});

/**
 * The span table's active parts after merging what it holds into one: each directory, and the streams
 * its `TraceId` column is written as.
 */
async function mergedSpanParts(): Promise<{ path: string; traceIdStreams: string[] }[]> {
  await storage.client.command({ query: `OPTIMIZE TABLE cognive.${SPAN_TABLE} FINAL` });
  return queryRows<{ path: string; traceIdStreams: string[] }>(
    storage,
    `SELECT p.path AS path, c.substreams AS traceIdStreams
     FROM system.parts AS p INNER JOIN system.parts_columns AS c ON c.database = p.database AND c.table = p.table AND c.name = p.name
     WHERE p.database = 'cognive' AND p.table = {t:String} AND p.active AND c.column = 'TraceId'`,
    { t: SPAN_TABLE },
  );
}

describe("table settings", () => {
  it("reads a setting from a table's definition", () => {
    const q = "CREATE TABLE d.t (x UInt8) ENGINE = MergeTree ORDER BY x SETTINGS index_granularity = 8192";
    expect(tableHasSetting(q, "auto_statistics_types", "''")).toBe(false);
    expect(tableHasSetting(`${q}, auto_statistics_types = ''`, "auto_statistics_types", "''")).toBe(true);
    expect(tableHasSetting(`${q}, auto_statistics_types = 'basic'`, "auto_statistics_types", "''")).toBe(false);
  });

  it("stop merges writing column statistics and strings' lengths apart, once, on every table with a retention", async () => {
    // As storage leaves it: a merged part carries the statistics it computed, and a String column's
    // lengths in a stream of their own.
    await insertSpanRows(storage, [spanRow(1)]);
    await insertSpanRows(storage, [spanRow(2)]);
    const before = await mergedSpanParts();
    expect(before).toHaveLength(1);
    expect(existsSync(join(before[0].path, "statistics.packed"))).toBe(true);
    expect(before[0].traceIdStreams).toEqual(["TraceId.size", "TraceId"]);

    const altered = await applyTableSettings(storage);
    const withRetention = RETENTION_TABLES.map((t) => t.table).sort();
    expect(altered).toEqual(withRetention);
    expect(await applyTableSettings(storage)).toEqual([]);
    const [create] = await queryRows<{ statement: string }>(storage, `SHOW CREATE TABLE cognive.${SPAN_TABLE}`);
    for (const [name, value] of Object.entries(TABLE_SETTINGS))
      expect(tableHasSetting(create.statement, name, value)).toBe(true);

    await insertSpanRows(storage, [spanRow(3)]);
    const after = await mergedSpanParts();
    expect(after).toHaveLength(1);
    expect(after[0].path).not.toBe(before[0].path);
    expect(existsSync(join(after[0].path, "statistics.packed"))).toBe(false);
    expect(after[0].traceIdStreams).toEqual(["TraceId"]);
    const [{ n }] = await queryRows<{ n: string }>(storage, `SELECT count() AS n FROM cognive.${SPAN_TABLE}`);
    expect(Number(n)).toBe(3);
  });
});
