import { addUsd } from "@cognive/semconv";
import { LLM_ROLLUP_TABLE } from "../storage/schema.ts";

/**
 * The monthly chargeback: one row per team × agent × model × provider from the per-minute rollup,
 * over the same minutes the costs API reads for the month ([1st 00:00 UTC, next 1st) by minute
 * start), so the two agree exactly. Calls that could not be priced are counted on their own; their
 * cost is not in `costUsd` (it is unknown, not zero).
 */
export interface ChargebackRow {
  team: string;
  agent: string;
  model: string;
  provider: string;
  calls: number;
  unpricedCalls: number;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  /** Cost of the priced calls; null when no call of the row could be priced (unknown, not $0). */
  costUsd: number | null;
}

export interface Chargeback {
  month: string;
  rows: ChargebackRow[];
  totalUsd: number;
  unpricedCalls: number;
}

const MONTH = /^(\d{4})-(0[1-9]|1[0-2])$/;

/** `YYYY-MM` → [start, end) in Unix nanoseconds; undefined for anything else. */
export function monthRange(month: string): { fromNs: bigint; toNs: bigint } | undefined {
  const m = MONTH.exec(month);
  if (!m) return undefined;
  const y = Number(m[1]);
  const mo = Number(m[2]) - 1;
  if (y < 1970 || y > 2200) return undefined;
  const ns = (ms: number) => BigInt(ms) * 1_000_000n;
  return { fromNs: ns(Date.UTC(y, mo, 1)), toNs: ns(Date.UTC(y, mo + 1, 1)) };
}

/** The month before the one `now` falls in, as `YYYY-MM` (UTC). */
export function previousMonth(now: Date): string {
  const d = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1));
  return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, "0")}`;
}

export interface ChargebackRowSql {
  Team: string;
  Agent: string;
  Model: string;
  Provider: string;
  Calls: string;
  Unpriced: string;
  InputTokens: string;
  OutputTokens: string;
  CacheReadTokens: string;
  CacheWriteTokens: string;
  CostUsd: number;
}

/**
 * The chargeback SELECT; binds `{fromNs:Int64}`, `{toNs:Int64}`, the team condition's own
 * parameters, and `{team:String}` when `oneTeam`. `teamSql` is a code-built condition on TeamName.
 */
export function chargebackSql(db: string, teamSql: string, oneTeam: boolean): string {
  return `
    SELECT
      toString(TeamName) AS Team, toString(AgentName) AS Agent, toString(Model) AS Model, toString(Provider) AS Provider,
      sum(Calls) AS Calls, sum(Unpriced) AS Unpriced,
      sum(InputTokens) AS InputTokens, sum(OutputTokens) AS OutputTokens,
      sum(CacheReadTokens) AS CacheReadTokens, sum(CacheWriteTokens) AS CacheWriteTokens,
      sum(CostUsd) AS CostUsd
    FROM ${db}.${LLM_ROLLUP_TABLE}
    WHERE Minute >= fromUnixTimestamp64Nano({fromNs:Int64})
      AND Minute < fromUnixTimestamp64Nano({toNs:Int64})
      AND (${teamSql})${oneTeam ? "\n      AND TeamName = {team:String}" : ""}
    GROUP BY Team, Agent, Model, Provider
    ORDER BY Team, Agent, Model, Provider`;
}

export function toChargeback(month: string, rows: ChargebackRowSql[]): Chargeback {
  const out = rows.map(
    (r): ChargebackRow => ({
      team: r.Team,
      agent: r.Agent,
      model: r.Model,
      provider: r.Provider,
      calls: Number(r.Calls),
      unpricedCalls: Number(r.Unpriced),
      inputTokens: Number(r.InputTokens),
      outputTokens: Number(r.OutputTokens),
      cacheReadTokens: Number(r.CacheReadTokens),
      cacheWriteTokens: Number(r.CacheWriteTokens),
      costUsd: Number(r.Unpriced) === Number(r.Calls) && Number(r.Calls) > 0 ? null : r.CostUsd,
    }),
  );
  return {
    month,
    rows: out,
    totalUsd: out.reduce((s, r) => addUsd(s, r.costUsd ?? 0), 0),
    unpricedCalls: out.reduce((s, r) => s + r.unpricedCalls, 0),
  };
}

export const CSV_HEADER =
  "team,agent,model,provider,calls,input_tokens,output_tokens,cache_read_tokens,cache_write_tokens,cost_usd,unpriced_calls";

/**
 * A CSV field: quoted when it holds a separator, quote or line break; a leading `=`, `+`, `-`, `@`
 * (or tab/CR) gets a `'` so a spreadsheet shows the name instead of running it as a formula.
 */
export function csvField(s: string): string {
  const safe = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** Cost to the nano-dollar, without float noise beyond it. */
export const nanoUsd = (usd: number): string => usd.toFixed(9);

export function chargebackCsv(c: Chargeback): string {
  const lines = c.rows.map((r) =>
    [
      csvField(r.team),
      csvField(r.agent),
      csvField(r.model),
      csvField(r.provider),
      r.calls,
      r.inputTokens,
      r.outputTokens,
      r.cacheReadTokens,
      r.cacheWriteTokens,
      r.costUsd === null ? "" : nanoUsd(r.costUsd),
      r.unpricedCalls,
    ].join(","),
  );
  return `${[CSV_HEADER, ...lines].join("\r\n")}\r\n`;
}
