import { css, html, nothing, type TemplateResult } from "lit";
import { ApiError } from "./api.ts";
import { CogniveElement } from "./base.ts";
import { type CostReport, groupLabel, PALETTE_DARK, PALETTE_LIGHT, pageColors, parseRange } from "./chart-data.ts";
import { formatCost, formatDuration, formatPercent, formatTokens } from "./format.ts";
import { parseRoute, type Route, VIEWS } from "./route.ts";
import { theme } from "./theme.ts";
import "./session-list.ts";
import "./session-view.ts";
import "./trace-list.ts";
import "./trace-view.ts";

const GROUPS = ["model", "agent", "team", "provider"] as const;
const RANGES = ["1h", "24h", "7d", "30d"] as const;

interface OverviewTop {
  name: string;
  costUsd: number;
  calls: number;
  errors: number;
}
interface Overview {
  spend: { todayUsd: number; monthUsd: number; rangeUsd: number };
  runs: number;
  errorRuns: number;
  errorRate: number | null;
  latency: { p50Ns: string | null; p95Ns: string | null };
  llm: { calls: number; errors: number; inputTokens: number; outputTokens: number };
  topAgents: OverviewTop[];
  topModels: OverviewTop[];
}
/** Who the app is signed in as (`GET /api/v1/whoami`). */
interface WhoAmI {
  id: string;
  name: string;
  role: string;
  teams: "all" | string[];
  authRequired: boolean;
}

/** Where a key typed into the sign-in screen is kept: this tab only, gone when it closes. */
const KEY_STORAGE = "cognive.key";

interface BudgetLine {
  scope: { type: "agent" | "team"; name: string };
  window: string;
  utilization: number;
}

/**
 * `<cognive-app>`: the whole UI — overview, agents, traces (and one trace's waterfall), costs,
 * budgets and alerts — routed by the URL hash so every view has a deep link. Pass `api-base` and
 * `token` to point it (and every part inside it) at a Cognive elsewhere.
 */
