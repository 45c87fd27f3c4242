import {
  readTraceDocs,
  readTraceLogDocs,
  SPAN_TABLE,
  type Storage,
  splitTraceDocs,
  splitTraceDocsById,
  TRACE_DOC_COLUMNS_SQL,
  TRACE_DOCS_READ,
  TRACE_DOCS_READ_BY_ID,
  TRACE_DOCS_TABLE,
  TRACE_SUMMARY_TABLE,
} from "@cognive/collector";
import {
  type AttrTypes,
  type AttrValue,
  addUsd,
  type GenAiFacts,
  type GenAiMessage,
  type GenAiPart,
  type GenAiScore,
  genAiEventContent,
  genAiEventScore,
} from "@cognive/semconv";
import { typedAttrs } from "./attr-values.ts";
import { type QueryScope, teamCondition } from "./scope.ts";
import { databaseOf, num, POINT_READ_SETTINGS, select, selectRowBinary } from "./sql.ts";
import { type StatusCode, statusCode } from "./status.ts";

export interface SpanEvent {
  timeUnixNano: string;
  name: string;
  attributes: Record<string, AttrValue>;
}

/** An OTLP log record carrying this span's trace and span id. */
export interface SpanLog {
  timeUnixNano: string;
  severityText: string;
  eventName: string;
  body: string;
  attributes: Record<string, string>;
}

/**
 * The messages captured for a span: from its `gen_ai.input.messages` / `gen_ai.output.messages` /
 * `gen_ai.system_instructions` attributes, and from its GenAI log events (current and legacy shapes).
 */
export interface CapturedMessages {
  input: GenAiMessage[];
  output: GenAiMessage[];
  systemInstructions: GenAiPart[];
}

/** A span's GenAI facts as the API shows them: the normalized facts plus the computed cost. */
export type SpanGenAi = Omit<GenAiFacts, "userId"> & {
  costUsd: number | null;
  priced: boolean;
  /** What the cost is made of; null when the call is unpriced. */
  costParts: CostParts | null;
};

/** A priced call's cost by token kind; the four add up to `costUsd`. */
export interface CostParts {
  inputUsd: number;
  outputUsd: number;
  cacheReadUsd: number;
  cacheWriteUsd: number;
}

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
  /** Log records attached to this span, in time order. */
  logs: SpanLog[];
  /** Captured GenAI messages, or null when the span has none. */
  messages: CapturedMessages | null;
  /** Evaluations of this span (`gen_ai.evaluation.result` events). */
  scores: GenAiScore[];
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
  /** Model calls with usage but without a known price: their cost is not in `costUsd`. */
  unpricedCalls: number;
}

export interface TraceDetail {
  traceId: string;
  spans: Span[];
  summary: TraceSummary;
}

/** A span as a trace document holds it (the fields of `TRACE_DOC_FIELDS`). */
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
  CostInputUsd: number;
  CostOutputUsd: number;
  CostCacheReadUsd: number;
  CostCacheWriteUsd: number;
  Priced: number;
  ScopeName: string;
  ScopeVersion: string;
  TraceState: string;
}

interface LogRow {
  SpanId: string;
  TimeNs: string;
  SeverityText: string;
  EventName: string;
  Body: string;
  LogAttributes: Record<string, string>;
}

/** Log records shown per trace at most; a trace with more shows the earliest. */
export const MAX_LOGS_PER_TRACE = 10_000;

/**
 * Reads one trace's documents (migrations 19 and 20): its spans and the log records that name them,
 * as rows in one column sorted by trace id, so a read is one query that touches one small granule
 * per part instead of ~40 columns of the span table.
 */
function docsSql(db: string, scopeSql: string): string {
  // One thread: a granule or two need no parallel pipeline, and fewer threads waking on two cores
  // gave fewer slow reads (8 against 14 of 600 over 10 ms).
  return `
    SELECT ${TRACE_DOCS_READ} FROM ${db}.${TRACE_DOCS_TABLE}
    WHERE TraceId = {traceId:String} AND (${scopeSql})
    ${POINT_READ_SETTINGS}`;
}

