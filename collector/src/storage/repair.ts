import type { Storage } from "./client.ts";
import {
  AGENT_RUNS_TABLE,
  DERIVED_TABLES,
  LLM_HISTOGRAM_TABLE,
  LLM_ROLLUP_TABLE,
  LOGS_TABLE,
  SPAN_TABLE,
  TRACE_DOCS_TABLE,
  TRACE_LOG_FILTER,
  TRACE_SUMMARY_TABLE,
  TRACE_TS_TABLE,
  traceLogDocsSelect,
} from "./schema.ts";
import { queryRows } from "./sql.ts";

/**
 * Keeping the tables derived from spans (trace lookup, trace summary, per-minute rollups) equal to
 * the spans themselves after an insert failed half-way or the process died mid-insert: the span
 * table and its views are not written atomically, so a crash can leave spans that no view saw.
 * A repair finds the traces and minutes whose derived rows disagree with the spans, deletes those
 * rows and rebuilds them from the spans with the views' own SELECTs; likewise a trace's log documents
 * from its log records. It must not race with inserts.
 */

export interface SpanKey {
  traceId: string;
  spanId: string;
}

export interface RepairResult {
  traces: number;
  minutes: number;
}

const NS_PER_MINUTE = 60_000_000_000n;

/** Which of these spans (with starts in [minNs, maxNs]) storage already holds, as `traceId + spanId`. */
export async function storedKeys(
  storage: Storage,
  keys: SpanKey[],
  minNs: bigint,
  maxNs: bigint,
): Promise<Set<string>> {
  const found = new Set<string>();
  if (keys.length === 0) return found;
  const wanted = new Set(keys.map((k) => k.traceId + k.spanId));
  const traceIds = [...new Set(keys.map((k) => k.traceId))];
  const db = storage.database;
  // Chunked so one look-up never carries megabytes of parameters.
  for (let i = 0; i < traceIds.length; i += 5_000) {
    const got = await queryRows<{ TraceId: string; SpanId: string }>(
      storage,
      `SELECT TraceId, SpanId FROM ${db}.${SPAN_TABLE}
       WHERE Timestamp BETWEEN fromUnixTimestamp64Nano({from:Int64}) AND fromUnixTimestamp64Nano({to:Int64})
         AND TraceId IN {ids:Array(String)}`,
      { from: String(minNs), to: String(maxNs), ids: traceIds.slice(i, i + 5_000) },
    );
    for (const r of got) {
      const k = r.TraceId + r.SpanId;
      if (wanted.has(k)) found.add(k);
    }
  }
  return found;
}

/**
 * Span keys of the most recent inserts (parts written or merged in the last `minutes`), newest first,
 * at most `limit`: what a client may still retry after a restart.
 */
export async function recentSpanKeys(storage: Storage, minutes: number, limit: number): Promise<SpanKey[]> {
  const db = storage.database;
  const got = await queryRows<{ TraceId: string; SpanId: string }>(
    storage,
    `SELECT TraceId, SpanId FROM ${db}.${SPAN_TABLE}
     WHERE _part IN (
       SELECT name FROM system.parts
       WHERE database = {db:String} AND table = {table:String} AND active
         AND modification_time >= now() - toIntervalMinute({minutes:UInt32}))
     ORDER BY Timestamp DESC
     LIMIT {limit:UInt32}`,
    { db, table: SPAN_TABLE, minutes, limit },
  );
  return got.map((r) => ({ traceId: r.TraceId, spanId: r.SpanId }));
}

/**
 * Finds the traces and minutes with spans starting in [fromNs, toNs] (toNs open-ended when absent)
 * whose derived rows disagree with the spans, and rebuilds them.
 */
