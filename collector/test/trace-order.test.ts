import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStorage, type Storage } from "../src/storage/client.ts";
import { migrate } from "../src/storage/migrate.ts";
import {
  AGENT_RUNS_TABLE,
  HOUR_SORTING_KEY,
  LLM_ROLLUP_TABLE,
  MINUTE_SORTING_KEY,
  migrations,
  SPAN_RELAYOUT_TABLE,
  SPAN_SORTING_KEY,
  SPAN_TABLE,
  TRACE_SUMMARY_TABLE,
  TRACE_TS_TABLE,
} from "../src/storage/schema.ts";
import { queryRows } from "../src/storage/sql.ts";
import { granulesAfter } from "./support/storage.ts";

// Migrations 13 and 14: the span table re-sorted by hour and trace id, its spans and views intact;
// migrations 21 and 22 the same by minute, 27 and 28 by ten seconds.
const dir = mkdtempSync(join(tmpdir(), "cognive-trace-order-"));
let storage: Storage;
const db = "cognive";
const before = migrations.filter((m) => m.version < 13);
const SPANS = 70_000;

/**
 * Where the spans of `insertSpans` end: the middle of the previous hour, so the ~100 s they cover
 * never straddle an hour (with the hour key, a run just after the hour read a trace from both hours'
 * granules).
 */
const SPANS_END = "toStartOfHour(now64(9)) - INTERVAL 30 MINUTE";
/**
 * `n` spans of 7-span traces starting at span `from`, each trace's spans spread over 5 services and
 * 7 names so the old sorting key scatters them; 2 of every 7 are priced model calls, 1 a root.
 */
const insertSpans = (from: number, n: number) =>
  storage.client.command({
    query: `INSERT INTO ${db}.${SPAN_TABLE}
      (Timestamp, TraceId, SpanId, ParentSpanId, SpanName, ServiceName, Duration, TeamName, AgentName,
       GenAiUsageRole, GenAiRequestModel, InputTokens, Priced, CostUsd)
      SELECT
        ${SPANS_END} - toIntervalMillisecond(intDiv(number, 7) * 10) + toIntervalMillisecond(number % 7),
        lower(hex(sipHash128(intDiv(number, 7)))), lower(hex(cityHash64(number))),
        if(number % 7 = 0, '', lower(hex(cityHash64(number - number % 7)))),
        concat('op-', toString(number % 7)), concat('svc-', toString(intDiv(number, 3) % 5)),
        1000 + number, 'team-a', 'agent-a',
        if(number % 7 IN (2, 3), 'model_call', 'none'), 'gpt-4o', number % 100, 1, (number % 7 IN (2, 3)) * 0.001
      FROM numbers(${from}, ${n})`,
  });

const one = async <T>(sql: string): Promise<T> => (await queryRows<T>(storage, sql, {}))[0] as T;
/** Fingerprint of every stored span (order-free), and counts of what the views derived. */
const state = async () => ({
  spans: await one<{ n: string; h: string }>(
    `SELECT count() AS n, toString(sum(cityHash64(TraceId, SpanId, ParentSpanId, SpanName, ServiceName, Duration, CostUsd, InputTokens))) AS h FROM ${db}.${SPAN_TABLE}`,
  ),
  traces: (await one<{ n: string }>(`SELECT uniqExact(TraceId) AS n FROM ${db}.${TRACE_TS_TABLE}`)).n,
  summarySpans: (await one<{ n: string }>(`SELECT sum(SpanCount) AS n FROM ${db}.${TRACE_SUMMARY_TABLE}`)).n,
  calls: (await one<{ n: string }>(`SELECT sum(Calls) AS n FROM ${db}.${LLM_ROLLUP_TABLE}`)).n,
  runs: (await one<{ n: string }>(`SELECT sum(Runs) AS n FROM ${db}.${AGENT_RUNS_TABLE}`)).n,
});

const sortingKeys = () =>
  queryRows<{ name: string; sorting_key: string }>(
    storage,
    "SELECT name, sorting_key FROM system.tables WHERE database = {db:String} AND name IN ({a:String}, {b:String})",
    { db, a: SPAN_TABLE, b: SPAN_RELAYOUT_TABLE },
  );

