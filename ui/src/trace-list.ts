import { css, html, nothing, type TemplateResult } from "lit";
import { CogniveElement } from "./base.ts";
import { fire } from "./events.ts";
import { formatCost, formatDateTime, formatDuration, formatTokens } from "./format.ts";
import { theme } from "./theme.ts";
import type { ApiTraceList, ApiTraceListItem } from "./trace-types.ts";

/** Time ranges the list offers, in seconds back from now. */
export const TRACE_RANGES = { "1h": 3600, "24h": 86_400, "7d": 7 * 86_400, "30d": 30 * 86_400 } as const;
export type TraceRange = keyof typeof TRACE_RANGES;

const FILTERS = ["agent", "model", "service", "team", "user"] as const;
type TextFilter = (typeof FILTERS)[number];

/** Columns the list sorts by (within the page shown), and the value each sorts on. */
const SORTS = {
  started: (t: ApiTraceListItem) => Number(BigInt(t.startTimeUnixNano) / 1000n),
  duration: (t: ApiTraceListItem) => Number(t.durationNs),
  spans: (t: ApiTraceListItem) => t.spanCount,
  tokens: (t: ApiTraceListItem) => t.inputTokens + t.outputTokens,
  cost: (t: ApiTraceListItem) => t.costUsd,
} as const;
type SortKey = keyof typeof SORTS;

/** `sort="cost:asc"` read as a column and a direction; anything else is newest first. */
export function parseSort(v: string | undefined): { key: SortKey; desc: boolean } {
  const [key = "", dir = "desc"] = (v ?? "").split(":");
  return key in SORTS ? { key: key as SortKey, desc: dir !== "asc" } : { key: "started", desc: true };
}

/** A `datetime-local` value (local time) as Unix seconds, or undefined when empty or not a time. */
export function localToUnix(v: string | undefined): number | undefined {
  if (!v) return undefined;
  const ms = new Date(v).getTime();
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : undefined;
}

/** The filters as URL parameters (only those set), so a page can keep them in its address. */
export interface TraceListFilters {
  [key: string]: string;
}

