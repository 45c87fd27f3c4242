import { type Alert, type AlertScope, alertId } from "../alerts/alert.ts";
import type { AlertBus } from "../alerts/bus.ts";
import type { Logger } from "../log.ts";
import type { Budgets, Policy } from "../policy.ts";
import type { AlertStore } from "../storage/alerts.ts";
import type { Storage } from "../storage/client.ts";
import { ALERTS_TABLE } from "../storage/schema.ts";
import { queryRows } from "../storage/sql.ts";
import { baselineBuckets, currentWindow, judgeSpend } from "./anomaly.ts";
import { forecastDay, forecastMonth, historyRange } from "./forecast.ts";
import { type DailySpend, readDailySpend, readWindowSpend, type ScopeType } from "./spend-history.ts";
import { monthKey } from "./windows.ts";

export interface SpendWatchStats {
  evaluations: number;
  failures: number;
}

const DAY_MS = 86_400_000;

/**
 * Looks at stored spend on a timer and raises `budget.forecast` (a daily or monthly budget projected
 * to be reached before its window ends; once per scope and window) and `spend.anomaly` (once per
 * episode: from the first anomalous evaluation until one that is not). Alerts go to the store and
 * the bus like threshold alerts; ids are deterministic, and those already stored are not raised
 * again, so a restart or a second collector raises nothing twice.
 */
export class SpendWatch {
  readonly stats: SpendWatchStats = { evaluations: 0, failures: 0 };
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  /** Alert ids already raised (seeded from storage on the first evaluation). */
  private raised: Set<string> | null = null;
  /** Scopes in an anomaly episode, `type\0name`, with the episode's id. */
  private episodes = new Map<string, string>();

  constructor(
    private readonly storage: Storage,
    private readonly policy: Policy,
    private readonly bus: AlertBus,
    private readonly store: AlertStore,
    private readonly log: Logger,
  ) {}

