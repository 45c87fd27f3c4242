import {
  dailySpendParams,
  dailySpendSql,
  forecastMonth,
  historyRange,
  type MonthForecast,
  monthBounds,
  type Policy,
  type Storage,
  toDailySpend,
} from "@cognive/collector";
import { badRequest } from "./errors.ts";
import { type QueryScope, scopeAllows, teamCondition } from "./scope.ts";
import { databaseOf, select } from "./sql.ts";

/** One key's forecast: the collector's, without the month (the report carries it). */
export type ForecastSeries = { key: string } & Omit<MonthForecast, "month">;

export interface ForecastReport {
  month: string;
  /** The instant the forecast is made at (ISO). */
  asOf: string;
  series: ForecastSeries[];
}

/** Money to the nano-dollar: the float sums of the rollup carry noise below it. */
const nano = (x: number) => Math.round(x * 1e9) / 1e9;

/**
 * Month-end projection per team or agent (the method is in `forecast.ts`). Every key that spent in
 * the month or its look-back, plus every declared monthly budget the scope may see, even unspent.
 */
export async function forecastReport(
  storage: Storage,
  policy: Policy | undefined,
  scope: QueryScope,
  q: { groupBy: "team" | "agent"; month: string; atMs: number },
): Promise<ForecastReport> {
  const { startMs, endMs } = monthBounds(q.month);
  if (q.atMs < startMs) throw badRequest(`query parameter 'month' is after the time of the forecast`);
  const asOfMs = Math.min(q.atMs, endMs);
  const { fromMs, toMs } = historyRange(q.month, asOfMs);
  const team = teamCondition(scope, { column: "TeamName" });
  const rows = await select<{ Key: string; Day: string; Usd: number }>(
    storage,
    dailySpendSql(databaseOf(storage), q.groupBy, team.sql),
    // Storage times start in 1970: earlier months simply have no spend.
    { ...dailySpendParams(Math.max(0, fromMs), Math.max(0, toMs)), ...team.params },
  );
  const spend = toDailySpend(rows);
  const budgets = new Map<string, number>();
  if (q.groupBy === "team") {
    for (const [name, t] of policy?.teams ?? []) {
      if (t.budgets.monthlyUsd !== null && scopeAllows(scope, name)) budgets.set(name, t.budgets.monthlyUsd);
    }
  } else {
    for (const [name, a] of policy?.agents ?? []) {
      if (a.budgets.monthlyUsd !== null && scopeAllows(scope, a.team)) budgets.set(name, a.budgets.monthlyUsd);
    }
  }
  const keys = new Set([...spend.keys(), ...budgets.keys()]);
  const series = [...keys].map((key) => {
    const f = forecastMonth(q.month, spend.get(key) ?? new Map(), asOfMs, budgets.get(key) ?? null);
    return {
      key,
      spentUsd: nano(f.spentUsd),
      projectedUsd: nano(f.projectedUsd),
      low: nano(f.low),
      high: nano(f.high),
      budgetUsd: f.budgetUsd,
      exceedsOn: f.exceedsOn,
      method: f.method,
      historyDays: f.historyDays,
    };
  });
  series.sort((a, b) => b.projectedUsd - a.projectedUsd || (a.key < b.key ? -1 : 1));
  return { month: q.month, asOf: new Date(asOfMs).toISOString(), series };
}