export async function repairDerived(storage: Storage, fromNs: bigint, toNs?: bigint): Promise<RepairResult> {
  const db = storage.database;
  const from = (fromNs / NS_PER_MINUTE) * NS_PER_MINUTE;
  // Whole minutes: a minute's rollup row sums every span of that minute.
  const to = toNs === undefined ? 9_223_372_036_854_775_807n : (toNs / NS_PER_MINUTE + 1n) * NS_PER_MINUTE - 1n;
  const range = { from: String(from), to: String(to) };
  const inRange = "Timestamp BETWEEN fromUnixTimestamp64Nano({from:Int64}) AND fromUnixTimestamp64Nano({to:Int64})";
  const tracesInRange = `SELECT DISTINCT TraceId FROM ${db}.${SPAN_TABLE} WHERE ${inRange}`;
  const traces = await queryRows<{ TraceId: string }>(
    storage,
    `SELECT s.TraceId AS TraceId FROM (
       SELECT TraceId, count() AS n FROM ${db}.${SPAN_TABLE} WHERE TraceId IN (${tracesInRange}) GROUP BY TraceId
     ) AS s
     LEFT JOIN (
       SELECT TraceId, sum(SpanCount) AS n FROM ${db}.${TRACE_SUMMARY_TABLE} WHERE TraceId IN (${tracesInRange}) GROUP BY TraceId
     ) AS t ON s.TraceId = t.TraceId
     LEFT JOIN (
       SELECT TraceId, 1 AS present FROM ${db}.${TRACE_TS_TABLE} WHERE TraceId IN (${tracesInRange}) GROUP BY TraceId
     ) AS k ON s.TraceId = k.TraceId
     LEFT JOIN (
       SELECT TraceId, sum(Spans) AS n FROM ${db}.${TRACE_DOCS_TABLE} WHERE TraceId IN (${tracesInRange}) GROUP BY TraceId
     ) AS d ON s.TraceId = d.TraceId
     WHERE s.n != t.n OR k.present = 0 OR s.n != d.n`,
    range,
  );
  const minuteRange =
    "Minute BETWEEN toDateTime(intDiv({from:Int64}, 1000000000)) AND toDateTime(intDiv({to:Int64}, 1000000000))";
  const minutes = await queryRows<{ M: number }>(
    storage,
    `SELECT s.M AS M FROM (
       SELECT toUnixTimestamp(toStartOfMinute(Timestamp)) AS M,
              countIf(GenAiUsageRole = 'model_call') AS calls, countIf(ParentSpanId = '') AS roots
       FROM ${db}.${SPAN_TABLE} WHERE ${inRange} GROUP BY M
     ) AS s
     LEFT JOIN (
       SELECT toUnixTimestamp(Minute) AS M, sum(Calls) AS calls FROM ${db}.${LLM_ROLLUP_TABLE} WHERE ${minuteRange} GROUP BY M
     ) AS r ON s.M = r.M
     LEFT JOIN (
       SELECT toUnixTimestamp(Minute) AS M, sum(Count) AS calls FROM ${db}.${LLM_HISTOGRAM_TABLE}
       WHERE Metric = 'duration' AND ${minuteRange} GROUP BY M
     ) AS h ON s.M = h.M
     LEFT JOIN (
       SELECT toUnixTimestamp(Minute) AS M, sum(Runs) AS roots FROM ${db}.${AGENT_RUNS_TABLE} WHERE ${minuteRange} GROUP BY M
     ) AS a ON s.M = a.M
     WHERE s.calls != r.calls OR s.calls != h.calls OR s.roots != a.roots`,
    range,
  );
  await rebuild(
    storage,
    traces.map((t) => t.TraceId),
    minutes.map((m) => Number(m.M)),
  );
  // Log documents (migration 20) come from the log records: traces with records in the range whose
  // documents hold another number of them.
  const logTracesInRange = `SELECT DISTINCT TraceId FROM ${db}.${LOGS_TABLE} WHERE ${inRange} AND ${TRACE_LOG_FILTER}`;
  const logTraces = await queryRows<{ TraceId: string }>(
    storage,
    `SELECT l.TraceId AS TraceId FROM (
       SELECT TraceId, count() AS n FROM ${db}.${LOGS_TABLE}
       WHERE TraceId IN (${logTracesInRange}) AND ${TRACE_LOG_FILTER} GROUP BY TraceId
     ) AS l
     LEFT JOIN (
       SELECT TraceId, sum(Logs) AS n FROM ${db}.${TRACE_DOCS_TABLE}
       WHERE TraceId IN (${logTracesInRange}) AND Logs > 0 GROUP BY TraceId
     ) AS d ON l.TraceId = d.TraceId
     WHERE l.n != d.n`,
    range,
  );
  await rebuildLogDocs(
    storage,
    logTraces.map((t) => t.TraceId),
  );
  const repaired = new Set([...traces, ...logTraces].map((t) => t.TraceId));
  return { traces: repaired.size, minutes: minutes.length };
}

/** Deletes the log documents of these traces and writes them again from their log records. */
async function rebuildLogDocs(storage: Storage, traceIds: string[]): Promise<void> {
  const db = storage.database;
  for (let i = 0; i < traceIds.length; i += 1_000) {
    const params = { keys: traceIds.slice(i, i + 1_000) };
    await storage.client.command({
      query: `DELETE FROM ${db}.${TRACE_DOCS_TABLE} WHERE TraceId IN {keys:Array(String)} AND Logs > 0`,
      query_params: params,
    });
    await storage.client.command({
      query: `INSERT INTO ${db}.${TRACE_DOCS_TABLE} (TraceId, TeamName, Start, Spans, Logs, Doc)
        ${traceLogDocsSelect(" AND TraceId IN {keys:Array(String)}").replaceAll("{db}", db)}`,
      query_params: params,
    });
  }
}

/** Deletes the derived rows of these traces and minutes and writes them again from the spans. */
export async function rebuild(storage: Storage, traceIds: string[], minutes: number[]): Promise<void> {
  const db = storage.database;
  for (const d of DERIVED_TABLES) {
    const keys = d.key === "trace" ? traceIds : minutes;
    for (let i = 0; i < keys.length; i += 1_000) {
      const chunk = keys.slice(i, i + 1_000);
      const [own, spans] =
        d.key === "trace"
          ? ["TraceId IN {keys:Array(String)}", " AND TraceId IN {keys:Array(String)}"]
          : [
              "toUnixTimestamp(Minute) IN {keys:Array(UInt32)}",
              " AND toUnixTimestamp(toStartOfMinute(Timestamp)) IN {keys:Array(UInt32)}" +
                " AND Timestamp BETWEEN toDateTime({lo:UInt32}) AND toDateTime({hi:UInt32})",
            ];
      const params =
        d.key === "trace"
          ? { keys: chunk }
          : { keys: chunk, lo: Math.min(...(chunk as number[])), hi: Math.max(...(chunk as number[])) + 60 };
      await storage.client.command({
        query: `DELETE FROM ${db}.${d.table} WHERE ${own}${d.fromSpans ? ` AND ${d.fromSpans}` : ""}`,
        query_params: params,
      });
      await storage.client.command({
        query: `INSERT INTO ${db}.${d.table} (${d.columns.join(", ")}) ${d.select(spans).replaceAll("{db}", db)}`,
        query_params: params,
      });
    }
  }
}
