import { SPAN_TABLE, type Storage } from "@cognive/collector";
import { encodeCursor, type TraceCursor } from "./cursor.ts";
import type { TimeRange } from "./params.ts";
import { type QueryScope, teamCondition } from "./scope.ts";
import { addArrayFilters, databaseOf, num, select, summaryRowsOfRange } from "./sql.ts";
import type { TraceSummary } from "./trace-detail.ts";

export interface TraceFilter extends TimeRange {
  service?: string;
  agent?: string;
  team?: string;
  model?: string;
  /** Only traces with a span of this end user (user.id, enduser.id, …). */
  user?: string;
  status?: "ok" | "error";
  minDurationMs?: number;
  maxDurationMs?: number;
  minCostUsd?: number;
  limit: number;
  cursor?: TraceCursor;
}

export interface TraceListItem extends TraceSummary {
  traceId: string;
  services: string[];
  agents: string[];
  teams: string[];
  models: string[];
  /** End users named by the trace's spans. */
  users: string[];
}

export interface TraceList {
  traces: TraceListItem[];
  nextCursor: string | null;
}

interface Row {
  TraceId: string;
  StartNs: string;
  DurationNs: string;
  RootName: string;
  RootService: string;
  SpanCount: string;
  ErrorCount: string;
  InputTokens: string;
  OutputTokens: string;
  CostUsd: number;
  Services: string[];
  Agents: string[];
  Teams: string[];
  Models: string[];
}

const NS_PER_MS = 1_000_000;

/**
 * Lists trace summaries, newest first, with keyset pagination on (start, trace id).
 *
 * `trace_summary` holds one partial row per insert of a trace, so rows are always grouped by trace
 * and re-aggregated. The time filter picks candidate traces by any row in range, then the grouped
 * read covers all rows of those traces and HAVING keeps those whose true start is in range; a
 * trace's partial rows are never summed on their own.
 */
export async function listTraces(storage: Storage, scope: QueryScope, f: TraceFilter): Promise<TraceList> {
  const db = databaseOf(storage);
  const team = teamCondition(scope, { array: "Teams" });
  const params: Record<string, unknown> = { ...team.params, fromNs: String(f.fromNs), toNs: String(f.toNs) };
  const having = ["StartNs64 BETWEEN {fromNs:Int64} AND {toNs:Int64}", `(${team.sql})`];
  addArrayFilters(having, params, {
    service: { column: "Services", value: f.service },
    agent: { column: "Agents", value: f.agent },
    team: { column: "Teams", value: f.team },
    model: { column: "Models", value: f.model },
  });
  if (f.user !== undefined) {
    // Spans start at or after their trace; a day past the range covers a trace's long tail.
    having.push(`TraceId IN (
      SELECT TraceId FROM ${db}.${SPAN_TABLE}
      WHERE UserId = {user:String}
        AND Timestamp BETWEEN fromUnixTimestamp64Nano({fromNs:Int64}) AND fromUnixTimestamp64Nano({toNs:Int64}) + INTERVAL 1 DAY
        AND (${teamCondition(scope, { column: "TeamName" }).sql}))`);
    params.user = f.user;
  }
  if (f.status === "error") having.push("ErrorCount > 0");
  if (f.status === "ok") having.push("ErrorCount = 0");
  if (f.minDurationMs !== undefined) {
    having.push("DurationNs64 >= {minDurationNs:Float64}");
    params.minDurationNs = f.minDurationMs * NS_PER_MS;
  }
  if (f.maxDurationMs !== undefined) {
    having.push("DurationNs64 <= {maxDurationNs:Float64}");
    params.maxDurationNs = f.maxDurationMs * NS_PER_MS;
  }
  if (f.minCostUsd !== undefined) {
    having.push("CostUsd >= {minCostUsd:Float64}");
    params.minCostUsd = f.minCostUsd;
  }
  if (f.cursor) {
    having.push("(StartNs64, TraceId) < ({cursorStartNs:Int64}, {cursorTraceId:String})");
    params.cursorStartNs = String(f.cursor.startNs);
    params.cursorTraceId = f.cursor.traceId;
  }
  params.limit = f.limit + 1;

  const sql = `
    SELECT
      TraceId,
      toUnixTimestamp64Nano(min(Start)) AS StartNs64,
      toUnixTimestamp64Nano(max(End)) - StartNs64 AS DurationNs64,
      toString(StartNs64) AS StartNs,
      toString(DurationNs64) AS DurationNs,
      max(RootName) AS RootName,
      max(RootService) AS RootService,
      sum(SpanCount) AS SpanCount,
      sum(ErrorCount) AS ErrorCount,
      sum(InputTokens) AS InputTokens,
      sum(OutputTokens) AS OutputTokens,
      sum(CostUsd) AS CostUsd,
      groupUniqArrayArray(Services) AS Services,
      groupUniqArrayArray(Agents) AS Agents,
      groupUniqArrayArray(Teams) AS Teams,
      groupUniqArrayArray(Models) AS Models
    FROM ${summaryRowsOfRange(db)}
    GROUP BY TraceId
    HAVING ${having.join("\n      AND ")}
    ORDER BY StartNs64 DESC, TraceId DESC
    LIMIT {limit:UInt32}`;

  const rows = await select<Row>(storage, sql, params);
  const more = rows.length > f.limit;
  const page = more ? rows.slice(0, f.limit) : rows;
  const users = await usersOf(
    storage,
    scope,
    page.map((r) => r.TraceId),
    f,
  );
  const traces = page.map((r) => ({ ...toItem(r), users: sorted(users.get(r.TraceId) ?? []) }));
  const last = page[page.length - 1];
  return {
    traces,
    nextCursor: more && last ? encodeCursor({ startNs: BigInt(last.StartNs), traceId: last.TraceId }) : null,
  };
}

const sorted = (a: string[]) => [...a].sort();

/** The end users of a page's traces (the user-id bloom filter of migration 16 keeps this a short read). */
async function usersOf(
  storage: Storage,
  scope: QueryScope,
  traceIds: string[],
  range: TimeRange,
): Promise<Map<string, string[]>> {
  if (traceIds.length === 0) return new Map();
  const team = teamCondition(scope, { column: "TeamName" });
  const rows = await select<{ TraceId: string; Users: string[] }>(
    storage,
    `SELECT TraceId, groupUniqArray(UserId) AS Users
     FROM ${databaseOf(storage)}.${SPAN_TABLE}
     WHERE TraceId IN {traceIds:Array(String)} AND UserId != ''
       AND Timestamp BETWEEN fromUnixTimestamp64Nano({fromNs:Int64}) AND fromUnixTimestamp64Nano({toNs:Int64}) + INTERVAL 1 DAY
       AND (${team.sql})
     GROUP BY TraceId`,
    { ...team.params, traceIds, fromNs: String(range.fromNs), toNs: String(range.toNs) },
  );
  return new Map(rows.map((r) => [r.TraceId, r.Users]));
}

function toItem(r: Row): Omit<TraceListItem, "users"> {
  return {
    traceId: r.TraceId,
    rootName: r.RootName === "" ? null : r.RootName,
    rootService: r.RootService === "" ? null : r.RootService,
    startTimeUnixNano: r.StartNs,
    durationNs: r.DurationNs,
    spanCount: num(r.SpanCount),
    errorCount: num(r.ErrorCount),
    inputTokens: num(r.InputTokens),
    outputTokens: num(r.OutputTokens),
    costUsd: r.CostUsd,
    services: sorted(r.Services),
    agents: sorted(r.Agents),
    teams: sorted(r.Teams),
    models: sorted(r.Models),
  };
}
