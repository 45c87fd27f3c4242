import { css, html, nothing, type PropertyValues, type TemplateResult } from "lit";
import { type AlertItem, describeAlert, kindLabel, normalizeAlert, severityOf } from "./alert-data.ts";
import { CogniveElement } from "./base.ts";
import { fire } from "./events.ts";
import { formatCost, formatDateTime, formatDuration, formatTokens } from "./format.ts";
import { theme } from "./theme.ts";
import {
  type ApiSpan,
  type ApiTraceDetail,
  type AttrJson,
  type ChatBlock,
  type ChatMessage,
  capturedContent,
  chatMessages,
  guardStopped,
  modelOf,
  pretty,
  type SubtreeTotals,
  scoreText,
  subtreeTotals,
} from "./trace-types.ts";
import { barGeometry, buildSpanTree, rowWindow, type SpanTree, type TreeNode, visibleRows } from "./tree.ts";

/** Fixed row height: the virtual list's geometry is rows × this, so a row never grows. */
export const ROW_HEIGHT = 28;
/** The column header's height; it sticks to the top of the scroller above the rows. */
const HEAD_HEIGHT = 28;
/** Rows rendered beyond each edge of the viewport, so fast scrolling rarely shows a blank band. */
const OVERSCAN = 12;
/** Until the scroller is measured, assume a viewport this tall. */
const DEFAULT_VIEWPORT = 640;

/** Attributes that carry captured prompts, completions and tool arguments (several conventions). */
const CONTENT_KEY =
  /^(gen_ai\.(input\.messages|output\.messages|system_instructions|prompt|completion|tool\.call\.(arguments|result))|input\.value|output\.value|llm\.(input|output)_messages)(\.|$)/;

/** The GenAI message attributes (and their log-event form), which the chat view renders. */
const MESSAGE_KEY = /^gen_ai\.(input\.messages|output\.messages|system_instructions)( \(log events\))?$/;

type Row = TreeNode<ApiSpan>;

/**
 * `<cognive-trace-view trace-id="…">`: one trace as a waterfall — nesting with collapse and
 * expand, timing bars, model, tokens, cost and tool per span, errors highlighted — and the
 * selected span's details (attributes, captured messages, events). Only the rows in view are in
 * the DOM, so traces of thousands of spans scroll smoothly. Set the `trace` property to render a
 * trace-detail document without fetching it.
 *
 * Fires `cognive-span-select` (detail `{ traceId, spanId }`) when the selection changes.
 * Parts: summary, waterfall, header, row, bar, details.
 */
