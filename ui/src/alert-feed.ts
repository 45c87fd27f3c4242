import { css, html, nothing, type PropertyValues, type TemplateResult } from "lit";
import { repeat } from "lit/directives/repeat.js";
import {
  type AlertItem,
  backoffMs,
  describeAlert,
  kindLabel,
  mergeAlerts,
  normalizeAlert,
  relativeTime,
  severityOf,
} from "./alert-data.ts";
import { ApiError, type CogniveApi } from "./api.ts";
import { CogniveElement } from "./base.ts";
import { formatTime } from "./format.ts";
import { theme } from "./theme.ts";

type LiveState = "connecting" | "live" | "retrying" | "off";

/** How far back the first list reaches: the list API defaults to 24 hours, a quiet week should still show. */
const HISTORY_S = 30 * 86_400;

/**
 * `<cognive-alert-feed limit="50">`: budget and policy alerts, newest first — the recent ones from
 * `GET /api/v1/alerts`, then live from `GET /api/v1/alerts/stream` (server-sent events over fetch, so
 * the token header is sent), reconnecting with backoff and catching up on what it missed.
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
    traceHrefTemplate: { type: String, attribute: "trace-href-template" },
    alerts: { state: true },
    error: { state: true },
    liveState: { state: true },
  };

  declare limit: number | undefined;
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
    if (this.needsStart || this.changedAny(changed, ["apiBase", "token", "limit"])) {
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
        { from: to - HISTORY_S, limit: this.max },
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
              if (a) this.alerts = mergeAlerts(this.alerts ?? [], [a], this.max);
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
      ${this.error ? this.renderError(this.error) : nothing}
      <!-- Keyed rows: a new alert is a new node at the top, which is what aria-live announces. -->
      <ol part="list" aria-live="polite" aria-relevant="additions" aria-label="Alerts, newest first">
        ${repeat(
          this.alerts,
          (a) => a.id,
          (a) => this.renderAlert(a, now),
        )}
      </ol>
      ${
        this.alerts.length === 0
          ? html`<div class="empty" part="empty">No alerts yet. Budget thresholds (50/80/100 %) and policy violations appear here as they happen.</div>`
          : nothing
      }
    </section>`;
  }

  private renderAlert(a: AlertItem, now: number): TemplateResult {
    const sev = severityOf(a);
    return html`<li part="alert alert-${sev}" data-id=${a.id} data-kind=${a.kind}>
      <span class="badges">
        <span class="badge sev-${sev}" part="severity">${sev}</span>
        <span class="badge kind" part="kind">${kindLabel(a.kind)}</span>
      </span>
      <span class="what">${describeAlert(a)}</span>
      <time datetime=${a.time} title=${formatTime(Date.parse(a.time))}>${relativeTime(a.time, now)}</time>
      <span class="meta"
        >${a.team ? `team ${a.team}` : nothing}${a.team && a.traceId ? " · " : nothing}${a.traceId ? this.renderTrace(a.traceId) : nothing}</span
      >
    </li>`;
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
