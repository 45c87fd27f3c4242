import { css, html, nothing, type PropertyValues, type TemplateResult } from "lit";
import { repeat } from "lit/directives/repeat.js";
import {
  ALERT_KINDS,
  type AlertGroup,
  type AlertItem,
  backoffMs,
  describeAlert,
  groupAlerts,
  kindLabel,
  matchesFilters,
  mergeAlerts,
  normalizeAlert,
  relativeTime,
  severityOf,
} from "./alert-data.ts";
import { ApiError, type CogniveApi } from "./api.ts";
import { CogniveElement } from "./base.ts";
import { formatDateTime } from "./format.ts";
import { theme } from "./theme.ts";

type LiveState = "connecting" | "live" | "retrying" | "off";

/** How far back the first list reaches: the list API defaults to 24 hours, a quiet week should still show. */
const HISTORY_S = 30 * 86_400;

/**
 * `<cognive-alert-feed limit="50">`: budget and policy alerts, newest first — the recent ones from
 * `GET /api/v1/alerts`, then live from `GET /api/v1/alerts/stream` (server-sent events over fetch, so
 * the token header is sent), reconnecting with backoff and catching up on what it missed. Repeats
 * (the same alert about the same subject) fold into one row with a count. Attributes `kind`, `agent`
 * and `team` filter; with `filters` the feed shows controls for them and fires
 * `cognive-alert-filters` (detail `{ kind, agent, team }`) when they change.
 */
export class CogniveAlertFeed extends CogniveElement {
  static override styles = [
    theme,
    css`
      .feed {
        border: 1px solid var(--_border);
        border-radius: var(--_radius);
        background: var(--_bg);
      }
      header {
        display: flex;
        justify-content: space-between;
        align-items: baseline;
        padding: 8px 10px;
        border-bottom: 1px solid var(--_border);
      }
      .title {
        font-weight: 600;
      }
      .live {
        font-size: 12px;
        color: var(--_muted);
      }
      .live[data-state="live"]::before {
        content: "●";
        color: var(--_ok);
        margin-right: 4px;
      }
      ol {
        list-style: none;
        margin: 0;
        padding: 0;
        max-height: var(--cognive-feed-max-height, 420px);
        overflow-y: auto;
      }
      :host {
        container-type: inline-size;
      }
      li {
        display: grid;
        /* a fixed badge column keeps every alert's text on one left edge */
        grid-template-columns: 13.5em 1fr auto;
        gap: 4px 10px;
        padding: 8px 10px;
        border-top: 1px solid var(--_border);
        align-items: baseline;
      }
      li:first-child {
        border-top: 0;
      }
      .badges {
        display: flex;
        gap: 4px;
      }
      .badge {
        font-size: 11px;
        padding: 1px 6px;
        border-radius: 999px;
        border: 1px solid currentColor;
        white-space: nowrap;
      }
      .sev-critical {
        color: var(--_error);
      }
      .sev-warning {
        color: var(--_warn);
      }
      .sev-info {
        color: var(--_accent);
      }
      .kind {
        color: var(--_muted);
      }
      .what {
        min-width: 0;
      }
      .meta {
        grid-column: 2 / 4;
        font-size: 12px;
        color: var(--_muted);
      }
      time {
        font-size: 12px;
        color: var(--_muted);
        white-space: nowrap;
      }
      .meta a {
        color: inherit;
      }
      @container (max-width: 560px) {
        li {
          grid-template-columns: 1fr auto;
        }
        .badges {
          grid-column: 1 / 3;
        }
        .meta {
          grid-column: 1 / 3;
        }
      }
      form {
        display: flex;
        flex-wrap: wrap;
        gap: 8px;
        padding: 8px 10px;
        border-bottom: 1px solid var(--_border);
        font-size: 12px;
        color: var(--_muted);
      }
      form label {
        display: flex;
        flex-direction: column;
        gap: 2px;
      }
      form select,
      form input {
        font: inherit;
        font-size: 13px;
        color: var(--_fg);
        background: var(--_bg);
        border: 1px solid var(--_border);
        border-radius: var(--_radius);
        padding: 3px 6px;
      }
      .count {
        font-size: 11px;
        padding: 0 6px;
        border-radius: 999px;
        background: var(--_surface);
        border: 1px solid var(--_border);
        color: var(--_fg);
        margin-left: 6px;
      }
      details.repeats {
        grid-column: 2 / 4;
        font-size: 12px;
        color: var(--_muted);
      }
      details.repeats ol {
        max-height: none;
        padding-left: 12px;
      }
      details.repeats li {
        display: block;
        border-top: 0;
        padding: 2px 0;
      }
      .empty {
        padding: 16px;
        text-align: center;
        color: var(--_muted);
      }
    `,
  ];
  static override properties = {
    ...CogniveElement.properties,
    limit: { type: Number },
    kind: { type: String },
    agent: { type: String },
    team: { type: String },
    filters: { type: Boolean },
    traceHrefTemplate: { type: String, attribute: "trace-href-template" },
    alerts: { state: true },
    error: { state: true },
    liveState: { state: true },
  };