/** Granules the primary key selects for a read of the spans `where` picks. */
const granulesSelected = (where: string, params: Record<string, unknown> = {}) =>
  granulesAfter(storage, `SELECT SpanId FROM ${db}.${SPAN_TABLE} WHERE ${where}`, params, "PrimaryKey");

/** Granules the primary key selects for a read of minute 30 of the hour a day ago. */
const granulesOfOneMinute = () =>
  granulesSelected(
    `Timestamp >= toStartOfHour(now() - INTERVAL 1 DAY) + INTERVAL 30 MINUTE
       AND Timestamp < toStartOfHour(now() - INTERVAL 1 DAY) + INTERVAL 31 MINUTE`,
  );

/** Granules the primary key selects for one trace's read in the trace-by-id shape. */
const granulesRead = (traceId: string) =>
  granulesSelected("TraceId = {t:String} AND Timestamp BETWEEN now() - INTERVAL 2 HOUR AND now() + INTERVAL 1 MINUTE", {
    t: traceId,
  });

beforeAll(async () => {
  storage = createStorage({ dataDir: dir, database: db });
  await migrate(storage, undefined, before);
}, 180_000);
afterAll(async () => {
  await storage.close();
  rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
});

describe("span table in trace order (migrations 13, 14)", () => {
  const trace = async (i: number) => (await one<{ t: string }>(`SELECT lower(hex(sipHash128(toUInt64(${i})))) AS t`)).t;

  it("moves every span, leaves the views' rows as they were, and keeps the views firing", async () => {
    await insertSpans(0, SPANS);
    await storage.client.command({ query: `OPTIMIZE TABLE ${db}.${SPAN_TABLE} FINAL` });
    const old = await state();
    expect(Number(old.spans.n)).toBe(SPANS);
    expect(Number(old.calls)).toBe(20_000);
    // In the exporter's order one trace's spans sit in several granules.
    expect(await granulesRead(await trace(5000))).toBeGreaterThan(2);

    // An interrupted earlier run: the copy exists and holds some of the spans already.
    await storage.client.command({
      query: migrations.find((m) => m.version === 13)?.statements[0].replaceAll("{db}", db) as string,
    });
    await storage.client.command({
      query: `INSERT INTO ${db}.${SPAN_RELAYOUT_TABLE} SELECT * FROM ${db}.${SPAN_TABLE} WHERE SpanName = 'op-3'`,
    });

    const upTo14 = migrations.filter((m) => m.version <= 14);
    expect(await migrate(storage, undefined, upTo14)).toBe(upTo14.length - before.length);
    expect(await sortingKeys()).toEqual([{ name: SPAN_TABLE, sorting_key: HOUR_SORTING_KEY.slice(1, -1) }]);
    // Every span once (the partial copy was completed, not doubled); the views did not see the copy.
    expect(await state()).toEqual(old);

    await storage.client.command({ query: `OPTIMIZE TABLE ${db}.${SPAN_TABLE} FINAL` });
    for (const i of [0, 5000, 9999]) expect(await granulesRead(await trace(i))).toBeLessThanOrEqual(2);

    // New spans after the swap reach every view.
    await insertSpans(SPANS, 7_000);
    const after = await state();
    expect(Number(after.spans.n)).toBe(SPANS + 7_000);
    expect(Number(after.traces)).toBe(Number(old.traces) + 1_000);
    expect(Number(after.summarySpans)).toBe(Number(old.summarySpans) + 7_000);
    expect(Number(after.calls)).toBe(Number(old.calls) + 2_000);
    expect(Number(after.runs)).toBe(Number(old.runs) + 1_000);
  }, 300_000);

  it("migration 21 sorts by minute: one minute's spans are read from that minute's granules", async () => {
    // 65,536 spans evenly over the hour a day ago (8 granules), of traces with random ids.
    await storage.client.command({
      query: `INSERT INTO ${db}.${SPAN_TABLE}
        (Timestamp, TraceId, SpanId, ParentSpanId, SpanName, ServiceName, Duration, TeamName, AgentName)
        SELECT toStartOfHour(now() - INTERVAL 1 DAY) + toIntervalMillisecond(number * 54),
          lower(hex(sipHash128(number % 9362 + 1000000))), lower(hex(cityHash64(number + 1000000))),
          if(number < 9362, '', 'parent'), 'op', 'svc', 1000, 'team-a', 'agent-a'
        FROM numbers(65536)`,
    });
    await storage.client.command({ query: `OPTIMIZE TABLE ${db}.${SPAN_TABLE} FINAL` });
    const old = await state();
    // By hour, random trace ids scatter any minute's spans over every granule of the hour.
    expect(await granulesOfOneMinute()).toBeGreaterThanOrEqual(8);
    const upTo22 = migrations.filter((m) => m.version <= 22);
    expect(await migrate(storage, undefined, upTo22)).toBe(upTo22.filter((m) => m.version > 14).length);
    expect(await sortingKeys()).toEqual([{ name: SPAN_TABLE, sorting_key: MINUTE_SORTING_KEY.slice(1, -1) }]);
    expect(await state()).toEqual(old);
    await storage.client.command({ query: `OPTIMIZE TABLE ${db}.${SPAN_TABLE} FINAL` });
    // By minute, the minute's ~1,100 spans sit in a granule or two.
    expect(await granulesOfOneMinute()).toBeLessThanOrEqual(2);
    // New spans after the swap reach every view.
    await insertSpans(SPANS + 7_000, 7_000);
    expect(Number((await state()).runs)).toBe(Number(old.runs) + 1_000);
  }, 300_000);

  it("migration 27 sorts by ten seconds: a busy minute's last ten seconds are read from their own granules", async () => {
    // 98,304 spans (12 granules) in minute 40 of the hour a day ago, of traces with random ids.
    await storage.client.command({
      query: `INSERT INTO ${db}.${SPAN_TABLE}
        (Timestamp, TraceId, SpanId, ParentSpanId, SpanName, ServiceName, Duration, TeamName, AgentName)
        SELECT toStartOfHour(now() - INTERVAL 1 DAY) + INTERVAL 40 MINUTE + toIntervalMicrosecond(intDiv(number * 60000000, 98304)),
          lower(hex(sipHash128(number % 14043 + 2000000))), lower(hex(cityHash64(number + 2000000))),
          if(number < 14043, '', 'parent'), 'op', 'svc', 1000, 'team-a', 'agent-a'
        FROM numbers(98304)`,
    });
    await storage.client.command({ query: `OPTIMIZE TABLE ${db}.${SPAN_TABLE} FINAL` });
    const lastTenSeconds = () =>
      granulesSelected(
        `Timestamp >= toStartOfHour(now() - INTERVAL 1 DAY) + INTERVAL 40 MINUTE + INTERVAL 50 SECOND
           AND Timestamp < toStartOfHour(now() - INTERVAL 1 DAY) + INTERVAL 41 MINUTE`,
      );
    const old = await state();
    // By minute, the newest seconds' spans are spread over every granule of the minute.
    expect(await lastTenSeconds()).toBeGreaterThanOrEqual(12);
    expect(await migrate(storage)).toBe(migrations.filter((m) => m.version > 22).length);
    expect(await sortingKeys()).toEqual([{ name: SPAN_TABLE, sorting_key: SPAN_SORTING_KEY.slice(1, -1) }]);
    expect(await state()).toEqual(old);
    await storage.client.command({ query: `OPTIMIZE TABLE ${db}.${SPAN_TABLE} FINAL` });
    // By ten seconds, their ~16,400 spans sit in their own two or three granules.
    expect(await lastTenSeconds()).toBeLessThanOrEqual(3);
  }, 300_000);

  it("a re-run of migration 13 after its swap keeps every span", async () => {
    const now = await state();
    const m13 = migrations.filter((m) => m.version === 13);
    const forget = () => storage.client.command({ query: `DELETE FROM ${db}.schema_migrations WHERE Version >= 13` });
    // Run 13 alone (copy and swap, nothing dropped), then again as if it had crashed before its
    // record: the second run finds the copy full and swaps back; the spans are all there each time.
    for (let run = 0; run < 2; run++) {
      await forget();
      expect(await migrate(storage, undefined, [...before, ...m13])).toBe(1);
      expect((await state()).spans).toEqual(now.spans);
    }
    await forget();
    expect(await migrate(storage)).toBe(migrations.filter((m) => m.version >= 13).length);
    expect(await state()).toEqual(now);
  }, 300_000);
});
