import { SPAN_TABLE, type Storage } from "@cognive/collector";
import { encodeCursor, type TraceCursor } from "./cursor.ts";
import type { TimeRange } from "./params.ts";
import { type QueryScope, teamCondition } from "./scope.ts";
import {
  addArrayFilters,
  databaseOf,
  LIST_CUTOFF_TRACES_PER_RESULT,
  num,
  readNewestFirst,
  select,
  summaryRowsOfRange,
} from "./sql.ts";
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
  /** The first model call's prompt as plain text (its last user message), shortened; null when none was captured. */
  inputPreview: string | null;
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
 * trace's partial rows are never summed on their own. The newest come first: the read starts at
 * a cutoff leaving a few times the page's traces and widens while it finds too few.
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

  // The newest traces first: only those starting after a cutoff are grouped (a day of a busy store
  // holds over a million traces, more than a read may group in memory), widening while too few are found.
  const upperNs = f.cursor && f.cursor.startNs < f.toNs ? f.cursor.startNs : f.toNs;
  const rows = await readNewestFirst(
    storage,
    scope,
    { fromNs: f.fromNs, upperNs },
    f.limit,
    LIST_CUTOFF_TRACES_PER_RESULT,
    (cutoffNs) => select<Row>(storage, sql, { ...params, fromNs: String(cutoffNs ?? f.fromNs) }),
  );
  const more = rows.length > f.limit;
  const page = more ? rows.slice(0, f.limit) : rows;
  const traces = page.map(toItem);
  await addCallFacts(storage, scope, traces);
  const last = page[page.length - 1];
  return {
    traces,
    nextCursor: more && last ? encodeCursor({ startNs: BigInt(last.StartNs), traceId: last.TraceId }) : null,
  };
}

const sorted = (a: string[]) => [...a].sort();

function toItem(r: Row): TraceListItem {
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
    unpricedCalls: 0,
    inputPreview: null,
    users: [],
  };
}

interface CallFactsRow {
  TraceId: string;
  Unpriced: string;
  Prompt: string;
  Users: string[];
}

/** Characters of a prompt read per trace: enough for a preview, never a whole long conversation. */
const PROMPT_READ_CHARS = 4000;
const PREVIEW_CHARS = 160;

/**
 * The page's unpriced model calls and first prompts, from the spans of those traces only (the
 * summary table keeps neither); bounded by the page's own time span so few partitions are read.
 */
async function addCallFacts(storage: Storage, scope: QueryScope, traces: TraceListItem[]): Promise<void> {
  if (traces.length === 0) return;
  let from = BigInt(traces[0]?.startTimeUnixNano ?? 0);
  let to = from;
  for (const t of traces) {
    const start = BigInt(t.startTimeUnixNano);
    const end = start + BigInt(t.durationNs);
    if (start < from) from = start;
    if (end > to) to = end;
  }
  const team = teamCondition(scope, { column: "TeamName" });
  const rows = await select<CallFactsRow>(
    storage,
    `SELECT TraceId,
       toString(countIf(toString(GenAiUsageRole) = 'model_call' AND Priced = 0 AND InputTokens + OutputTokens > 0)) AS Unpriced,
       argMinIf(
         substring(if(SpanAttributes['gen_ai.input.messages'] != '', SpanAttributes['gen_ai.input.messages'],
           if(SpanAttributes['input.value'] != '', SpanAttributes['input.value'], SpanAttributes['gen_ai.prompt'])), 1, ${PROMPT_READ_CHARS}),
         Timestamp,
         toString(GenAiUsageRole) = 'model_call'
           AND (SpanAttributes['gen_ai.input.messages'] != '' OR SpanAttributes['input.value'] != '' OR SpanAttributes['gen_ai.prompt'] != '')
       ) AS Prompt,
       groupUniqArrayIf(UserId, UserId != '') AS Users
     FROM ${databaseOf(storage)}.${SPAN_TABLE}
     WHERE TraceId IN {ids:Array(String)}
       AND Timestamp BETWEEN fromUnixTimestamp64Nano({from:Int64}) - INTERVAL 1 MINUTE
                         AND fromUnixTimestamp64Nano({to:Int64}) + INTERVAL 1 MINUTE
       AND (${team.sql})
     GROUP BY TraceId`,
    { ...team.params, ids: traces.map((t) => t.traceId), from: String(from), to: String(to) },
  );
  const byId = new Map(rows.map((r) => [r.TraceId, r]));
  for (const t of traces) {
    const r = byId.get(t.traceId);
    if (!r) continue;
    t.unpricedCalls = num(r.Unpriced);
    t.inputPreview = promptPreview(r.Prompt);
    t.users = sorted(r.Users);
  }
}

/**
 * A prompt as one short line: the last user message's text when the attribute is a message list
 * (GenAI `{role, parts}` or the older `{role, content}`), else the text itself.
 */
export function promptPreview(raw: string): string | null {
  const text = raw.trim();
  if (text === "") return null;
  let out = text;
  try {
    const parsed: unknown = JSON.parse(text);
    if (Array.isArray(parsed)) {
      const users = parsed.filter((m) => m && typeof m === "object" && (m as { role?: unknown }).role === "user");
      const m = (users[users.length - 1] ?? parsed[parsed.length - 1]) as Record<string, unknown> | undefined;
      out = m ? messageText(m) : "";
    } else if (typeof parsed === "string") out = parsed;
  } catch {
    // Cut off mid-JSON (a long prompt): the first quoted content or text field.
    const m = /"(?:content|text)"\s*:\s*"((?:[^"\\]|\\.)*)/.exec(text);
    if (m?.[1] !== undefined) out = m[1].replace(/\\n/g, " ").replace(/\\(.)/g, "$1");
  }
  out = out.replace(/\s+/g, " ").trim();
  if (out === "") return null;
  return out.length > PREVIEW_CHARS ? `${out.slice(0, PREVIEW_CHARS - 1)}…` : out;
}

function messageText(m: Record<string, unknown>): string {
  if (typeof m.content === "string") return m.content;
  const parts = Array.isArray(m.parts) ? m.parts : Array.isArray(m.content) ? m.content : [];
  return parts
    .map((p) =>
      p && typeof p === "object" && typeof (p as { content?: unknown }).content === "string"
        ? (p as { content: string }).content
        : p && typeof p === "object" && typeof (p as { text?: unknown }).text === "string"
          ? (p as { text: string }).text
          : "",
    )
    .filter((t) => t !== "")
    .join(" ");
}
