import {
  ALERTS_TABLE,
  dayAndMonth,
  type GovernanceView,
  LLM_ROLLUP_TABLE,
  SPAN_TABLE,
  type Storage,
} from "@cognive/collector";
import { type QueryScope, teamCondition } from "./scope.ts";
import { databaseOf, num, select } from "./sql.ts";

export interface AgentEntry {
  name: string;
  team: string | null;
  declared: boolean;
  policy: {
    allowedModels: string[] | null;
    approvedTools: string[] | null;
    budgets: { perRunUsd: number | null; dailyUsd: number | null; monthlyUsd: number | null };
  } | null;
  firstSeen: string | null;
  lastSeen: string | null;
  models: string[];
  tools: string[];
  calls: number;
  errorRate: number | null;
  spendTodayUsd: number;
  spendUsd: number;
  violations: number;
}

interface RollupRow {
  AgentName: string;
  Team: string;
  First: string;
  Last: string;
  Models: string[];
  Calls: string;
  Errors: string;
  SpendUsd: number;
  TodayUsd: number;
}

const iso = (chTime: string) => `${chTime.replace(" ", "T")}Z`;

/**
 * The agent registry: every agent the policy declares or the data shows, with its declared policy and
 * what it did in the range — models, tools, calls, error rate, spend (today and in the range) and
 * policy violations.
 */
export async function listAgents(
  storage: Storage,
  scope: QueryScope,
  governance: GovernanceView | undefined,
  range: { fromNs: bigint; toNs: bigint },
): Promise<{ agents: AgentEntry[] }> {
  const db = databaseOf(storage);
  const params = { from: range.fromNs.toString(), to: range.toNs.toString() };
  const rollupTeam = teamCondition(scope, { column: "TeamName" });
  const rollup = await select<RollupRow>(
    storage,
    `SELECT AgentName, any(TeamName) AS Team, toString(min(Minute)) AS First, toString(max(Minute)) AS Last,
            groupUniqArray(Model) AS Models, sum(Calls) AS Calls, sum(Errors) AS Errors, sum(CostUsd) AS SpendUsd,
            sumIf(CostUsd, Minute >= toDateTime({today:String}, 'UTC') AND Minute < addDays(toDateTime({today:String}, 'UTC'), 1)) AS TodayUsd
     FROM ${db}.${LLM_ROLLUP_TABLE}
     WHERE Minute >= fromUnixTimestamp64Nano({from:Int64}) AND Minute < fromUnixTimestamp64Nano({to:Int64})
       AND AgentName != '' AND ${rollupTeam.sql}
     GROUP BY AgentName`,
    // Today on the budgets' calendar (UTC days), not the server's time zone.
    { ...params, today: `${dayAndMonth(new Date()).day} 00:00:00`, ...rollupTeam.params },
  );
  const spanTeam = teamCondition(scope, { column: "TeamName" });
  const tools = await select<{ AgentName: string; Tools: string[] }>(
    storage,
    `SELECT AgentName, groupUniqArray(ToolName) AS Tools
     FROM ${db}.${SPAN_TABLE}
     WHERE Timestamp >= fromUnixTimestamp64Nano({from:Int64}) AND Timestamp < fromUnixTimestamp64Nano({to:Int64})
       AND ToolName != '' AND ${spanTeam.sql}
     GROUP BY AgentName`,
    { ...params, ...spanTeam.params },
  );
  const alertTeam = teamCondition(scope, { column: "Team" });
  const violations = await select<{ Agent: string; N: string }>(
    storage,
    `SELECT Agent, count() AS N FROM (
       SELECT Agent FROM ${db}.${ALERTS_TABLE}
       WHERE Time >= fromUnixTimestamp64Nano({from:Int64}) AND Time < fromUnixTimestamp64Nano({to:Int64})
         AND Kind IN ('policy.model_not_allowed', 'policy.tool_not_approved') AND ${alertTeam.sql}
       LIMIT 1 BY Id)
     GROUP BY Agent`,
    { ...params, ...alertTeam.params },
  );

  const byName = new Map<string, AgentEntry>();
  const entry = (name: string): AgentEntry => {
    let e = byName.get(name);
    if (!e) {
      e = {
        name,
        team: null,
        declared: false,
        policy: null,
        firstSeen: null,
        lastSeen: null,
        models: [],
        tools: [],
        calls: 0,
        errorRate: null,
        spendTodayUsd: 0,
        spendUsd: 0,
        violations: 0,
      };
      byName.set(name, e);
    }
    return e;
  };
  for (const [name, p] of governance?.policy.agents ?? []) {
    if (scope.teams !== "all" && (p.team === null || !scope.teams.includes(p.team))) continue;
    const e = entry(name);
    e.declared = true;
    e.team = p.team;
    e.policy = {
      allowedModels: p.allowedModels?.map((g) => g.pattern) ?? null,
      approvedTools: p.approvedTools ? [...p.approvedTools].sort() : null,
      budgets: { ...p.budgets },
    };
  }
  for (const r of rollup) {
    const e = entry(r.AgentName);
    e.team ??= r.Team === "" ? null : r.Team;
    e.firstSeen = iso(r.First);
    e.lastSeen = iso(r.Last);
    e.models = r.Models.filter((m) => m !== "").sort();
    e.calls = num(r.Calls);
    e.errorRate = e.calls === 0 ? null : num(r.Errors) / e.calls;
    e.spendUsd = r.SpendUsd;
    e.spendTodayUsd = r.TodayUsd;
  }
  for (const t of tools) entry(t.AgentName).tools = [...t.Tools].sort();
  for (const v of violations) entry(v.Agent).violations = num(v.N);
  return { agents: [...byName.values()].sort((a, b) => b.spendUsd - a.spendUsd || a.name.localeCompare(b.name)) };
}
