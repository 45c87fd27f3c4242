import type { AlertItem } from "../src/alert-data.ts";

/** An agent's daily budget alert at 80 %, as the feed holds it; `over` changes any field. */
export function budgetAlert(id: string, time: string, over: Partial<AlertItem> = {}): AlertItem {
  return {
    id,
    kind: "budget.threshold",
    time,
    agent: "refund-agent",
    team: "cx",
    traceId: null,
    model: null,
    tool: null,
    scope: { type: "agent", name: "refund-agent", window: "day" },
    threshold: 80,
    spendUsd: 24,
    limitUsd: 30,
    projectedUsd: null,
    exceedsOn: null,
    baselineUsd: null,
    windowMinutes: null,
    ...over,
  };
}