export class CogniveTraceView extends CogniveElement {
  static override styles = [
    theme,
    css`
      .summary {
        display: flex;
        flex-wrap: wrap;
        gap: 6px 20px;
        align-items: baseline;
        margin-bottom: 8px;
      }
      .summary h2 {
        font-size: 16px;
        margin: 0;
        overflow-wrap: anywhere;
      }
      .summary .id {
        font-family: var(--_mono);
        color: var(--_muted);
        font-size: 12px;
      }
      .stat b {
        font-variant-numeric: tabular-nums;
      }
      .stat {
        color: var(--_muted);
      }
      .stat b {
        color: var(--_fg);
        font-weight: 600;
      }
      .stat.err b {
        color: var(--_error);
      }
      .tools {
        margin-left: auto;
        display: flex;
        gap: 6px;
      }
      .tools button,
      .toggle {
        background: var(--_surface);
        border: 1px solid var(--_border);
        border-radius: var(--_radius);
        padding: 2px 8px;
        cursor: pointer;
      }
      .body {
        display: grid;
        grid-template-columns: minmax(0, 1fr);
        gap: 12px;
      }
      @media (min-width: 1200px) {
        .body {
          grid-template-columns: minmax(0, 1fr) minmax(380px, 34%);
        }
      }
      .grid {
        align-self: start;
        border: 1px solid var(--_border);
        border-radius: var(--_radius);
        background: var(--_bg);
        min-width: 0;
      }
      .cols {
        display: grid;
        grid-template-columns: minmax(160px, 2.4fr) minmax(70px, 1.1fr) 96px 92px 64px minmax(100px, 2.4fr);
        align-items: center;
        gap: 0 8px;
        padding: 0 8px;
      }
      .head {
        position: sticky;
        top: 0;
        z-index: 1;
        height: ${HEAD_HEIGHT}px;
        font-size: 12px;
        color: var(--_muted);
        border-bottom: 1px solid var(--_border);
        background: var(--_surface);
        border-radius: var(--_radius) var(--_radius) 0 0;
      }
      .num {
        text-align: right;
        font-variant-numeric: tabular-nums;
      }
      .scroller {
        position: relative;
        overflow: auto;
        max-height: var(--cognive-trace-height, 70vh);
        contain: strict;
        height: var(--_h);
        border-radius: var(--_radius);
      }
      .scroller:focus-visible {
        outline: 2px solid var(--_accent);
        outline-offset: -2px;
      }
      .scroller:focus-visible .row[aria-selected="true"] {
        box-shadow: inset 3px 0 0 var(--_accent);
      }
      .spacer {
        position: relative;
      }
      .slice {
        position: absolute;
        left: 0;
        right: 0;
        top: 0;
        will-change: transform;
      }
      .row {
        height: ${ROW_HEIGHT}px;
        font-size: 13px;
        cursor: pointer;
        white-space: nowrap;
        border-bottom: 1px solid color-mix(in srgb, var(--_border) 45%, transparent);
      }
      .row:hover {
        background: var(--_surface);
      }
      .row[aria-selected="true"] {
        background: color-mix(in srgb, var(--_accent) 14%, transparent);
      }
      .row.error {
        background: color-mix(in srgb, var(--_error) 10%, transparent);
      }
      .row.error[aria-selected="true"] {
        background: color-mix(in srgb, var(--_error) 20%, transparent);
      }
      .row.error .label {
        color: var(--_error);
      }
      .cell {
        overflow: hidden;
        text-overflow: ellipsis;
      }
      .name {
        display: flex;
        align-items: center;
        gap: 4px;
        min-width: 0;
      }
      .name .label {
        overflow: hidden;
        text-overflow: ellipsis;
      }
      .toggle {
        width: 18px;
        height: 18px;
        line-height: 14px;
        padding: 0;
        font-size: 10px;
        flex: none;
      }
      .leaf {
        width: 18px;
        flex: none;
      }
      .badge {
        font-size: 11px;
        padding: 0 5px;
        border-radius: 8px;
        background: var(--_surface);
        border: 1px solid var(--_border);
        color: var(--_muted);
        flex: none;
      }
      .badge.err {
        color: var(--_error);
        border-color: var(--_error);
      }
      .muted {
        color: var(--_muted);
      }
      .track {
        position: relative;
        height: 12px;
      }
      .bar {
        position: absolute;
        top: 0;
        bottom: 0;
        min-width: 2px;
        border-radius: 2px;
        background: var(--cognive-bar, color-mix(in srgb, var(--_muted) 60%, transparent));
      }
      .bar.model {
        background: var(--cognive-bar-model, var(--_accent));
      }
      .bar.tool {
        background: var(--cognive-bar-tool, var(--_ok));
      }
      .bar.error {
        background: var(--cognive-bar-error, var(--_error));
      }
      .details {
        border: 1px solid var(--_border);
        border-radius: var(--_radius);
        padding: 12px;
        min-width: 0;
        overflow-wrap: anywhere;
        max-height: calc(var(--cognive-trace-height, 70vh) + 28px);
        overflow: auto;
      }
      .details h3 {
        margin: 0 0 6px;
        font-size: 15px;
      }
      .details h4 {
        margin: 14px 0 6px;
        font-size: 13px;
        color: var(--_muted);
      }
      .status-msg {
        color: var(--_error);
        border-left: 3px solid var(--_error);
        padding: 4px 8px;
        margin: 6px 0;
        white-space: pre-wrap;
      }
      dl {
        display: grid;
        grid-template-columns: max-content minmax(0, 1fr);
        gap: 2px 12px;
        margin: 0;
        font-size: 13px;
      }
      dt {
        color: var(--_muted);
      }
      dd {
        margin: 0;
        font-family: var(--_mono);
        font-size: 12px;
      }
      pre {
        font-family: var(--_mono);
        font-size: 12px;
        background: var(--_surface);
        border-radius: var(--_radius);
        padding: 8px;
        margin: 0 0 6px;
        white-space: pre-wrap;
        max-height: 320px;
        overflow: auto;
      }
      .rollup {
        color: var(--_muted);
        font-style: italic;
      }
      .unpriced {
        color: var(--_warn);
        font-size: 11px;
      }
      .stat.warn b {
        color: var(--_warn);
      }
      .run-alerts {
        border: 1px solid var(--_border);
        border-radius: var(--_radius);
        padding: 6px 10px;
        margin: 0 0 10px;
        font-size: 13px;
      }
      .run-alerts ul {
        margin: 4px 0 0;
        padding-left: 18px;
      }
      .run-alerts .guard {
        color: var(--_error);
        font-weight: 600;
      }
      .sev-critical {
        color: var(--_error);
      }
      .sev-warning {
        color: var(--_warn);
      }
      table.parts {
        border-collapse: collapse;
        font-size: 12px;
        margin: 4px 0;
      }
      table.parts td,
      table.parts th {
        padding: 1px 10px 1px 0;
        text-align: right;
        font-variant-numeric: tabular-nums;
      }
      table.parts th {
        text-align: left;
        color: var(--_muted);
        font-weight: normal;
      }
      .chat {
        display: flex;
        flex-direction: column;
        gap: 8px;
      }
      .msg {
        border: 1px solid var(--_border);
        border-radius: 10px;
        padding: 6px 10px;
        background: var(--_surface);
        max-width: 92%;
      }
      .msg.user {
        align-self: flex-end;
        background: color-mix(in srgb, var(--_accent) 10%, var(--_bg));
      }
      .msg.system {
        max-width: 100%;
        border-style: dashed;
      }
      .msg.tool {
        background: color-mix(in srgb, var(--_ok) 8%, var(--_bg));
      }
      .msg .role {
        font-size: 11px;
        text-transform: uppercase;
        letter-spacing: 0.04em;
        color: var(--_muted);
        margin-bottom: 2px;
      }
      .msg .text {
        white-space: pre-wrap;
        font-size: 13px;
        line-height: 1.45;
      }
      .msg pre {
        max-height: 240px;
        margin: 4px 0 0;
      }
      @media (max-width: 700px) {
        .cols {
          grid-template-columns: minmax(120px, 2fr) 64px minmax(80px, 1.5fr);
        }
        .c-model,
        .c-tokens,
        .c-cost {
          display: none;
        }
      }
    `,
  ];

