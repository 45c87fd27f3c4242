import { type Alert, BUDGET_OF_WINDOW, dayAndMonth, type GovernanceView } from "@cognive/collector";
import { type QueryScope, scopeAllows } from "./scope.ts";

export type Window = "run" | "day" | "month";

export interface BudgetLine {
  scope: { type: "agent" | "team"; name: string };
  window: Window;
  windowKey: string;
  spendUsd: number;
  limitUsd: number;
  utilization: number;
}

/**
 * Every declared budget the scope may see, with its current spend: agents' and teams' day and month,
 * and one run when asked. An agent's budgets belong to its declared team (no team: all-team scopes only).
 */
export async function budgetLines(
  gov: GovernanceView,
  now: Date,
  traceId: string | undefined,
  scope: QueryScope,
): Promise<BudgetLine[]> {
  const keys = dayAndMonth(now);
  const lines: BudgetLine[] = [];
  const add = async (type: "agent" | "team", name: string, window: Window, windowKey: string, limit: number | null) => {
    if (limit === null) return;
    const spendUsd = await gov.budgets.get({ type, name }, window, windowKey);
    lines.push({ scope: { type, name }, window, windowKey, spendUsd, limitUsd: limit, utilization: spendUsd / limit });
  };
  for (const [name, a] of gov.policy.agents) {
    if (!scopeAllows(scope, a.team)) continue;
    if (traceId) await add("agent", name, "run", traceId, a.budgets[BUDGET_OF_WINDOW.run]);
    await add("agent", name, "day", keys.day, a.budgets[BUDGET_OF_WINDOW.day]);
    await add("agent", name, "month", keys.month, a.budgets[BUDGET_OF_WINDOW.month]);
  }
  for (const [name, t] of gov.policy.teams) {
    if (!scopeAllows(scope, name)) continue;
    await add("team", name, "day", keys.day, t.budgets[BUDGET_OF_WINDOW.day]);
    await add("team", name, "month", keys.month, t.budgets[BUDGET_OF_WINDOW.month]);
  }
  return lines;
}

export interface BudgetCheck {
  allowed: boolean;
  /** The least headroom left across the budgets that apply; null when none applies. */
  remainingUsd: number | null;
  reasons: string[];
}

/** Whether an agent (and, with a trace id, its run) may keep spending, from the live counters. */
export async function budgetCheck(
  gov: GovernanceView,
  agent: string,
  traceId: string | undefined,
  now: Date,
  scope: QueryScope,
): Promise<BudgetCheck | null> {
  const keys = dayAndMonth(now);
  const agentPolicy = gov.policy.agents.get(agent);
  // Another team's agent is answered as if it did not exist.
  if (agentPolicy && !scopeAllows(scope, agentPolicy.team)) return null;
  const checks: { type: "agent" | "team"; name: string; window: Window; key: string; limit: number | null }[] = [];
  if (agentPolicy) {
    if (traceId)
      checks.push({ type: "agent", name: agent, window: "run", key: traceId, limit: agentPolicy.budgets.perRunUsd });
    checks.push({ type: "agent", name: agent, window: "day", key: keys.day, limit: agentPolicy.budgets.dailyUsd });
    checks.push({
      type: "agent",
      name: agent,
      window: "month",
      key: keys.month,
      limit: agentPolicy.budgets.monthlyUsd,
    });
    const team = agentPolicy.team === null ? undefined : gov.policy.teams.get(agentPolicy.team);
    if (agentPolicy.team !== null && team) {
      checks.push({ type: "team", name: agentPolicy.team, window: "day", key: keys.day, limit: team.budgets.dailyUsd });
      checks.push({
        type: "team",
        name: agentPolicy.team,
        window: "month",
        key: keys.month,
        limit: team.budgets.monthlyUsd,
      });
    }
  }
  let remaining: number | null = null;
  const reasons: string[] = [];
  for (const c of checks) {
    if (c.limit === null) continue;
    const spend = await gov.budgets.get({ type: c.type, name: c.name }, c.window, c.key);
    const left = c.limit - spend;
    remaining = remaining === null ? left : Math.min(remaining, left);
    if (left <= 0) {
      reasons.push(`${c.type} ${c.name} ${c.window} budget exhausted: $${spend.toFixed(4)} of $${c.limit.toFixed(4)}`);
    }
  }
  return { allowed: reasons.length === 0, remainingUsd: remaining === null ? null : Math.max(0, remaining), reasons };
}

export type { Alert };
