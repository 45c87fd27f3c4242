/** Shapes of the native API's trace answers (`GET /api/v1/traces` and `/api/v1/traces/{id}`). */

/** An attribute value as sent: ints beyond 2^53 as decimal strings, arrays and kvlists as JSON. */
export type AttrJson = string | number | boolean | null | AttrJson[] | { [key: string]: AttrJson };

export interface ApiSpanEvent {
  timeUnixNano: string;
  name: string;
  attributes: Record<string, AttrJson>;
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
}

export interface ApiTraceList {
  traces: ApiTraceListItem[];
  nextCursor: string | null;
}

/** The model a call used: the response's model when the provider said, else the requested one. */
export function modelOf(g: ApiSpanGenAi): string | null {
  return g.responseModel ?? g.requestModel;
}
