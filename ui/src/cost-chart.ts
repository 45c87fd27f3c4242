import type { CogniveApi } from "./api.ts";
import { type ChartLoad, StackedChartElement } from "./chart.ts";
import { type CostReport, costSeries } from "./chart-data.ts";
import { formatCost } from "./format.ts";

/** The dimensions `/api/v1/costs` groups by. */
export const COST_GROUPS = ["model", "agent", "team", "provider", "environment"] as const;

/** A `group-by` attribute the API accepts; anything else falls back to model. */
export function costGroup(groupBy: string | undefined): (typeof COST_GROUPS)[number] {
  return (COST_GROUPS as readonly string[]).includes(groupBy ?? "")
    ? (groupBy as (typeof COST_GROUPS)[number])
    : "model";
}

/**
 * `<cognive-cost-chart group-by="model|agent|team|provider|environment" range="1h|24h|7d|30d">`:
 * LLM spend over time from `GET /api/v1/costs`, one stacked area per group, with the range's total.
 */
export class CogniveCostChart extends StackedChartElement {
  protected format(n: number): string {
    return formatCost(n);
  }

  protected chartTitle(): string {
    return `Spend by ${costGroup(this.groupBy)}`;
  }

  protected emptyMessage(range: string): string {
    return `No LLM spend in the ${range}. Spend appears here once agents send model-call spans.`;
  }

  protected async load(
    api: CogniveApi,
    q: { from: number; to: number; step: number },
    signal: AbortSignal,
  ): Promise<ChartLoad> {
    const groupBy = costGroup(this.groupBy);
    const report = await api.get<CostReport>("/api/v1/costs", { ...q, groupBy }, signal);
    return { series: costSeries(report, groupBy), total: report.totalUsd };
  }
}

if (!customElements.get("cognive-cost-chart")) customElements.define("cognive-cost-chart", CogniveCostChart);
