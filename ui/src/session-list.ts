import { css, html, nothing, type TemplateResult } from "lit";
import { describeRange, parseRange } from "./chart-data.ts";
import { formatCost, formatTime, formatTokens } from "./format.ts";
import { PollingElement } from "./polling.ts";
import { tableFrame, theme } from "./theme.ts";

export interface ApiSession {
  conversationId: string;
  traces: number;
  spans: number;
  costUsd: number;
  inputTokens: number;
  outputTokens: number;
  users: string[];
  agents: string[];
  firstSeen: string;
  lastSeen: string;
  errors: number;
}

/** `#/sessions/{id}`-style links: `{id}` is replaced by the URL-encoded conversation id. */
export function sessionHref(template: string, id: string): string {
  return template.replace("{id}", encodeURIComponent(id));
}

/**
 * `<cognive-session-list range="24h" user="…" agent="…" href-template="#/sessions/{id}">`: the
 * sessions (conversations) with activity in the range from `GET /api/v1/sessions`, most recent
 * first, with their turns, users, agents, cost and tokens; "Load more" follows the API's cursor.
 */
export class CogniveSessionList extends PollingElement {
  static override styles = [
    theme,
    tableFrame,
    css`
      th,
      td {
        padding: 6px 10px;
        border-bottom: 1px solid var(--_border);
        text-align: left;
        white-space: nowrap;
      }
      td.num,
      th.num {
        text-align: right;
      }
      td.id {
        max-width: 22ch;
        overflow: hidden;
        text-overflow: ellipsis;
      }
      .more {
        margin: 10px;
      }
    `,
  ];

  static override properties = {
    ...PollingElement.properties,
    range: { type: String },
    user: { type: String },
    agent: { type: String },
    team: { type: String },
    hrefTemplate: { type: String, attribute: "href-template" },
    _sessions: { state: true },
    _next: { state: true },
    _error: { state: true },
  };

  declare range: string | undefined;
  declare user: string | undefined;
  declare agent: string | undefined;
  declare team: string | undefined;
  declare hrefTemplate: string | undefined;
  declare _sessions: ApiSession[] | undefined;
  declare _next: string | null;
  declare _error: unknown;

  protected override reloadOn = ["range", "user", "agent", "team"];

  constructor() {
    super();
    this._next = null;
  }

  private query(cursor?: string) {
    const to = Math.floor(Date.now() / 1000);
    return {
      from: to - parseRange(this.range),
      to,
      user: this.user,
      agent: this.agent,
      team: this.team,
      limit: 50,
      cursor,
    };
  }

  protected override async fetchData(signal: AbortSignal): Promise<void> {
    const page = await this.api.get<{ sessions: ApiSession[]; nextCursor: string | null }>(
      "/api/v1/sessions",
      this.query(),
      signal,
    );
    this._sessions = page.sessions;
    this._next = page.nextCursor;
    this._error = undefined;
  }

  protected override fetchFailed(err: unknown): void {
    this._error = err;
  }

  private async more(): Promise<void> {
    if (!this._next) return;
    try {
      const page = await this.api.get<{ sessions: ApiSession[]; nextCursor: string | null }>(
        "/api/v1/sessions",
        this.query(this._next),
      );
      this._sessions = [...(this._sessions ?? []), ...page.sessions];
      this._next = page.nextCursor;
    } catch (err) {
      this._error = err;
    }
  }

  private link(s: ApiSession): TemplateResult {
    const text = s.conversationId;
    if (!this.hrefTemplate) return html`${text}`;
    return html`<a class="open" href=${sessionHref(this.hrefTemplate, s.conversationId)} title=${text}>${text}</a>`;
  }

  override render(): TemplateResult {
    if (this._error) return this.renderError(this._error);
    const sessions = this._sessions;
    if (!sessions) return this.renderLoading();
    if (sessions.length === 0) {
      return this.renderEmpty(
        `No sessions in the ${describeRange(parseRange(this.range))}. Sessions come from spans that carry gen_ai.conversation.id (or session.id, langfuse.session.id, ai.telemetry.metadata.sessionId).`,
      );
    }
    return html`<div class="wrap" part="table">
      <table aria-label="Sessions">
        <caption>
          Sessions, ${describeRange(parseRange(this.range))}
        </caption>
        <thead>
          <tr>
            <th scope="col">Conversation</th>
            <th scope="col">Users</th>
            <th scope="col">Agents</th>
            <th scope="col" class="num">Turns</th>
            <th scope="col" class="num">Cost</th>
            <th scope="col" class="num">Tokens in / out</th>
            <th scope="col" class="num">Errors</th>
            <th scope="col">Last activity</th>
          </tr>
        </thead>
        <tbody>
          ${sessions.map(
            (s) =>
              html`<tr data-conversation-id=${s.conversationId}>
                <td class="id">${this.link(s)}</td>
                <td>${s.users.length > 0 ? s.users.join(", ") : "—"}</td>
                <td>${s.agents.join(", ")}</td>
                <td class="num">${s.traces}</td>
                <td class="num" data-cost=${s.costUsd}>${formatCost(s.costUsd)}</td>
                <td class="num">${formatTokens(s.inputTokens)} / ${formatTokens(s.outputTokens)}</td>
                <td class="num">${s.errors}</td>
                <td title=${new Date(Number(BigInt(s.lastSeen) / 1_000_000n)).toISOString()}>
                  ${formatTime(s.lastSeen)}
                </td>
              </tr>`,
          )}
        </tbody>
      </table>
      ${this._next ? html`<button class="more" type="button" @click=${() => this.more()}>Load more</button>` : nothing}
    </div>`;
  }
}

if (!customElements.get("cognive-session-list")) customElements.define("cognive-session-list", CogniveSessionList);
