import {
  AGENT_RUNS_TABLE,
  DURATION_BUCKETS_SECONDS,
  LLM_HISTOGRAM_TABLE,
  LLM_ROLLUP_TABLE,
  type Storage,
  TOKEN_BUCKETS,
} from "@cognive/collector";
import { type QueryScope, teamCondition } from "../api/scope.ts";
import { databaseOf, num, select } from "../api/sql.ts";
import { formatValue } from "./format.ts";
import type { PromLimits } from "./limits.ts";
import { type Matcher, matches, PromError } from "./promql.ts";

/**
 * Prometheus label name → rollup column. Only these labels are read from the store. The request and
 * response models are separate labels (the semconv attributes), so a call whose response names a
 * dated model version does not leave its request model's series.
 */
export const LABEL_COLUMNS = {
  team: "TeamName",
  agent: "AgentName",
  gen_ai_request_model: "RequestModel",
  gen_ai_response_model: "ResponseModel",
  gen_ai_provider_name: "Provider",
  environment: "Environment",
  service_name: "ServiceName",
} as const;
type LabelName = keyof typeof LABEL_COLUMNS;
const LABELS = Object.keys(LABEL_COLUMNS) as LabelName[];
/** The labels of a run: a run has no single model or provider. */
const RUN_LABELS: LabelName[] = ["team", "agent", "environment", "service_name"];

export const TOKEN_TYPE_LABEL = "gen_ai_token_type";
export const BUCKET_LABEL = "le";
/** Token type label value → rollup column. */
const TOKEN_COLUMNS = {
  input: "InputTokens",
  output: "OutputTokens",
  cache_read: "CacheReadTokens",
  cache_write: "CacheWriteTokens",
  reasoning: "ReasoningTokens",
} as const;
export const TOKEN_TYPES = Object.keys(TOKEN_COLUMNS);

type ValueColumn = "Calls" | "Errors" | "CostUsd" | (typeof TOKEN_COLUMNS)[keyof typeof TOKEN_COLUMNS];

/** A histogram family served from the histogram rollup. */
export interface HistogramDef {
  family: string;
  help: string;
  unit: string;
  /** Finite upper bounds; the store's bucket i counts values in (bounds[i-1], bounds[i]], i = length is +Inf. */
  bounds: readonly number[];
  /** Stored sums are in nanoseconds or tokens; this turns them into the metric's unit. */
  sumScale: number;
  /** Stored `Metric` per token type, or one stored metric without that label. */
  stored: { tokenType?: string; metric: string }[];
}

export const HISTOGRAMS: HistogramDef[] = [
  {
    family: "gen_ai_client_operation_duration_seconds",
    help: "Duration of model calls (OTel GenAI gen_ai.client.operation.duration).",
    unit: "seconds",
    bounds: DURATION_BUCKETS_SECONDS,
    sumScale: 1e-9,
    stored: [{ metric: "duration" }],
  },
  {
    family: "gen_ai_client_token_usage",
    help: `Tokens per model call by ${TOKEN_TYPE_LABEL} (input, output) (OTel GenAI gen_ai.client.token.usage); calls that reported none are not observed.`,
    unit: "tokens",
    bounds: TOKEN_BUCKETS,
    sumScale: 1,
    stored: [
      { tokenType: "input", metric: "input_tokens" },
      { tokenType: "output", metric: "output_tokens" },
    ],
  },
];

/** Most stored rows (buckets) of one histogram per label set and minute. */
const MAX_BUCKETS = Math.max(...HISTOGRAMS.map((h) => h.bounds.length + 1));

/** `le` label values of a histogram's buckets, in order, ending with +Inf. */
export const bucketLabels = (h: HistogramDef): string[] => [...h.bounds.map(formatValue), "+Inf"];

export interface MetricDef {
  name: string;
  help: string;
  unit: string;
  /** Metadata family (`x` for `x_bucket`, `x_sum` and `x_count`) and its type; the metric itself otherwise. */
  family?: string;
  type?: "counter" | "histogram";
  /** Where the series come from. */
  source: "rollup" | "histogram" | "runs";
  /** Rollup: one column, or per token type for the token counter. */
  column?: ValueColumn;
  byTokenType?: boolean;
  /** Histogram: the family and which of its series this is. */
  histogram?: { def: HistogramDef; part: "bucket" | "sum" | "count" };
}

