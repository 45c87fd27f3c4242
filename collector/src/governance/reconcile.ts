import type { Logger } from "../log.ts";
import type { Storage } from "../storage/client.ts";
import { ALERTS_TABLE, SPAN_TABLE } from "../storage/schema.ts";
import { chTime, queryRows } from "../storage/sql.ts";
import type { BudgetCounters, SeedTotal } from "./counters.ts";
import { spendSoFar } from "./rebuild.ts";
import { dayKey, monthKey } from "./windows.ts";

/**
 * Budget counters kept equal to what storage holds. Storage is the truth (governance counts only
 * what was durably written), so counters can only fall behind it: Redis restarted empty, increments
 * lost with a crash during a Redis outage, a command timeout. Reconciling raises each day and month
 * counter that is below storage's total to that total, and logs the drift it corrected.
 *
 * Each pass compares the counters with storage's totals as the previous pass read them, an interval
 * earlier: a span stored then has been counted since by whichever collector wrote it (its insert was
 * in flight at most), so a counter below that total really missed spend. Against a total read just
 * now, a counter would look behind by every other collector's spans still on their way to governance,
 * and raising it would count those twice. Corrections take two passes.
 */

/** Spend per agent of the runs (traces) with model calls in the last `minutes`, over the whole run. */
export async function recentRunSpend(storage: Storage, now: Date, minutes: number): Promise<SeedTotal[]> {
  const db = storage.database;
  const got = await queryRows<{ AgentName: string; TraceId: string; Usd: number }>(
    storage,
    `SELECT AgentName, TraceId, sum(CostUsd) AS Usd FROM ${db}.${SPAN_TABLE}
     WHERE GenAiUsageRole = 'model_call' AND AgentName != '' AND TraceId IN (
       SELECT DISTINCT TraceId FROM ${db}.${SPAN_TABLE}
       WHERE GenAiUsageRole = 'model_call'
         AND Timestamp >= {now:DateTime64(3, 'UTC')} - toIntervalMinute({minutes:UInt32}))
     GROUP BY AgentName, TraceId HAVING Usd > 0
     LIMIT 100000`,
    { now: chTime(now), minutes },
  );
  return got.map((r) => ({
    scope: { type: "agent", name: r.AgentName },
    window: "run",
    windowKey: r.TraceId,
    usd: r.Usd,
  }));
}

/** Thresholds already alerted in the current day and month windows and in recent runs. */
export async function firedThresholds(storage: Storage, now: Date): Promise<Map<string, number[]>> {
  const got = await queryRows<{
    ScopeType: string;
    ScopeName: string;
    Window: string;
    TraceId: string;
    FirstTime: string;
    T: number[];
  }>(
    storage,
    `SELECT ScopeType, ScopeName, Window, TraceId, toString(min(Time)) AS FirstTime, groupUniqArray(Threshold) AS T
     FROM ${storage.database}.${ALERTS_TABLE}
     WHERE Kind = 'budget.threshold' AND Time >= toStartOfMonth({now:DateTime64(3, 'UTC')})
     GROUP BY ScopeType, ScopeName, Window, TraceId, toDate(Time)`,
    { now: chTime(now) },
  );
  const out = new Map<string, number[]>();
  for (const r of got) {
    const at = new Date(`${r.FirstTime.replace(" ", "T")}Z`);
    const windowKey = r.Window === "run" ? r.TraceId : r.Window === "day" ? dayKey(at) : monthKey(at);
    const key = seedKey(r.ScopeType, r.ScopeName, r.Window, windowKey);
    // Alerts carry thresholds as percentages; counters take fractions.
    out.set(key, [...(out.get(key) ?? []), ...r.T.map((t) => Number(t) / 100)]);
  }
  return out;
}

const seedKey = (type: string, name: string, window: string, windowKey: string) =>
  `${type}\u0000${name}\u0000${window}\u0000${windowKey}`;

/**
 * Everything a restarted process needs to count on where it stopped: today's and this month's spend
 * per agent and team, the spend of recent runs, and which thresholds were already alerted.
 */
export async function countersFromStorage(storage: Storage, now = new Date(), runMinutes = 60): Promise<SeedTotal[]> {
  const [windows, runs, fired] = await Promise.all([
    spendSoFar(storage, now),
    recentRunSpend(storage, now, runMinutes),
    firedThresholds(storage, now),
  ]);
  const totals: SeedTotal[] = [...windows, ...runs];
  const seen = new Set<string>();
  for (const t of totals) {
    const key = seedKey(t.scope.type, t.scope.name, t.window, t.windowKey);
    seen.add(key);
    t.fired = fired.get(key);
  }
  for (const [key, thresholds] of fired) {
    if (seen.has(key)) continue;
    const [type, name, window, windowKey] = key.split("\u0000");
    totals.push({
      scope: { type: type as "agent" | "team", name },
      window: window as "run" | "day" | "month",
      windowKey,
      usd: 0,
      fired: thresholds,
    });
  }
  return totals;
}

export interface ReconcileResult {
  /** Counters found below storage's total and raised to it. */
  corrected: number;
  /** Sum of what they were missing, in USD. */
  driftUsd: number;
}

/** Raises day and month counters that fell below storage's totals; runs now and every `intervalSeconds`. */
export class BudgetReconciler {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<ReconcileResult> | null = null;
  /** Storage's totals at the previous pass: what this pass holds the counters to. */
  private previous: SeedTotal[] | null = null;
  correctedUsd = 0;

  constructor(
    private readonly storage: Storage,
    private readonly counters: BudgetCounters,
    private readonly log: Logger,
    /** Resolves once this process's governance has counted everything committed so far. */
    private readonly idle: () => Promise<void>,
  ) {}

  start(intervalSeconds: number): void {
    if (intervalSeconds <= 0) return;
    this.timer = setInterval(() => {
      this.reconcile().catch((err) => this.log.warn("budget reconciliation failed", { err }));
    }, intervalSeconds * 1000);
    this.timer.unref();
  }

  /** One pass (the first only reads storage's totals); concurrent calls share it. */
  reconcile(now = new Date()): Promise<ReconcileResult> {
    if (this.running === null) {
      this.running = this.pass(now).finally(() => {
        this.running = null;
      });
    }
    return this.running;
  }

  private async pass(now: Date): Promise<ReconcileResult> {
    // Storage first, then wait for governance (and for ingest to hand over what it was writing,
    // since a commit shows in storage before its spans reach governance): every span of this
    // process in this reading is then counted (or lost). Other collectors' spans get the interval
    // until the next pass, which compares with this reading.
    const reading = await spendSoFar(this.storage, now);
    await this.idle();
    const totals = this.previous;
    this.previous = reading;
    if (totals === null) return { corrected: 0, driftUsd: 0 };
    const behind: SeedTotal[] = [];
    let driftUsd = 0;
    for (const t of totals) {
      const counted = await this.counters.get(t.scope, t.window, t.windowKey);
      // Counters round each span to the micro-dollar: ignore differences below that.
      if (t.usd - counted > 1e-6 * Math.max(1, totals.length)) {
        behind.push(t);
        driftUsd += t.usd - counted;
      }
    }
    if (behind.length > 0) {
      await this.counters.seed(behind);
      this.correctedUsd += driftUsd;
      this.log.warn("budget counters were behind storage; raised to storage's totals", {
        counters: behind.length,
        driftUsd: Math.round(driftUsd * 1e6) / 1e6,
      });
    }
    return { corrected: behind.length, driftUsd };
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}