export class CogniveApp extends CogniveElement {
  static override styles = [
    theme,
    css`
      :host {
        min-height: 100vh;
        background: var(--_bg);
      }
      header {
        display: flex;
        align-items: center;
        flex-wrap: wrap;
        gap: 4px 16px;
        padding: 8px 16px;
        border-bottom: 1px solid var(--_border);
        background: var(--_surface);
      }
      .brand {
        font-weight: 700;
        font-size: 16px;
        color: var(--_fg);
        text-decoration: none;
        margin-right: 8px;
      }
      .brand span {
        color: var(--_accent);
      }
      nav ul {
        display: flex;
        flex-wrap: wrap;
        gap: 2px;
        list-style: none;
        margin: 0;
        padding: 0;
      }
      nav a {
        display: block;
        padding: 6px 10px;
        border-radius: var(--_radius);
        color: var(--_fg);
        text-decoration: none;
      }
      nav a:hover {
        background: color-mix(in srgb, var(--_accent) 10%, transparent);
      }
      nav a[aria-current="page"] {
        background: color-mix(in srgb, var(--_accent) 18%, transparent);
        color: var(--_accent);
        font-weight: 600;
      }
      .who {
        margin-left: auto;
        display: flex;
        align-items: center;
        gap: 8px;
        font-size: 12px;
        color: var(--_muted);
      }
      .who button,
      .sign-in button {
        border: 1px solid var(--_border);
        border-radius: var(--_radius);
        background: none;
        color: inherit;
        padding: 4px 10px;
        cursor: pointer;
      }
      .sign-in {
        max-width: 420px;
        margin: 40px auto;
        display: flex;
        flex-direction: column;
        gap: 8px;
      }
      .sign-in input {
        font: inherit;
        padding: 6px 8px;
        border: 1px solid var(--_border);
        border-radius: var(--_radius);
        background: var(--_bg);
        color: inherit;
      }
      .sign-in-error {
        color: var(--_error);
      }
      .sign-in .hint {
        color: var(--_muted);
        font-size: 12px;
      }
      .menu {
        display: none;
        margin-left: auto;
        background: none;
        border: 1px solid var(--_border);
        border-radius: var(--_radius);
        padding: 4px 10px;
        cursor: pointer;
      }
      @media (max-width: 640px) {
        .menu {
          display: block;
        }
        nav {
          flex-basis: 100%;
        }
        nav:not(.open) {
          display: none;
        }
        nav ul {
          flex-direction: column;
        }
      }
      main {
        padding: 16px;
        max-width: 1600px;
        margin: 0 auto;
      }
      main:focus {
        outline: none;
      }
      h1 {
        font-size: 20px;
        margin: 0 0 14px;
      }
      h2 {
        font-size: 15px;
        margin: 20px 0 8px;
      }
      .cards {
        display: grid;
        grid-template-columns: repeat(auto-fill, minmax(170px, 1fr));
        gap: 10px;
      }
      .card {
        border: 1px solid var(--_border);
        border-radius: var(--_radius);
        padding: 12px;
        background: var(--_bg);
      }
      .card .label {
        color: var(--_muted);
        font-size: 12px;
      }
      .card .value {
        font-size: 22px;
        font-weight: 600;
        font-variant-numeric: tabular-nums;
        margin-top: 4px;
      }
      .card .sub {
        color: var(--_muted);
        font-size: 12px;
        margin-top: 2px;
      }
      .card .value.bad {
        color: var(--_error);
      }
      .two {
        display: grid;
        grid-template-columns: repeat(auto-fit, minmax(300px, 1fr));
        gap: 0 20px;
      }
      table {
        width: 100%;
        border-collapse: collapse;
        font-size: 13px;
      }
      th,
      td {
        padding: 5px 8px;
        border-bottom: 1px solid var(--_border);
        text-align: left;
      }
      th {
        color: var(--_muted);
        font-weight: 500;
        font-size: 12px;
      }
      .num {
        text-align: right;
        font-variant-numeric: tabular-nums;
      }
      .share {
        height: 6px;
        border-radius: 3px;
        background: var(--_accent);
        min-width: 2px;
      }
      .controls {
        display: flex;
        flex-wrap: wrap;
        gap: 12px;
        align-items: center;
        margin-bottom: 12px;
      }
      .controls label {
        color: var(--_muted);
        font-size: 13px;
      }
      select {
        font: inherit;
        color: var(--_fg);
        background: var(--_bg);
        border: 1px solid var(--_border);
        border-radius: var(--_radius);
        padding: 4px 6px;
        margin-left: 4px;
      }
      .gauges {
        display: grid;
        grid-template-columns: repeat(auto-fill, minmax(260px, 1fr));
        align-items: start;
        gap: 12px;
      }
      .back {
        display: inline-block;
        margin-bottom: 10px;
        color: var(--_accent);
      }
      .sub {
        color: var(--_muted);
        font-size: 12px;
        font-weight: normal;
      }
      .visually-hidden {
        position: absolute;
        width: 1px;
        height: 1px;
        overflow: hidden;
        clip-path: inset(50%);
        white-space: nowrap;
      }
      .stack > * + * {
        margin-top: 16px;
      }
      .swatch {
        display: inline-block;
        width: 10px;
        height: 10px;
        border-radius: 2px;
        margin-right: 6px;
        vertical-align: baseline;
      }
      tfoot th,
      tfoot td {
        border-top: 2px solid var(--_border);
        border-bottom: none;
      }
      cognive-alert-feed.full {
        --cognive-feed-max-height: none;
      }
    `,
  ];

  static override properties = {
    ...CogniveElement.properties,
    _route: { state: true },
    _menuOpen: { state: true },
    _overview: { state: true },
    _budgets: { state: true },
    _costs: { state: true },
    _error: { state: true },
    _who: { state: true },
    _auth: { state: true },
    _signInError: { state: true },
  };

  declare _route: Route;
  declare _menuOpen: boolean;
  declare _overview: Overview | undefined;
  declare _budgets: BudgetLine[] | undefined;
  declare _costs: CostReport | undefined;
  declare _error: unknown;
  declare _who: WhoAmI | undefined;
  /** checking → open (no keys needed) | signed-in | signed-out (the sign-in screen). */
  declare _auth: "checking" | "open" | "signed-in" | "signed-out";
  declare _signInError: string | undefined;

  private abort: AbortController | undefined;
  /** The trace list as last filtered, so "All traces" goes back to it. */
  private listHash = "#/traces";
  private readonly onHash = () => this.navigate(parseRoute(location.hash), true);

