import { LLM_ROLLUP_TABLE, type Storage } from "@cognive/collector";
import { type QueryScope, teamCondition } from "../api/scope.ts";
import { databaseOf, num, select } from "../api/sql.ts";
import { type Matcher, matches, PromError } from "./promql.ts";

/** Prometheus label name → rollup column. Only these labels are read from the store. */
export const LABEL_COLUMNS = {
  team: "TeamName",
  agent: "AgentName",
  gen_ai_request_model: "Model",
  gen_ai_provider_name: "Provider",
  environment: "Environment",
  service_name: "ServiceName",
} as const;
type LabelName = keyof typeof LABEL_COLUMNS;
const LABELS = Object.keys(LABEL_COLUMNS) as LabelName[];

export const TOKEN_TYPE_LABEL = "gen_ai_token_type";
/** Token type label value → rollup column. */
const TOKEN_COLUMNS = {
  input: "InputTokens",
  output: "OutputTokens",
  cache_read: "CacheReadTokens",
  cache_write: "CacheWriteTokens",
  reasoning: "ReasoningTokens",
} as const;
export const TOKEN_TYPES = Object.keys(TOKEN_COLUMNS);

type ValueColumn = "Calls" | "Errors" | "CostUsd" | "DurationNs" | (typeof TOKEN_COLUMNS)[keyof typeof TOKEN_COLUMNS];

export interface MetricDef {
  name: string;
  help: string;
  unit: string;
  /** Metadata family (`x` for `x_sum` and `x_count`) and its type; the metric itself otherwise. */
  family?: string;
  type?: "counter" | "summary";
  /** Factor applied to the column's value (nanoseconds to seconds). */
  scale?: number;
  /** One column, or per token type for the token counter. */
  column?: ValueColumn;
  byTokenType?: boolean;
}

/** The counters served, all derived from the per-minute LLM rollup. */
export const METRICS: MetricDef[] = [
  {
    name: "cognive_llm_calls_total",
    help: "Model calls (spans with usage role model_call).",
    unit: "",
    column: "Calls",
  },
  { name: "cognive_llm_errors_total", help: "Model calls whose span status is Error.", unit: "", column: "Errors" },
  { name: "cognive_cost_usd_total", help: "Priced cost of model calls in US dollars.", unit: "USD", column: "CostUsd" },
  {
    name: "cognive_tokens_total",
    help: `Tokens used by model calls, by ${TOKEN_TYPE_LABEL} (input, output, cache_read, cache_write, reasoning).`,
    unit: "tokens",
    byTokenType: true,
  },
  {
    name: "gen_ai_client_operation_duration_seconds_sum",
    help: "Duration of model calls (a summary without quantiles: _sum and _count).",
    unit: "seconds",
    family: "gen_ai_client_operation_duration_seconds",
    type: "summary",
    column: "DurationNs",
    scale: 1e-9,
  },
  {
    name: "gen_ai_client_operation_duration_seconds_count",
    help: "Duration of model calls (a summary without quantiles: _sum and _count).",
    unit: "seconds",
    family: "gen_ai_client_operation_duration_seconds",
    type: "summary",
    column: "Calls",
  },
];

export const ALL_LABEL_NAMES = ["__name__", ...LABELS, TOKEN_TYPE_LABEL, "window"].sort();

/** One counter series: its labels and per-minute increments. */
export interface RawSeries {
  labels: Record<string, string>;
  /** Minute starts in Unix seconds, ascending. */
  minutes: number[];
  /** Increment of each minute. */
  increments: number[];
  /** Set for the budget gauge: the value at t is the spend in t's UTC window over the limit. */
  budget?: { window: "day" | "month"; limitUsd: number };
}

interface Row {
  TeamName: string;
  AgentName: string;
  Model: string;
  Provider: string;
  Environment: string;
  ServiceName: string;
  M?: string | number;
  Calls: string;
  Errors: string;
  CostUsd: number;
  InputTokens: string;
  OutputTokens: string;
  CacheReadTokens: string;
  CacheWriteTokens: string;
  ReasoningTokens: string;
  DurationNs: string;
}

/** The metric series a selector's `__name__` and token type matchers admit, before reading. */
function candidateSeries(matchers: Matcher[]): { metric: MetricDef; tokenType?: string }[] {
  const out: { metric: MetricDef; tokenType?: string }[] = [];
  const nameMatchers = matchers.filter((m) => m.name === "__name__");
  const typeMatchers = matchers.filter((m) => m.name === TOKEN_TYPE_LABEL);
  for (const metric of METRICS) {
    if (!nameMatchers.every((m) => matches(m, metric.name))) continue;
    const types = metric.byTokenType ? TOKEN_TYPES : [undefined];
    for (const tokenType of types) {
      if (typeMatchers.every((m) => matches(m, tokenType ?? ""))) out.push({ metric, tokenType });
    }
  }
  return out;
}

