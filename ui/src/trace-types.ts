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
