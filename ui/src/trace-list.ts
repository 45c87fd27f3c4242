import { css, html, nothing, type TemplateResult } from "lit";
import { CogniveElement } from "./base.ts";
import { fire } from "./events.ts";
import { formatCost, formatDuration, formatTime, formatTokens } from "./format.ts";
import { theme } from "./theme.ts";
import type { ApiTraceList, ApiTraceListItem } from "./trace-types.ts";

/** Time ranges the list offers, in seconds back from now. */
export const TRACE_RANGES = { "1h": 3600, "24h": 86_400, "7d": 7 * 86_400, "30d": 30 * 86_400 } as const;
export type TraceRange = keyof typeof TRACE_RANGES;

const FILTERS = ["agent", "model", "service", "team"] as const;
type TextFilter = (typeof FILTERS)[number];

/**
 * `<cognive-trace-list>`: the newest traces from `GET /api/v1/traces`, with filters (range, agent,
 * model, service, team, status, minimum duration and cost) and keyset pagination. Choosing a trace
 * fires `cognive-trace-select` (detail `{ traceId }`); with `href-template="#/traces/{id}"` the rows
 * are plain links instead. Attributes: range, agent, model, service, team, status, limit,
 * href-template, hide-filters. Parts: filters, table, row, pager.
 */
export class CogniveTraceList extends CogniveElement {
  static override styles = [
    theme,
    css`
      form {
        display: flex;
        flex-wrap: wrap;
        gap: 8px;
        align-items: end;
        margin-bottom: 10px;
      }
      :host {
        container-type: inline-size;
      }
      /* In a narrow container (a phone, a side panel) the secondary columns give way. */
      @container (max-width: 620px) {
        .wide {
          display: none;
        }
      }
      @container (max-width: 420px) {
        .roomy {
          display: none;
        }
      }
      label {
        display: flex;
        flex-direction: column;
        font-size: 12px;
        color: var(--_muted);
        gap: 2px;
      }
      input,
      select {
        font: inherit;
        color: var(--_fg);
        background: var(--_bg);
        border: 1px solid var(--_border);
        border-radius: var(--_radius);
        padding: 4px 6px;
        min-width: 0;
        width: 9em;
      }
      select {
        width: auto;
      }
      button.action {
        background: var(--_surface);
        border: 1px solid var(--_border);
        border-radius: var(--_radius);
        padding: 5px 12px;
        cursor: pointer;
      }
      button.action:disabled {
        opacity: 0.5;
        cursor: default;
      }
      .wrap {
        overflow-x: auto;
        border: 1px solid var(--_border);
        border-radius: var(--_radius);
      }
      table {
        border-collapse: collapse;
        width: 100%;
        font-size: 13px;
      }
      th {
        text-align: left;
        font-weight: 500;
        color: var(--_muted);
        background: var(--_surface);
        font-size: 12px;
      }
      th,
      td {
        padding: 6px 10px;
        border-bottom: 1px solid var(--_border);
        white-space: nowrap;
      }
      tbody tr:last-child td {
        border-bottom: none;
      }
      tbody tr {
        cursor: pointer;
      }
      tbody tr:hover {
        background: var(--_surface);
      }
      .num {
        text-align: right;
        font-variant-numeric: tabular-nums;
      }
      .open {
        all: unset;
        color: var(--_accent);
        cursor: pointer;
        max-width: 28ch;
        overflow: hidden;
        text-overflow: ellipsis;
        display: inline-block;
        vertical-align: bottom;
      }
      .open:focus-visible {
        outline: 2px solid var(--_accent);
        outline-offset: 1px;
      }
      .status {
        font-size: 12px;
        padding: 1px 6px;
        border-radius: 8px;
        border: 1px solid currentColor;
      }
      .status.error {
        color: var(--_error);
      }
      .status.ok {
        color: var(--_ok);
      }
      .muted {
        color: var(--_muted);
      }
      .pager {
        display: flex;
        gap: 8px;
        align-items: center;
        justify-content: flex-end;
        margin-top: 8px;
        color: var(--_muted);
        font-size: 13px;
      }
    `,
  ];

  static override properties = {
    ...CogniveElement.properties,
    range: { type: String },
    agent: { type: String },
    model: { type: String },
    service: { type: String },
    team: { type: String },
    status: { type: String },
    minDurationMs: { type: Number, attribute: "min-duration-ms" },
    minCostUsd: { type: Number, attribute: "min-cost-usd" },
    limit: { type: Number },
    hrefTemplate: { type: String, attribute: "href-template" },
    hideFilters: { type: Boolean, attribute: "hide-filters" },
    _page: { state: true },
    _error: { state: true },
    _loading: { state: true },
    _cursors: { state: true },
  };

