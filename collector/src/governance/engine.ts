import { type Alert, alertId } from "../alerts/alert.ts";
import type { AlertBus } from "../alerts/bus.ts";
import type { Logger } from "../log.ts";
import type { AgentPolicy, Budgets, Policy } from "../policy.ts";
import type { AlertStore } from "../storage/alerts.ts";
import type { BudgetCounters, BudgetScope, CounterResult, SpanSpend, SpendIncrement } from "./counters.ts";
import type { GovernedSpan, IngestHandover, OnDurable } from "./hook.ts";
import { modelAllowed, toolApproved } from "./resolve.ts";
import { dayKey, monthKey } from "./windows.ts";

export interface GovernanceStats {
  alertsRaised: number;
  failures: number;
  /** Durable spans handed over and not yet counted: how far budgets are behind ingest. */
  pendingSpans: number;
}

/** The budget that limits each window. */
export const BUDGET_OF_WINDOW: Readonly<Record<"run" | "day" | "month", keyof Budgets>> = {
  run: "perRunUsd",
  day: "dailyUsd",
  month: "monthlyUsd",
};

/**
 * Budgets and policies applied to what ingest has made durable: each model call's cost is counted
 * per agent and team in the run, day and month windows; thresholds crossed and policy violations
 * become alerts, published on the bus and stored. Work is queued and runs off the ingest path; a
 * retried span is counted once because counters de-duplicate by span.
 */
const NO_ALERTS: readonly Alert[] = Object.freeze([]) as readonly Alert[];
const DAY_MS = 86_400_000;
const WINDOWS = ["run", "day", "month"] as const;

export class Governance {
  private queue: Promise<void> = Promise.resolve();
  readonly stats: GovernanceStats = { alertsRaised: 0, failures: 0, pendingSpans: 0 };

  constructor(
    private readonly policy: Policy,
    private readonly counters: BudgetCounters,
    private readonly bus: AlertBus,
    private readonly store: AlertStore,
    private readonly log: Logger,
  ) {}

  /** The ingest hook: queues the durable spans and returns at once. */
  readonly onDurable: OnDurable = (spans) => {
    this.stats.pendingSpans += spans.length;
    this.queue = this.queue
      .then(() => this.process(spans))
      .catch((err) => {
        this.stats.failures++;
        this.log.error("governance failed for a batch", { err, spans: spans.length });
      })
      .finally(() => {
        this.stats.pendingSpans -= spans.length;
      });
  };

  private ingest: IngestHandover | null = null;

  /** Makes `idle` wait for the spans this ingest is still writing, not only for those it handed over. */
  follow(ingest: IngestHandover): void {
    this.ingest = ingest;
  }

  /**
   * Resolves when everything handed over so far is processed, and, when following an ingest, what it
   * was writing at the call too: a span storage already shows is then counted.
   */
  async idle(): Promise<void> {
    if (this.ingest !== null) await this.ingest.handedOver();
    await this.queue;
  }

  private async process(spans: GovernedSpan[]): Promise<void> {
    // Each span's alerts, in span order: its policy's, then the thresholds its spend crossed. Most
    // spans raise none: they leave a hole in this list by span index, which flat() skips.
    const raised: Alert[][] = [];
    const spending: SpanSpend[] = [];
    const spendingAt: number[] = [];
    for (let i = 0; i < spans.length; i++) {
      const s = spans[i];
      const agentPolicy = this.policy.agents.get(s.agent);
      const policyAlerts = this.policyAlerts(s, agentPolicy);
      if (policyAlerts.length > 0) raised[i] = [...policyAlerts];
      if (s.modelCall && s.costNanos > 0) {
        spendingAt.push(i);
        spending.push({ spanKey: `${s.traceId}:${s.spanId}`, increments: this.increments(s, agentPolicy) });
      }
    }
    if (spending.length > 0) {
      // One call for the batch: with Redis, one round trip a few hundred spans instead of one a span.
      const results = await this.counters.addMany(spending, this.policy.alerts.thresholds);
      for (let j = 0; j < spending.length; j++) {
        if (!results[j].some((r) => r.crossed.length > 0)) continue;
        const i = spendingAt[j];
        raised[i] ??= [];
        raised[i].push(...this.thresholdAlerts(spans[i], spending[j].increments, results[j]));
      }
    }
    const all = raised.flat();
    if (all.length === 0) return;
    this.stats.alertsRaised += all.length;
    await this.store.save(all);
    for (const a of all) await this.bus.publish(a);
  }