  start(seconds: number, clock: () => number = Date.now): void {
    if (seconds <= 0) return;
    this.timer = setInterval(() => {
      this.running = this.running.then(() =>
        this.evaluate(clock()).then(
          () => undefined,
          (err) => {
            this.stats.failures++;
            this.log.error("forecast and anomaly evaluation failed", { err });
          },
        ),
      );
    }, seconds * 1000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /** One evaluation as of `nowMs`; returns the alerts it raised. */
  async evaluate(nowMs: number): Promise<Alert[]> {
    this.stats.evaluations++;
    const raised = await this.seed(nowMs);
    const alerts: Alert[] = [];
    const { forecast, anomaly } = this.policy.alerts;
    if (forecast.enabled) alerts.push(...(await this.forecasts(nowMs)));
    if (anomaly.enabled) alerts.push(...(await this.anomalies(nowMs)));
    const fresh = alerts.filter((a) => !raised.has(a.id));
    if (fresh.length === 0) return [];
    await this.store.save(fresh);
    for (const a of fresh) {
      raised.add(a.id);
      await this.bus.publish(a);
    }
    return fresh;
  }

  private async seed(nowMs: number): Promise<Set<string>> {
    if (this.raised) return this.raised;
    const rows = await queryRows<{ Id: string; Kind: string; ScopeType: string; ScopeName: string; Recent: number }>(
      this.storage,
      `SELECT Id, Kind, ScopeType, ScopeName,
              Time >= fromUnixTimestamp64Milli({recent:Int64}, 'UTC') AS Recent
       FROM ${this.storage.database}.${ALERTS_TABLE}
       WHERE Kind IN ('budget.forecast', 'spend.anomaly')
         AND Time >= fromUnixTimestamp64Milli({since:Int64}, 'UTC')`,
      {
        since: String(nowMs - 40 * DAY_MS),
        recent: String(nowMs - 2 * this.policy.alerts.anomaly.windowMinutes * 60_000),
      },
    );
    this.raised = new Set(rows.map((r) => r.Id));
    // An anomaly raised just before a restart is still the same episode.
    for (const r of rows) {
      if (r.Kind === "spend.anomaly" && Number(r.Recent) === 1)
        this.episodes.set(`${r.ScopeType}\0${r.ScopeName}`, r.Id);
    }
    return this.raised;
  }

  private budgetedScopes(): { type: ScopeType; name: string; team: string; budgets: Budgets }[] {
    const out: { type: ScopeType; name: string; team: string; budgets: Budgets }[] = [];
    for (const [name, a] of this.policy.agents)
      out.push({ type: "agent", name, team: a.team ?? "", budgets: a.budgets });
    for (const [name, t] of this.policy.teams) out.push({ type: "team", name, team: name, budgets: t.budgets });
    return out.filter((s) => s.budgets.dailyUsd !== null || s.budgets.monthlyUsd !== null);
  }

  private async forecasts(nowMs: number): Promise<Alert[]> {
    const scopes = this.budgetedScopes();
    if (scopes.length === 0) return [];
    const month = monthKey(nowMs);
    const { fromMs } = historyRange(month, nowMs);
    const spend: Partial<Record<ScopeType, DailySpend>> = {};
    for (const type of new Set(scopes.map((s) => s.type))) {
      spend[type] = await readDailySpend(this.storage, type, fromMs, nowMs);
    }
    const minDays = this.policy.alerts.forecast.minHistoryDays;
    const alerts: Alert[] = [];
    for (const s of scopes) {
      const daily = spend[s.type]?.get(s.name) ?? new Map<string, number>();
      const base = { time: new Date(nowMs).toISOString(), agent: s.type === "agent" ? s.name : "", team: s.team };
      const monthly = s.budgets.monthlyUsd;
      if (monthly !== null) {
        const f = forecastMonth(month, daily, nowMs, monthly);
        if (f.historyDays >= minDays && f.spentUsd < monthly && f.exceedsOn !== null) {
          const scope: AlertScope = { type: s.type, name: s.name, window: "month" };
          alerts.push({
            id: alertId({ kind: "budget.forecast", scope, windowKey: month }),
            kind: "budget.forecast",
            ...base,
            scope,
            spendUsd: f.spentUsd,
            limitUsd: monthly,
            projectedUsd: f.projectedUsd,
            exceedsOn: f.exceedsOn,
          });
        }
      }
      const dailyLimit = s.budgets.dailyUsd;
      if (dailyLimit !== null) {
        const f = forecastDay(daily, nowMs);
        if (f.historyDays >= minDays && f.spentUsd < dailyLimit && f.projectedUsd >= dailyLimit) {
          const scope: AlertScope = { type: s.type, name: s.name, window: "day" };
          alerts.push({
            id: alertId({ kind: "budget.forecast", scope, windowKey: f.day }),
            kind: "budget.forecast",
            ...base,
            scope,
            spendUsd: f.spentUsd,
            limitUsd: dailyLimit,
            projectedUsd: f.projectedUsd,
            exceedsOn: f.day,
          });
        }
      }
    }
    return alerts;
  }

  private async anomalies(nowMs: number): Promise<Alert[]> {
    const settings = this.policy.alerts.anomaly;
    const spend = await readWindowSpend(this.storage, nowMs, settings);
    const { startMs, endMs } = currentWindow(nowMs, settings);
    const buckets = baselineBuckets(startMs, settings);
    const alerts: Alert[] = [];
    const seen = new Set<string>();
    for (const type of ["agent", "team"] as const) {
      for (const [name, w] of spend[type]) {
        if (w.currentUsd <= 0) continue;
        const key = `${type}\0${name}`;
        const verdict = judgeSpend(
          w.currentUsd,
          buckets.map((b) => w.buckets.get(b) ?? 0),
          settings,
        );
        if (!verdict.anomalous) continue;
        seen.add(key);
        if (this.episodes.has(key)) continue;
        const scope: AlertScope = { type, name, window: "rate" };
        const id = alertId({ kind: "spend.anomaly", scope, episodeStart: new Date(endMs).toISOString() });
        this.episodes.set(key, id);
        alerts.push({
          id,
          kind: "spend.anomaly",
          time: new Date(nowMs).toISOString(),
          agent: type === "agent" ? name : "",
          team: type === "team" ? name : (this.policy.agents.get(name)?.team ?? w.team),
          scope,
          spendUsd: verdict.spendUsd,
          baselineUsd: verdict.medianUsd,
          windowMinutes: settings.windowMinutes,
        });
      }
    }
    // An episode ends at the first evaluation that finds its scope back under the threshold.
    for (const key of [...this.episodes.keys()]) if (!seen.has(key)) this.episodes.delete(key);
    return alerts;
  }
}