/** Every metric served, from the per-minute LLM rollup, histogram rollup and runs rollup. */
export const METRICS: MetricDef[] = [
  {
    name: "cognive_llm_calls_total",
    help: "Model calls (spans with usage role model_call).",
    unit: "",
    source: "rollup",
    column: "Calls",
  },
  {
    name: "cognive_llm_errors_total",
    help: "Model calls whose span status is Error.",
    unit: "",
    source: "rollup",
    column: "Errors",
  },
  {
    name: "cognive_cost_usd_total",
    help: "Priced cost of model calls in US dollars.",
    unit: "USD",
    source: "rollup",
    column: "CostUsd",
  },
  {
    name: "cognive_tokens_total",
    help: `Tokens used by model calls, by ${TOKEN_TYPE_LABEL} (input, output, cache_read, cache_write, reasoning).`,
    unit: "tokens",
    source: "rollup",
    byTokenType: true,
  },
  {
    name: "cognive_agent_runs_total",
    help: "Agent runs: traces, counted at their root span (one run is one trace, as per-run budgets count it).",
    unit: "",
    source: "runs",
  },
  ...HISTOGRAMS.flatMap((def) =>
    (["bucket", "sum", "count"] as const).map(
      (part): MetricDef => ({
        name: `${def.family}_${part}`,
        help: def.help,
        unit: def.unit,
        family: def.family,
        type: "histogram",
        source: "histogram",
        histogram: { def, part },
      }),
    ),
  ),
];

export const ALL_LABEL_NAMES = ["__name__", ...LABELS, TOKEN_TYPE_LABEL, BUCKET_LABEL, "window"].sort();

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

/** One series a selector may match, before reading: a metric and its fixed labels. */
interface Candidate {
  metric: MetricDef;
  tokenType?: string;
  /** Histogram buckets: the index of the bucket (cumulative up to it) and its `le`. */
  bucket?: { index: number; le: string };
}

/** The metric series a selector's `__name__`, token type and `le` matchers admit, before reading. */
function candidateSeries(matchers: Matcher[]): Candidate[] {
  const out: Candidate[] = [];
  const on = (name: string) => matchers.filter((m) => m.name === name);
  const nameMatchers = on("__name__");
  const typeMatchers = on(TOKEN_TYPE_LABEL);
  const leMatchers = on(BUCKET_LABEL);
  const admits = (ms: Matcher[], v: string | undefined) => ms.every((m) => matches(m, v ?? ""));
  for (const metric of METRICS) {
    if (!admits(nameMatchers, metric.name)) continue;
    const h = metric.histogram;
    const types = metric.byTokenType ? TOKEN_TYPES : h ? h.def.stored.map((s) => s.tokenType) : [undefined];
    for (const tokenType of types) {
      if (!admits(typeMatchers, tokenType)) continue;
      if (h?.part === "bucket") {
        bucketLabels(h.def).forEach((le, index) => {
          if (admits(leMatchers, le)) out.push({ metric, tokenType, bucket: { index, le } });
        });
      } else if (admits(leMatchers, undefined)) out.push({ metric, tokenType });
    }
  }
  return out;
}

const clampSeconds = (s: number) => Math.min(4_294_967_295, Math.max(0, Math.floor(s)));

interface Query {
  where: string[];
  params: Record<string, unknown>;
  regex: boolean;
}

/**
 * The WHERE conditions shared by the rollups: scope, minute range and the label matchers on the
 * labels the table has (`labels`). Undefined when a matcher needs a label the table lacks to be
 * non-empty: nothing there can match.
 */