/**
 * The trace's spans from the span table, as its documents hold them, within the trace's time range
 * from its summary: for a trace whose documents are not (yet) there. A view's rows become visible
 * one view after another, so a trace can be listed (from its summary) a moment before its documents
 * can be read; a document lost to a crash waits for a repair.
 */
function spansSql(db: string, scopeSql: string): string {
  return `
    SELECT ${TRACE_DOC_COLUMNS_SQL} FROM ${db}.${SPAN_TABLE}
    WHERE TraceId = {traceId:String} AND (${scopeSql})
      AND Timestamp BETWEEN fromUnixTimestamp64Nano({fromNs:Int64}) AND fromUnixTimestamp64Nano({toNs:Int64})
    ORDER BY Timestamp, SpanId`;
}

/**
 * The trace's time range from its summary, or nothing when no summary row names it: a trace id
 * that is not stored costs this one small look-up, not a search of the span table.
 */
function rangeSql(db: string): string {
  return `
    SELECT toString(toUnixTimestamp64Nano(min(Start))) AS fromNs, toString(toUnixTimestamp64Nano(max(End))) AS toNs
    FROM ${db}.${TRACE_SUMMARY_TABLE}
    WHERE TraceId = {traceId:String}
    HAVING count() > 0`;
}

/** The spans of a trace that has no documents (yet), from the span table; [] when it is not stored. */
async function spansFromTable(storage: Storage, db: string, scopeSql: string, params: Record<string, unknown>) {
  const [range] = await select<{ fromNs: string; toNs: string }>(storage, rangeSql(db), { traceId: params.traceId });
  if (range === undefined) return [];
  return select<SpanRow>(storage, spansSql(db, scopeSql), { ...params, ...range });
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
    logs: [],
    messages: null,
    scores: [],
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
      costParts: r.Priced
        ? {
            inputUsd: r.CostInputUsd,
            outputUsd: r.CostOutputUsd,
            cacheReadUsd: r.CostCacheReadUsd,
            cacheWriteUsd: r.CostCacheWriteUsd,
          }
        : null,
      usageRole: r.GenAiUsageRole,
    },
  };
}

/** A model call that reported usage but has no known price (a call that failed before any usage costs nothing). */
function isUnpriced(g: SpanGenAi): boolean {
  return !g.priced && (g.inputTokens ?? 0) + (g.outputTokens ?? 0) > 0;
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
  let unpricedCalls = 0;
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
      costUsd = addUsd(costUsd, s.genAi.costUsd ?? 0);
      if (isUnpriced(s.genAi)) unpricedCalls++;
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
    unpricedCalls,
  };
}

/** One trace with its spans in start order, or undefined when nothing of it is visible. */
export async function getTrace(storage: Storage, scope: QueryScope, traceId: string): Promise<TraceDetail | undefined> {
  return (await readTrace(storage, scope, traceId))?.trace;
}

/** Traces read together per query (their documents are one result, held whole). */
const TRACES_PER_READ = 25;

/**
 * `getTrace` for several traces, by id (absent: not stored or out of scope): their documents are
 * read a few traces a query instead of one query each; a trace without documents is read alone.
 */