  static override properties = {
    ...CogniveElement.properties,
    traceId: { type: String, attribute: "trace-id", reflect: true },
    trace: { attribute: false },
    selectedSpanId: { type: String, attribute: "selected-span-id" },
    _error: { state: true },
    _loading: { state: true },
    _collapsed: { state: true },
    _first: { state: true },
    _last: { state: true },
    _alerts: { state: true },
  };

  declare traceId: string | undefined;
  /** The trace-detail document (as `GET /api/v1/traces/{id}` answers); set it to skip the fetch. */
  declare trace: ApiTraceDetail | undefined;
  declare selectedSpanId: string | undefined;
  declare _error: unknown;
  declare _loading: boolean;
  declare _collapsed: ReadonlySet<string>;
  declare _first: number;
  declare _last: number;
  /** The alerts this run raised; null until read (or when the server cannot say). */
  declare _alerts: AlertItem[] | null;

  private totals = new Map<string, SubtreeTotals>();
  private tree: SpanTree<ApiSpan> | undefined;
  private rows: Row[] = [];
  private viewport = DEFAULT_VIEWPORT;
  private scrollPos = 0;
  private abort: AbortController | undefined;
  private resize: ResizeObserver | undefined;
  private fetchedId: string | undefined;
  /** Scroll the selected row into view after the next render (a new trace or a selection from outside). */
  private revealSelected = false;