function conditions(
  scope: QueryScope,
  matchers: Matcher[],
  range: { from?: number; to?: number },
  labels: LabelName[],
): Query | undefined {
  const team = teamCondition(scope, { column: "TeamName" });
  const q: Query = { where: [`(${team.sql})`], params: { ...team.params }, regex: false };
  if (range.from !== undefined) {
    q.where.push("Minute >= toDateTime({from:UInt32})");
    q.params.from = clampSeconds(range.from);
  }
  if (range.to !== undefined) {
    q.where.push("Minute <= toDateTime({to:UInt32})");
    q.params.to = clampSeconds(range.to);
  }
  for (const [i, m] of matchers.entries()) {
    if (!(m.name in LABEL_COLUMNS)) continue;
    if (!labels.includes(m.name as LabelName)) {
      if (!matches(m, "")) return undefined;
      continue;
    }
    const column = LABEL_COLUMNS[m.name as LabelName];
    const p = `m${i}`;
    if (m.op === "=" || m.op === "!=") {
      q.where.push(`${column} ${m.op} {${p}:String}`);
      q.params[p] = m.value;
    } else {
      q.regex = true;
      q.where.push(`${m.op === "!~" ? "NOT " : ""}match(${column}, {${p}:String})`);
      q.params[p] = `^(?:${m.value})$`;
    }
  }
  return q;
}

async function run<T>(storage: Storage, sql: string, q: Query, signal?: AbortSignal): Promise<T[]> {
  try {
    return await select<T>(storage, sql, q.params, { signal });
  } catch (err) {
    // The store's RE2 can reject a pattern JavaScript accepted; that is the caller's error.
    if (q.regex && /regexp|regular expression|re2/i.test(String(err))) {
      throw new PromError("invalid regular expression in a label matcher");
    }
    throw err;
  }
}

type LabelRow = Partial<Record<(typeof LABEL_COLUMNS)[LabelName], string>> & { M?: string | number };

/** A series' labels from a row: empty values are absent labels. */
function baseLabels(r: LabelRow, labels: LabelName[]): { labels: Record<string, string>; key: string } {
  const out: Record<string, string> = {};
  for (const l of labels) {
    const v = r[LABEL_COLUMNS[l]] ?? "";
    if (v !== "") out[l] = v;
  }
  return { labels: out, key: labels.map((l) => out[l] ?? "").join("\u0000") };
}

/** How a read may grow: within a query's limits (over them it fails), or up to `cap` series (the rest left out). */
export interface ReadOptions {
  limits?: PromLimits;
  cap?: number;
  signal?: AbortSignal;
}

/** Collects per-minute increments into series keyed by metric, fixed labels and row labels. */
class SeriesSet {
  private readonly byKey = new Map<string, RawSeries>();
  /** Series were left out: more matched than `cap`. */
  truncated = false;
  constructor(private readonly opts: ReadOptions = {}) {}
  add(c: Candidate, base: { labels: Record<string, string>; key: string }, minute: number, inc: number): void {
    const key = `${c.metric.name}\u0000${c.tokenType ?? ""}\u0000${c.bucket?.le ?? ""}\u0000${base.key}`;
    let s = this.byKey.get(key);
    if (!s) {
      if (this.opts.cap !== undefined && this.byKey.size >= this.opts.cap) {
        this.truncated = true;
        return;
      }
      this.opts.limits?.series(this.byKey.size + 1);
      const labels: Record<string, string> = { __name__: c.metric.name, ...base.labels };
      if (c.tokenType) labels[TOKEN_TYPE_LABEL] = c.tokenType;
      if (c.bucket) labels[BUCKET_LABEL] = c.bucket.le;
      s = { labels, minutes: [], increments: [] };
      this.byKey.set(key, s);
    }
    this.opts.limits?.read(1);
    s.minutes.push(minute);
    s.increments.push(inc);
  }
  get limits(): PromLimits | undefined {
    return this.opts.limits;
  }
  get cap(): number | undefined {
    return this.opts.cap;
  }
  get signal(): AbortSignal | undefined {
    return this.opts.signal;
  }
  values(): RawSeries[] {
    return [...this.byKey.values()];
  }
}

/**
 * The row limit of a read. Within a query's limits: one row more than the samples left allow (each
 * row adds at least one sample per `rowsPerSample` rows), so reaching it means the query would read
 * too many. Listing series up to a cap (rows of distinct label sets, no minutes): enough rows for
 * `cap` series (each adds at least one per `rowsPerSample` rows), and one more. None otherwise.
 */
function rowLimit(out: SeriesSet, rowsPerSample: number, perMinute: boolean): number | undefined {
  if (out.limits) return Math.floor(out.limits.samplesLeft * rowsPerSample) + 1;
  if (out.cap !== undefined && !perMinute) return Math.ceil(out.cap * Math.max(1, rowsPerSample)) + 1;
  return undefined;
}

