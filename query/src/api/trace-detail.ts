import { SPAN_TABLE, type Storage, TRACE_TS_TABLE } from "@cognive/collector";
import type { AttrTypes, AttrValue, GenAiFacts } from "@cognive/semconv";
import { typedAttrs } from "./attr-values.ts";
import { type QueryScope, teamCondition } from "./scope.ts";
import { databaseOf, num, select } from "./sql.ts";
import { type StatusCode, statusCode } from "./status.ts";

export interface SpanEvent {
  timeUnixNano: string;
  name: string;
  attributes: Record<string, AttrValue>;
}

/** A span's GenAI facts as the API shows them: the normalized facts plus the computed cost. */
export type SpanGenAi = Omit<GenAiFacts, "userId"> & {
  costUsd: number | null;
  priced: boolean;
};

export interface Span {
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: string;
  serviceName: string;
  startTimeUnixNano: string;
  durationNs: string;
  status: { code: StatusCode; message: string };
  /** Typed as sent: ints and doubles as numbers (ints beyond 2^53 as decimal strings), arrays and kvlists as JSON. */
  attributes: Record<string, AttrValue>;
  resource: Record<string, AttrValue>;
  events: SpanEvent[];
  genAi: SpanGenAi;
}

export interface TraceSummary {
  rootName: string | null;
  rootService: string | null;
  startTimeUnixNano: string;
  durationNs: string;
  spanCount: number;
  errorCount: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

export interface TraceDetail {
  traceId: string;
  spans: Span[];
  summary: TraceSummary;
}

interface SpanRow {
  SpanId: string;
  ParentSpanId: string;
  SpanName: string;
  SpanKind: string;
  ServiceName: string;
  StartNs: string;
  Duration: string;
  StatusCode: string;
  StatusMessage: string;
  SpanAttributes: Record<string, string>;
  ResourceAttributes: Record<string, string>;
  EventTimes: string[];
  EventNames: string[];
  EventAttributes: Record<string, string>[];
  SpanAttributeTypes: AttrTypes;
  ResourceAttributeTypes: AttrTypes;
  EventAttributeTypes: AttrTypes[];
  GenAiOperation: string;
  GenAiProvider: string;
  GenAiRequestModel: string;
  GenAiResponseModel: string;
  GenAiUsageRole: GenAiFacts["usageRole"];
  InputTokens: string;
  OutputTokens: string;
  CacheReadTokens: string;
  CacheWriteTokens: string;
  ReasoningTokens: string;
  AgentName: string;
  ToolName: string;
  ConversationId: string;
  CostUsd: number;
  Priced: number;
  ScopeName: string;
  ScopeVersion: string;
  TraceState: string;
}

/**
 * Reads one trace's spans. The trace-id → time-range lookup bounds the read to the trace's own
 * minutes (and so its partitions); ±1 minute covers the lookup's whole-second rounding.
 */
function spansSql(db: string, scopeSql: string): string {
  return `
    WITH (SELECT (min(Start), max(End)) FROM ${db}.${TRACE_TS_TABLE} WHERE TraceId = {traceId:String}) AS range
    SELECT
      SpanId, ParentSpanId, SpanName, SpanKind, ServiceName,
      toString(toUnixTimestamp64Nano(Timestamp)) AS StartNs,
      toString(Duration) AS Duration,
      StatusCode, StatusMessage, SpanAttributes, ResourceAttributes,
      arrayMap(t -> toString(toUnixTimestamp64Nano(t)), Events.Timestamp) AS EventTimes,
      Events.Name AS EventNames,
      Events.Attributes AS EventAttributes,
      SpanAttributeTypes, ResourceAttributeTypes, EventAttributeTypes,
      GenAiOperation, GenAiProvider, GenAiRequestModel, GenAiResponseModel,
      toString(GenAiUsageRole) AS GenAiUsageRole,
      toString(InputTokens) AS InputTokens, toString(OutputTokens) AS OutputTokens,
      toString(CacheReadTokens) AS CacheReadTokens, toString(CacheWriteTokens) AS CacheWriteTokens,
      toString(ReasoningTokens) AS ReasoningTokens,
      AgentName, ToolName, ConversationId, CostUsd, Priced,
      ScopeName, ScopeVersion, TraceState
    FROM ${db}.${SPAN_TABLE}
    WHERE TraceId = {traceId:String}
      AND Timestamp BETWEEN range.1 - INTERVAL 1 MINUTE AND range.2 + INTERVAL 1 MINUTE
      AND (${scopeSql})
    ORDER BY Timestamp, SpanId`;
}

const orNull = (s: string): string | null => (s === "" ? null : s);

function toSpan(r: SpanRow): Span {
  const hasUsage = r.GenAiUsageRole !== "none" || r.GenAiOperation !== "";
  const tokens = (v: string) => (hasUsage ? num(v) : null);
  return {
    spanId: r.SpanId,
    parentSpanId: r.ParentSpanId,
    name: r.SpanName,
    kind: r.SpanKind,
    serviceName: r.ServiceName,
    startTimeUnixNano: r.StartNs,
    durationNs: r.Duration,
    status: { code: statusCode(r.StatusCode), message: r.StatusMessage },
    attributes: typedAttrs(r.SpanAttributes, r.SpanAttributeTypes),
    resource: typedAttrs(r.ResourceAttributes, r.ResourceAttributeTypes),
    events: r.EventTimes.map((t, i) => ({
      timeUnixNano: t,
      name: r.EventNames[i] ?? "",
      attributes: typedAttrs(r.EventAttributes[i] ?? {}, r.EventAttributeTypes[i]),
    })),
    genAi: {
      operation: orNull(r.GenAiOperation),
      provider: orNull(r.GenAiProvider),
      requestModel: orNull(r.GenAiRequestModel),
      responseModel: orNull(r.GenAiResponseModel),
      inputTokens: tokens(r.InputTokens),
      outputTokens: tokens(r.OutputTokens),
      cacheReadTokens: tokens(r.CacheReadTokens),
      cacheWriteTokens: tokens(r.CacheWriteTokens),
      reasoningTokens: tokens(r.ReasoningTokens),
      agentName: orNull(r.AgentName),
      toolName: orNull(r.ToolName),
      conversationId: orNull(r.ConversationId),
      costUsd: r.Priced ? r.CostUsd : null,
      priced: r.Priced !== 0,
      usageRole: r.GenAiUsageRole,
    },
  };
}

/**
 * The summary of a trace from its own spans. Usage and cost count model calls only, so aggregate
 * spans (agent totals) are never added on top of the calls they sum up.
 */
export function summarize(spans: Span[]): TraceSummary {
  let minStart: bigint | undefined;
  let maxEnd: bigint | undefined;
  let errorCount = 0;
  let inputTokens = 0;
  let outputTokens = 0;
  let costUsd = 0;
  let root: Span | undefined;
  for (const s of spans) {
    const start = BigInt(s.startTimeUnixNano);
    const end = start + BigInt(s.durationNs);
    if (minStart === undefined || start < minStart) minStart = start;
    if (maxEnd === undefined || end > maxEnd) maxEnd = end;
    if (s.status.code === "error") errorCount++;
    if (!root && s.parentSpanId === "") root = s;
    if (s.genAi.usageRole === "model_call") {
      inputTokens += s.genAi.inputTokens ?? 0;
      outputTokens += s.genAi.outputTokens ?? 0;
      costUsd += s.genAi.costUsd ?? 0;
    }
  }
  return {
    rootName: root ? root.name : null,
    rootService: root ? root.serviceName : null,
    startTimeUnixNano: String(minStart ?? 0n),
    durationNs: String((maxEnd ?? 0n) - (minStart ?? 0n)),
    spanCount: spans.length,
    errorCount,
    inputTokens,
    outputTokens,
    costUsd,
  };
}

/** One trace with its spans in start order, or undefined when nothing of it is visible. */
export async function getTrace(storage: Storage, scope: QueryScope, traceId: string): Promise<TraceDetail | undefined> {
  return (await readTrace(storage, scope, traceId))?.trace;
}

/**
 * What the native API leaves out of a span but OTLP carries: its instrumentation scope, trace state,
 * and the stored attribute types (which tell a whole double from an int, bytes from a string).
 */
export interface SpanOtlpExtras {
  scopeName: string;
  scopeVersion: string;
  traceState: string;
  attributeTypes?: AttrTypes;
  resourceTypes?: AttrTypes;
  /** Per event, in the span's event order. */
  eventAttributeTypes?: AttrTypes[];
}

/** One trace and each span's OTLP-only fields (by span id), in one read. */
export async function readTrace(
  storage: Storage,
  scope: QueryScope,
  traceId: string,
): Promise<{ trace: TraceDetail; extras: Map<string, SpanOtlpExtras> } | undefined> {
  const team = teamCondition(scope, { column: "TeamName" });
  const rows = await select<SpanRow>(storage, spansSql(databaseOf(storage), team.sql), { ...team.params, traceId });
  if (rows.length === 0) return undefined;
  const spans = rows.map(toSpan);
  const extras = new Map(
    rows.map((r) => [
      r.SpanId,
      {
        scopeName: r.ScopeName,
        scopeVersion: r.ScopeVersion,
        traceState: r.TraceState,
        attributeTypes: r.SpanAttributeTypes,
        resourceTypes: r.ResourceAttributeTypes,
        eventAttributeTypes: r.EventAttributeTypes,
      },
    ]),
  );
  return { trace: { traceId, spans, summary: summarize(spans) }, extras };
}
