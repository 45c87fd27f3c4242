import { css, html, nothing, type TemplateResult } from "lit";
import {
  type AgentEntry,
  ariaSort,
  globMatch,
  nextSort,
  type SortDir,
  type SortKey,
  sortAgents,
} from "./agent-table-data.ts";
import { describeRange, parseRange } from "./chart-data.ts";
import { fire } from "./events.ts";
import { formatCost, formatPercent } from "./format.ts";
import { PollingElement } from "./polling.ts";
import { tableFrame, theme } from "./theme.ts";

/** `wide`: a secondary column that gives way in a narrow container (a phone, a side panel). */
const COLUMNS: { key: SortKey; label: string; numeric: boolean; wide?: boolean }[] = [
  { key: "name", label: "Agent", numeric: false },
  { key: "team", label: "Team", numeric: false, wide: true },
  { key: "policy", label: "Declared policy", numeric: false, wide: true },
  { key: "models", label: "Observed models · tools", numeric: false, wide: true },
  { key: "calls", label: "Calls", numeric: true, wide: true },
  { key: "errorRate", label: "Error rate", numeric: true },
  { key: "spendTodayUsd", label: "Today", numeric: true, wide: true },
  { key: "spendUsd", label: "In range", numeric: true },
  { key: "violations", label: "Violations", numeric: true },
];

/**
 * `<cognive-agent-table range="1h|24h|7d|30d">`: every agent the policy declares or the data shows,
 * from `GET /api/v1/agents` (range defaults to 30 days; reloads every `refresh` seconds, default 60),
 * with sortable columns. Choosing an agent
 * fires `cognive-agent-select` (bubbles, composed) with `detail: { agent }`.
 */
export class CogniveAgentTable extends PollingElement {
  static override styles = [
    theme,
    tableFrame,
    css`
      :host {
        container-type: inline-size;
      }
      th,
      td {
        padding: 6px 10px;
        text-align: left;
        vertical-align: top;
        border-top: 1px solid var(--_border);
      }
      th {
        background: var(--_surface);
        font-weight: 600;
        white-space: nowrap;
      }
      th.num,
      td.num {
        text-align: right;
      }
      th button {
        border: 0;
        background: none;
        padding: 0;
        cursor: pointer;
        font-weight: inherit;
      }
      th button .arrow {
        display: inline-block;
        width: 1em;
        color: var(--_muted);
      }
      tbody tr {
        cursor: pointer;
      }
      tbody tr:hover,
      tbody tr.selected {
        background: var(--_surface);
      }
      tbody tr.selected td:first-child {
        box-shadow: inset 3px 0 0 var(--_accent);
      }
      .agent {
        border: 0;
        background: none;
        padding: 0;
        font-weight: 600;
        cursor: pointer;
        text-align: left;
      }
      .muted {
        color: var(--_muted);
      }
      .chips {
        display: flex;
        flex-wrap: wrap;
        gap: 4px;
      }
      .chip {
        font-family: var(--_mono);
        font-size: 12px;
        padding: 0 6px;
        border-radius: 999px;
        border: 1px solid var(--_border);
        white-space: nowrap;
      }
      .chip.tool {
        border-style: dashed;
      }
      .bad {
        color: var(--_error);
        font-weight: 600;
      }
      .small {
        font-size: 12px;
      }
      /* Last, so it wins: in a narrow container the secondary columns give way and cells tighten. */
      @container (max-width: 640px) {
        .wide {
          display: none;
        }
        th,
        td {
          padding-left: 5px;
          padding-right: 5px;
        }
        thead th {
          white-space: normal;
        }
      }
    `,
  ];
  static override properties = {
    ...PollingElement.properties,
    range: { type: String },
    selected: { type: String, reflect: true },
    agents: { state: true },
    error: { state: true },
    sort: { state: true },
  };

  declare range: string | undefined;
  /** The selected agent's name (set by a click, or by the page). */
  declare selected: string | undefined;
  declare agents: AgentEntry[] | null;
  declare error: unknown;
  declare sort: { key: SortKey; dir: SortDir };

  protected override reloadOn = ["range"];

  constructor() {
    super();
    this.agents = null;
    this.error = null;
    this.sort = { key: "spendUsd", dir: "desc" };
  }

  private get rangeSeconds(): number {
    return this.range ? parseRange(this.range) : 30 * 86_400;
  }

  protected override async fetchData(signal: AbortSignal): Promise<void> {
    const to = Math.floor(Date.now() / 1000);
    const body = await this.api.get<{ agents: AgentEntry[] }>(
      "/api/v1/agents",
      { from: to - this.rangeSeconds, to },
      signal,
    );
    if (signal.aborted) return;
    this.agents = body.agents;
    this.error = null;
  }

