import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStorage, type Storage } from "../src/storage/client.ts";
import { migrate } from "../src/storage/migrate.ts";
import {
  migrations,
  SPAN_TABLE,
  TRACE_DOCS_TABLE,
  TRACE_ID_BLOOM,
  TRACE_SUMMARY_BY_START,
  TRACE_SUMMARY_TABLE,
} from "../src/storage/schema.ts";
import { queryRows } from "../src/storage/sql.ts";
import { granulesAfter, rerunCopyMigration, tableSettings } from "./support/storage.ts";

// Migration 25: the trace summary's projection sorted by start, which a search reads to find where
// the newest n traces begin; migration 26: bloom filters of trace ids for look-ups by id.
const dir = mkdtempSync(join(tmpdir(), "cognive-summary-by-start-"));
let storage: Storage;
const db = "cognive";
const TRACES = 3_000;

/** Traces `from`..`from + n` with random ids, 3 spans each, one trace every 10 ms up to a minute ago. */
const insertTraces = (from: number, n: number) =>
  storage.client.command({
    query: `INSERT INTO ${db}.${SPAN_TABLE}
      (Timestamp, TraceId, SpanId, ParentSpanId, SpanName, ServiceName, Duration, TeamName)
      SELECT now64(9) - INTERVAL 1 MINUTE - toIntervalMillisecond((${TRACES} - intDiv(number, 3)) * 10) + toIntervalMillisecond(number % 3),
        lower(hex(sipHash128(intDiv(number, 3)))), lower(hex(cityHash64(number))),
        if(number % 3 = 0, '', 'parent'), 'op', 'svc', 1000, if(intDiv(number, 3) % 2 = 0, 'team-a', 'team-b')
      FROM numbers(${from * 3}, ${n * 3})`,
  });

/** The start of the n-th newest trace, as a search asks for it; `settings` are added to the read. */
const cutoffSql = (team: string, settings = "") => `
  SELECT toString(toUnixTimestamp64Nano(Start)) AS StartNs FROM ${db}.${TRACE_SUMMARY_TABLE}
  WHERE Start >= now() - INTERVAL 1 HOUR AND Start <= now() AND (${team})
  ORDER BY Start DESC LIMIT 1 OFFSET 500 ${settings}`;

const cutoff = async (team: string, settings = "") =>
  (await queryRows<{ StartNs: string }>(storage, cutoffSql(team, settings), {}))[0]?.StartNs;

/** Whether the read of the cutoff uses the projection. */
async function readsProjection(team: string): Promise<boolean> {
  const rows = await queryRows<{ explain: string }>(storage, `EXPLAIN projections = 1 ${cutoffSql(team)}`, {});
  return rows.some((r) => r.explain.includes(`ReadFromMergeTree (${TRACE_SUMMARY_BY_START})`));
}

/** The newest-start answers with the projection and without it (the summary's rows, in full). */
async function bothWays(team: string) {
  return {
    projected: await cutoff(team),
    full: await cutoff(team, "SETTINGS optimize_use_projections = 0"),
  };
}

beforeAll(async () => {
  storage = createStorage({ dataDir: dir, database: db });
  // Summaries stored before the migration get the projection too.
  await migrate(
    storage,
    undefined,
    migrations.filter((m) => m.version < 25),
  );
  await insertTraces(0, 1_000);
  expect(await migrate(storage)).toBe(migrations.filter((m) => m.version >= 25).length);
}, 180_000);
afterAll(async () => {
  await storage.close();
  rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
});

