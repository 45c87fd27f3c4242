import { LLM_ROLLUP_TABLE, type Storage } from "@cognive/collector";
import type { TimeRange } from "./params.ts";
import { type QueryScope, teamCondition } from "./scope.ts";
import { databaseOf, num, select, summaryRowsJoined } from "./sql.ts";

export interface OverviewQuery extends TimeRange {
  /** How many agents and models to list. */
  top: number;
}

export interface OverviewTop {
  name: string;
  costUsd: number;
  calls: number;
  errors: number;
}

export interface Overview {
  /** The range the run and call figures cover, Unix nanoseconds as decimal strings. */
  range: { fromNs: string; toNs: string };
  /** Spend in the UTC day and month that contain `to`, up to `to`, and in the range. */
  spend: { todayUsd: number; monthUsd: number; rangeUsd: number };
  /** Traces started in the range (one agent run is one trace), those with an error span, and their share. */
  runs: number;
  errorRuns: number;
  errorRate: number | null;
  /** Trace durations in the range, nanoseconds as decimal strings; null without traces. */
  latency: { p50Ns: string | null; p95Ns: string | null };
  /** Model calls in the range. */
  llm: { calls: number; errors: number; inputTokens: number; outputTokens: number };
  topAgents: OverviewTop[];
  topModels: OverviewTop[];
}

const NS_PER_MS = 1_000_000n;

/** Start of the UTC day and month containing `ns`, as Unix nanoseconds. */
export function utcDayAndMonthStart(ns: bigint): { dayNs: bigint; monthNs: bigint } {
  const d = new Date(Number(ns / NS_PER_MS));
  const day = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  const month = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  return { dayNs: BigInt(day) * NS_PER_MS, monthNs: BigInt(month) * NS_PER_MS };
}

interface SpendRow {
  TodayUsd: number;
  MonthUsd: number;
  RangeUsd: number;
  Calls: string;
  Errors: string;
  InputTokens: string;
  OutputTokens: string;
}

interface RunsRow {
  Runs: string;
  ErrorRuns: string;
  P50: string;
  P95: string;
}

interface TopRow {
  Name: string;
  CostUsd: number;
  Calls: string;
  Errors: string;
}

/**
 * The home page's figures in one answer: spend today / this month (from the per-minute rollup,
 * as the cost API counts it), runs, error rate and latency percentiles over traces (from the
 * per-trace summary, re-aggregated per trace like the trace list), and the top agents and models.
 */
export async function overview(storage: Storage, scope: QueryScope, q: OverviewQuery): Promise<Overview> {
  const db = databaseOf(storage);
  const { dayNs, monthNs } = utcDayAndMonthStart(q.toNs);
  let earliest = q.fromNs;
  for (const start of [dayNs, monthNs]) if (start < earliest) earliest = start;
  const rollupTeam = teamCondition(scope, { column: "TeamName" });
  const range = { fromNs: String(q.fromNs), toNs: String(q.toNs) };

  // A minute belongs to a window when it starts in [start, to), as in the cost API.
  const spendRows = select<SpendRow>(
    storage,
    `SELECT
       sumIf(CostUsd, Minute >= fromUnixTimestamp64Nano({dayNs:Int64})) AS TodayUsd,
       sumIf(CostUsd, Minute >= fromUnixTimestamp64Nano({monthNs:Int64})) AS MonthUsd,
       sumIf(CostUsd, Minute >= fromUnixTimestamp64Nano({fromNs:Int64})) AS RangeUsd,
       sumIf(Calls, Minute >= fromUnixTimestamp64Nano({fromNs:Int64})) AS Calls,
       sumIf(Errors, Minute >= fromUnixTimestamp64Nano({fromNs:Int64})) AS Errors,
       sumIf(InputTokens, Minute >= fromUnixTimestamp64Nano({fromNs:Int64})) AS InputTokens,
       sumIf(OutputTokens, Minute >= fromUnixTimestamp64Nano({fromNs:Int64})) AS OutputTokens
     FROM ${db}.${LLM_ROLLUP_TABLE}
     WHERE Minute >= fromUnixTimestamp64Nano({earliestNs:Int64})
       AND Minute < fromUnixTimestamp64Nano({toNs:Int64})
       AND (${rollupTeam.sql})`,
    {
      ...rollupTeam.params,
      ...range,
      dayNs: String(dayNs),
      monthNs: String(monthNs),
      earliestNs: String(earliest),
    },
  );

  const summaryTeam = teamCondition(scope, { array: "Teams" });
  // trace_summary holds partial rows per insert: group per trace first, then keep traces whose
  // true start is in the range (as the trace list does). A trace is in scope when any of its rows
  // names a scope team: a flag per trace, not its teams (a set per trace of a million traces).
  const runRows = select<RunsRow>(
    storage,
    `SELECT
       count() AS Runs,
       countIf(ErrorCount > 0) AS ErrorRuns,
       toString(toUInt64(quantileExact(0.5)(DurationNs64))) AS P50,
       toString(toUInt64(quantileExact(0.95)(DurationNs64))) AS P95
     FROM (
       SELECT
         TraceId,
         toUnixTimestamp64Nano(min(Start)) AS StartNs64,
         toUnixTimestamp64Nano(max(End)) - StartNs64 AS DurationNs64,
         sum(ErrorCount) AS ErrorCount,
         max(${summaryTeam.sql}) AS InScope
       FROM ${summaryRowsJoined(db)}
       GROUP BY TraceId
       HAVING StartNs64 BETWEEN {fromNs:Int64} AND {toNs:Int64} AND InScope
     )`,
    { ...summaryTeam.params, ...range },
  );

  const top = (column: "AgentName" | "Model") =>
    select<TopRow>(
      storage,
      `SELECT toString(${column}) AS Name, sum(CostUsd) AS CostUsd, sum(Calls) AS Calls, sum(Errors) AS Errors
       FROM ${db}.${LLM_ROLLUP_TABLE}
       WHERE Minute >= fromUnixTimestamp64Nano({fromNs:Int64})
         AND Minute < fromUnixTimestamp64Nano({toNs:Int64})
         AND ${column} != ''
         AND (${rollupTeam.sql})
       GROUP BY Name
       ORDER BY CostUsd DESC, Calls DESC, Name
       LIMIT {top:UInt32}`,
      { ...rollupTeam.params, ...range, top: q.top },
    );

  const [[spend], [runs], agents, models] = await Promise.all([spendRows, runRows, top("AgentName"), top("Model")]);
  const runCount = num(runs?.Runs);
  const errorRuns = num(runs?.ErrorRuns);
  const toTop = (r: TopRow): OverviewTop => ({
    name: r.Name,
    costUsd: r.CostUsd,
    calls: num(r.Calls),
    errors: num(r.Errors),
  });
  return {
    range,
    spend: { todayUsd: spend?.TodayUsd ?? 0, monthUsd: spend?.MonthUsd ?? 0, rangeUsd: spend?.RangeUsd ?? 0 },
    runs: runCount,
    errorRuns,
    errorRate: runCount === 0 ? null : errorRuns / runCount,
    latency: runCount === 0 ? { p50Ns: null, p95Ns: null } : { p50Ns: runs?.P50 ?? null, p95Ns: runs?.P95 ?? null },
    llm: {
      calls: num(spend?.Calls),
      errors: num(spend?.Errors),
      inputTokens: num(spend?.InputTokens),
      outputTokens: num(spend?.OutputTokens),
    },
    topAgents: agents.map(toTop),
    topModels: models.map(toTop),
  };
}