  private policyAlerts(s: GovernedSpan, agentPolicy: AgentPolicy | undefined): readonly Alert[] {
    const modelRefused = s.modelCall && !modelAllowed(agentPolicy, s.requestModel, s.responseModel);
    const toolRefused = s.tool !== null && !toolApproved(agentPolicy, s.tool);
    if (!modelRefused && !toolRefused) return NO_ALERTS;
    const out: Alert[] = [];
    const base = {
      time: new Date(s.timeMs).toISOString(),
      agent: s.agent,
      team: s.team,
      traceId: s.traceId,
      spanId: s.spanId,
    };
    if (modelRefused) {
      const kind = "policy.model_not_allowed" as const;
      out.push({
        id: alertId({ kind, traceId: s.traceId, spanId: s.spanId }),
        kind,
        ...base,
        model: s.responseModel ?? s.requestModel ?? "",
      });
    }
    if (toolRefused && s.tool !== null) {
      const kind = "policy.tool_not_approved" as const;
      out.push({ id: alertId({ kind, traceId: s.traceId, spanId: s.spanId }), kind, ...base, tool: s.tool });
    }
    return out;
  }

  /**
   * The span's spend for the agent (run, day, month) and its team (day, month). A run is counted only
   * for an agent with a per-run budget: nothing reads the run of any other, and a counter a trace
   * kept for two days (~270 bytes each in memory) would grow with the trace rate.
   */
  private increments(s: GovernedSpan, agentPolicy: AgentPolicy | undefined): SpendIncrement[] {
    const teamPolicy = s.team === "" ? undefined : this.policy.teams.get(s.team);
    const period = this.periodKeys(s.timeMs);
    const usd = s.costNanos / 1e9;
    const agent = this.scopeOf("agent", s.agent);
    const team = s.team === "" ? null : this.scopeOf("team", s.team);
    const increments: SpendIncrement[] = [];
    for (const window of WINDOWS) {
      const windowKey = window === "run" ? s.traceId : window === "day" ? period.day : period.month;
      const limitUsd = agentPolicy?.budgets[BUDGET_OF_WINDOW[window]] ?? null;
      if (window !== "run" || limitUsd !== null) increments.push({ scope: agent, window, windowKey, usd, limitUsd });
      if (team !== null && window !== "run") {
        const teamLimitUsd = teamPolicy?.budgets[BUDGET_OF_WINDOW[window]] ?? null;
        increments.push({ scope: team, window, windowKey, usd, limitUsd: teamLimitUsd });
      }
    }
    return increments;
  }

  /** The last scope of each type made: a batch's spans mostly share their agent and team (scopes are never changed). */
  private lastScope: Record<BudgetScope["type"], BudgetScope | null> = { agent: null, team: null };

  private scopeOf(type: BudgetScope["type"], name: string): BudgetScope {
    const last = this.lastScope[type];
    if (last !== null && last.name === name) return last;
    const scope: BudgetScope = { type, name };
    this.lastScope[type] = scope;
    return scope;
  }

  /** The day and month keys of the last UTC day seen: spans of a batch mostly share theirs. */
  private period = { from: 0, to: 0, day: "", month: "" };

  private periodKeys(timeMs: number): { day: string; month: string } {
    // Written so that a time that is not a number misses the cache (and dayKey refuses it).
    if (!(timeMs >= this.period.from && timeMs < this.period.to)) {
      const from = Math.floor(timeMs / DAY_MS) * DAY_MS;
      this.period = { from, to: from + DAY_MS, day: dayKey(timeMs), month: monthKey(timeMs) };
    }
    return this.period;
  }

  private thresholdAlerts(s: GovernedSpan, increments: SpendIncrement[], results: CounterResult[]): Alert[] {
    const alerts: Alert[] = [];
    results.forEach((r, i) => {
      const inc = increments[i];
      for (const fraction of r.crossed) {
        // Alerts carry thresholds as percentages (50, 80, 100); the policy file writes fractions.
        const t = Math.round(fraction * 100);
        const scope = { type: inc.scope.type, name: inc.scope.name, window: inc.window };
        alerts.push({
          id: alertId({ kind: "budget.threshold", scope, windowKey: inc.windowKey, threshold: t }),
          kind: "budget.threshold",
          time: new Date(s.timeMs).toISOString(),
          agent: s.agent,
          team: s.team,
          traceId: s.traceId,
          scope,
          threshold: t,
          spendUsd: r.totalUsd,
          limitUsd: inc.limitUsd ?? undefined,
        });
      }
    });
    return alerts;
  }
}