  declare limit: number | undefined;
  declare kind: string;
  declare agent: string;
  declare team: string;
  /** Show the filter controls. */
  declare filters: boolean;
  /** A link to a trace, `{id}` standing for its id (e.g. `#/traces/{id}`); without it trace ids are text. */
  declare traceHrefTemplate: string | undefined;
  declare alerts: AlertItem[] | null;
  declare error: unknown;
  declare liveState: LiveState;

  private abort: AbortController | null = null;
  private clock: ReturnType<typeof setInterval> | undefined;
  private needsStart = true;

  constructor() {
    super();
    this.alerts = null;
    this.error = null;
    this.liveState = "connecting";
    this.kind = "";
    this.agent = "";
    this.team = "";
    this.filters = false;
  }

  private get max(): number {
    return this.limit && this.limit > 0 ? Math.min(1000, Math.floor(this.limit)) : 50;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    this.needsStart = true;
    this.requestUpdate();
    // Relative times age while nothing arrives.
    this.clock = setInterval(() => this.requestUpdate(), 15_000);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.stop();
    clearInterval(this.clock);
    this.clock = undefined;
  }

  protected override updated(changed: PropertyValues): void {
    if (this.needsStart || this.changedAny(changed, ["apiBase", "token", "limit", "kind", "agent", "team"])) {
      this.needsStart = false;
      this.start();
    }
  }

  private stop(): void {
    this.abort?.abort();
    this.abort = null;
  }

  /** (Re)starts the list load and the live stream; one run per connection, ended by `stop`. */
  private start(): void {
    this.stop();
    const abort = new AbortController();
    this.abort = abort;
    this.alerts = null;
    this.error = null;
    const api = this.api;
    void this.loadList(api, abort.signal).then(() => this.follow(api, abort.signal));
  }

  private async loadList(api: CogniveApi, signal: AbortSignal): Promise<void> {
    const to = Math.floor(Date.now() / 1000);
    try {
      const body = await api.get<{ alerts: unknown[] }>(
        "/api/v1/alerts",
        {
          from: to - HISTORY_S,
          limit: this.max,
          kind: this.kind || undefined,
          agent: this.agent || undefined,
          team: this.team || undefined,
        },
        signal,
      );
      if (signal.aborted) return;
      const items = body.alerts.map(normalizeAlert).filter((a): a is AlertItem => a !== null);
      this.alerts = mergeAlerts(this.alerts ?? [], items, this.max);
      this.error = null;
    } catch (err) {
      if (!signal.aborted) this.error = err;
    }
  }