  constructor() {
    super();
    this._route = parseRoute(typeof location === "undefined" ? "" : location.hash);
    this._menuOpen = false;
    this._auth = "checking";
    // Parts inside the app announce choices; the app turns them into navigation.
    this.addEventListener("cognive-agent-select", (e) => {
      const agent = e.detail?.agent;
      if (agent) location.hash = `#/traces?${new URLSearchParams({ agent })}`;
    });
    // The selected span goes into the link without a new history entry per click.
    this.addEventListener("cognive-span-select", (e) => {
      const { traceId, spanId } = e.detail ?? {};
      if (traceId && spanId && this._route.traceId === traceId) {
        history.replaceState(history.state, "", `#/traces/${traceId}?${new URLSearchParams({ span: spanId })}`);
      }
    });
    // Filters applied in the list go into the link: they survive opening a trace, reloads and Back.
    this.addEventListener("cognive-trace-filters", (e) => {
      const detail = (e as CustomEvent<Record<string, string>>).detail ?? {};
      const hash = `#/traces${Object.keys(detail).length > 0 ? `?${new URLSearchParams(detail)}` : ""}`;
      if (this._route.view === "traces" && !this._route.traceId && location.hash !== hash) location.hash = hash;
    });
    this.addEventListener("cognive-trace-select", (e) => {
      const traceId = e.detail?.traceId;
      if (traceId) location.hash = `#/traces/${traceId}`;
    });
  }

  override connectedCallback(): void {
    super.connectedCallback();
    window.addEventListener("hashchange", this.onHash);
    // A key from an earlier sign-in in this tab, unless the page gave one.
    const kept = sessionStorage.getItem(KEY_STORAGE);
    if (!this.getAttribute("token") && kept) this.setAttribute("token", kept);
    void this.checkAuth().then(() => this.navigate(parseRoute(location.hash), false));
  }

