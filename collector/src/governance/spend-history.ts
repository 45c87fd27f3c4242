import { addUsd } from "@cognive/semconv";
import type { Storage } from "../storage/client.ts";
import { LLM_ROLLUP_TABLE } from "../storage/schema.ts";
import { queryRows } from "../storage/sql.ts";
import { type AnomalySettings, baselineHours, currentWindow } from "./anomaly.ts";

/** The rollup column of each scope type; code constants, never input. */
export const SCOPE_COLUMN = { agent: "AgentName", team: "TeamName" } as const;
export type ScopeType = keyof typeof SCOPE_COLUMN;

/** Spend per key per UTC day (`YYYY-MM-DD`). */
export type DailySpend = Map<string, Map<string, number>>;

/**
 * The SQL of spend per scope key and UTC day over [fromS, toS) (Unix seconds) from the per-minute
 * rollup. `condition` is an extra filter built from code constants (its values bound as parameters).
 */
export function dailySpendSql(database: string, type: ScopeType, condition = "1"): string {
  return `SELECT toString(${SCOPE_COLUMN[type]}) AS Key, formatDateTime(Minute, '%Y-%m-%d', 'UTC') AS Day,
            sum(CostUsd) AS Usd
     FROM ${database}.${LLM_ROLLUP_TABLE}
     WHERE Minute >= toDateTime({fromS:UInt32}, 'UTC') AND Minute < toDateTime({toS:UInt32}, 'UTC')
       AND ${SCOPE_COLUMN[type]} != '' AND (${condition})
     GROUP BY Key, Day`;
}

export function dailySpendParams(fromMs: number, toMs: number): { fromS: number; toS: number } {
  return { fromS: Math.floor(fromMs / 1000), toS: Math.ceil(toMs / 1000) };
}

export function toDailySpend(rows: { Key: string; Day: string; Usd: number }[]): DailySpend {
  const out: DailySpend = new Map();
  for (const r of rows) {
    let days = out.get(r.Key);
    if (!days) {
      days = new Map();
      out.set(r.Key, days);
    }
    days.set(r.Day, (days.get(r.Day) ?? 0) + Number(r.Usd));
  }
  return out;
}

export async function readDailySpend(
  storage: Storage,
  type: ScopeType,
  fromMs: number,
  toMs: number,
): Promise<DailySpend> {
  const rows = await queryRows<{ Key: string; Day: string; Usd: number }>(
    storage,
    dailySpendSql(storage.database, type),
    dailySpendParams(fromMs, toMs),
  );
  return toDailySpend(rows);
}

/** For one scope: the spend of the current window and of each baseline bucket (start ms → USD). */
export interface WindowSpend {
  /** The team the spend was stamped with (for an agent, the last one read). */
  team: string;
  currentUsd: number;
  buckets: Map<number, number>;
}

/**
 * Spend of the current anomaly window and of the baseline hours, per agent and per team, in one read.
 * The current window's minutes are tagged with bucket 0; baseline minutes with their N-minute bucket.
 */
export async function readWindowSpend(
  storage: Storage,
  nowMs: number,
  s: AnomalySettings,
): Promise<Record<ScopeType, Map<string, WindowSpend>>> {
  const { startMs, endMs } = currentWindow(nowMs, s);
  const hours = baselineHours(startMs, s).map((h) => h / 3_600_000);
  const rows = await queryRows<{ AgentName: string; TeamName: string; Bucket: string; Usd: number }>(
    storage,
    `SELECT AgentName, TeamName,
            if(Minute >= toDateTime({curFrom:UInt32}, 'UTC'), 0,
               intDiv(toUnixTimestamp(Minute), {step:UInt32}) * {step:UInt32}) AS Bucket,
            sum(CostUsd) AS Usd
     FROM ${storage.database}.${LLM_ROLLUP_TABLE}
     WHERE Minute >= toDateTime({lo:UInt32}, 'UTC') AND Minute < toDateTime({curTo:UInt32}, 'UTC')
       AND ((Minute >= toDateTime({curFrom:UInt32}, 'UTC'))
            OR intDiv(toUnixTimestamp(Minute), 3600) IN {hours:Array(UInt32)})
     GROUP BY AgentName, TeamName, Bucket`,
    {
      curFrom: startMs / 1000,
      curTo: endMs / 1000,
      lo: Math.min(...hours, startMs / 3_600_000) * 3600,
      step: s.windowMinutes * 60,
      hours,
    },
  );
  const out: Record<ScopeType, Map<string, WindowSpend>> = { agent: new Map(), team: new Map() };
  for (const r of rows) {
    const bucket = Number(r.Bucket) * 1000;
    for (const [type, key] of [
      ["agent", r.AgentName],
      ["team", r.TeamName],
    ] as const) {
      if (key === "") continue;
      let w = out[type].get(key);
      if (!w) {
        w = { team: r.TeamName, currentUsd: 0, buckets: new Map() };
        out[type].set(key, w);
      }
      if (bucket === 0) w.currentUsd = addUsd(w.currentUsd, Number(r.Usd));
      else w.buckets.set(bucket, addUsd(w.buckets.get(bucket) ?? 0, Number(r.Usd)));
    }
  }
  return out;
}