/**
 * `<cognive-trace-list>`: the newest traces from `GET /api/v1/traces`, with filters (range or a
 * custom from/to, agent, model, service, team, status, minimum duration and cost), columns sortable
 * within the page, and keyset pagination. Choosing a trace fires `cognive-trace-select` (detail
 * `{ traceId }`); with `href-template="#/traces/{id}"` the rows are plain links instead. Applying
 * filters or sorting fires `cognive-trace-filters` (detail: the filters as URL parameters) so a page
 * can keep them in its address. Attributes: range, from, to (datetime-local values), agent, model,
 * service, team, status, min-duration-ms, min-cost-usd, sort (`cost:desc`), limit, href-template,
 * hide-filters. Parts: filters, table, row, pager.
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
        .roomy,
        td .preview {
          display: none;
        }
        td .open {
          max-width: 16ch;
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
      th button.sort {
        all: unset;
        cursor: pointer;
      }
      th button.sort:focus-visible {
        outline: 2px solid var(--_accent);
      }
      .preview {
        display: block;
        max-width: 36ch;
        overflow: hidden;
        text-overflow: ellipsis;
        color: var(--_muted);
        font-size: 12px;
      }
      .unpriced {
        color: var(--_warn);
        font-size: 11px;
        display: block;
      }
      input[type="datetime-local"] {
        width: auto;
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
    from: { type: String },
    to: { type: String },
    sort: { type: String },
    agent: { type: String },
    model: { type: String },
    service: { type: String },
    team: { type: String },
    user: { type: String },
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
  /** Custom window start and end (datetime-local values); set, they replace the range. */
  declare from: string | undefined;
  declare to: string | undefined;
  declare sort: string | undefined;
  declare agent: string | undefined;
  declare model: string | undefined;
  declare service: string | undefined;
  declare team: string | undefined;
  declare user: string | undefined;
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
      this.from,
      this.to,
      this.agent,
      this.model,
      this.service,
      this.team,
      this.user,
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
    const to = localToUnix(this.to) ?? this.toSec;
    const from = localToUnix(this.from) ?? to - seconds;
    try {
      const page = await this.api.get<ApiTraceList>(
        "/api/v1/traces",
        {
          from,
          to,
          agent: this.agent,
          model: this.model,
          service: this.service,
          team: this.team,
          user: this.user,
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
    this.from = text("from");
    this.to = text("to");
    this.status = (text("status") as "ok" | "error" | undefined) ?? "";
    this.minDurationMs = numberOf("minDurationMs");
    this.minCostUsd = numberOf("minCostUsd");
    // Submitting unchanged filters still reloads (the user asked for fresh data); changed ones reload in updated().
    if (this.queryKey() === this.loadedKey) this.refresh();
    this.announceFilters();
  }

  /** The filters shown, as URL parameters (unset ones left out). */
  filters(): TraceListFilters {
    const out: TraceListFilters = {};
    const put = (k: string, v: string | number | undefined) => {
      if (v !== undefined && v !== "") out[k] = String(v);
    };
    if (!this.from && !this.to) put("range", this.range);
    put("from", this.from);
    put("to", this.to);
    for (const f of FILTERS) put(f, this[f]);
    put("status", this.status);
    put("minDurationMs", this.minDurationMs);
    put("minCostUsd", this.minCostUsd);
    if (this.sort && this.sort !== "started:desc") put("sort", this.sort);
    return out;
  }

  private announceFilters(): void {
    this.dispatchEvent(
      new CustomEvent("cognive-trace-filters", { detail: this.filters(), bubbles: true, composed: true }),
    );
  }

  private sortBy(key: SortKey): void {
    const cur = parseSort(this.sort);
    // A new column starts with its largest first; the same column flips.
    this.sort = `${key}:${cur.key === key && cur.desc ? "asc" : "desc"}`;
    this.announceFilters();
  }

  private windowText(): string {
    if (this.from || this.to) return `${this.from?.replace("T", " ") ?? "…"} – ${this.to?.replace("T", " ") ?? "now"}`;
    return `the last ${this.range}`;
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
      <label
        >From<input type="datetime-local" name="from" step="1" .value=${this.from ?? ""} aria-label="From (local time)"
      /></label>
      <label>To<input type="datetime-local" name="to" step="1" .value=${this.to ?? ""} aria-label="To (local time)" /></label>
      ${input("agent", "Agent")} ${input("model", "Model")} ${input("service", "Service")} ${input("team", "Team")}
      ${input("user", "User")}
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
        this.from ||
        this.to ||
        this.status ||
        this.minCostUsd !== undefined ||
        this.minDurationMs !== undefined;
      return this.renderEmpty(
        filtered
          ? `No traces match these filters in ${this.windowText()}: widen the range or clear a filter.`
          : `No traces in ${this.windowText()}. Point an OpenTelemetry SDK at the collector (OTLP on :4318) or run "npm run demo".`,
      );
    }
    const pageNo = this._cursors.length;
    const sort = parseSort(this.sort);
    const rows = [...page.traces];
    if (this.sort) {
      const value = SORTS[sort.key];
      rows.sort((a, b) => (sort.desc ? value(b) - value(a) : value(a) - value(b)));
    }
    const head = (key: SortKey, label: string, cls: string) => {
      const active = sort.key === key && !!this.sort;
      return html`<th
        scope="col"
        class=${cls}
        aria-sort=${active ? (sort.desc ? "descending" : "ascending") : "none"}
        data-sort=${key}
      >
        <button class="sort" type="button" title="Sort this page by ${label.toLowerCase()}" @click=${() => this.sortBy(key)}>
          ${label}${active ? (sort.desc ? " ▾" : " ▴") : ""}
        </button>
      </th>`;
    };
    return html`<div class="wrap" part="table">
        <table aria-label="Traces" aria-busy=${String(this._loading)}>
          <thead>
            <tr>
              <th scope="col">Trace</th>
              <th scope="col" class="wide">Agent</th>
              <th scope="col" class="wide">Model</th>
              <th scope="col" class="wide">Users</th>
              ${head("started", "Started", "wide")} ${head("duration", "Duration", "num roomy")}
              ${head("spans", "Spans", "num wide")} ${head("tokens", "Tokens in/out", "num wide")}
              ${head("cost", "Cost", "num")}
              <th scope="col">Status</th>
            </tr>
          </thead>
          <tbody>
            ${rows.map((t) => this.renderRow(t))}
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
    const started = formatDateTime(t.startTimeUnixNano);
    const label = `Open trace ${name}, started ${started}`;
    const unpriced = t.unpricedCalls ?? 0;
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
        ${t.inputPreview ? html`<span class="preview" part="preview" title=${t.inputPreview}>${t.inputPreview}</span>` : nothing}
      </td>
      <td class="wide">${t.agents.length > 0 ? t.agents.join(", ") : html`<span class="muted">—</span>`}</td>
      <td class="wide">${t.models.length > 0 ? t.models.join(", ") : html`<span class="muted">—</span>`}</td>
      <td class="wide" data-users>${t.users?.length ? t.users.join(", ") : html`<span class="muted">—</span>`}</td>
      <td class="wide">${started}</td>
      <td class="num roomy">${formatDuration(t.durationNs)}</td>
      <td class="num wide">${t.spanCount}</td>
      <td class="num wide">${formatTokens(t.inputTokens)} / ${formatTokens(t.outputTokens)}</td>
      <td class="num" data-cost=${t.costUsd}>
        ${formatCost(t.costUsd)}
        ${unpriced > 0 ? html`<span class="unpriced" title="model calls without a known price, not in the cost">+ ${unpriced} unpriced</span>` : nothing}
      </td>
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
