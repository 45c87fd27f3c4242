import { css, html, type PropertyValues, type TemplateResult } from "lit";
import uPlot from "uplot";
import type { CogniveApi } from "./api.ts";
import {
  type AlignedSeries,
  alignSeries,
  bucketGrid,
  closeLastStep,
  describeRange,
  foldSmallSeries,
  isDarkColor,
  pageColors,
  parseRange,
  type SeriesInput,
  seriesColor,
  stackBands,
  stackValues,
  stepFor,
  totalsAt,
  withAlpha,
} from "./chart-data.ts";
import { PollingElement } from "./polling.ts";
import { theme } from "./theme.ts";

/** What a chart subclass loads for one range. */
export interface ChartLoad {
  series: SeriesInput[];
  /** The range's total, shown in the header (may differ from the sum of folded series by rounding only). */
  total: number;
}

/** The part of uPlot's stylesheet the charts use; document styles do not reach a shadow root. */
const uplotStyles = css`
  .uplot,
  .uplot *,
  .uplot *::before,
  .uplot *::after {
    box-sizing: border-box;
  }
  .uplot {
    font-family: var(--_font);
    line-height: 1.5;
    width: min-content;
  }
  .u-wrap {
    position: relative;
    user-select: none;
  }
  .u-over,
  .u-under {
    position: absolute;
  }
  .u-under {
    overflow: hidden;
  }
  .uplot canvas {
    display: block;
    position: relative;
    width: 100%;
    height: 100%;
  }
  .u-axis {
    position: absolute;
  }
  .u-legend {
    font-size: 12px;
    margin: 4px 0 0;
    text-align: left;
    color: var(--_fg);
  }
  .u-inline {
    display: block;
  }
  .u-inline * {
    display: inline-block;
  }
  .u-inline tr {
    margin-right: 12px;
  }
  .u-legend th {
    font-weight: 500;
  }
  .u-legend th > * {
    vertical-align: middle;
    display: inline-block;
  }
  .u-legend .u-marker {
    width: 0.9em;
    height: 0.9em;
    margin-right: 4px;
    border-radius: 2px;
    background-clip: padding-box !important;
  }
  .u-inline.u-live th::after {
    content: ":";
    vertical-align: middle;
  }
  .u-inline:not(.u-live) .u-value {
    display: none;
  }
  .u-legend .u-value {
    font-family: var(--_mono);
    font-variant-numeric: tabular-nums;
  }
  .u-series > * {
    padding: 2px;
  }
  .u-series th {
    cursor: pointer;
  }
  .u-legend .u-off > * {
    opacity: 0.35;
  }
  .u-select {
    background: rgba(127, 127, 127, 0.12);
    position: absolute;
    pointer-events: none;
  }
  .u-cursor-x,
  .u-cursor-y {
    position: absolute;
    left: 0;
    top: 0;
    pointer-events: none;
    will-change: transform;
  }
  .u-hz .u-cursor-x,
  .u-vt .u-cursor-y {
    height: 100%;
    border-right: 1px dashed var(--_muted);
  }
  .u-hz .u-cursor-y,
  .u-vt .u-cursor-x {
    width: 100%;
    border-bottom: 1px dashed var(--_muted);
  }
  .u-cursor-pt {
    position: absolute;
    top: 0;
    left: 0;
    border-radius: 50%;
    border: 0 solid;
    pointer-events: none;
    will-change: transform;
    background-clip: padding-box !important;
  }
  .u-axis.u-off,
  .u-select.u-off,
  .u-cursor-x.u-off,
  .u-cursor-y.u-off,
  .u-cursor-pt.u-off {
    display: none;
  }
`;

const chartStyles = css`
  figure {
    margin: 0;
    padding: 12px;
    background: var(--_bg);
    border: 1px solid var(--_border);
    border-radius: var(--_radius);
  }
  header {
    display: flex;
    align-items: baseline;
    justify-content: space-between;
    gap: 12px;
    margin-bottom: 8px;
  }
  .title {
    font-weight: 600;
  }
  .total {
    font-family: var(--_mono);
    font-variant-numeric: tabular-nums;
    color: var(--_muted);
  }
  .total strong {
    color: var(--_fg);
    font-weight: 600;
  }
  .plot {
    width: 100%;
    min-width: 0;
  }
  .plot[hidden] {
    display: none;
  }
  .state + .plot {
    margin-top: 8px;
  }
`;

/**
 * A stacked-area time-series chart over uPlot, shared by `<cognive-cost-chart>` and
 * `<cognive-token-chart>`. Attributes: `range` (1h, 24h, 7d, 30d, or `<n>m|h|d`), `group-by`,
 * `height` (px, default 220) and `refresh` (seconds between reloads, default 60; 0 = never).
 * Series colours come from `--cognive-series-1` … `--cognive-series-8`, else a palette that
 * follows the light or dark background.
 */