  declare range: TraceRange;
  declare agent: string | undefined;
  declare model: string | undefined;
  declare service: string | undefined;
  declare team: string | undefined;
  declare status: "ok" | "error" | "" | undefined;
  declare minDurationMs: number | undefined;
  declare minCostUsd: number | undefined;
  declare limit: number;
  declare hrefTemplate: string | undefined;
  declare hideFilters: boolean;
  declare _page: ApiTraceList | undefined;
  declare _error: unknown;
  declare _loading: boolean;
  /** Cursors of the pages shown so far; the last one is the current page's ("" for the first). */
  declare _cursors: string[];

  private abort: AbortController | undefined;
  /** The end of the range, fixed when the first page loads so later pages read the same window. */
  private toSec = 0;
  private loadedKey: string | undefined;

  constructor() {
    super();
    this.range = "24h";
    this.limit = 50;
    this.hideFilters = false;
    this._loading = false;
    this._cursors = [""];
  }

  override connectedCallback(): void {
    super.connectedCallback();
    if (this.hasUpdated) this.requestUpdate();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.abort?.abort();
    // An aborted load left no answer: load again if the element comes back.
    this.loadedKey = undefined;
  }

  protected override updated(): void {
    if (this.queryKey() !== this.loadedKey) this.refresh();
  }

  /** Everything a page depends on; a change starts over from the first page. */
  private queryKey(): string {
    return JSON.stringify([
      this.range,
      this.agent,
      this.model,
      this.service,
      this.team,
      this.status,
      this.minDurationMs,
      this.minCostUsd,
      this.limit,
      this.apiBase,
      this.token,
    ]);
  }

  /** Reloads from the first page with the range ending now. */
  refresh(): void {
    this.loadedKey = this.queryKey();
    this.toSec = Math.floor(Date.now() / 1000);
    this._cursors = [""];
    void this.load("");
  }

  private async load(cursor: string): Promise<void> {
    this.abort?.abort();
    const abort = new AbortController();
    this.abort = abort;
    this._loading = true;
    this._error = undefined;
    const seconds = TRACE_RANGES[this.range] ?? TRACE_RANGES["24h"];
    try {
      const page = await this.api.get<ApiTraceList>(
        "/api/v1/traces",
        {
          from: this.toSec - seconds,
          to: this.toSec,
          agent: this.agent,
          model: this.model,
          service: this.service,
          team: this.team,
          status: this.status || undefined,
          minDurationMs: this.minDurationMs,
          minCostUsd: this.minCostUsd,
          limit: this.limit,
          cursor: cursor || undefined,
        },
        abort.signal,
      );
      if (abort.signal.aborted) return;
      this._page = page;
    } catch (err) {
      if (abort.signal.aborted) return;
      this._error = err;
    } finally {
      if (this.abort === abort) this._loading = false;
    }
  }

  private older(): void {
    const next = this._page?.nextCursor;
    if (!next) return;
    this._cursors = [...this._cursors, next];
    void this.load(next);
  }

  private newer(): void {
    if (this._cursors.length < 2) return;
    const cursors = this._cursors.slice(0, -1);
    this._cursors = cursors;
    void this.load(cursors[cursors.length - 1] ?? "");
  }

  private onFilters(e: Event): void {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    const text = (name: string) => {
      const v = String(data.get(name) ?? "").trim();
      return v === "" ? undefined : v;
    };
    const numberOf = (name: string) => {
      const v = text(name);
      const n = v === undefined ? Number.NaN : Number(v);
      return Number.isFinite(n) && n >= 0 ? n : undefined;
    };
    for (const f of FILTERS) this[f as TextFilter] = text(f);
    this.range = (text("range") as TraceRange | undefined) ?? "24h";
    this.status = (text("status") as "ok" | "error" | undefined) ?? "";
    this.minDurationMs = numberOf("minDurationMs");
    this.minCostUsd = numberOf("minCostUsd");
    // Submitting unchanged filters still reloads (the user asked for fresh data); changed ones reload in updated().
    if (this.queryKey() === this.loadedKey) this.refresh();
  }

  private choose(traceId: string): void {
    fire(this, "cognive-trace-select", { traceId });
  }

  private hrefOf(traceId: string): string | undefined {
    return this.hrefTemplate ? this.hrefTemplate.replaceAll("{id}", encodeURIComponent(traceId)) : undefined;
  }

  override render(): TemplateResult {
    return html`
      ${this.hideFilters ? nothing : this.renderFilters()}
      ${this.renderBody()}
    `;
  }

