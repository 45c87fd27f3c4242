/** Shapes of the native API's trace answers (`GET /api/v1/traces` and `/api/v1/traces/{id}`). */

/** An attribute value as sent: ints beyond 2^53 as decimal strings, arrays and kvlists as JSON. */
export type AttrJson = string | number | boolean | null | AttrJson[] | { [key: string]: AttrJson };

export interface ApiSpanEvent {
  timeUnixNano: string;
  name: string;
  attributes: Record<string, AttrJson>;
}

export interface ApiSpanLog {
  timeUnixNano: string;
  severityText: string;
  eventName: string;
  body: string;
  attributes: Record<string, string>;
}

/** A captured GenAI message: `{role, parts[]}` as in `gen_ai.input.messages`. */
export interface ApiGenAiMessage {
  role: string;
  parts: { type: string; [key: string]: unknown }[];
  name?: string;
  finish_reason?: string;
}

export interface ApiCapturedMessages {
  input: ApiGenAiMessage[];
  output: ApiGenAiMessage[];
  systemInstructions: { type: string; [key: string]: unknown }[];
}

export interface ApiSpanScore {
  name: string;
  value: number | null;
  label: string | null;
  explanation: string | null;
}

export interface ApiSpanGenAi {
  operation: string | null;
  provider: string | null;
  requestModel: string | null;
  responseModel: string | null;
  inputTokens: number | null;
  outputTokens: number | null;
  cacheReadTokens: number | null;
  cacheWriteTokens: number | null;
  reasoningTokens: number | null;
  agentName: string | null;
  toolName: string | null;
  conversationId: string | null;
  costUsd: number | null;
  priced: boolean;
  /** Absent from older servers; null when unpriced. */
  costParts?: { inputUsd: number; outputUsd: number; cacheReadUsd: number; cacheWriteUsd: number } | null;
  usageRole: "none" | "model_call" | "aggregate";
}

export interface ApiSpan {
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: string;
  serviceName: string;
  startTimeUnixNano: string;
  durationNs: string;
  status: { code: "unset" | "ok" | "error"; message: string };
  attributes: Record<string, AttrJson>;
  resource: Record<string, AttrJson>;
  events: ApiSpanEvent[];
  genAi: ApiSpanGenAi;
  /** Absent from servers older than log ingest. */
  logs?: ApiSpanLog[];
  messages?: ApiCapturedMessages | null;
  scores?: ApiSpanScore[];
}

const MESSAGE_ATTRIBUTES = [
  ["input", "gen_ai.input.messages"],
  ["output", "gen_ai.output.messages"],
  ["systemInstructions", "gen_ai.system_instructions"],
] as const;

/**
 * Captured content as [label, text] pairs: the span's content attributes, plus the messages its
 * GenAI log events carried where the span has no such attribute.
 */
export function capturedContent(s: ApiSpan, isContentKey: (key: string) => boolean): [string, string][] {
  const out: [string, string][] = Object.entries(s.attributes)
    .filter(([k]) => isContentKey(k))
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]);
  for (const [field, key] of MESSAGE_ATTRIBUTES) {
    const list = s.messages?.[field] ?? [];
    if (list.length > 0 && s.attributes[key] === undefined) out.push([`${key} (log events)`, JSON.stringify(list)]);
  }
  return out;
}

/** A score as one line: `name: value (label)`. */
export function scoreText(sc: ApiSpanScore): string {
  const value = sc.value === null ? "" : String(sc.value);
  const label = sc.label ? (value ? ` (${sc.label})` : sc.label) : "";
  return `${sc.name || "score"}: ${value}${label}${sc.explanation ? ` — ${sc.explanation}` : ""}`;
}

export interface ApiTraceSummary {
  rootName: string | null;
  rootService: string | null;
  startTimeUnixNano: string;
  durationNs: string;
  spanCount: number;
  errorCount: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  /** Model calls with usage but without a known price (absent from older servers). */
  unpricedCalls?: number;
}

export interface ApiTraceDetail {
  traceId: string;
  spans: ApiSpan[];
  summary: ApiTraceSummary;
}

export interface ApiTraceListItem extends ApiTraceSummary {
  traceId: string;
  services: string[];
  agents: string[];
  teams: string[];
  models: string[];
  inputPreview?: string | null;
  /** End users named by the trace's spans (older servers send none). */
  users?: string[];
}

export interface ApiTraceList {
  traces: ApiTraceListItem[];
  nextCursor: string | null;
}

/** The model a call used: the response's model when the provider said, else the requested one. */
export function modelOf(g: ApiSpanGenAi): string | null {
  return g.responseModel ?? g.requestModel;
}

/** What a subtree of the waterfall adds up to: its model calls' usage and cost. */
export interface SubtreeTotals {
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  calls: number;
  unpricedCalls: number;
}

interface NodeLike {
  span: ApiSpan;
  children: NodeLike[];
}

