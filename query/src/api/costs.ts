import { LLM_ROLLUP_TABLE, type Storage } from "@cognive/collector";
import { addUsd } from "@cognive/semconv";
import type { TimeRange } from "./params.ts";
import { type QueryScope, teamCondition } from "./scope.ts";
import { databaseOf, num, select } from "./sql.ts";

/** The dimensions costs can be broken down by, and the rollup column each reads. */
export const COST_GROUPS = {
  model: "Model",
  agent: "AgentName",
  team: "TeamName",
  provider: "Provider",
  environment: "Environment",
} as const;
export type CostGroup = keyof typeof COST_GROUPS;

export interface CostQuery extends TimeRange {
  /** Bucket width in seconds, a multiple of 60. */
  step: number;
  groupBy: CostGroup;
}

export interface CostSeries {
  /** The group's value; null for calls that carry none (e.g. no agent name). */
  key: string | null;
  totalUsd: number;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  calls: number;
  /** [bucket start in Unix seconds, cost in USD], ascending, only buckets with calls. */
  points: [number, number][];
  /** [bucket start, input, output, cache-read, cache-write tokens], the same buckets as `points`. */
  tokenPoints: [number, number, number, number, number][];
}

export interface CostReport {
  totalUsd: number;
  series: CostSeries[];
}

/** Points aimed at when the caller gives no step. */
export const TARGET_POINTS = 200;
export const MIN_STEP = 60;

/** The smallest multiple of a minute that covers the range with at most ~TARGET_POINTS buckets. */
export function defaultStep(range: TimeRange): number {
  const seconds = Number((range.toNs - range.fromNs) / 1_000_000_000n);
  const perPoint = Math.ceil(seconds / TARGET_POINTS);
  return Math.max(MIN_STEP, Math.ceil(perPoint / MIN_STEP) * MIN_STEP);
}

interface Row {
  Key: string;
  Bucket: string;
  CostUsd: number;
  InputTokens: string;
  OutputTokens: string;
  CacheReadTokens: string;
  CacheWriteTokens: string;
  Calls: string;
}

/**
 * Spend over time from the per-minute LLM rollup. A minute belongs to the range when it starts in
 * [from, to); buckets start at multiples of `step` since the epoch. The rollup is a
 * SummingMergeTree, so rows are always summed with GROUP BY, never read as they are.
 */
export async function costReport(storage: Storage, scope: QueryScope, q: CostQuery): Promise<CostReport> {
  const db = databaseOf(storage);
  const team = teamCondition(scope, { column: "TeamName" });
  const column = COST_GROUPS[q.groupBy];
  const sql = `
    SELECT
      toString(${column}) AS Key,
      intDiv(toUnixTimestamp(Minute), {step:UInt32}) * {step:UInt32} AS Bucket,
      sum(CostUsd) AS CostUsd,
      sum(InputTokens) AS InputTokens,
      sum(OutputTokens) AS OutputTokens,
      sum(CacheReadTokens) AS CacheReadTokens,
      sum(CacheWriteTokens) AS CacheWriteTokens,
      sum(Calls) AS Calls
    FROM ${db}.${LLM_ROLLUP_TABLE}
    WHERE Minute >= fromUnixTimestamp64Nano({fromNs:Int64})
      AND Minute < fromUnixTimestamp64Nano({toNs:Int64})
      AND (${team.sql})
    GROUP BY Key, Bucket
    ORDER BY Key, Bucket`;
  const rows = await select<Row>(storage, sql, {
    ...team.params,
    step: q.step,
    fromNs: String(q.fromNs),
    toNs: String(q.toNs),
  });

  const byKey = new Map<string, CostSeries>();
  for (const r of rows) {
    let s = byKey.get(r.Key);
    if (!s) {
      s = {
        key: r.Key === "" ? null : r.Key,
        totalUsd: 0,
        inputTokens: 0,
        outputTokens: 0,
        cacheReadTokens: 0,
        cacheWriteTokens: 0,
        calls: 0,
        points: [],
        tokenPoints: [],
      };
      byKey.set(r.Key, s);
    }
    const bucket = num(r.Bucket);
    const [input, output, cacheRead, cacheWrite] = [
      r.InputTokens,
      r.OutputTokens,
      r.CacheReadTokens,
      r.CacheWriteTokens,
    ].map(num);
    s.totalUsd = addUsd(s.totalUsd, r.CostUsd);
    s.inputTokens += input;
    s.outputTokens += output;
    s.cacheReadTokens += cacheRead;
    s.cacheWriteTokens += cacheWrite;
    s.calls += num(r.Calls);
    s.points.push([bucket, r.CostUsd]);
    s.tokenPoints.push([bucket, input, output, cacheRead, cacheWrite]);
  }
  // Highest spend first; equal spend by key, so the order never depends on the read.
  const byKeyName = (a: CostSeries, b: CostSeries) => ((a.key ?? "") < (b.key ?? "") ? -1 : 1);
  const series = [...byKey.values()].sort((a, b) => b.totalUsd - a.totalUsd || byKeyName(a, b));
  return { totalUsd: series.reduce((sum, s) => addUsd(sum, s.totalUsd), 0), series };
}