export async function getTraces(
  storage: Storage,
  scope: QueryScope,
  traceIds: readonly string[],
): Promise<Map<string, TraceDetail>> {
  const team = teamCondition(scope, { column: "TeamName" });
  const db = databaseOf(storage);
  const out = new Map<string, TraceDetail>();
  for (let i = 0; i < traceIds.length; i += TRACES_PER_READ) {
    const ids = traceIds.slice(i, i + TRACES_PER_READ);
    const found = splitTraceDocsById(
      await selectRowBinary(
        storage,
        `SELECT ${TRACE_DOCS_READ_BY_ID} FROM ${db}.${TRACE_DOCS_TABLE}
         WHERE TraceId IN {traceIds:Array(String)} AND (${team.sql})`,
        { ...team.params, traceIds: ids },
      ),
    );
    for (const id of ids) {
      const docs = found.get(id);
      const rows = docs ? readTraceDocs<SpanRow>(docs.spans) : [];
      // No span documents (not yet written, or lost to a crash): the one-trace read falls back to the span table.
      const trace = docs && rows.length > 0 ? fromRows(id, rows, docs.logs)?.trace : await getTrace(storage, scope, id);
      if (trace) out.set(id, trace);
    }
  }
  return out;
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
  const db = databaseOf(storage);
  const params = { ...team.params, traceId };
  const docs = splitTraceDocs(await selectRowBinary(storage, docsSql(db, team.sql), params));
  let rows = readTraceDocs<SpanRow>(docs.spans);
  if (rows.length === 0) rows = await spansFromTable(storage, db, team.sql, params);
  return fromRows(traceId, rows, docs.logs);
}

/** A trace from its span rows and its log documents; undefined without spans. */
function fromRows(
  traceId: string,
  rows: SpanRow[],
  logDocs: Buffer[],
): { trace: TraceDetail; extras: Map<string, SpanOtlpExtras> } | undefined {
  if (rows.length === 0) return undefined;
  const logs = readTraceLogDocs<LogRow>(logDocs).slice(0, MAX_LOGS_PER_TRACE);
  const spans = rows.map(toSpan);
  attachLogs(spans, logs);
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

const CONTENT_ATTRIBUTES = {
  input: "gen_ai.input.messages",
  output: "gen_ai.output.messages",
  systemInstructions: "gen_ai.system_instructions",
} as const;

/** A stored JSON array attribute, or [] when it is absent or not a JSON array. */
function jsonArray<T>(v: AttrValue | undefined): T[] {
  // A typed array attribute arrives as an array; one sent as JSON text, as text.
  if (Array.isArray(v)) return v as T[];
  if (typeof v !== "string" || v === "") return [];
  try {
    const parsed = JSON.parse(v);
    return Array.isArray(parsed) ? parsed : [];
  } catch {
    return [];
  }
}

/**
 * Gives each span its log records, its captured messages (attributes first, then events in time
 * order, which add only what the attributes did not carry) and its evaluation scores.
 */
export function attachLogs(spans: Span[], logs: LogRow[]): void {
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  for (const s of spans) {
    const m: CapturedMessages = {
      input: jsonArray(s.attributes[CONTENT_ATTRIBUTES.input]),
      output: jsonArray(s.attributes[CONTENT_ATTRIBUTES.output]),
      systemInstructions: jsonArray(s.attributes[CONTENT_ATTRIBUTES.systemInstructions]),
    };
    if (m.input.length + m.output.length + m.systemInstructions.length > 0) s.messages = m;
  }
  for (const l of logs) {
    const span = byId.get(l.SpanId);
    if (!span) continue;
    span.logs.push({
      timeUnixNano: l.TimeNs,
      severityText: l.SeverityText,
      eventName: l.EventName,
      body: l.Body,
      attributes: l.LogAttributes,
    });
    const score = genAiEventScore(l.EventName, l.LogAttributes);
    if (score) span.scores.push(score);
    const content = genAiEventContent(l.EventName, l.LogAttributes, l.Body);
    if (!content) continue;
    const m = span.messages ?? { input: [], output: [], systemInstructions: [] };
    const fromAttributes = (k: keyof typeof CONTENT_ATTRIBUTES) => span.attributes[CONTENT_ATTRIBUTES[k]] !== undefined;
    if (!fromAttributes("input")) m.input.push(...content.input);
    if (!fromAttributes("output")) m.output.push(...content.output);
    if (!fromAttributes("systemInstructions")) m.systemInstructions.push(...content.systemInstructions);
    if (m.input.length + m.output.length + m.systemInstructions.length > 0) span.messages = m;
  }
}