const clampSeconds = (s: number) => Math.min(4_294_967_295, Math.max(0, Math.floor(s)));

/**
 * Reads the series a selector matches: one bound-parameter SQL over the rollup, filtered by the
 * matchers on known labels, grouped by the label columns (and by minute unless `perMinute` is
 * false). Minutes m with from ≤ m ≤ to are read; without bounds, all of them.
 */
export async function fetchSeries(
  storage: Storage,
  scope: QueryScope,
  matchers: Matcher[],
  range: { from?: number; to?: number },
  perMinute = true,
): Promise<RawSeries[]> {
  // Labels the store does not have are empty on every series.
  for (const m of matchers) {
    if (m.name === "__name__" || m.name === TOKEN_TYPE_LABEL || m.name in LABEL_COLUMNS) continue;
    if (!matches(m, "")) return [];
  }
  const candidates = candidateSeries(matchers);
  if (candidates.length === 0) return [];

  const db = databaseOf(storage);
  const team = teamCondition(scope, { column: "TeamName" });
  const params: Record<string, unknown> = { ...team.params };
  const where: string[] = [`(${team.sql})`];
  if (range.from !== undefined) {
    where.push("Minute >= toDateTime({from:UInt32})");
    params.from = clampSeconds(range.from);
  }
  if (range.to !== undefined) {
    where.push("Minute <= toDateTime({to:UInt32})");
    params.to = clampSeconds(range.to);
  }
  let regex = false;
  matchers.forEach((m, i) => {
    const column = (LABEL_COLUMNS as Record<string, string>)[m.name];
    if (!column) return;
    const p = `m${i}`;
    if (m.op === "=" || m.op === "!=") {
      where.push(`${column} ${m.op} {${p}:String}`);
      params[p] = m.value;
    } else {
      regex = true;
      where.push(`${m.op === "!~" ? "NOT " : ""}match(${column}, {${p}:String})`);
      params[p] = `^(?:${m.value})$`;
    }
  });
  const columns = Object.values(LABEL_COLUMNS).join(", ");
  const sql = `
    SELECT ${columns},${perMinute ? " toUnixTimestamp(Minute) AS M," : ""}
      sum(Calls) AS Calls, sum(Errors) AS Errors, sum(CostUsd) AS CostUsd,
      sum(InputTokens) AS InputTokens, sum(OutputTokens) AS OutputTokens,
      sum(CacheReadTokens) AS CacheReadTokens, sum(CacheWriteTokens) AS CacheWriteTokens,
      sum(ReasoningTokens) AS ReasoningTokens, sum(DurationNs) AS DurationNs
    FROM ${db}.${LLM_ROLLUP_TABLE}
    WHERE ${where.join(" AND ")}
    GROUP BY ${columns}${perMinute ? ", M" : ""}
    ORDER BY ${columns}${perMinute ? ", M" : ""}`;
  let rows: Row[];
  try {
    rows = await select<Row>(storage, sql, params);
  } catch (err) {
    // The store's RE2 can reject a pattern JavaScript accepted; that is the caller's error.
    if (regex && /regexp|regular expression|re2/i.test(String(err))) {
      throw new PromError("invalid regular expression in a label matcher");
    }
    throw err;
  }

  const series = new Map<string, RawSeries>();
  for (const r of rows) {
    const base: Record<string, string> = {};
    for (const l of LABELS) {
      const v = r[LABEL_COLUMNS[l]];
      if (v !== "") base[l] = v;
    }
    const baseKey = LABELS.map((l) => base[l] ?? "").join("\u0000");
    for (const { metric, tokenType } of candidates) {
      const column = tokenType
        ? TOKEN_COLUMNS[tokenType as keyof typeof TOKEN_COLUMNS]
        : (metric.column as ValueColumn);
      const key = `${metric.name}\u0000${tokenType ?? ""}\u0000${baseKey}`;
      let s = series.get(key);
      if (!s) {
        const labels: Record<string, string> = { __name__: metric.name, ...base };
        if (tokenType) labels[TOKEN_TYPE_LABEL] = tokenType;
        s = { labels, minutes: [], increments: [] };
        series.set(key, s);
      }
      s.minutes.push(num(r.M));
      s.increments.push(num(r[column]) * (metric.scale ?? 1));
    }
  }
  return [...series.values()];
}
