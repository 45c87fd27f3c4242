import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createChdbConnection } from "chdb/connection";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStorage, type Storage } from "../src/storage/client.ts";

/**
 * Embedded inserts leave their views' aggregations interpreted: storage compiled them anew for each
 * insert, at more CPU than the compiled code saved (storage/client.ts, INSERT_SETTINGS).
 */
let storage: Storage;
let conn: ReturnType<typeof createChdbConnection>;
const dir = mkdtempSync(join(tmpdir(), "cognive-insert-settings-"));
const ROWS = 20_000;
const COLUMNS = [
  { name: "K", type: "String" },
  { name: "V", type: "UInt64" },
];
const rowsSql = (format: string) =>
  `SELECT toString(number % 977) AS K, number AS V FROM numbers(${ROWS}) FORMAT ${format}`;

beforeAll(async () => {
  storage = createStorage({ dataDir: dir, database: "probe" });
  conn = createChdbConnection({ path: dir });
  for (const q of [
    "CREATE DATABASE IF NOT EXISTS probe",
    "CREATE TABLE probe.t (K String, V UInt64) ENGINE = MergeTree ORDER BY K",
    `CREATE TABLE probe.agg (K String, S AggregateFunction(sum, UInt64), U AggregateFunction(uniq, UInt64),
       M SimpleAggregateFunction(max, UInt64)) ENGINE = AggregatingMergeTree ORDER BY K`,
    `CREATE MATERIALIZED VIEW probe.agg_mv TO probe.agg AS
       SELECT K, sumState(V * 3 + 1) AS S, uniqState(intDiv(V, 7)) AS U, max(V % 1000) AS M FROM probe.t GROUP BY K`,
    // No merge may compile anything while the counter is read.
    "SYSTEM STOP MERGES probe.t",
    "SYSTEM STOP MERGES probe.agg",
  ])
    await conn.chdb.queryAsync(q);
});
afterAll(async () => {
  await conn.close();
  await storage.close();
  rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
});

/** Microseconds storage has spent compiling expressions in this process so far. */
async function compiling(): Promise<number> {
  const r = await conn.chdb.queryAsync(
    "SELECT sum(value) FROM system.events WHERE event = 'CompileExpressionsMicroseconds' FORMAT TSV",
  );
  return Number(Buffer.from(r.bytes()).toString().trim() || 0);
}

const bytesOf = async (format: string, settings = "") =>
  Buffer.from((await conn.chdb.queryAsync(`${rowsSql(format)}${settings}`)).bytes());

describe("embedded inserts", () => {
  it("compile nothing for their views, where an insert with storage's own settings does", async () => {
    const tsv = await bytesOf("TSV");
    const native = await bytesOf("Native");
    const rowBinary = await bytesOf("RowBinary");
    const start = await compiling();
    for (let i = 0; i < 4; i++) {
      await storage.insertTsv("t", ["K", "V"], tsv);
      await storage.insertNative("t", ["K", "V"], native);
      await storage.insertRowBinary("t", COLUMNS, rowBinary);
    }
    expect((await compiling()) - start).toBe(0);

    const before = await compiling();
    const insert = `INSERT INTO probe.t SELECT toString(number % 977), number FROM numbers(${ROWS})`;
    for (let i = 0; i < 4; i++) await conn.chdb.queryAsync(insert);
    const control = (await compiling()) - before;
    // The control, after: the same view under storage's defaults compiles its aggregations (a
    // compiled aggregation is cached, so before it would have spared the inserts above).
    expect(control).toBeGreaterThan(0);

    // And the view still aggregated every row of all of them.
    const r = await conn.chdb.queryAsync("SELECT sumMerge(S) FROM probe.agg FORMAT TSV");
    const perInsert = (3 * (ROWS * (ROWS - 1))) / 2 + ROWS;
    expect(Number(Buffer.from(r.bytes()).toString().trim())).toBe(perInsert * 16);
  });
});
