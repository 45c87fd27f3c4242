import { ALERTS_TABLE, type Storage } from "@cognive/collector";
import { type QueryScope, teamCondition } from "./scope.ts";
import { databaseOf, select } from "./sql.ts";

export interface AlertFilter {
  fromNs: bigint;
  toNs: bigint;
  kind?: string;
  agent?: string;
  team?: string;
  traceId?: string;
  limit: number;
}

export interface AlertItem {
  id: string;
  kind: string;
  time: string;
  agent: string;
  team: string;
  traceId: string | null;
  model: string | null;
  tool: string | null;
  scope: { type: string; name: string; window: string } | null;
  threshold: number | null;
  spendUsd: number | null;
  limitUsd: number | null;
  /** `budget.forecast`: the window's projected spend and the day the budget is reached. */
  projectedUsd: number | null;
  exceedsOn: string | null;
  /** `spend.anomaly`: the usual spend of the window at this hour of the week, and its length. */
  baselineUsd: number | null;
  windowMinutes: number | null;
}

interface Row {
  Id: string;
  Kind: string;
  TimeText: string;
  Agent: string;
  Team: string;
  TraceId: string;
  Model: string;
  Tool: string;
  ScopeType: string;
  ScopeName: string;
  Window: string;
  Threshold: number;
  SpendUsd: number;
  LimitUsd: number;
  ProjectedUsd: number;
  ExceedsOn: string;
  BaselineUsd: number;
  WindowMinutes: number;
}

const orNull = (s: string) => (s === "" ? null : s);

/** Alerts newest first; one row per alert id however many collectors stored it. */
export async function listAlerts(
  storage: Storage,
  scope: QueryScope,
  f: AlertFilter,
): Promise<{ alerts: AlertItem[] }> {
  const db = databaseOf(storage);
  const team = teamCondition(scope, { column: "Team" });
  const rows = await select<Row>(
    storage,
    `SELECT Id, Kind, toString(Time) AS TimeText, Agent, Team, TraceId, Model, Tool, ScopeType, ScopeName, Window,
            Threshold, SpendUsd, LimitUsd, ProjectedUsd, ExceedsOn, BaselineUsd, WindowMinutes
     FROM ${db}.${ALERTS_TABLE}
     WHERE Time >= fromUnixTimestamp64Nano({from:Int64}) AND Time < fromUnixTimestamp64Nano({to:Int64})
       AND ({kind:String} = '' OR Kind = {kind:String})
       AND ({agent:String} = '' OR Agent = {agent:String})
       AND ({team:String} = '' OR Team = {team:String})
       AND ({traceId:String} = '' OR TraceId = {traceId:String})
       AND ${team.sql}
     ORDER BY Time DESC, Id
     LIMIT 1 BY Id
     LIMIT {limit:UInt32}`,
    {
      from: f.fromNs.toString(),
      to: f.toNs.toString(),
      kind: f.kind ?? "",
      agent: f.agent ?? "",
      team: f.team ?? "",
      traceId: f.traceId ?? "",
      limit: f.limit,
      ...team.params,
    },
  );
  return {
    alerts: rows.map((r) => ({
      id: r.Id,
      kind: r.Kind,
      time: `${r.TimeText.replace(" ", "T")}Z`,
      agent: r.Agent,
      team: r.Team,
      traceId: orNull(r.TraceId),
      model: orNull(r.Model),
      tool: orNull(r.Tool),
      scope: r.ScopeType === "" ? null : { type: r.ScopeType, name: r.ScopeName, window: r.Window },
      threshold: r.Kind === "budget.threshold" ? r.Threshold : null,
      spendUsd: r.ScopeType === "" ? null : r.SpendUsd,
      limitUsd: r.ScopeType === "" || r.Kind === "spend.anomaly" ? null : r.LimitUsd,
      projectedUsd: r.Kind === "budget.forecast" ? r.ProjectedUsd : null,
      exceedsOn: r.Kind === "budget.forecast" ? orNull(r.ExceedsOn) : null,
      baselineUsd: r.Kind === "spend.anomaly" ? r.BaselineUsd : null,
      windowMinutes: r.Kind === "spend.anomaly" ? r.WindowMinutes : null,
    })),
  };
}