describe("trace summary sorted by start (migration 25)", () => {
  it("holds every summary row of the parts stored before the migration", async () => {
    const [{ rows, projected }] = await queryRows<{ rows: string; projected: string }>(
      storage,
      `SELECT (SELECT sum(rows) FROM system.parts WHERE database = {db:String} AND table = {t:String} AND active) AS rows,
        (SELECT sum(rows) FROM system.projection_parts WHERE database = {db:String} AND table = {t:String} AND active AND name = {p:String}) AS projected`,
      { db, t: TRACE_SUMMARY_TABLE, p: TRACE_SUMMARY_BY_START },
    );
    expect(Number(rows)).toBeGreaterThan(0);
    expect(projected).toBe(rows);
  });

  it("answers where the newest traces begin from the projection, as the whole summary does", async () => {
    // More inserts, so the answer spans parts written before and after the migration.
    await insertTraces(1_000, 1_000);
    await insertTraces(2_000, 1_000);
    for (const team of ["1", "hasAny(Teams, ['team-a'])"]) {
      expect(await readsProjection(team)).toBe(true);
      const { projected, full } = await bothWays(team);
      expect(projected).toMatch(/^\d{19}$/);
      expect(projected).toBe(full);
    }
  });

  it("keeps the projection through merges of summary rows and a repair's delete", async () => {
    await storage.client.command({ query: `OPTIMIZE TABLE ${db}.${TRACE_SUMMARY_TABLE} FINAL` });
    expect(await readsProjection("1")).toBe(true);
    let { projected, full } = await bothWays("1");
    expect(projected).toBe(full);
    // A repair deletes a time range's summary rows and writes them again; the projection follows.
    await storage.client.command({
      query: `DELETE FROM ${db}.${TRACE_SUMMARY_TABLE} WHERE Start >= toDateTime64({s:String}, 9)`,
      query_params: { s: (BigInt(projected ?? "0") / 1_000_000_000n).toString() },
    });
    ({ projected, full } = await bothWays("1"));
    expect(projected).toBe(full);
  });

  it("migration 26: a look-up by trace id reads only the part holding it, by the bloom filter", async () => {
    // Parts written apart, each holding ids from the whole id space.
    for (let i = 0; i < 3; i++) await insertTraces(3_000 + i * 200, 200);
    const [{ id }] = await queryRows<{ id: string }>(
      storage,
      `SELECT lower(hex(sipHash128(toUInt64(3500)))) AS id`,
      {},
    );
    for (const [table, where] of [
      [TRACE_DOCS_TABLE, "TraceId = {id:String}"],
      [TRACE_SUMMARY_TABLE, "TraceId IN {ids:Array(String)}"],
    ]) {
      const read = `SELECT TraceId FROM ${db}.${table} WHERE ${where}`;
      const byKey = await granulesAfter(storage, read, { id, ids: [id] }, "PrimaryKey");
      const byBloom = await granulesAfter(storage, read, { id, ids: [id] }, TRACE_ID_BLOOM);
      // The key leaves a granule in every part; the filter leaves the one holding the trace.
      expect(byKey).toBeGreaterThanOrEqual(3);
      expect(byBloom).toBeLessThan(byKey);
      expect(byBloom).toBeGreaterThanOrEqual(1);
    }
  });
});

describe("trace summaries in small granules (migrations 29, 30)", () => {
  const totals = async () =>
    (
      await queryRows<{ traces: string; spans: string; starts: string }>(
        storage,
        `SELECT count() AS traces, sum(Spans) AS spans, toString(sum(cityHash64(TraceId, S))) AS starts FROM (
           SELECT TraceId, sum(SpanCount) AS Spans, min(Start) AS S FROM ${db}.${TRACE_SUMMARY_TABLE} GROUP BY TraceId)`,
        {},
      )
    )[0];
  const tables = async () =>
    (
      await tableSettings(storage, TRACE_SUMMARY_TABLE, "AggregatingMergeTree", [
        "index_granularity",
        "max_compress_block_size",
      ])
    ).map((t) => ({ name: t.name, granule: t.index_granularity, block: t.max_compress_block_size }));

  it("keeps every summary; a re-run, even after its swap, copies each once; the view writes to the new table", async () => {
    const before = await totals();
    expect(Number(before?.traces)).toBeGreaterThan(0);
    expect(await tables()).toEqual([{ name: TRACE_SUMMARY_TABLE, granule: "256", block: "8192" }]);
    await rerunCopyMigration(storage, 29, async () => {
      expect(await totals()).toEqual(before);
    });
    expect(await tables()).toEqual([{ name: TRACE_SUMMARY_TABLE, granule: "256", block: "8192" }]);
    // The copy kept the projection and the bloom filter, and the view fills it under the name.
    expect(await readsProjection("1")).toBe(true);
    await insertTraces(4_000, 100);
    const after = await totals();
    expect(Number(after?.traces)).toBe(Number(before?.traces) + 100);
    const indexes = await queryRows<{ name: string; type: string }>(
      storage,
      `SELECT name, type FROM system.data_skipping_indices WHERE database = {db:String} AND table = {t:String} ORDER BY name`,
      { db, t: TRACE_SUMMARY_TABLE },
    );
    expect(indexes).toContainEqual({ name: TRACE_ID_BLOOM, type: "bloom_filter" });
  });
});
