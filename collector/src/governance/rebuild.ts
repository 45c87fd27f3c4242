import { addUsd } from "@cognive/semconv";
import type { Storage } from "../storage/client.ts";
import { LLM_ROLLUP_TABLE } from "../storage/schema.ts";
import { chTime, queryRows } from "../storage/sql.ts";
import { dayKey, monthKey } from "./windows.ts";

export interface SpendTotal {
  scope: { type: "agent" | "team"; name: string };
  window: "day" | "month";
  windowKey: string;
  usd: number;
}

/** UTC day (`YYYY-MM-DD`) and month (`YYYY-MM`) of an instant, as the budget counters name them. */
export function dayAndMonth(at: Date): { day: string; month: string } {
  return { day: dayKey(at), month: monthKey(at) };
}

/**
 * Today's and this month's spend per agent and per team, read back from the per-minute rollup, so a
 * restarted embedded collector seeds its budget counters instead of forgetting what was spent.
 */
export async function spendSoFar(storage: Storage, now: Date = new Date()): Promise<SpendTotal[]> {
  const { day, month } = dayAndMonth(now);
  const rows = await queryRows<{ AgentName: string; TeamName: string; DayUsd: number; MonthUsd: number }>(
    storage,
    `SELECT AgentName, TeamName,
                   sumIf(CostUsd, toDate(Minute) = toDate({now:DateTime64(3, 'UTC')})) AS DayUsd,
                   sum(CostUsd) AS MonthUsd
            FROM ${storage.database}.${LLM_ROLLUP_TABLE}
            WHERE Minute >= toStartOfMonth({now:DateTime64(3, 'UTC')}) AND Minute <= {now:DateTime64(3, 'UTC')}
            GROUP BY AgentName, TeamName`,
    { now: chTime(now) },
  );
  const byScope = new Map<string, SpendTotal>();
  const add = (type: "agent" | "team", name: string, window: "day" | "month", windowKey: string, usd: number) => {
    if (name === "" || usd === 0) return;
    const key = `${type}\u0000${name}\u0000${window}`;
    const t = byScope.get(key);
    if (t) t.usd = addUsd(t.usd, usd);
    else byScope.set(key, { scope: { type, name }, window, windowKey, usd });
  };
  for (const r of rows) {
    add("agent", r.AgentName, "day", day, r.DayUsd);
    add("agent", r.AgentName, "month", month, r.MonthUsd);
    add("team", r.TeamName, "day", day, r.DayUsd);
    add("team", r.TeamName, "month", month, r.MonthUsd);
  }
  return [...byScope.values()];
}