  constructor() {
    super();
    this._loading = false;
    this._collapsed = new Set();
    this._first = 0;
    this._last = 0;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    // Moved in the DOM: render again so the size observer is attached anew.
    if (this.hasUpdated) this.requestUpdate();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.abort?.abort();
    this.resize?.disconnect();
    this.resize = undefined;
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has("trace")) {
      this.tree = this.trace ? buildSpanTree(this.trace.spans) : undefined;
      this.totals = this.tree ? subtreeTotals(this.tree.order) : new Map();
      if (this.trace) this._error = undefined;
      this._collapsed = new Set();
      this.scrollPos = 0;
      const scroller = this.renderRoot?.querySelector?.(".scroller");
      if (scroller) scroller.scrollTop = 0;
      const first = this.tree?.order[0];
      if (!this.selectedSpanId || !this.trace?.spans.some((s) => s.spanId === this.selectedSpanId)) {
        this.selectedSpanId = first?.span.spanId;
      }
    }
    if (changed.has("trace") || changed.has("selectedSpanId")) this.revealSelected = true;
    if (changed.has("trace") || changed.has("_collapsed")) {
      this.rows = this.tree ? visibleRows(this.tree, this._collapsed) : [];
      this.computeWindow();
    }
  }

  protected override updated(changed: PropertyValues<this>): void {
    if (changed.has("traceId") && this.traceId && this.traceId !== this.trace?.traceId) void this.load(this.traceId);
    const scroller = this.renderRoot.querySelector<HTMLElement>(".scroller");
    if (scroller && !this.resize) {
      this.resize = new ResizeObserver(() => {
        const rowsHeight = scroller.clientHeight - HEAD_HEIGHT;
        if (rowsHeight > 0 && rowsHeight !== this.viewport) {
          this.viewport = rowsHeight;
          this.computeWindow();
        }
      });
      this.resize.observe(scroller);
    }
    if (!scroller) {
      this.resize?.disconnect();
      this.resize = undefined;
    }
    if (scroller && this.revealSelected) {
      this.revealSelected = false;
      const i = this.rows.findIndex((r) => r.span.spanId === this.selectedSpanId);
      if (i >= 0) this.reveal(i);
    }
  }

  /** Fetches the trace; a newer request aborts an older one so a late answer never wins. */
  private async load(id: string): Promise<void> {
    if (this.fetchedId === id && this._loading) return;
    this.abort?.abort();
    const abort = new AbortController();
    this.abort = abort;
    this.fetchedId = id;
    this._loading = true;
    this._error = undefined;
    try {
      const trace = await this.api.get<ApiTraceDetail>(`/api/v1/traces/${encodeURIComponent(id)}`, {}, abort.signal);
      if (abort.signal.aborted) return;
      this.trace = trace;
      void this.loadAlerts(trace, abort.signal);
    } catch (err) {
      if (abort.signal.aborted) return;
      this._error = err;
      this.trace = undefined;
    } finally {
      if (this.abort === abort) this._loading = false;
    }
  }

  /** The run's alerts: raised while it ran, so the trace's own time window (plus a margin) bounds the read. */
  private async loadAlerts(trace: ApiTraceDetail, signal: AbortSignal): Promise<void> {
    this._alerts = null;
    const startS = Math.floor(Number(BigInt(trace.summary.startTimeUnixNano) / 1_000_000_000n));
    const endS = startS + Math.ceil(Number(trace.summary.durationNs) / 1e9);
    try {
      const body = await this.api.get<{ alerts: unknown[] }>(
        "/api/v1/alerts",
        { traceId: trace.traceId, from: startS - 60, to: endS + 3600, limit: 100 },
        signal,
      );
      if (signal.aborted) return;
      this._alerts = body.alerts.map(normalizeAlert).filter((a): a is AlertItem => a !== null);
    } catch {
      // Alerts are extra: the waterfall stands without them.
      if (!signal.aborted) this._alerts = [];
    }
  }

  private computeWindow(): void {
    const w = rowWindow(this.scrollPos, this.viewport, ROW_HEIGHT, this.rows.length, OVERSCAN);
    if (w.first !== this._first) this._first = w.first;
    if (w.last !== this._last) this._last = w.last;
  }

  private onScroll(e: Event): void {
    this.scrollPos = (e.currentTarget as HTMLElement).scrollTop;
    this.computeWindow();
  }

  private toggle(spanId: string, open?: boolean): void {
    const next = new Set(this._collapsed);
    const collapse = open === undefined ? !next.has(spanId) : !open;
    if (collapse) next.add(spanId);
    else next.delete(spanId);
    this._collapsed = next;
  }

  private setAll(collapsed: boolean): void {
    this._collapsed = collapsed
      ? new Set((this.tree?.order ?? []).filter((n) => n.children.length > 0).map((n) => n.span.spanId))
      : new Set();
  }

  private select(spanId: string | undefined): void {
    if (!spanId || spanId === this.selectedSpanId) return;
    this.selectedSpanId = spanId;
    // Rows exist only for a loaded trace.
    if (this.trace) fire(this, "cognive-span-select", { traceId: this.trace.traceId, spanId });
  }

  /** Keeps row `index` inside the scroller's viewport. */
  private reveal(index: number): void {
    const scroller = this.renderRoot.querySelector<HTMLElement>(".scroller");
    if (!scroller) return;
    // Rows start below the sticky header, which also covers the top of the scroller's viewport.
    const top = index * ROW_HEIGHT;
    if (top < scroller.scrollTop) scroller.scrollTop = top;
    else if (HEAD_HEIGHT + top + ROW_HEIGHT > scroller.scrollTop + scroller.clientHeight) {
      scroller.scrollTop = HEAD_HEIGHT + top + ROW_HEIGHT - scroller.clientHeight;
    }
  }

  /** Tree-grid keys: arrows move and fold, Home/End and Page keys jump, Enter or Space folds. */
  private onKey(e: KeyboardEvent): void {
    const rows = this.rows;
    if (rows.length === 0) return;
    let i = Math.max(
      0,
      rows.findIndex((r) => r.span.spanId === this.selectedSpanId),
    );
    const cur = rows[i] as Row;
    const page = Math.max(1, Math.floor(this.viewport / ROW_HEIGHT) - 1);
    switch (e.key) {
      case "ArrowDown":
        i = Math.min(rows.length - 1, i + 1);
        break;
      case "ArrowUp":
        i = Math.max(0, i - 1);
        break;
      case "PageDown":
        i = Math.min(rows.length - 1, i + page);
        break;
      case "PageUp":
        i = Math.max(0, i - page);
        break;
      case "Home":
        i = 0;
        break;
      case "End":
        i = rows.length - 1;
        break;
      case "ArrowRight":
        if (cur.children.length > 0 && this._collapsed.has(cur.span.spanId)) this.toggle(cur.span.spanId, true);
        else if (cur.children.length > 0) i = Math.min(rows.length - 1, i + 1);
        break;
      case "ArrowLeft":
        if (cur.children.length > 0 && !this._collapsed.has(cur.span.spanId)) this.toggle(cur.span.spanId, false);
        else {
          // To the parent: the nearest shallower row above.
          for (let j = i - 1; j >= 0; j--) {
            if ((rows[j] as Row).depth < cur.depth) {
              i = j;
              break;
            }
          }
        }
        break;
      case "Enter":
      case " ":
        if (cur.children.length > 0) this.toggle(cur.span.spanId);
        break;
      default:
        return;
    }
    e.preventDefault();
    this.select(rows[i]?.span.spanId);
    this.reveal(i);
  }

  override render(): TemplateResult {
    if (this._error) return this.renderError(this._error);
    if (!this.trace) {
      if (this._loading) return this.renderLoading("Loading trace…");
      return this.renderEmpty(
        this.traceId ? "Loading trace…" : "No trace selected: set the trace-id attribute (32 hex digits).",
      );
    }
    if (this.trace.spans.length === 0) return this.renderEmpty("This trace has no spans.");
    const selected = this.trace.spans.find((s) => s.spanId === this.selectedSpanId);
    return html`
      ${this.renderSummary()} ${this.renderRunAlerts()}
      <div class="body">
        ${this.renderWaterfall()} ${selected ? this.renderDetails(selected) : nothing}
      </div>
    `;
  }

  private renderSummary(): TemplateResult {
    const t = this.trace as ApiTraceDetail;
    const s = t.summary;
    const root = this.tree?.roots[0]?.span;
    const foldable = (this.tree?.order ?? []).some((n) => n.children.length > 0);
    return html`<div class="summary" part="summary">
      <h2>${s.rootName ?? root?.name ?? "Trace"}</h2>
      <span class="id" title="trace id">${t.traceId}</span>
      <span class="stat"><b data-stat="spans">${s.spanCount.toLocaleString("en-US")}</b> spans</span>
      <span class="stat"><b data-stat="duration">${formatDuration(s.durationNs)}</b></span>
      <span class="stat"><b data-stat="cost">${formatCost(s.costUsd)}</b></span>
      ${
        (s.unpricedCalls ?? 0) > 0
          ? html`<span class="stat warn" title="model calls without a known price: their cost is not in the total"
              ><b data-stat="unpriced">+ ${s.unpricedCalls} unpriced</b></span
            >`
          : nothing
      }
      <span class="stat"
        ><b data-stat="tokens">${formatTokens(s.inputTokens)} in · ${formatTokens(s.outputTokens)} out</b> tokens</span
      >
      ${
        s.errorCount > 0
          ? html`<span class="stat err"><b data-stat="errors">${s.errorCount}</b> error${s.errorCount === 1 ? "" : "s"}</span>`
          : nothing
      }
      <span class="stat" data-stat="started">${formatDateTime(s.startTimeUnixNano)}</span>
      ${
        foldable
          ? html`<span class="tools">
            <button type="button" @click=${() => this.setAll(false)}>Expand all</button>
            <button type="button" @click=${() => this.setAll(true)}>Collapse all</button>
          </span>`
          : nothing
      }
    </div>`;
  }

  /** Whether the budget guard stopped the run, and the alerts it raised, each linking to the alerts page. */
  private renderRunAlerts(): TemplateResult | typeof nothing {
    const stopped = guardStopped(this.trace?.spans ?? []);
    const alerts = this._alerts ?? [];
    if (!stopped && alerts.length === 0) return nothing;
    return html`<section class="run-alerts" part="run-alerts" aria-label="Alerts of this run">
      ${stopped ? html`<div class="guard" data-guard="stopped">⛔ The budget guard stopped this run.</div>` : nothing}
      ${
        alerts.length > 0
          ? html`<div>This run raised ${alerts.length} alert${alerts.length === 1 ? "" : "s"}:</div>
            <ul>
              ${alerts.map(
                (a) => html`<li data-alert-id=${a.id}>
                  <span class="sev-${severityOf(a)}">${kindLabel(a.kind)}</span> — ${describeAlert(a)}
                  <time datetime=${a.time} class="muted">${formatDateTime(Date.parse(a.time))}</time>
                </li>`,
              )}
            </ul>`
          : nothing
      }
    </section>`;
  }

  private renderWaterfall(): TemplateResult {
    const rows = this.rows;
    const first = this._first;
    const slice = rows.slice(first, this._last);
    const selectedIndex = rows.findIndex((r) => r.span.spanId === this.selectedSpanId);
    const activeId = selectedIndex >= first && selectedIndex < this._last ? `row-${selectedIndex}` : undefined;
    // The scroller is as tall as its rows up to the max height, so short traces leave no gap.
    const height = `${HEAD_HEIGHT + Math.max(1, rows.length) * ROW_HEIGHT}px`;
    return html`<div class="grid" part="waterfall">
      <div
        class="scroller"
        style="--_h:${height}"
        role="treegrid"
        aria-label="Spans of trace ${this.trace?.traceId}"
        aria-rowcount=${rows.length + 1}
        aria-colcount="6"
        tabindex="0"
        aria-activedescendant=${activeId ?? nothing}
        @scroll=${this.onScroll}
        @keydown=${this.onKey}
      >
        <div class="cols head" role="row" aria-rowindex="1" part="header">
          <span role="columnheader">Span</span>
          <span role="columnheader" class="c-model">Model / tool</span>
          <span role="columnheader" class="num c-tokens">Tokens in/out</span>
          <span role="columnheader" class="num c-cost">Cost</span>
          <span role="columnheader" class="num">Duration</span>
          <span role="columnheader">Timeline</span>
        </div>
        <div class="spacer" role="presentation" style="height:${rows.length * ROW_HEIGHT}px">
          <div class="slice" role="presentation" style="transform:translateY(${first * ROW_HEIGHT}px)">
            ${slice.map((n, k) => this.renderRow(n, first + k))}
          </div>
        </div>
      </div>
    </div>`;
  }

  private renderRow(n: Row, index: number): TemplateResult {
    const s = n.span;
    const g = s.genAi;
    const isError = s.status.code === "error";
    const isModel = g.usageRole === "model_call";
    const isTool = g.toolName !== null;
    const hasKids = n.children.length > 0;
    const collapsed = hasKids && this._collapsed.has(s.spanId);
    const selected = s.spanId === this.selectedSpanId;
    const bar = barGeometry(n.startOffsetNs, n.durationNs, this.tree?.durationNs ?? 0);
    const model = modelOf(g);
    const inOut = (g.inputTokens ?? 0) + (g.outputTokens ?? 0);
    // Spans that report no usage (tools, plain spans) leave the cells empty rather than "0 / 0".
    const tokens = (g.usageRole !== "none" && (g.inputTokens !== null || g.outputTokens !== null)) || inOut > 0;
    const agg = g.usageRole === "aggregate";
    return html`<div
      id="row-${index}"
      class="cols row ${isError ? "error" : ""}"
      part="row${isError ? " row-error" : ""}${selected ? " row-selected" : ""}"
      role="row"
      aria-rowindex=${index + 2}
      aria-level=${n.depth + 1}
      aria-expanded=${hasKids ? String(!collapsed) : nothing}
      aria-selected=${String(selected)}
      data-span-id=${s.spanId}
      title=${isError && s.status.message ? `${s.name}: ${s.status.message}` : s.name}
      @click=${() => this.select(s.spanId)}
    >
      <span class="cell name" role="gridcell" style="padding-left:${Math.min(n.depth, 40) * 14}px">
        ${
          hasKids
            ? html`<button
              class="toggle"
              type="button"
              tabindex="-1"
              aria-label="${collapsed ? "Expand" : "Collapse"} ${s.name}"
              @click=${(e: Event) => {
                e.stopPropagation();
                this.toggle(s.spanId);
              }}
            >${collapsed ? "▸" : "▾"}</button>`
            : html`<span class="leaf"></span>`
        }
        <span class="label">${s.name}</span>
        ${collapsed ? html`<span class="badge">+${n.descendants}</span>` : nothing}
        ${isError ? html`<span class="badge err">error</span>` : nothing}
        ${n.orphan ? html`<span class="badge" title="its parent span is not in this trace">orphan</span>` : nothing}
      </span>
      <span class="cell c-model ${isTool ? "" : "muted"}" role="gridcell"
        >${isTool ? `⚙ ${g.toolName}` : (model ?? (g.agentName && agg ? g.agentName : ""))}</span
      >
      ${hasKids ? this.renderRollup(s.spanId) : this.renderOwnUsage(s, tokens, agg, isModel)}
      <span class="cell num" role="gridcell">${formatDuration(n.durationNs)}</span>
      <span class="cell track" role="gridcell">
        <span
          class="bar ${isError ? "error" : isModel ? "model" : isTool ? "tool" : ""}"
          part="bar"
          style="left:${(bar.offset * 100).toFixed(3)}%;width:${(bar.width * 100).toFixed(3)}%"
        ></span>
      </span>
    </div>`;
  }

  /** A call's own tokens and cost; an unpriced call says so instead of showing nothing. */
  private renderOwnUsage(s: ApiSpan, tokens: boolean, agg: boolean, isModel: boolean): TemplateResult {
    const g = s.genAi;
    // A call that failed before reporting usage costs nothing: it is not "unpriced".
    const used = (g.inputTokens ?? 0) + (g.outputTokens ?? 0) > 0;
    return html`<span class="cell num c-tokens ${agg ? "muted" : ""}" role="gridcell"
        >${tokens ? `${formatTokens(g.inputTokens)} / ${formatTokens(g.outputTokens)}` : ""}</span
      >
      <span class="cell num c-cost ${agg ? "muted" : ""}" role="gridcell" data-cost=${g.costUsd ?? nothing}
        >${g.costUsd !== null ? formatCost(g.costUsd) : isModel && used ? html`<span class="unpriced">unpriced</span>` : ""}</span
      >`;
  }

  /** A parent row: the tokens and cost of its whole subtree's model calls (in italics: a sum, not its own). */
  private renderRollup(spanId: string): TemplateResult {
    const t = this.totals.get(spanId);
    if (!t || t.calls === 0) {
      return html`<span class="cell num c-tokens" role="gridcell"></span><span class="cell num c-cost" role="gridcell"></span>`;
    }
    const unpriced = t.unpricedCalls > 0 ? ` + ${t.unpricedCalls} unpriced` : "";
    return html`<span class="cell num c-tokens rollup" role="gridcell" title="subtree total of ${t.calls} model calls"
        >${formatTokens(t.inputTokens)} / ${formatTokens(t.outputTokens)}</span
      >
      <span
        class="cell num c-cost rollup"
        role="gridcell"
        data-rollup-cost=${t.costUsd}
        title="subtree total of ${t.calls} model calls${unpriced}"
        >${formatCost(t.costUsd)}${t.unpricedCalls > 0 ? html`<span class="unpriced"> +${t.unpricedCalls}?</span>` : nothing}</span
      >`;
  }

  /** The cost of one call by token kind, with the tokens each part paid for. */
  private renderCostParts(s: ApiSpan): TemplateResult | typeof nothing {
    const g = s.genAi;
    const p = g.costParts;
    if (!p) return nothing;
    const line = (label: string, tokens: number | null, usd: number) =>
      tokens || usd
        ? html`<tr><th>${label}</th><td>${formatTokens(tokens)}</td><td>${formatCost(usd)}</td></tr>`
        : nothing;
    return html`<table class="parts" part="cost-parts" aria-label="Cost breakdown">
      <tr><th></th><th>tokens</th><th>cost</th></tr>
      ${line("input", g.inputTokens, p.inputUsd)} ${line("output", g.outputTokens, p.outputUsd)}
      ${line("cache read", g.cacheReadTokens, p.cacheReadUsd)} ${line("cache write", g.cacheWriteTokens, p.cacheWriteUsd)}
      <tr><th>total</th><td></td><td><b>${formatCost(g.costUsd)}</b></td></tr>
    </table>`;
  }

  private renderDetails(s: ApiSpan): TemplateResult {
    const g = s.genAi;
    const t0 = this.tree?.startNs ?? 0n;
    const spanStart = BigInt(s.startTimeUnixNano);
    const chat = chatMessages(s.messages);
    // Content the chat already shows (the GenAI message attributes and log events) is not repeated raw.
    const content = capturedContent(s, (k) => CONTENT_KEY.test(k)).filter(
      ([k]) => chat.length === 0 || !MESSAGE_KEY.test(k),
    );
    const logs = s.logs ?? [];
    const scores = s.scores ?? [];
    const attrs = Object.entries(s.attributes)
      .filter(([k]) => !CONTENT_KEY.test(k))
      .sort(([a], [b]) => (a < b ? -1 : 1));
    const fact = (label: string, value: string | number | null | undefined) =>
      value === null || value === undefined || value === "" ? nothing : html`<dt>${label}</dt><dd>${value}</dd>`;
    const model = modelOf(g);
    // Zero usage on a span that reports none (an agent or tool span) is noise, not a fact.
    const usage = (n: number | null) => (g.usageRole === "none" && !n ? null : n);
    return html`<section class="details" part="details" aria-label="Span details">
      <h3>${s.name}</h3>
      ${
        s.status.code === "error"
          ? html`<div class="status-msg" role="note">Error${s.status.message ? `: ${s.status.message}` : ""}</div>`
          : nothing
      }
      <dl>
        ${fact("span id", s.spanId)} ${fact("parent", s.parentSpanId || "— (root)")} ${fact("service", s.serviceName)}
        ${fact("kind", s.kind)} ${fact("status", s.status.code)}
        ${fact("starts at", `+${formatDuration(Number(spanStart - t0))}`)} ${fact("duration", formatDuration(s.durationNs))}
        ${fact("agent", g.agentName)} ${fact("operation", g.operation)} ${fact("provider", g.provider)}
        ${fact("model", model && g.requestModel && g.requestModel !== model ? `${model} (asked ${g.requestModel})` : model)}
        ${fact("tool", g.toolName)} ${fact("input tokens", usage(g.inputTokens))} ${fact("output tokens", usage(g.outputTokens))}
        ${fact("cache read", g.cacheReadTokens || null)} ${fact("cache write", g.cacheWriteTokens || null)}
        ${fact("reasoning", g.reasoningTokens || null)}
        ${fact(
          "cost",
          g.costUsd !== null
            ? formatCost(g.costUsd)
            : g.usageRole === "model_call"
              ? "unpriced (unknown model price)"
              : null,
        )}
        ${fact("conversation", g.conversationId)}
      </dl>
      ${this.renderCostParts(s)}
      ${
        scores.length > 0
          ? html`<h4>Scores (${scores.length})</h4>
            <ul part="scores">${scores.map((sc) => html`<li>${scoreText(sc)}</li>`)}</ul>`
          : nothing
      }
      ${
        chat.length > 0
          ? html`<h4>Conversation (${chat.length} message${chat.length === 1 ? "" : "s"})</h4>
            <div class="chat" part="chat">${chat.map(renderMessage)}</div>`
          : nothing
      }
      ${
        content.length > 0
          ? html`<h4>Captured content</h4>
            ${content.map(([k, v]) => html`<div class="muted">${k}</div><pre part="content">${pretty(v)}</pre>`)}`
          : nothing
      }
      ${
        logs.length > 0
          ? html`<h4>Logs (${logs.length})</h4>
            ${logs.map(
              (l) => html`<div part="log">
                <b>${l.eventName || l.severityText || "log"}</b>
                ${l.eventName && l.severityText ? html`<span class="muted">${l.severityText}</span>` : nothing}
                <span class="muted">+${formatDuration(Number(BigInt(l.timeUnixNano) - spanStart))}</span>
              </div>
              ${l.body ? html`<pre>${pretty(l.body)}</pre>` : nothing}
              ${attrBlock(l.attributes)}`,
            )}`
          : nothing
      }
      ${
        s.events.length > 0
          ? html`<h4>Events (${s.events.length})</h4>
            ${s.events.map(
              (e) => html`<div>
                <b>${e.name}</b>
                <span class="muted">+${formatDuration(Number(BigInt(e.timeUnixNano) - spanStart))}</span>
              </div>
              ${attrBlock(e.attributes)}`,
            )}`
          : nothing
      }
      <h4>Attributes (${attrs.length})</h4>
      ${attrs.length > 0 ? html`<dl>${attrs.map(([k, v]) => html`<dt>${k}</dt><dd>${text(v)}</dd>`)}</dl>` : html`<div class="muted">none</div>`}
      <details>
        <summary><h4 style="display:inline">Resource (${Object.keys(s.resource).length})</h4></summary>
        <dl>${Object.entries(s.resource).map(([k, v]) => html`<dt>${k}</dt><dd>${text(v)}</dd>`)}</dl>
      </details>
    </section>`;
  }
}