const limitSql = (n: number | undefined) => (n === undefined ? "" : `\n    LIMIT ${n}`);

/** A read that returned as many rows as its limit had more: over the query's limits, or a cut listing. */
function checkRows(out: SeriesSet, rows: unknown[], limit: number | undefined): void {
  if (limit === undefined || rows.length < limit) return;
  if (out.limits) throw out.limits.tooManySamplesRead();
  out.truncated = true;
}

interface RollupRow extends LabelRow {
  Calls: string;
  Errors: string;
  CostUsd: number;
  InputTokens: string;
  OutputTokens: string;
  CacheReadTokens: string;
  CacheWriteTokens: string;
  ReasoningTokens: string;
}

async function fetchRollup(
  storage: Storage,
  q: Query,
  candidates: Candidate[],
  perMinute: boolean,
  out: SeriesSet,
): Promise<void> {
  const columns = Object.values(LABEL_COLUMNS).join(", ");
  const limit = rowLimit(out, 1 / candidates.length, perMinute);
  const sql = `
    SELECT ${columns},${perMinute ? " toUnixTimestamp(Minute) AS M," : ""}
      sum(Calls) AS Calls, sum(Errors) AS Errors, sum(CostUsd) AS CostUsd,
      sum(InputTokens) AS InputTokens, sum(OutputTokens) AS OutputTokens,
      sum(CacheReadTokens) AS CacheReadTokens, sum(CacheWriteTokens) AS CacheWriteTokens,
      sum(ReasoningTokens) AS ReasoningTokens
    FROM ${databaseOf(storage)}.${LLM_ROLLUP_TABLE}
    WHERE ${q.where.join(" AND ")}
    GROUP BY ${columns}${perMinute ? ", M" : ""}
    ORDER BY ${columns}${perMinute ? ", M" : ""}${limitSql(limit)}`;
  const rows = await run<RollupRow>(storage, sql, q, out.signal);
  checkRows(out, rows, limit);
  for (const r of rows) {
    const base = baseLabels(r, LABELS);
    for (const c of candidates) {
      const column = c.tokenType
        ? TOKEN_COLUMNS[c.tokenType as keyof typeof TOKEN_COLUMNS]
        : (c.metric.column as ValueColumn);
      out.add(c, base, num(r.M), num(r[column]));
    }
  }
}

interface RunRow extends LabelRow {
  Runs: string;
}

async function fetchRuns(
  storage: Storage,
  q: Query,
  candidates: Candidate[],
  perMinute: boolean,
  out: SeriesSet,
): Promise<void> {
  const columns = RUN_LABELS.map((l) => LABEL_COLUMNS[l]).join(", ");
  const limit = rowLimit(out, 1 / candidates.length, perMinute);
  const sql = `
    SELECT ${columns},${perMinute ? " toUnixTimestamp(Minute) AS M," : ""} sum(Runs) AS Runs
    FROM ${databaseOf(storage)}.${AGENT_RUNS_TABLE}
    WHERE ${q.where.join(" AND ")}
    GROUP BY ${columns}${perMinute ? ", M" : ""}
    ORDER BY ${columns}${perMinute ? ", M" : ""}${limitSql(limit)}`;
  const rows = await run<RunRow>(storage, sql, q, out.signal);
  checkRows(out, rows, limit);
  for (const r of rows) {
    const base = baseLabels(r, RUN_LABELS);
    for (const c of candidates) out.add(c, base, num(r.M), num(r.Runs));
  }
}

interface HistogramRow extends LabelRow {
  Metric: string;
  Bucket: number;
  Count: string;
  Sum: string;
}

/**
 * Histogram series: the stored rows hold each bucket's own count; `_bucket{le}` is the cumulative
 * count up to it. Every bucket series of a label set gets a sample in each minute that label set
 * had observations, so all of a histogram's buckets exist together, as in Prometheus.
 */