  protected override fetchFailed(err: unknown): void {
    this.error = err;
  }

  private sortBy(key: SortKey): void {
    this.sort = nextSort(this.sort, key);
  }

  private choose(agent: string): void {
    this.selected = agent;
    fire(this, "cognive-agent-select", { agent });
  }

  protected override render(): TemplateResult {
    if (this.error && !this.agents) return this.renderError(this.error);
    if (!this.agents) return this.renderLoading("Loading agents…");
    if (this.agents.length === 0) {
      return this.renderEmpty(
        `No agents in the ${describeRange(this.rangeSeconds)}. Agents appear when they send spans with gen_ai.agent.name, or when the policy file (COGNIVE_POLICY) declares them.`,
      );
    }
    const rows = sortAgents(this.agents, this.sort.key, this.sort.dir);
    return html`${this.error ? this.renderError(this.error) : nothing}
      <div class="wrap" part="table-wrap">
        <table part="table">
          <caption part="caption">Agents · ${describeRange(this.rangeSeconds)}</caption>
          <thead>
            <tr>
              ${COLUMNS.map(
                (
                  c,
                ) => html`<th scope="col" class="${c.numeric ? "num" : ""} ${c.wide ? "wide" : ""}" aria-sort=${ariaSort(this.sort, c.key)}>
                  <button type="button" part="sort-button" @click=${() => this.sortBy(c.key)}>
                    ${c.label}<span class="arrow" aria-hidden="true"
                      >${this.sort.key === c.key ? (this.sort.dir === "asc" ? "▲" : "▼") : ""}</span
                    >
                  </button>
                </th>`,
              )}
            </tr>
          </thead>
          <tbody>
            ${rows.map((a) => this.renderRow(a))}
          </tbody>
        </table>
      </div>`;
  }

  private renderRow(a: AgentEntry): TemplateResult {
    const selected = a.name === this.selected;
    const allowed = a.policy?.allowedModels;
    return html`<tr
      part=${selected ? "row selected" : "row"}
      class=${selected ? "selected" : ""}
      data-agent=${a.name}
      @click=${() => this.choose(a.name)}
    >
      <th scope="row">
        <button type="button" class="agent" part="agent" @click=${(e: Event) => {
          e.stopPropagation();
          this.choose(a.name);
        }}>${a.name}</button>
      </th>
      <td class="wide">${a.team ?? html`<span class="muted">—</span>`}</td>
      <td class="small wide">${this.renderPolicy(a)}</td>
      <td class="wide">
        <div class="chips">
          ${a.models.map(
            (m) =>
              html`<span class="chip ${allowed && !allowed.some((p) => globMatch(p, m)) ? "bad" : ""}">${m}</span>`,
          )}
          ${a.tools.map(
            (t) =>
              html`<span class="chip tool ${a.policy?.approvedTools && !a.policy.approvedTools.includes(t) ? "bad" : ""}"
                >${t}</span
              >`,
          )}
          ${a.models.length + a.tools.length === 0 ? html`<span class="muted">—</span>` : nothing}
        </div>
      </td>
      <td class="num wide">${a.calls.toLocaleString("en-US")}</td>
      <td class="num ${a.errorRate !== null && a.errorRate >= 0.05 ? "bad" : ""}">${formatPercent(a.errorRate)}</td>
      <td class="num wide">${formatCost(a.spendTodayUsd)}</td>
      <td class="num">${formatCost(a.spendUsd)}</td>
      <td class="num ${a.violations > 0 ? "bad" : ""}">${a.violations}</td>
    </tr>`;
  }

  private renderPolicy(a: AgentEntry): TemplateResult {
    const p = a.policy;
    if (!p) return html`<span class="muted">not declared</span>`;
    const b = p.budgets;
    const budgets = [
      b.perRunUsd !== null ? `${formatCost(b.perRunUsd)}/run` : null,
      b.dailyUsd !== null ? `${formatCost(b.dailyUsd)}/day` : null,
      b.monthlyUsd !== null ? `${formatCost(b.monthlyUsd)}/month` : null,
    ].filter((x) => x !== null);
    return html`<div>${p.allowedModels ? `models: ${p.allowedModels.join(", ")}` : "any model"}</div>
      <div>${p.approvedTools ? `tools: ${p.approvedTools.join(", ")}` : "any tool"}</div>
      <div>${budgets.length > 0 ? budgets.join(" · ") : html`<span class="muted">no budget</span>`}</div>`;
  }
}

if (!customElements.get("cognive-agent-table")) customElements.define("cognive-agent-table", CogniveAgentTable);