/** One chat message: who said it, its text, the tools it called or the tool result it carries. */
function renderMessage(m: ChatMessage): TemplateResult {
  const tool = m.role === "tool" || m.blocks.some((b) => b.kind === "tool_result");
  const cls = m.source === "system" ? "system" : tool ? "tool" : m.role === "user" ? "user" : "assistant";
  return html`<div class="msg ${cls}" part="message" data-role=${m.role} data-source=${m.source}>
    <div class="role">${m.source === "output" ? `${m.role} · reply` : m.role}${m.finishReason ? ` · ${m.finishReason}` : ""}</div>
    ${m.blocks.map(renderBlock)}
  </div>`;
}

function renderBlock(b: ChatBlock): TemplateResult {
  switch (b.kind) {
    case "text":
      return html`<div class="text">${b.text}</div>`;
    case "tool_call":
      return html`<div class="muted">⚙ calls <b>${b.name}</b>${b.id ? ` (${b.id})` : ""}</div>
        ${b.arguments ? html`<pre>${b.arguments}</pre>` : nothing}`;
    case "tool_result":
      return html`<div class="muted">result${b.id ? ` of ${b.id}` : ""}</div><pre>${b.result}</pre>`;
    default:
      return html`<div class="muted">${b.type}</div><pre>${b.json}</pre>`;
  }
}

/** An event's or log record's attributes, one `key: value` a line; nothing when it has none. */
function attrBlock(attrs: Record<string, AttrJson>): TemplateResult | typeof nothing {
  const entries = Object.entries(attrs);
  return entries.length > 0 ? html`<pre>${entries.map(([k, v]) => `${k}: ${pretty(v)}`).join("\n")}</pre>` : nothing;
}

/** An attribute value on one line: arrays and kvlists as JSON. */
function text(v: AttrJson): string {
  return typeof v === "object" && v !== null ? JSON.stringify(v) : String(v);
}

if (!customElements.get("cognive-trace-view")) customElements.define("cognive-trace-view", CogniveTraceView);

declare global {
  interface HTMLElementTagNameMap {
    "cognive-trace-view": CogniveTraceView;
  }
}
