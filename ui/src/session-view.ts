import { css, html, nothing, type TemplateResult } from "lit";
import { formatCost, formatDuration, formatTime, formatTokens } from "./format.ts";
import { PollingElement } from "./polling.ts";
import { theme } from "./theme.ts";
import type { ApiGenAiMessage } from "./trace-types.ts";

export interface ApiSessionTurn {
  traceId: string;
  rootName: string | null;
  startTimeUnixNano: string;
  durationNs: string;
  costUsd: number;
  unpricedCalls: number;
  inputTokens: number;
  outputTokens: number;
  errors: number;
  users: string[];
  agents: string[];
  input: ApiGenAiMessage[];
  output: ApiGenAiMessage[];
}

export interface ApiSessionDetail {
  conversationId: string;
  turns: ApiSessionTurn[];
  truncated: boolean;
  costUsd: number;
  inputTokens: number;
  outputTokens: number;
  users: { userId: string; traces: number; costUsd: number }[];
  firstSeen: string;
  lastSeen: string;
}

/** The readable text of a message: its text parts, and tool calls by name. */
export function messageText(m: ApiGenAiMessage): string {
  return m.parts
    .map((p) => {
      if (typeof p.content === "string") return p.content;
      if (p.type === "tool_call") return `→ tool ${String(p.name ?? "?")}(${JSON.stringify(p.arguments ?? {})})`;
      if (p.type === "tool_call_response") return `← ${JSON.stringify(p.response ?? p.result ?? "")}`;
      return "";
    })
    .filter((s) => s !== "")
    .join("\n");
}

/** What a turn asked: the input from the last user message on (earlier ones belong to earlier turns). */
export function turnQuestion(input: ApiGenAiMessage[]): ApiGenAiMessage[] {
  const lastUser = input.map((m) => m.role).lastIndexOf("user");
  return lastUser < 0 ? input.filter((m) => m.role !== "system") : input.slice(lastUser);
}

/**
 * `<cognive-session-view session-id="…" trace-href-template="#/traces/{id}">`: one conversation
 * from `GET /api/v1/sessions/{id}` as chat turns, each linked to its trace with its cost, and the
 * cost per user.
 */
export class CogniveSessionView extends PollingElement {
  static override styles = [
    theme,
    css`
      .head {
        display: flex;
        flex-wrap: wrap;
        gap: 16px;
        align-items: baseline;
      }
      .turn {
        border: 1px solid var(--_border);
        border-radius: var(--_radius);
        background: var(--_bg);
        padding: 10px 12px;
        margin: 12px 0;
      }
      .meta {
        display: flex;
        flex-wrap: wrap;
        gap: 12px;
        color: var(--_muted);
        font-size: 0.9em;
      }
      .text {
        white-space: pre-wrap;
      }
      .msg {
        border-radius: var(--_radius);
        padding: 8px 10px;
        margin: 8px 0;
        max-width: 80ch;
      }
      .msg.user {
        background: color-mix(in srgb, var(--_accent) 12%, transparent);
      }
      .msg.assistant,
      .msg.tool {
        background: color-mix(in srgb, var(--_fg) 6%, transparent);
        margin-left: 4ch;
      }
      .role {
        font-weight: 600;
        display: block;
      }
      table {
        border-collapse: collapse;
        font-variant-numeric: tabular-nums;
      }
      th,
      td {
        padding: 4px 10px;
        border-bottom: 1px solid var(--_border);
        text-align: left;
      }
    `,
  ];

  static override properties = {
    ...PollingElement.properties,
    sessionId: { type: String, attribute: "session-id" },
    traceHrefTemplate: { type: String, attribute: "trace-href-template" },
    _session: { state: true },
    _error: { state: true },
  };

  declare sessionId: string | undefined;
  declare traceHrefTemplate: string | undefined;
  declare _session: ApiSessionDetail | undefined;
  declare _error: unknown;

  protected override reloadOn = ["sessionId"];

  protected override async fetchData(signal: AbortSignal): Promise<void> {
    if (!this.sessionId) return;
    this._session = await this.api.get<ApiSessionDetail>(
      `/api/v1/sessions/${encodeURIComponent(this.sessionId)}`,
      {},
      signal,
    );
    this._error = undefined;
  }

  protected override fetchFailed(err: unknown): void {
    this._error = err;
  }

  private renderMessage(m: ApiGenAiMessage): TemplateResult {
    const role = ["user", "assistant", "tool", "system"].includes(m.role) ? m.role : "assistant";
    return html`<div class="msg ${role}" part="message ${role}" data-role=${m.role}>
      <span class="role">${m.role}</span><span class="text">${messageText(m)}</span>
    </div>`;
  }

  private renderTurn(t: ApiSessionTurn, i: number): TemplateResult {
    const href = this.traceHrefTemplate?.replace("{id}", t.traceId);
    const question = turnQuestion(t.input);
    return html`<article class="turn" part="turn" data-trace-id=${t.traceId}>
      <div class="meta">
        <strong>Turn ${i + 1}</strong>
        <span>${formatTime(t.startTimeUnixNano)}</span>
        <span>${formatDuration(t.durationNs)}</span>
        <span data-cost=${t.costUsd}
          >${formatCost(t.costUsd)}${t.unpricedCalls > 0 ? html` + ${t.unpricedCalls} unpriced` : nothing}</span
        >
        <span>${formatTokens(t.inputTokens)} in / ${formatTokens(t.outputTokens)} out</span>
        ${t.users.length > 0 ? html`<span>user ${t.users.join(", ")}</span>` : nothing}
        ${t.errors > 0 ? html`<span class="error">${t.errors} error${t.errors > 1 ? "s" : ""}</span>` : nothing}
        ${href ? html`<a class="trace" href=${href}>Open trace ${t.traceId.slice(0, 8)}…</a>` : nothing}
      </div>
      ${
        question.length + t.output.length === 0
          ? html`<p class="meta">${t.rootName ?? "(no captured messages)"}</p>`
          : html`${question.map((m) => this.renderMessage(m))}${t.output.map((m) => this.renderMessage(m))}`
      }
    </article>`;
  }

  override render(): TemplateResult {
    if (this._error) return this.renderError(this._error);
    const s = this._session;
    if (!s) return this.renderLoading();
    return html`<section part="session">
      <div class="head">
        <h2>Session ${s.conversationId}</h2>
        <span data-stat="cost">${formatCost(s.costUsd)}</span>
        <span>${s.turns.length} turns</span>
        <span>${formatTokens(s.inputTokens)} in / ${formatTokens(s.outputTokens)} out</span>
      </div>
      ${
        s.users.length > 0
          ? html`<table aria-label="Cost per user">
            <thead>
              <tr>
                <th scope="col">User</th>
                <th scope="col">Turns</th>
                <th scope="col">Cost</th>
              </tr>
            </thead>
            <tbody>
              ${s.users.map(
                (u) => html`<tr>
                  <td>${u.userId}</td>
                  <td>${u.traces}</td>
                  <td>${formatCost(u.costUsd)}</td>
                </tr>`,
              )}
            </tbody>
          </table>`
          : nothing
      }
      ${s.truncated ? html`<p class="meta">Only the first ${s.turns.length} turns are shown.</p>` : nothing}
      ${s.turns.map((t, i) => this.renderTurn(t, i))}
    </section>`;
  }
}

if (!customElements.get("cognive-session-view")) customElements.define("cognive-session-view", CogniveSessionView);