  private renderFilters(): TemplateResult {
    const input = (name: TextFilter, label: string) =>
      html`<label>${label}<input name=${name} .value=${this[name] ?? ""} autocomplete="off" /></label>`;
    return html`<form part="filters" role="search" aria-label="Filter traces" @submit=${this.onFilters}>
      <label
        >Range
        <select name="range">
          ${Object.keys(TRACE_RANGES).map((r) => html`<option value=${r} ?selected=${r === this.range}>last ${r}</option>`)}
        </select>
      </label>
      ${input("agent", "Agent")} ${input("model", "Model")} ${input("service", "Service")} ${input("team", "Team")}
      <label
        >Status
        <select name="status">
          <option value="" ?selected=${!this.status}>any</option>
          <option value="error" ?selected=${this.status === "error"}>with errors</option>
          <option value="ok" ?selected=${this.status === "ok"}>without errors</option>
        </select>
      </label>
      <label
        >Min duration (ms)<input
          name="minDurationMs"
          inputmode="decimal"
          .value=${this.minDurationMs === undefined ? "" : String(this.minDurationMs)}
      /></label>
      <label
        >Min cost ($)<input
          name="minCostUsd"
          inputmode="decimal"
          .value=${this.minCostUsd === undefined ? "" : String(this.minCostUsd)}
      /></label>
      <button class="action" type="submit">Apply</button>
    </form>`;
  }

  private renderBody(): TemplateResult {
    if (this._error) return this.renderError(this._error);
    const page = this._page;
    if (!page) return this.renderLoading("Loading traces…");
    if (page.traces.length === 0) {
      const filtered =
        FILTERS.some((f) => this[f]) ||
        this.status ||
        this.minCostUsd !== undefined ||
        this.minDurationMs !== undefined;
      return this.renderEmpty(
        filtered
          ? `No traces match these filters in the last ${this.range}: widen the range or clear a filter.`
          : `No traces in the last ${this.range}. Point an OpenTelemetry SDK at the collector (OTLP on :4318) or run "npm run demo".`,
      );
    }
    const pageNo = this._cursors.length;
    return html`<div class="wrap" part="table">
        <table aria-label="Traces" aria-busy=${String(this._loading)}>
          <thead>
            <tr>
              <th scope="col">Trace</th>
              <th scope="col" class="wide">Agent</th>
              <th scope="col" class="wide">Started</th>
              <th scope="col" class="num roomy">Duration</th>
              <th scope="col" class="num wide">Spans</th>
              <th scope="col" class="num wide">Tokens in/out</th>
              <th scope="col" class="num">Cost</th>
              <th scope="col">Status</th>
            </tr>
          </thead>
          <tbody>
            ${page.traces.map((t) => this.renderRow(t))}
          </tbody>
        </table>
      </div>
      <nav class="pager" part="pager" aria-label="Pages">
        <span>Page ${pageNo}${this._loading ? " · loading…" : ""}</span>
        <button class="action" type="button" ?disabled=${pageNo < 2 || this._loading} @click=${this.newer}>
          ← Newer
        </button>
        <button class="action" type="button" ?disabled=${!page.nextCursor || this._loading} @click=${this.older}>
          Next page →
        </button>
      </nav>`;
  }

  private renderRow(t: ApiTraceListItem): TemplateResult {
    const href = this.hrefOf(t.traceId);
    const name = t.rootName ?? `${t.traceId.slice(0, 12)}…`;
    const label = `Open trace ${name}, started ${formatTime(t.startTimeUnixNano)}`;
    return html`<tr
      part="row"
      data-trace-id=${t.traceId}
      @click=${(e: MouseEvent) => {
        // Clicks anywhere on the row act like the link or button in its first cell.
        if ((e.target as Element).closest("a,button")) return;
        const open = (e.currentTarget as HTMLElement).querySelector<HTMLElement>(".open");
        open?.click();
      }}
    >
      <td>
        ${
          href
            ? html`<a class="open" href=${href} aria-label=${label} title=${t.traceId}>${name}</a>`
            : html`<button class="open" type="button" aria-label=${label} title=${t.traceId} @click=${() => this.choose(t.traceId)}>
              ${name}
            </button>`
        }
      </td>
      <td class="wide">${t.agents.length > 0 ? t.agents.join(", ") : html`<span class="muted">—</span>`}</td>
      <td class="wide">${formatTime(t.startTimeUnixNano)}</td>
      <td class="num roomy">${formatDuration(t.durationNs)}</td>
      <td class="num wide">${t.spanCount}</td>
      <td class="num wide">${formatTokens(t.inputTokens)} / ${formatTokens(t.outputTokens)}</td>
      <td class="num">${formatCost(t.costUsd)}</td>
      <td>
        ${
          t.errorCount > 0
            ? html`<span class="status error">${t.errorCount} error${t.errorCount === 1 ? "" : "s"}</span>`
            : html`<span class="status ok">ok</span>`
        }
      </td>
    </tr>`;
  }
}

if (!customElements.get("cognive-trace-list")) customElements.define("cognive-trace-list", CogniveTraceList);

declare global {
  interface HTMLElementTagNameMap {
    "cognive-trace-list": CogniveTraceList;
  }
}
