import { SPAN_TABLE, type Storage, TRACE_TS_TABLE } from "@cognive/collector";
import type { QueryScope } from "../api/scope.ts";
import { teamCondition } from "../api/scope.ts";
import { databaseOf, select } from "../api/sql.ts";
import { getTrace } from "../api/trace-detail.ts";
import type { SpanExtras, TempoTrace } from "./otlp.ts";

interface ExtrasRow {
  SpanId: string;
  ScopeName: string;
  ScopeVersion: string;
  TraceState: string;
}

/**
 * One trace as Tempo answers it: the native API's read plus each span's instrumentation scope and
 * trace state (bounded by the same trace-id → time-range lookup).
 */
export async function getTempoTrace(
  storage: Storage,
  scope: QueryScope,
  traceId: string,
): Promise<TempoTrace | undefined> {
  const trace = await getTrace(storage, scope, traceId);
  if (!trace) return undefined;
  const db = databaseOf(storage);
  const team = teamCondition(scope, { column: "TeamName" });
  const rows = await select<ExtrasRow>(
    storage,
    `WITH (SELECT (min(Start), max(End)) FROM ${db}.${TRACE_TS_TABLE} WHERE TraceId = {traceId:String}) AS range
     SELECT SpanId, ScopeName, ScopeVersion, TraceState
     FROM ${db}.${SPAN_TABLE}
     WHERE TraceId = {traceId:String}
       AND Timestamp BETWEEN range.1 - INTERVAL 1 MINUTE AND range.2 + INTERVAL 1 MINUTE
       AND (${team.sql})`,
    { ...team.params, traceId },
  );
  const extras = new Map<string, SpanExtras>(
    rows.map((r) => [r.SpanId, { scopeName: r.ScopeName, scopeVersion: r.ScopeVersion, traceState: r.TraceState }]),
  );
  return { ...trace, extras };
}
