import type { CogniveApi } from "./api.ts";
import { type ChartLoad, StackedChartElement } from "./chart.ts";
import { type CostReport, tokenGroupSeries, tokenTypeSeries } from "./chart-data.ts";
import { costGroup } from "./cost-chart.ts";
import { formatTokens } from "./format.ts";

/**
 * `<cognive-token-chart range="1h|24h|7d|30d" [group-by="type|model|agent|team|provider|environment"]>`:
 * tokens over time from `GET /api/v1/costs`. Without `group-by` (or with `group-by="type"`) the
 * stack is by token type — uncached input, cache read, cache write, output; with a dimension it is
 * total tokens (input + output) per group.
 */
export class CogniveTokenChart extends StackedChartElement {
  private get byType(): boolean {
    return !this.groupBy || this.groupBy === "type";
  }

  protected format(n: number): string {
    return formatTokens(n);
  }

  protected chartTitle(): string {
    return this.byType ? "Tokens by type" : `Tokens by ${costGroup(this.groupBy)}`;
  }

  protected emptyMessage(range: string): string {
    return `No tokens used in the ${range}. Token counts appear here once agents send model-call spans.`;
  }

  protected async load(
    api: CogniveApi,
    q: { from: number; to: number; step: number },
    signal: AbortSignal,
  ): Promise<ChartLoad> {
    const groupBy = costGroup(this.byType ? "model" : this.groupBy);
    const report = await api.get<CostReport>("/api/v1/costs", { ...q, groupBy }, signal);
    const total = report.series.reduce((sum, s) => sum + s.inputTokens + s.outputTokens, 0);
    return { series: this.byType ? tokenTypeSeries(report) : tokenGroupSeries(report, groupBy), total };
  }
}

if (!customElements.get("cognive-token-chart")) customElements.define("cognive-token-chart", CogniveTokenChart);
