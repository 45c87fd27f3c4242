import { css, html, nothing, type TemplateResult } from "lit";
import { ApiError } from "./api.ts";
import {
  type BudgetLine,
  exceedText,
  type ForecastLine,
  forecastFor,
  gaugeFill,
  gaugeLevel,
  gaugeText,
  gaugeValueText,
  noBudgetMessage,
  parseScope,
  projectionText,
  selectBudgets,
} from "./budget-data.ts";
import { formatPercent } from "./format.ts";
import { PollingElement } from "./polling.ts";
import { theme } from "./theme.ts";

/**
 * `<cognive-budget-gauge scope="agent:NAME|team:NAME" [window="day|month|run"] [trace-id=…]>`:
 * current spend against the policy's limit from `GET /api/v1/budgets`, as a meter coloured at
 * 50 / 80 / 100 %. Without `window`, one meter per budget the scope has. The run window needs
 * `trace-id`. Reloads every `refresh` seconds (default 30; 0 = never).
 */
export class CogniveBudgetGauge extends PollingElement {
  static override styles = [
    theme,
    css`
      .gauges {
        display: grid;
        gap: 10px;
        padding: 10px 12px;
        background: var(--_bg);
        border: 1px solid var(--_border);
        border-radius: var(--_radius);
      }
      .gauge {
        --_level: var(--cognive-gauge-ok, var(--_ok));
      }
      .gauge[data-level="notice"] {
        --_level: var(--cognive-gauge-notice, var(--_warn));
      }
      .gauge[data-level="warn"] {
        --_level: var(--cognive-gauge-warn, #e16f24);
      }
      .gauge[data-level="over"] {
        --_level: var(--cognive-gauge-over, var(--_error));
      }
      .label {
        display: flex;
        justify-content: space-between;
        gap: 8px;
        margin-bottom: 4px;
        font-variant-numeric: tabular-nums;
      }
      .label .name {
        font-weight: 600;
      }
      .label .pct {
        color: var(--_level);
        font-weight: 600;
      }
      .track {
        position: relative;
        height: var(--cognive-gauge-height, 10px);
        background: var(--_surface);
        border: 1px solid var(--_border);
        border-radius: 999px;
        overflow: hidden;
      }
      .fill {
        height: 100%;
        background: var(--_level);
        border-radius: inherit;
        transition: width 0.3s ease;
      }
      .marks {
        position: absolute;
        inset: 0;
        pointer-events: none;
      }
      .marks span {
        position: absolute;
        top: 0;
        bottom: 0;
        width: 1px;
        background: var(--_border);
      }
      .text {
        margin-top: 4px;
        color: var(--_muted);
        font-size: 13px;
      }
      .projected {
        position: absolute;
        top: 0;
        bottom: 0;
        width: 2px;
        background: var(--_fg);
        opacity: 0.6;
      }
      .forecast {
        margin-top: 2px;
        font-size: 13px;
      }
      .forecast[data-exceeds] .exceeds {
        color: var(--cognive-gauge-over, var(--_error));
        font-weight: 600;
      }
    `,
  ];
  static override properties = {
    ...PollingElement.properties,
    scope: { type: String },
    window: { type: String },
    traceId: { type: String, attribute: "trace-id" },
    lines: { state: true },
    forecast: { state: true },
    error: { state: true },
  };

  declare scope: string | undefined;
  declare window: string | undefined;
  declare traceId: string | undefined;
  declare lines: BudgetLine[] | null;
  /** This scope's month-end forecast, when it has a monthly budget and the forecast answered. */
  declare forecast: ForecastLine | null;
  declare error: unknown;

  protected override defaultRefresh = 30;
  protected override reloadOn = ["traceId"];

  constructor() {
    super();
    this.lines = null;
    this.forecast = null;
    this.error = null;
  }

  protected override async fetchData(signal: AbortSignal): Promise<void> {
    const body = await this.api.get<{ budgets: BudgetLine[] }>("/api/v1/budgets", { traceId: this.traceId }, signal);
    if (signal.aborted) return;
    this.forecast = await this.loadForecast(body.budgets, signal);
    if (signal.aborted) return;
    this.lines = body.budgets;
    this.error = null;
  }

