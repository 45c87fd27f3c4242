/** Every Cognive element; importing this module defines them all. */

export { CogniveAgentTable } from "./agent-table.ts";
export { CogniveAlertFeed } from "./alert-feed.ts";
export { ApiError, CogniveApi } from "./api.ts";
export { CogniveApp } from "./app.ts";
export { CogniveElement } from "./base.ts";
export { CogniveBudgetGauge } from "./budget-gauge.ts";
export { StackedChartElement } from "./chart.ts";
export { CogniveCostChart } from "./cost-chart.ts";
export type { AgentSelectDetail, CogniveEventMap, SpanSelectDetail, TraceSelectDetail } from "./events.ts";
export * from "./format.ts";
export { CogniveSessionList } from "./session-list.ts";
export { CogniveSessionView } from "./session-view.ts";
export { CogniveTokenChart } from "./token-chart.ts";
export { CogniveTraceList, type TraceRange } from "./trace-list.ts";
export type {
  ApiSpan,
  ApiSpanGenAi,
  ApiTraceDetail,
  ApiTraceList,
  ApiTraceListItem,
  ApiTraceSummary,
} from "./trace-types.ts";
export { CogniveTraceView } from "./trace-view.ts";
