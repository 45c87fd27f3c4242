import type { AlertBus } from "../alerts/bus.ts";
import type { Logger } from "../log.ts";
import type { Policy } from "../policy.ts";
import type { Storage } from "../storage/client.ts";
import { LLM_ROLLUP_TABLE, SPAN_TABLE } from "../storage/schema.ts";
import { queryRows } from "../storage/sql.ts";
import type { BudgetCounters, BudgetScope } from "./counters.ts";
import { RedisCounters } from "./counters-redis.ts";
import type { BudgetWindow } from "./windows.ts";

/**
 * What the query side reads of governance: current spend per budget window, never a write. Window
 * keys are the ones `windows.ts` makes (`YYYY-MM-DD`, `YYYY-MM`, the trace id), the collectors' calendar.
 */
export interface BudgetReader {
  get(scope: BudgetScope, window: BudgetWindow, windowKey: string): Promise<number>;
}

/** Governance as the query API sees it: the policy, a budget reader and the alerts to stream. */
export interface GovernanceView {
  policy: Policy;
  budgets: BudgetReader;
  alerts: Pick<AlertBus, "subscribe">;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const MONTH = /^\d{4}-\d{2}$/;

/**
 * Spend computed from storage at each read: day and month from the per-minute rollup, a run from
 * its model-call spans. Without Redis this is the only figure every process agrees on (each
 * collector's memory counts only its own spans), and it is live because nothing is cached.
 */
export class StorageBudgetReader implements BudgetReader {
  constructor(private readonly storage: Storage) {}

  async get(scope: BudgetScope, window: BudgetWindow, windowKey: string): Promise<number> {
    const db = this.storage.database;
    const column = scope.type === "agent" ? "AgentName" : "TeamName";
    if (window === "run") {
      // Runs are per agent (a team's run budget does not exist).
      if (scope.type !== "agent") return 0;
      const rows = await queryRows<{ Usd: number }>(
        this.storage,
        `SELECT sum(CostUsd) AS Usd FROM ${db}.${SPAN_TABLE}
         WHERE TraceId = {key:String} AND AgentName = {name:String} AND GenAiUsageRole = 'model_call'`,
        { key: windowKey.toLowerCase(), name: scope.name },
      );
      return Number(rows[0]?.Usd ?? 0);
    }
    // A key that is not a window of the calendar names no spend (and never reaches SQL as text).
    if (!(window === "day" ? DAY : MONTH).test(windowKey)) return 0;
    // Bounds as UTC instants: the window is the UTC calendar's whatever the server's time zone.
    const start = `${window === "day" ? windowKey : `${windowKey}-01`} 00:00:00`;
    const from = "toDateTime({start:String}, 'UTC')";
    const end = window === "day" ? `addDays(${from}, 1)` : `addMonths(${from}, 1)`;
    const rows = await queryRows<{ Usd: number }>(
      this.storage,
      `SELECT sum(CostUsd) AS Usd FROM ${db}.${LLM_ROLLUP_TABLE}
       WHERE ${column} = {name:String} AND Minute >= ${from} AND Minute < ${end}`,
      { name: scope.name, start },
    );
    return Number(rows[0]?.Usd ?? 0);
  }
}

/** Read-only view of shared counters; the counters' owner closes them. */
export function countersReader(counters: Pick<BudgetCounters, "get">): BudgetReader {
  return { get: (scope, window, key) => counters.get(scope, window, key) };
}

/**
 * The budget reader of a process that counts nothing itself (`cognive query`): the collectors'
 * shared Redis counters when `redisUrl` is set, otherwise storage.
 */
export async function openBudgetReader(deps: {
  storage: Storage;
  redisUrl?: string;
  log: Logger;
}): Promise<{ reader: BudgetReader; close(): Promise<void> }> {
  if (deps.redisUrl) {
    const redis = await RedisCounters.connect(deps.redisUrl);
    const storage = new StorageBudgetReader(deps.storage);
    deps.log.info("budgets read from the collectors' Redis counters");
    // While Redis is unreachable, storage's figure (collectors reconcile Redis up to it anyway).
    const reader: BudgetReader = {
      get: (scope, window, key) => redis.get(scope, window, key).catch(() => storage.get(scope, window, key)),
    };
    return { reader, close: () => redis.close() };
  }
  deps.log.info("budgets computed from storage at each read (no REDIS_URL)");
  return { reader: new StorageBudgetReader(deps.storage), close: async () => {} };
}