  /** The forecast is extra: when it fails the gauge still shows the spend. */
  private async loadForecast(lines: BudgetLine[], signal: AbortSignal): Promise<ForecastLine | null> {
    const scope = parseScope(this.scope);
    const month = scope && selectBudgets(lines, scope, "month")[0];
    if (!scope || !month || (this.window && this.window !== "month")) return null;
    try {
      const body = await this.api.get<{ series: ForecastLine[] }>(
        "/api/v1/forecast",
        { groupBy: scope.type, month: month.windowKey },
        signal,
      );
      return forecastFor(body.series, scope);
    } catch {
      return null;
    }
  }

  protected override fetchFailed(err: unknown): void {
    this.error = err;
  }

  protected override render(): TemplateResult {
    const scope = parseScope(this.scope);
    if (!scope) {
      return this.renderEmpty(`Set scope="agent:NAME" or scope="team:NAME" to show a budget.`);
    }
    if (this.error) {
      if (this.error instanceof ApiError && this.error.status === 404) {
        return this.renderEmpty("Budgets are off: start Cognive with a policy file (COGNIVE_POLICY) to set them.");
      }
      return this.renderError(this.error);
    }
    if (!this.lines) return this.renderLoading("Loading budget…");
    if (this.window === "run" && !this.traceId) {
      return this.renderEmpty("A per-run budget needs the run: set the trace-id attribute.");
    }
    const lines = selectBudgets(this.lines, scope, this.window);
    if (lines.length === 0) return this.renderEmpty(noBudgetMessage(scope, this.window));
    return html`<div class="gauges" part="gauges">${lines.map((l) => this.renderGauge(l))}</div>`;
  }

  private renderGauge(line: BudgetLine): TemplateResult {
    const level = gaugeLevel(line.utilization);
    const id = `g-${line.window}`;
    return html`<div class="gauge" part="gauge gauge-${level}" data-level=${level} data-window=${line.window}>
      <div class="label">
        <span class="name" id=${id}>${line.scope.type} ${line.scope.name} · ${line.window} budget</span>
        <span class="pct" part="percent">${formatPercent(line.utilization)}</span>
      </div>
      <div
        class="track"
        part="track"
        role="meter"
        aria-labelledby=${id}
        aria-valuemin="0"
        aria-valuemax=${String(line.limitUsd)}
        aria-valuenow=${String(Math.min(line.spendUsd, line.limitUsd))}
        aria-valuetext=${gaugeValueText(line)}
      >
        <div class="fill" part="fill" style="width: ${(gaugeFill(line.spendUsd, line.limitUsd) * 100).toFixed(2)}%"></div>
        <div class="marks" aria-hidden="true"><span style="left: 50%"></span><span style="left: 80%"></span></div>
        ${this.renderProjectedMark(line)}
      </div>
      <div class="text" part="text">${gaugeText(line)}</div>
      ${this.renderForecast(line)}
    </div>`;
  }

  private monthForecast(line: BudgetLine): ForecastLine | null {
    return line.window === "month" ? this.forecast : null;
  }

  private renderProjectedMark(line: BudgetLine): TemplateResult | null {
    const f = this.monthForecast(line);
    if (!f || f.method === "none") return null;
    const at = (gaugeFill(f.projectedUsd, line.limitUsd) * 100).toFixed(2);
    return html`<span class="projected" part="projected-mark" aria-hidden="true" style="left: calc(${at}% - 2px)"></span>`;
  }

  private renderForecast(line: BudgetLine): TemplateResult | null {
    const f = this.monthForecast(line);
    if (!f) return null;
    const today = new Date().toISOString().slice(0, 10);
    return html`<div class="forecast" part="forecast" data-exceeds=${f.exceedsOn ?? nothing}>
      <span class="projection">${projectionText(f)}</span>${
        f.method === "none" ? nothing : html` · <span class="exceeds">${exceedText(f, today)}</span>`
      }
    </div>`;
  }
}

if (!customElements.get("cognive-budget-gauge")) customElements.define("cognive-budget-gauge", CogniveBudgetGauge);