export abstract class StackedChartElement extends PollingElement {
  static override styles = [theme, uplotStyles, chartStyles];
  static override properties = {
    ...PollingElement.properties,
    groupBy: { type: String, attribute: "group-by" },
    range: { type: String },
    height: { type: Number },
    data: { state: true },
    error: { state: true },
    loading: { state: true },
  };

  declare groupBy: string | undefined;
  declare range: string | undefined;
  declare height: number | undefined;
  declare data: (AlignedSeries & { total: number }) | null;
  declare error: unknown;
  declare loading: boolean;

  /** Number formatter for axis ticks, legend values and the total. */
  protected abstract format(n: number): string;
  protected abstract chartTitle(): string;
  protected abstract emptyMessage(range: string): string;
  protected abstract load(
    api: CogniveApi,
    q: { from: number; to: number; step: number },
    signal: AbortSignal,
  ): Promise<ChartLoad>;

  private plot: uPlot | null = null;
  private plotLabels = "";
  private hiddenLabels = new Set<string>();
  private resize: ResizeObserver | null = null;
  private scheme: MediaQueryList | null = null;
  protected override reloadOn = ["groupBy", "range"];

  constructor() {
    super();
    this.data = null;
    this.error = null;
    this.loading = false;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    this.scheme = typeof matchMedia === "function" ? matchMedia("(prefers-color-scheme: dark)") : null;
    this.scheme?.addEventListener("change", this.onScheme);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.resize?.disconnect();
    this.resize = null;
    this.scheme?.removeEventListener("change", this.onScheme);
    this.destroyPlot();
  }

  protected override updated(changed: PropertyValues): void {
    super.updated(changed);
    if (changed.has("data") || changed.has("height")) this.draw();
  }

  /** Fetches the current range; the chart keeps showing old data until new data arrives. */
  protected override async fetchData(signal: AbortSignal): Promise<void> {
    this.loading = true;
    const rangeS = parseRange(this.range);
    const to = Math.floor(Date.now() / 1000);
    const from = to - rangeS;
    const step = stepFor(rangeS);
    const { series, total } = await this.load(this.api, { from, to, step }, signal);
    if (signal.aborted) return;
    const aligned = closeLastStep(alignSeries(foldSmallSeries(series), bucketGrid(from, to, step)), step);
    this.data = { ...aligned, total };
    this.error = null;
  }

  protected override fetchFailed(err: unknown): void {
    this.error = err;
  }

  protected override fetchSettled(): void {
    this.loading = false;
  }

  protected override render(): TemplateResult {
    const rangeText = describeRange(parseRange(this.range));
    const hasData = !!this.data && this.data.labels.length > 0;
    let state: TemplateResult | null = null;
    if (this.error) state = this.renderError(this.error);
    else if (!this.data) state = this.renderLoading();
    else if (!hasData) state = this.renderEmpty(this.emptyMessage(rangeText));
    return html`<figure part="chart" aria-label="${this.chartTitle()}, ${rangeText}" aria-busy=${this.loading ? "true" : "false"}>
      <header part="header">
        <span class="title" part="title">${this.chartTitle()} · ${rangeText}</span>
        ${
          hasData && this.data
            ? html`<span class="total" part="total">Total <strong>${this.format(this.data.total)}</strong></span>`
            : null
        }
      </header>
      ${state}
      <div class="plot" part="plot" ?hidden=${!hasData}></div>
    </figure>`;
  }

  private readonly onScheme = () => {
    // Colours are baked into the plot's options: rebuild it in the new scheme.
    this.destroyPlot();
    this.draw();
  };

  private destroyPlot(): void {
    this.plot?.destroy();
    this.plot = null;
    this.plotLabels = "";
  }

  private get container(): HTMLElement | null {
    return this.renderRoot.querySelector(".plot");
  }

  private hiddenFlags(labels: string[]): boolean[] {
    return labels.map((l) => this.hiddenLabels.has(l));
  }

  private plotData(d: AlignedSeries, hidden: boolean[]): uPlot.AlignedData {
    return [d.xs, ...stackValues(d.values, hidden), totalsAt(d.values, hidden)];
  }

  /** Creates the plot, or feeds new data to the existing one when the series are the same. */
  private draw(): void {
    const d = this.data;
    const el = this.container;
    if (!d || d.labels.length === 0 || !el) {
      this.destroyPlot();
      return;
    }
    const hidden = this.hiddenFlags(d.labels);
    const height = this.height && this.height > 60 ? this.height : 220;
    const labelsKey = JSON.stringify(d.labels);
    if (this.plot && this.plotLabels === labelsKey && this.plot.height === height) {
      this.plot.setData(this.plotData(d, hidden));
      return;
    }
    this.destroyPlot();
    const width = Math.max(200, el.clientWidth || this.clientWidth || 600);
    this.plot = new uPlot(this.options(d, width, height), this.plotData(d, hidden), el);
    this.plotLabels = labelsKey;
    makeLegendKeyboardable(this.plot);
    if (!this.resize && typeof ResizeObserver === "function") {
      this.resize = new ResizeObserver((entries) => {
        const w = Math.floor(entries[0]?.contentRect.width ?? 0);
        if (this.plot && w > 0 && w !== this.plot.width) this.plot.setSize({ width: w, height: this.plot.height });
      });
      this.resize.observe(el);
    }
  }