async function fetchHistograms(
  storage: Storage,
  q: Query,
  candidates: Candidate[],
  perMinute: boolean,
  out: SeriesSet,
): Promise<void> {
  const stored = new Map<string, { def: HistogramDef; tokenType?: string }>();
  for (const c of candidates) {
    const def = c.metric.histogram?.def as HistogramDef;
    for (const s of def.stored) if (s.tokenType === c.tokenType) stored.set(s.metric, { def, tokenType: s.tokenType });
  }
  const columns = Object.values(LABEL_COLUMNS).join(", ");
  const limit = rowLimit(out, MAX_BUCKETS, perMinute);
  const sql = `
    SELECT ${columns},${perMinute ? " toUnixTimestamp(Minute) AS M," : ""} Metric, Bucket,
      sum(Count) AS Count, sum(Sum) AS Sum
    FROM ${databaseOf(storage)}.${LLM_HISTOGRAM_TABLE}
    WHERE ${q.where.join(" AND ")} AND Metric IN {metrics:Array(String)}
    GROUP BY ${columns},${perMinute ? " M," : ""} Metric, Bucket
    ORDER BY ${columns},${perMinute ? " M," : ""} Metric, Bucket${limitSql(limit)}`;
  const rows = await run<HistogramRow>(
    storage,
    sql,
    { ...q, params: { ...q.params, metrics: [...stored.keys()] } },
    out.signal,
  );
  checkRows(out, rows, limit);

  // Rows arrive ordered by labels, minute, metric: one group per (labels, minute, metric).
  const flush = (group: HistogramRow[]) => {
    const first = group[0];
    const s = stored.get(first.Metric);
    if (!s) return;
    const counts = new Array<number>(s.def.bounds.length + 1).fill(0);
    let sum = 0;
    for (const r of group) {
      counts[Math.min(r.Bucket, s.def.bounds.length)] += num(r.Count);
      sum += num(r.Sum);
    }
    const base = baseLabels(first, LABELS);
    const minute = num(first.M);
    for (const c of candidates) {
      const h = c.metric.histogram;
      if (h?.def !== s.def || c.tokenType !== s.tokenType) continue;
      let v: number;
      if (h.part === "sum") v = sum * s.def.sumScale;
      else if (h.part === "count") v = counts.reduce((a, b) => a + b, 0);
      else v = counts.slice(0, (c.bucket?.index ?? 0) + 1).reduce((a, b) => a + b, 0);
      out.add(c, base, minute, v);
    }
  };
  let group: HistogramRow[] = [];
  const groupKey = (r: HistogramRow) => `${baseLabels(r, LABELS).key}\u0000${r.M ?? ""}\u0000${r.Metric}`;
  for (const r of rows) {
    if (group.length > 0 && groupKey(group[0]) !== groupKey(r)) {
      flush(group);
      group = [];
    }
    group.push(r);
  }
  if (group.length > 0) flush(group);
}

/**
 * Reads the series a selector matches: one bound-parameter SQL per rollup it needs, filtered by
 * the matchers on known labels, grouped by the label columns (and by minute unless `perMinute` is
 * false). Minutes m with from ≤ m ≤ to are read; without bounds, all of them.
 */
export async function fetchSeries(
  storage: Storage,
  scope: QueryScope,
  matchers: Matcher[],
  range: { from?: number; to?: number },
  perMinute = true,
  opts: ReadOptions = {},
): Promise<RawSeries[]> {
  return (await readSeries(storage, scope, matchers, range, perMinute, opts)).series;
}

/** Labels the store has; any other label is empty on every series. */
const KNOWN_LABELS = new Set<string>(["__name__", TOKEN_TYPE_LABEL, BUCKET_LABEL, ...LABELS]);

/** Whether a matcher needs a label the store does not have to be non-empty: then nothing matches. */
const matchesNothing = (matchers: Matcher[]) => matchers.some((m) => !KNOWN_LABELS.has(m.name) && !matches(m, ""));

/**
 * `fetchSeries` with its reading bounds: within `opts.limits` (over them it throws `ReadLimitError`),
 * or at most `opts.cap` series (`truncated` tells that more matched).
 */