  /** Asks the server who this key (or no key) is: the app opens, or shows the sign-in screen. */
  private async checkAuth(): Promise<void> {
    try {
      this._who = await this.api.get<WhoAmI>("/api/v1/whoami");
      this._auth = this._who.authRequired ? "signed-in" : "open";
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        // A kept key that no longer works (revoked, expired) is dropped.
        sessionStorage.removeItem(KEY_STORAGE);
        this.removeAttribute("token");
        this._who = undefined;
        this._auth = "signed-out";
      } else {
        // Unreachable or an older server: let the views say what is wrong.
        this._auth = "open";
      }
    }
  }

  private async signIn(e: Event): Promise<void> {
    e.preventDefault();
    const input = this.renderRoot.querySelector<HTMLInputElement>("#key");
    const key = input?.value.trim() ?? "";
    if (!key) return;
    this.setAttribute("token", key);
    this._signInError = undefined;
    await this.checkAuth();
    if (this._auth === "signed-in" || this._auth === "open") {
      sessionStorage.setItem(KEY_STORAGE, key);
      this.navigate(parseRoute(location.hash), true);
    } else {
      this._signInError = "That key was not accepted: check it, or ask an admin for a new one.";
      void this.updateComplete.then(() => this.renderRoot.querySelector<HTMLInputElement>("#key")?.focus());
    }
  }

  private signOut(): void {
    sessionStorage.removeItem(KEY_STORAGE);
    this.removeAttribute("token");
    this._who = undefined;
    this._overview = undefined;
    this._budgets = undefined;
    this._auth = "signed-out";
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    window.removeEventListener("hashchange", this.onHash);
    this.abort?.abort();
  }

  private navigate(route: Route, moveFocus: boolean): void {
    this._route = route;
    if (route.view === "traces" && !route.traceId) {
      const q = route.params.toString();
      this.listHash = `#/traces${q ? `?${q}` : ""}`;
    }
    this._menuOpen = false;
    this._error = undefined;
    const label = route.traceId
      ? `Trace ${route.traceId.slice(0, 8)}…`
      : route.sessionId
        ? `Session ${route.sessionId.slice(0, 24)}`
        : VIEWS.find((v) => v.id === route.view)?.label;
    document.title = `${label} · Cognive`;
    this.abort?.abort();
    this.abort = new AbortController();
    if (this._auth === "checking" || this._auth === "signed-out") return;
    if (route.view === "overview") void this.loadOverview(this.abort.signal);
    if (route.view === "budgets") void this.loadBudgets(this.abort.signal);
    if (route.view === "costs") void this.loadCosts(route, this.abort.signal);
    // After a navigation, keyboard and screen-reader users land on the new view, not the old link.
    if (moveFocus) void this.updateComplete.then(() => this.renderRoot.querySelector<HTMLElement>("main")?.focus());
  }

  private async loadOverview(signal: AbortSignal): Promise<void> {
    try {
      this._overview = await this.api.get<Overview>("/api/v1/overview", {}, signal);
    } catch (err) {
      if (!signal.aborted) this._error = err;
    }
  }

  private async loadCosts(route: Route, signal: AbortSignal): Promise<void> {
    this._costs = undefined;
    const to = Math.floor(Date.now() / 1000);
    const range = pick(route.params.get("range"), RANGES, "24h");
    const groupBy = pick(route.params.get("groupBy"), GROUPS, "model");
    try {
      this._costs = await this.api.get<CostReport>(
        "/api/v1/costs",
        { from: to - parseRange(range), to, groupBy },
        signal,
      );
    } catch (err) {
      if (!signal.aborted) this._error = err;
    }
  }

  private async loadBudgets(signal: AbortSignal): Promise<void> {
    try {
      const { budgets } = await this.api.get<{ budgets: BudgetLine[] }>("/api/v1/budgets", {}, signal);
      this._budgets = budgets;
    } catch (err) {
      if (!signal.aborted) this._error = err;
    }
  }

  /** Changes one option of the current view's hash, keeping the others (a deep link to what is shown). */
  private setParam(name: string, value: string): void {
    const params = new URLSearchParams(this._route.params);
    params.set(name, value);
    location.hash = `#/${this._route.view}?${params}`;
  }

  private renderSignIn(): TemplateResult {
    return html`<header part="header"><a class="brand" href="#/overview">Cog<span>nive</span></a></header>
      <main id="main" tabindex="-1" part="main" data-view="sign-in">
        <form class="sign-in" part="sign-in" @submit=${(e: Event) => this.signIn(e)}>
          <h1>Sign in</h1>
          <p>This Cognive requires an API key. Paste a viewer or admin key (it starts with <code>cgv_</code>).</p>
          <label for="key">API key</label>
          <input id="key" name="key" type="password" autocomplete="off" spellcheck="false" required />
          ${this._signInError ? html`<p class="sign-in-error" role="alert">${this._signInError}</p>` : nothing}
          <button type="submit">Sign in</button>
          <p class="hint">The key is kept for this browser tab only.</p>
        </form>
      </main>`;
  }

  private renderWho(): TemplateResult | typeof nothing {
    const who = this._who;
    if (this._auth !== "signed-in" || !who) return nothing;
    const teams = who.teams === "all" ? "all teams" : who.teams.join(", ");
    return html`<div class="who" part="who">
      <span title="Signed in as ${who.name} (${who.role}) for ${teams}"
        ><strong>${who.name}</strong> · ${who.role} · ${teams}</span
      >
      <button type="button" class="sign-out" @click=${() => this.signOut()}>Sign out</button>
    </div>`;
  }

  override render(): TemplateResult {
    if (this._auth === "checking") return html`${this.renderLoading("Connecting…")}`;
    if (this._auth === "signed-out") return this.renderSignIn();
    const r = this._route;
    return html`
      <header part="header">
        <a class="brand" href="#/overview">Cog<span>nive</span></a>
        <button
          class="menu"
          type="button"
          aria-expanded=${String(this._menuOpen)}
          aria-controls="nav"
          @click=${() => {
            this._menuOpen = !this._menuOpen;
          }}
        >
          Menu
        </button>
        <nav id="nav" class=${this._menuOpen ? "open" : ""} aria-label="Main" part="nav">
          <ul>
            ${VIEWS.map(
              (v) =>
                html`<li><a href="#/${v.id}" aria-current=${v.id === r.view ? "page" : nothing}>${v.label}</a></li>`,
            )}
          </ul>
        </nav>
        ${this.renderWho()}
      </header>
      <main id="main" tabindex="-1" part="main" data-view=${r.traceId ? "trace" : r.sessionId ? "session" : r.view}>${this.renderView(r)}</main>
    `;
  }

  private renderView(r: Route): TemplateResult {
    switch (r.view) {
      case "overview":
        return this.renderOverview();
      case "agents":
        return html`<h1>Agents</h1>
          <cognive-agent-table range=${pick(r.params.get("range"), RANGES, "30d")}></cognive-agent-table>`;
      case "traces":
        if (r.traceId) {
          return html`<a class="back" href=${this.listHash}>← All traces</a>
            <h1 class="visually-hidden">Trace ${r.traceId}</h1>
            <cognive-trace-view
              trace-id=${r.traceId}
              selected-span-id=${r.params.get("span") ?? nothing}
            ></cognive-trace-view>`;
        }
        return html`<h1>Traces</h1>
          <cognive-trace-list
            href-template="#/traces/{id}"
            range=${pick(r.params.get("range"), RANGES, "24h")}
            .from=${r.params.get("from") ?? undefined}
            .to=${r.params.get("to") ?? undefined}
            .agent=${r.params.get("agent") ?? undefined}
            .model=${r.params.get("model") ?? undefined}
            .service=${r.params.get("service") ?? undefined}
            .team=${r.params.get("team") ?? undefined}
            .user=${r.params.get("user") ?? undefined}
            .status=${(r.params.get("status") ?? "") as "" | "ok" | "error"}
            .minDurationMs=${numberParam(r.params.get("minDurationMs"))}
            .minCostUsd=${numberParam(r.params.get("minCostUsd"))}
            .sort=${r.params.get("sort") ?? undefined}
          ></cognive-trace-list>`;
      case "sessions":
        if (r.sessionId) {
          return html`<a class="back" href="#/sessions">← All sessions</a>
            <cognive-session-view session-id=${r.sessionId} trace-href-template="#/traces/{id}"></cognive-session-view>`;
        }
        return html`<h1>Sessions</h1>
          <cognive-session-list
            href-template="#/sessions/{id}"
            range=${pick(r.params.get("range"), RANGES, "24h")}
            user=${r.params.get("user") ?? nothing}
            agent=${r.params.get("agent") ?? nothing}
          ></cognive-session-list>`;
      case "costs":
        return this.renderCosts(r);
      case "budgets":
        return this.renderBudgets();
      case "alerts":
        return html`<h1>Alerts</h1>
          <cognive-alert-feed
            class="full"
            limit="500"
            trace-href-template="#/traces/{id}"
            filters
            .kind=${r.params.get("kind") ?? ""}
            .agent=${r.params.get("agent") ?? ""}
            .team=${r.params.get("team") ?? ""}
            @cognive-alert-filters=${(e: CustomEvent<Record<string, string>>) => {
              const q = new URLSearchParams(Object.entries(e.detail).filter(([, v]) => v !== ""));
              history.replaceState(history.state, "", `#/alerts${q.size > 0 ? `?${q}` : ""}`);
            }}
          ></cognive-alert-feed>`;
    }
  }

  private renderCosts(r: Route): TemplateResult {
    const groupBy = pick(r.params.get("groupBy"), GROUPS, "model");
    const range = pick(r.params.get("range"), RANGES, "24h");
    return html`<h1>Costs</h1>
      <div class="controls">
        <label
          >Group by
          <select
            aria-label="Group costs by"
            @change=${(e: Event) => this.setParam("groupBy", (e.target as HTMLSelectElement).value)}
          >
            ${GROUPS.map((g) => html`<option value=${g} ?selected=${g === groupBy}>${g}</option>`)}
          </select>
        </label>
        <label
          >Range
          <select
            aria-label="Time range"
            @change=${(e: Event) => this.setParam("range", (e.target as HTMLSelectElement).value)}
          >
            ${RANGES.map((x) => html`<option value=${x} ?selected=${x === range}>last ${x}</option>`)}
          </select>
        </label>
      </div>
      <div class="stack">
        <cognive-cost-chart group-by=${groupBy} range=${range}></cognive-cost-chart>
        ${this.renderCostTotals(groupBy)}
        <cognive-token-chart group-by=${groupBy} range=${range}></cognive-token-chart>
      </div>`;
  }

  /** Totals per series of the costs chart, each with its chart colour; the last row is the total of the rows. */
  private renderCostTotals(groupBy: string): TemplateResult {
    const report = this._costs;
    if (!report) return html`${nothing}`;
    if (report.series.length === 0) return html`${nothing}`;
    const dark = typeof matchMedia === "function" && matchMedia("(prefers-color-scheme: dark)").matches;
    const palette = dark ? PALETTE_DARK : PALETTE_LIGHT;
    const sum = (f: (x: CostReport["series"][number]) => number) => report.series.reduce((a, x) => a + f(x), 0);
    return html`<table aria-label="Totals by ${groupBy}" part="cost-totals">
      <thead>
        <tr>
          <th scope="col">${groupBy}</th>
          <th scope="col" class="num">Calls</th>
          <th scope="col" class="num">Input tokens</th>
          <th scope="col" class="num">Output tokens</th>
          <th scope="col" class="num">Cost</th>
          <th scope="col" class="num">Share</th>
        </tr>
      </thead>
      <tbody>
        ${report.series.map((x) => {
          const label = groupLabel(x.key, groupBy);
          const color = palette[pageColors.index(label) % palette.length];
          return html`<tr data-key=${label}>
            <td><span class="swatch" style="background:${color}"></span>${label}</td>
            <td class="num">${x.calls.toLocaleString("en-US")}</td>
            <td class="num">${formatTokens(x.inputTokens)}</td>
            <td class="num">${formatTokens(x.outputTokens)}</td>
            <td class="num" data-cost=${x.totalUsd}>${formatCost(x.totalUsd)}</td>
            <td class="num">${formatPercent(report.totalUsd > 0 ? x.totalUsd / report.totalUsd : null)}</td>
          </tr>`;
        })}
      </tbody>
      <tfoot>
        <tr>
          <th scope="row">Total</th>
          <td class="num">${sum((x) => x.calls).toLocaleString("en-US")}</td>
          <td class="num">${formatTokens(sum((x) => x.inputTokens))}</td>
          <td class="num">${formatTokens(sum((x) => x.outputTokens))}</td>
          <td class="num" data-stat="costs-total"><b>${formatCost(report.totalUsd)}</b></td>
          <td></td>
        </tr>
      </tfoot>
    </table>`;
  }

  private renderBudgets(): TemplateResult {
    const title = html`<h1>Budgets</h1>`;
    if (this._error) {
      if (this._error instanceof ApiError && this._error.status === 404) {
        return html`${title}${this.renderEmpty(
          "Budgets are not enabled: start Cognive with a policy file (COGNIVE_POLICY=policy.yaml) that declares agent or team budgets.",
        )}`;
      }
      return html`${title}${this.renderError(this._error)}`;
    }
    if (!this._budgets) return html`${title}${this.renderLoading("Loading budgets…")}`;
    // One gauge per scope (it shows each of the scope's windows), fullest first.
    const scopes = new Map<string, number>();
    for (const b of this._budgets) {
      const key = `${b.scope.type}:${b.scope.name}`;
      scopes.set(key, Math.max(scopes.get(key) ?? 0, b.utilization));
    }
    if (scopes.size === 0) {
      return html`${title}${this.renderEmpty("The policy declares no budgets. Add daily or monthly limits to agents or teams in the policy file.")}`;
    }
    const ordered = [...scopes.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    return html`${title}
      <div class="gauges">
        ${ordered.map(([scope]) => html`<cognive-budget-gauge scope=${scope}></cognive-budget-gauge>`)}
      </div>`;
  }

  private renderOverview(): TemplateResult {
    const title = html`<h1>Overview</h1>`;
    if (this._error) return html`${title}${this.renderError(this._error)}`;
    const o = this._overview;
    if (!o) return html`${title}${this.renderLoading("Loading overview…")}`;
    const card = (label: string, value: string, sub: string, stat: string, bad = false) =>
      html`<div class="card" part="card">
        <div class="label">${label}</div>
        <div class="value ${bad ? "bad" : ""}" data-stat=${stat}>${value}</div>
        <div class="sub">${sub}</div>
      </div>`;
    return html`${title}
      <div class="cards">
        ${card("Spend today", formatCost(o.spend.todayUsd), "since 00:00 UTC", "today")}
        ${card("Spend this month", formatCost(o.spend.monthUsd), "since the 1st, UTC", "month")}
        ${card("Runs", o.runs.toLocaleString("en-US"), "traces, last 24 h", "runs")}
        ${card(
          "Runs with errors",
          formatPercent(o.errorRate),
          `${o.errorRuns.toLocaleString("en-US")} of ${o.runs.toLocaleString("en-US")} runs had a failed span (a tool, a call, any step)`,
          "errors",
          (o.errorRate ?? 0) > 0.05,
        )}
        ${card(
          "LLM call errors",
          formatPercent(o.llm.calls > 0 ? o.llm.errors / o.llm.calls : null),
          `${o.llm.errors.toLocaleString("en-US")} of ${o.llm.calls.toLocaleString("en-US")} model calls failed (retried ones count each time)`,
          "llm-errors",
          o.llm.calls > 0 && o.llm.errors / o.llm.calls > 0.05,
        )}
        ${card("p95 latency", formatDuration(o.latency.p95Ns), `p50 ${formatDuration(o.latency.p50Ns)}`, "p95")}
        ${card(
          "LLM calls",
          o.llm.calls.toLocaleString("en-US"),
          `${formatTokens(o.llm.inputTokens)} in · ${formatTokens(o.llm.outputTokens)} out tokens`,
          "calls",
        )}
      </div>
      ${
        o.runs === 0 && o.llm.calls === 0
          ? html`<div style="margin-top:12px">${this.renderEmpty(
              'Nothing in the last 24 hours. Send OpenTelemetry traces to the collector (OTLP on :4318) or run "npm run demo".',
            )}</div>`
          : nothing
      }
      <div class="two">
        <section>
          <h2>Top agents <span class="sub">(24 h)</span></h2>
          ${this.renderTop(o.topAgents, "agent", "#/agents")}
        </section>
        <section>
          <h2>Top models <span class="sub">(24 h)</span></h2>
          ${this.renderTop(o.topModels, "model", "#/costs?groupBy=model")}
        </section>
      </div>
      <h2>Spend by agent</h2>
      <cognive-cost-chart group-by="agent" range="24h"></cognive-cost-chart>`;
  }

  private renderTop(rows: OverviewTop[], what: string, more: string): TemplateResult {
    if (rows.length === 0) return html`<p class="sub">No ${what} spend in the last 24 hours.</p>`;
    const max = Math.max(...rows.map((r) => r.costUsd), 1e-12);
    return html`<table aria-label="Top ${what}s by spend">
        <thead>
          <tr>
            <th scope="col">${what === "agent" ? "Agent" : "Model"}</th>
            <th scope="col" class="num">Calls</th>
            <th scope="col" class="num">Errors</th>
            <th scope="col" class="num">Spend</th>
            <th scope="col" style="width:25%"><span class="sub">share</span></th>
          </tr>
        </thead>
        <tbody>
          ${rows.map(
            (r) => html`<tr>
              <td>
                ${
                  what === "agent"
                    ? html`<a href="#/traces?${new URLSearchParams({ agent: r.name })}" title="Traces of ${r.name}">${r.name}</a>`
                    : r.name
                }
              </td>
              <td class="num">${r.calls.toLocaleString("en-US")}</td>
              <td class="num">${r.errors.toLocaleString("en-US")}</td>
              <td class="num">${formatCost(r.costUsd)}</td>
              <td><div class="share" style="width:${((r.costUsd / max) * 100).toFixed(1)}%"></div></td>
            </tr>`,
          )}
        </tbody>
      </table>
      <p><a href=${more}>More…</a></p>`;
  }
}

function numberParam(v: string | null): number | undefined {
  const n = v === null || v === "" ? Number.NaN : Number(v);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

function pick<T extends string>(value: string | null, allowed: readonly T[], fallback: T): T {
  return allowed.includes(value as T) ? (value as T) : fallback;
}

if (!customElements.get("cognive-app")) customElements.define("cognive-app", CogniveApp);

declare global {
  interface HTMLElementTagNameMap {
    "cognive-app": CogniveApp;
  }
}
