import { LLM_ROLLUP_TABLE, type Policy, type Storage } from "@cognive/collector";
import { type QueryScope, teamCondition } from "../api/scope.ts";
import { databaseOf, select } from "../api/sql.ts";
import { type Matcher, matches } from "./promql.ts";
import type { RawSeries } from "./store.ts";

export const BUDGET_METRIC = "cognive_budget_utilization_ratio";
export const BUDGET_HELP =
  "Spend in the current UTC day or month divided by the declared budget (agent or team), from the per-minute rollup.";
export type BudgetWindow = "day" | "month";

interface BudgetLine {
  labels: Record<string, string>;
  kind: "agent" | "team";
  name: string;
  window: BudgetWindow;
  limitUsd: number;
}

/** The declared day and month budgets the scope may see and the matchers admit. */
export function budgetLines(policy: Policy | undefined, scope: QueryScope, matchers: Matcher[]): BudgetLine[] {
  if (!policy) return [];
  const visible = (team: string | null) => scope.teams === "all" || (team !== null && scope.teams.includes(team));
  const lines: BudgetLine[] = [];
  const add = (kind: "agent" | "team", name: string, window: BudgetWindow, limit: number | null) => {
    if (limit === null || !(limit > 0)) return;
    const labels = { __name__: BUDGET_METRIC, [kind]: name, window };
    if (matchers.every((m) => matches(m, labels[m.name as keyof typeof labels] ?? ""))) {
      lines.push({ labels, kind, name, window, limitUsd: limit });
    }
  };
  for (const [name, a] of policy.agents) {
    if (!visible(a.team)) continue;
    add("agent", name, "day", a.budgets.dailyUsd);
    add("agent", name, "month", a.budgets.monthlyUsd);
  }
  for (const [name, t] of policy.teams) {
    if (!visible(name)) continue;
    add("team", name, "day", t.budgets.dailyUsd);
    add("team", name, "month", t.budgets.monthlyUsd);
  }
  return lines;
}

/** Start of the UTC day or month containing t (Unix seconds). */
export function windowStart(window: BudgetWindow, t: number): number {
  const d = new Date(Math.floor(t) * 1000);
  const ms =
    window === "day"
      ? Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate())
      : Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  return ms / 1000;
}

interface Row {
  Kind: string;
  Name: string;
  M: string | number;
  CostUsd: number;
}

/**
 * Per-minute spend of the budgeted agents and teams the matchers admit, from the start of the UTC
 * month (or day) containing `from` to `to`: one bound-parameter SQL.
 */
export async function fetchBudgets(
  storage: Storage,
  scope: QueryScope,
  policy: Policy | undefined,
  matchers: Matcher[],
  from: number,
  to: number,
): Promise<RawSeries[]> {
  const lines = budgetLines(policy, scope, matchers);
  if (lines.length === 0) return [];
  const start = Math.max(0, windowStart(lines.some((l) => l.window === "month") ? "month" : "day", from));
  const end = Math.min(4_294_967_295, Math.max(0, Math.floor(to)));
  const agents = [...new Set(lines.filter((l) => l.kind === "agent").map((l) => l.name))];
  const teams = [...new Set(lines.filter((l) => l.kind === "team").map((l) => l.name))];
  const db = databaseOf(storage);
  const team = teamCondition(scope, { column: "TeamName" });
  const part = (kind: string, column: string, param: string) => `
    SELECT '${kind}' AS Kind, ${column} AS Name, toUnixTimestamp(Minute) AS M, sum(CostUsd) AS CostUsd
    FROM ${db}.${LLM_ROLLUP_TABLE}
    WHERE Minute >= toDateTime({from:UInt32}) AND Minute <= toDateTime({to:UInt32})
      AND ${column} IN {${param}:Array(String)} AND (${team.sql})
    GROUP BY Name, M`;
  const sql = `${part("agent", "AgentName", "agents")} UNION ALL ${part("team", "TeamName", "teams")} ORDER BY Kind, Name, M`;
  const rows = await select<Row>(storage, sql, { ...team.params, from: start, to: end, agents, teams });

  const byKey = new Map<string, { minutes: number[]; increments: number[] }>();
  for (const r of rows) {
    const key = `${r.Kind}\u0000${r.Name}`;
    let s = byKey.get(key);
    if (!s) {
      s = { minutes: [], increments: [] };
      byKey.set(key, s);
    }
    s.minutes.push(Number(r.M));
    s.increments.push(r.CostUsd);
  }
  return lines.map((l) => {
    const s = byKey.get(`${l.kind}\u0000${l.name}`) ?? { minutes: [], increments: [] };
    return {
      labels: l.labels,
      minutes: s.minutes,
      increments: s.increments,
      budget: { window: l.window, limitUsd: l.limitUsd },
    };
  });
}