  /** Follows the stream until `signal` aborts, reconnecting with backoff; a 4xx is final. */
  private async follow(api: CogniveApi, signal: AbortSignal): Promise<void> {
    let attempt = 0;
    let connectedBefore = false;
    while (!signal.aborted) {
      this.liveState = attempt === 0 ? "connecting" : "retrying";
      try {
        await api.stream(
          "/api/v1/alerts/stream",
          (ev) => {
            if (ev.event === "ready") {
              attempt = 0;
              this.liveState = "live";
              // Alerts raised while disconnected never reach this stream: fetch them.
              if (connectedBefore) void this.loadList(api, signal);
              connectedBefore = true;
            } else if (ev.event === "alert") {
              let parsed: unknown;
              try {
                parsed = JSON.parse(ev.data);
              } catch {
                return;
              }
              const a = normalizeAlert(parsed);
              if (a && matchesFilters(a, this)) this.alerts = mergeAlerts(this.alerts ?? [], [a], this.max);
            }
          },
          signal,
        );
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof ApiError && err.status >= 400 && err.status < 500) {
          this.liveState = "off";
          return;
        }
      }
      if (signal.aborted) return;
      this.liveState = "retrying";
      await sleep(backoffMs(attempt++, Math.random()), signal);
    }
  }

  protected override render(): TemplateResult {
    if (this.error && !this.alerts) return this.renderError(this.error);
    if (!this.alerts) return this.renderLoading("Loading alerts…");
    const now = Date.now();
    return html`<section class="feed" part="feed" aria-label="Alerts">
      <header part="header">
        <span class="title">Alerts</span>
        <span class="live" part="live" data-state=${this.liveState}>${LIVE_TEXT[this.liveState]}</span>
      </header>
      ${this.filters ? this.renderFilters() : nothing}
      ${this.error ? this.renderError(this.error) : nothing}
      <!-- Keyed rows: a new alert is a new node at the top, which is what aria-live announces. -->
      <ol part="list" aria-live="polite" aria-relevant="additions" aria-label="Alerts, newest first">
        ${repeat(
          groupAlerts(this.alerts),
          (g) => g.key,
          (g) => this.renderAlert(g, now),
        )}
      </ol>
      ${
        this.alerts.length === 0
          ? html`<div class="empty" part="empty">${
              this.kind || this.agent || this.team
                ? "No alerts match these filters in the last 30 days."
                : "No alerts yet. Budget thresholds (50/80/100 %) and policy violations appear here as they happen."
            }</div>`
          : nothing
      }
    </section>`;
  }

  private renderFilters(): TemplateResult {
    const change = (e: Event) => {
      const form = (e.currentTarget as HTMLElement).closest("form") as HTMLFormElement;
      const data = new FormData(form);
      const v = (k: string) => String(data.get(k) ?? "").trim();
      this.kind = v("kind");
      this.agent = v("agent");
      this.team = v("team");
      this.dispatchEvent(
        new CustomEvent("cognive-alert-filters", {
          detail: { kind: this.kind, agent: this.agent, team: this.team },
          bubbles: true,
          composed: true,
        }),
      );
    };
    return html`<form part="filters" role="search" aria-label="Filter alerts" @submit=${(e: Event) => {
      e.preventDefault();
      change(e);
    }}>
      <label
        >Kind
        <select name="kind" @change=${change}>
          <option value="" ?selected=${!this.kind}>any</option>
          ${ALERT_KINDS.map((k) => html`<option value=${k} ?selected=${k === this.kind}>${kindLabel(k)}</option>`)}
        </select>
      </label>
      <label>Agent<input name="agent" .value=${this.agent} autocomplete="off" @change=${change} /></label>
      <label>Team<input name="team" .value=${this.team} autocomplete="off" @change=${change} /></label>
    </form>`;
  }

  private renderAlert(g: AlertGroup, now: number): TemplateResult {
    const a = g.latest;
    const sev = severityOf(a);
    const n = g.alerts.length;
    return html`<li part="alert alert-${sev}" data-id=${a.id} data-kind=${a.kind} data-count=${n}>
      <span class="badges">
        <span class="badge sev-${sev}" part="severity">${sev}</span>
        <span class="badge kind" part="kind">${kindLabel(a.kind)}</span>
      </span>
      <span class="what"
        >${describeAlert(a)}${n > 1 ? html`<span class="count" title="${n} alerts like this one">×${n}</span>` : nothing}</span
      >
      ${this.renderTime(a, now)}
      <span class="meta"
        >${a.team ? `team ${a.team}` : nothing}${a.team && a.traceId ? " · " : nothing}${a.traceId ? this.renderTrace(a.traceId) : nothing}</span
      >
      ${
        n > 1
          ? html`<details class="repeats" part="repeats">
            <summary>${n - 1} earlier</summary>
            <ol>
              ${g.alerts.slice(1).map(
                (r) => html`<li data-member-id=${r.id}>
                  ${this.renderTime(r, now)} ${r.traceId ? html` · ${this.renderTrace(r.traceId)}` : nothing}
                </li>`,
              )}
            </ol>
          </details>`
          : nothing
      }
    </li>`;
  }

  /** Relative time, the exact local date and time on hover. */
  private renderTime(a: AlertItem, now: number): TemplateResult {
    return html`<time datetime=${a.time} title=${formatDateTime(Date.parse(a.time))}>${relativeTime(a.time, now)}</time>`;
  }

  private renderTrace(traceId: string): TemplateResult {
    const text = `trace ${traceId.slice(0, 8)}…`;
    if (!this.traceHrefTemplate) return html`${text}`;
    const href = this.traceHrefTemplate.replaceAll("{id}", encodeURIComponent(traceId));
    return html`<a href=${href} part="trace-link" title="Open trace ${traceId}">${text}</a>`;
  }
}

const LIVE_TEXT: Record<LiveState, string> = {
  connecting: "connecting…",
  live: "live",
  retrying: "reconnecting…",
  off: "live updates unavailable",
};

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });
}

if (!customElements.get("cognive-alert-feed")) customElements.define("cognive-alert-feed", CogniveAlertFeed);