/**
 * Each span's subtree totals (itself and every descendant), counting model calls only, as the
 * trace summary does, so a parent's figures are exactly the sum of its children's.
 */
export function subtreeTotals(order: readonly NodeLike[]): Map<string, SubtreeTotals> {
  const out = new Map<string, SubtreeTotals>();
  // Display order is depth first: children come after their parent, so walk it backwards.
  for (let i = order.length - 1; i >= 0; i--) {
    const n = order[i] as NodeLike;
    const g = n.span.genAi;
    const t: SubtreeTotals = { inputTokens: 0, outputTokens: 0, costUsd: 0, calls: 0, unpricedCalls: 0 };
    if (g.usageRole === "model_call") {
      t.inputTokens = g.inputTokens ?? 0;
      t.outputTokens = g.outputTokens ?? 0;
      t.costUsd = g.costUsd ?? 0;
      t.calls = 1;
      t.unpricedCalls = g.priced || (g.inputTokens ?? 0) + (g.outputTokens ?? 0) === 0 ? 0 : 1;
    }
    for (const c of n.children) {
      const ct = out.get(c.span.spanId);
      if (!ct) continue;
      t.inputTokens += ct.inputTokens;
      t.outputTokens += ct.outputTokens;
      t.costUsd += ct.costUsd;
      t.calls += ct.calls;
      t.unpricedCalls += ct.unpricedCalls;
    }
    out.set(n.span.spanId, t);
  }
  return out;
}

/** One block of a chat message as the view draws it. */
export type ChatBlock =
  | { kind: "text"; text: string }
  | { kind: "tool_call"; name: string; id: string | null; arguments: string }
  | { kind: "tool_result"; id: string | null; result: string }
  | { kind: "other"; type: string; json: string };

export interface ChatMessage {
  /** Where it came from: the prompt, the completion or the system instructions. */
  source: "system" | "input" | "output";
  role: string;
  blocks: ChatBlock[];
  finishReason: string | null;
}

/**
 * A span's captured content as chat messages: system instructions, then the input messages, then
 * the output. Reads the GenAI `{role, parts[]}` shape and the older `{role, content, tool_calls}`.
 */
export function chatMessages(m: ApiCapturedMessages | null | undefined): ChatMessage[] {
  if (!m) return [];
  const out: ChatMessage[] = [];
  if (m.systemInstructions.length > 0) {
    out.push({ source: "system", role: "system", blocks: m.systemInstructions.map(block), finishReason: null });
  }
  for (const [source, list] of [
    ["input", m.input],
    ["output", m.output],
  ] as const) {
    for (const msg of list) {
      const raw = msg as unknown as Record<string, unknown>;
      const parts: unknown[] = Array.isArray(raw.parts)
        ? raw.parts
        : typeof raw.content === "string"
          ? [{ type: "text", content: raw.content }]
          : Array.isArray(raw.content)
            ? raw.content
            : [];
      out.push({
        source,
        role: typeof raw.role === "string" ? raw.role : source === "output" ? "assistant" : "user",
        blocks: parts.map((p) => block(p as Record<string, unknown>)),
        finishReason: typeof raw.finish_reason === "string" ? raw.finish_reason : null,
      });
    }
  }
  return out;
}

function block(p: Record<string, unknown>): ChatBlock {
  const str = (v: unknown) =>
    v === undefined || v === null ? "" : typeof v === "string" ? v : JSON.stringify(v, null, 2);
  const type = typeof p.type === "string" ? p.type : "text";
  if (type === "text" || type === "reasoning") return { kind: "text", text: str(p.content ?? p.text) };
  if (type === "tool_call") {
    return {
      kind: "tool_call",
      name: str(p.name) || "tool",
      id: p.id ? String(p.id) : null,
      arguments: pretty(p.arguments),
    };
  }
  if (type === "tool_call_response") {
    return { kind: "tool_result", id: p.id ? String(p.id) : null, result: pretty(p.response ?? p.result) };
  }
  return { kind: "other", type, json: JSON.stringify(p, null, 2) };
}

/** JSON (or JSON text) indented for reading; other text as it is. */
export function pretty(v: unknown): string {
  if (v === undefined || v === null) return "";
  if (typeof v !== "string") return JSON.stringify(v, null, 2);
  const t = v.trim();
  if (!(t.startsWith("{") || t.startsWith("["))) return v;
  try {
    return JSON.stringify(JSON.parse(t), null, 2);
  } catch {
    return v;
  }
}

/** An exception event's type, or a guard event's name, that says the budget guard stopped the run. */
export const GUARD_EVENT = "cognive.budget.guard_denied";

/** Whether the SDK's budget guard stopped this run: a denial event, or a BudgetExceededError recorded. */
export function guardStopped(spans: readonly ApiSpan[]): boolean {
  return spans.some((s) =>
    s.events.some(
      (e) =>
        e.name === GUARD_EVENT || (e.name === "exception" && e.attributes["exception.type"] === "BudgetExceededError"),
    ),
  );
}