export async function readSeries(
  storage: Storage,
  scope: QueryScope,
  matchers: Matcher[],
  range: { from?: number; to?: number },
  perMinute: boolean,
  opts: ReadOptions,
): Promise<{ series: RawSeries[]; truncated: boolean }> {
  if (matchesNothing(matchers)) return { series: [], truncated: false };
  const candidates = candidateSeries(matchers);
  const out = new SeriesSet(opts);
  const reads: Promise<void>[] = [];
  const readers = {
    rollup: { labels: LABELS, read: fetchRollup },
    runs: { labels: RUN_LABELS, read: fetchRuns },
    histogram: { labels: LABELS, read: fetchHistograms },
  };
  for (const [source, { labels, read }] of Object.entries(readers)) {
    const mine = candidates.filter((c) => c.metric.source === source);
    if (mine.length === 0) continue;
    const q = conditions(scope, matchers, range, labels);
    if (q) reads.push(read(storage, q, mine, perMinute, out));
  }
  await Promise.all(reads);
  return { series: out.values(), truncated: out.truncated };
}

const SOURCES = {
  rollup: { table: LLM_ROLLUP_TABLE, labels: LABELS },
  runs: { table: AGENT_RUNS_TABLE, labels: RUN_LABELS },
  histogram: { table: LLM_HISTOGRAM_TABLE, labels: LABELS },
} as const;

/** The stored histogram metric a histogram candidate is read from. */
function storedMetric(c: Candidate): string | undefined {
  return c.metric.histogram?.def.stored.find((s) => s.tokenType === c.tokenType)?.metric;
}

/**
 * Values of one label on the series any of `selectors` match (all series when none is given) with
 * data in the range, sorted, at most `limit` (`truncated` tells that there were more). Reads
 * distinct values, never whole series: a label column is read with `SELECT DISTINCT … LIMIT`; the
 * metric name, token type and `le` come from which metrics have rows.
 */
export async function labelValues(
  storage: Storage,
  scope: QueryScope,
  name: string,
  selectors: Matcher[][],
  range: { from?: number; to?: number },
  limit: number,
): Promise<{ values: string[]; truncated: boolean }> {
  const db = databaseOf(storage);
  const found = new Set<string>();
  const reads: Promise<void>[] = [];
  const column = name in LABEL_COLUMNS ? LABEL_COLUMNS[name as LabelName] : undefined;
  const fixed = name === "__name__" || name === TOKEN_TYPE_LABEL || name === BUCKET_LABEL;
  if (!column && !fixed) return { values: [], truncated: false };
  for (const matchers of selectors.length > 0 ? selectors : [[]]) {
    if (matchesNothing(matchers)) continue;
    const candidates = candidateSeries(matchers);
    for (const [source, { table, labels }] of Object.entries(SOURCES)) {
      const mine = candidates.filter((c) => c.metric.source === source);
      if (mine.length === 0) continue;
      const q = conditions(scope, matchers, range, [...labels]);
      if (!q) continue;
      const where = [...q.where];
      const params = { ...q.params };
      if (source === "histogram") {
        where.push("Metric IN {metrics:Array(String)}");
        params.metrics = [...new Set(mine.map(storedMetric).filter((m) => m !== undefined))];
      }
      const from = `FROM ${db}.${table} WHERE ${where.join(" AND ")}`;
      if (column) {
        if (!(labels as readonly string[]).includes(name)) continue;
        const sql = `SELECT DISTINCT toString(${column}) AS v ${from} AND ${column} != '' ORDER BY v LIMIT {lim:UInt32}`;
        reads.push(
          run<{ v: string }>(storage, sql, { ...q, params: { ...params, lim: limit + 1 } }).then((rows) => {
            for (const r of rows) found.add(r.v);
          }),
        );
        continue;
      }
      // Which of the candidates have rows: the histogram's stored metrics, or any row at all.
      const sql =
        source === "histogram" ? `SELECT DISTINCT toString(Metric) AS v ${from}` : `SELECT '' AS v ${from} LIMIT 1`;
      reads.push(
        run<{ v: string }>(storage, sql, { ...q, params }).then((rows) => {
          const present = new Set(rows.map((r) => r.v));
          for (const c of mine) {
            if (rows.length === 0 || (source === "histogram" && !present.has(storedMetric(c) ?? ""))) continue;
            const v = name === "__name__" ? c.metric.name : name === TOKEN_TYPE_LABEL ? c.tokenType : c.bucket?.le;
            if (v) found.add(v);
          }
        }),
      );
    }
  }
  await Promise.all(reads);
  const values = [...found].sort();
  return { values: values.slice(0, limit), truncated: values.length > limit };
}