  private options(d: AlignedSeries, width: number, height: number): uPlot.Options {
    const cs = getComputedStyle(this);
    const prop = (name: string, fallback: string) => cs.getPropertyValue(name).trim() || fallback;
    const fg = prop("--_fg", "#1b1f24");
    const muted = prop("--_muted", "#59636e");
    const border = prop("--_border", "#d1d9e0");
    const dark = isDarkColor(normalizeColor(prop("--_bg", "#ffffff")));
    const font = `11px ${prop("--_font", "system-ui, sans-serif")}`;
    const fmt = (n: number) => this.format(n);
    // Legend and cursor show each series' own value, not its stacked height.
    const raw = (si: number, idx: number | null) => {
      const row = this.data?.values[si - 1];
      return idx === null || idx === undefined || !row ? "—" : fmt(row[idx] ?? 0);
    };
    const stepped = uPlot.paths.stepped?.({ align: 1 });
    const series: uPlot.Series[] = d.labels.map((label) => {
      // By key, not position: the same agent or model has the same colour in every chart on the page.
      const i = pageColors.index(label);
      const color = normalizeColor(seriesColor(i, dark, cs.getPropertyValue(`--cognive-series-${(i % 8) + 1}`)));
      return {
        label,
        stroke: color,
        fill: withAlpha(color, 0.55),
        width: 1,
        show: !this.hiddenLabels.has(label),
        // A value covers its whole bucket [t, t + step): steps show that, lines would invent slopes.
        paths: stepped,
        points: { show: false },
        value: (_u, _v, si, idx) => raw(si, idx),
      };
    });
    series.push({
      label: "Total",
      stroke: fg,
      width: 1.25,
      dash: [4, 3],
      paths: stepped,
      points: { show: false },
      value: (u, v, _si, idx) => (idx === null || idx === undefined || !u ? "—" : fmt(v ?? 0)),
    });
    const axis = (extra: Partial<uPlot.Axis>): uPlot.Axis => ({
      stroke: muted,
      font,
      grid: { stroke: withAlpha(normalizeColor(border), 0.6), width: 1 },
      ticks: { stroke: normalizeColor(border), width: 1, size: 4 },
      ...extra,
    });
    return {
      width,
      height,
      padding: [8, 8, 0, 0],
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
      scales: { y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.08 : 1] } },
      axes: [
        axis({}),
        axis({
          values: (_u, splits) => splits.map(fmt),
          // Room for the widest tick label ("$1,234.56"), measured in characters.
          size: (_u, values) => 16 + Math.max(3, ...(values ?? []).map((v) => String(v).length)) * 6.5,
        }),
      ],
      series: [{ label: "Time", value: "{YYYY}-{MM}-{DD} {HH}:{mm}" }, ...series],
      bands: stackBands(d.labels.length, this.hiddenFlags(d.labels)),
      hooks: {
        setSeries: [
          (u, si) => {
            // Toggling a series in the legend restacks the others so the visible areas close up.
            const cur = this.data;
            if (!cur || si === null || si < 1 || si > cur.labels.length) return;
            const label = cur.labels[si - 1];
            if (u.series[si].show) this.hiddenLabels.delete(label);
            else this.hiddenLabels.add(label);
            const flags = this.hiddenFlags(cur.labels);
            u.delBand(null);
            for (const b of stackBands(cur.labels.length, flags)) u.addBand(b);
            u.setData(this.plotData(cur, flags));
            u.root
              .querySelectorAll(".u-legend .u-series")
              [si]?.setAttribute("aria-pressed", String(!!u.series[si].show));
          },
        ],
      },
    };
  }
}

/**
 * uPlot's legend toggles a series on click only: make each series' entry a toggle button that
 * Enter and Space also work, and that says whether its series is shown.
 */
function makeLegendKeyboardable(u: uPlot): void {
  u.root.querySelectorAll<HTMLElement>(".u-legend .u-series").forEach((row, i) => {
    if (i === 0) return; // the time entry
    row.tabIndex = 0;
    row.setAttribute("role", "button");
    row.setAttribute("aria-pressed", String(u.series[i]?.show !== false));
    row.addEventListener("keydown", (e) => {
      if (e.key !== "Enter" && e.key !== " ") return;
      e.preventDefault();
      u.setSeries(i, { show: !u.series[i].show });
    });
  });
}

let probe: CanvasRenderingContext2D | null | undefined;

/** Any CSS colour → the `#rrggbb` or `rgba()` form a canvas normalises to (so alpha can be added). */
function normalizeColor(color: string): string {
  if (probe === undefined) probe = document.createElement("canvas").getContext("2d");
  if (!probe) return color;
  probe.fillStyle = "#000000";
  probe.fillStyle = color;
  return String(probe.fillStyle);
}
