import { SPAN_TABLE, type Storage } from "@cognive/collector";
import { ReadLimitError } from "../api/errors.ts";
import { limitsOf } from "../api/reads.ts";
import { type QueryScope, teamCondition } from "../api/scope.ts";
import { databaseOf, select } from "../api/sql.ts";
import { Turns } from "../api/turn.ts";
import { fieldSql, fieldText, filterFields, filterSql, isTraceField, Params, perSpan } from "./compile.ts";
import {
  atPosition,
  type Field,
  type MetricsStage,
  parseDuration,
  type Spansets,
  TraceQLError,
  type TraceQuery,
} from "./traceql.ts";

/** The longest series a range query may ask for, as Prometheus limits points per series. */
export const MAX_POINTS = 11_000;

const count = (n: number) => n.toLocaleString("en-US");

export interface MetricsRange {
  startNs: bigint;
  endNs: bigint;
  stepNs: bigint;
}

type LabelValue = { stringValue: string } | { doubleValue: number };

export interface MetricsSeries {
  labels: { key: string; value: LabelValue }[];
  samples: { timestampMs: string; value: number }[];
}

/**
 * A time from Tempo's metrics API: Unix seconds, milliseconds or nanoseconds (told apart by size,
 * as clients send all three) or RFC 3339.
 */
export function parseTime(raw: string | undefined, fallback: bigint): bigint {
  if (raw === undefined || raw === "") return fallback;
  if (/^\d+(\.\d+)?$/.test(raw)) {
    const n = Number(raw);
    if (n >= 1e15) return BigInt(raw.split(".")[0]);
    if (n >= 1e11) return BigInt(Math.round(n * 1e6));
    return BigInt(Math.round(n * 1e3)) * 1_000_000n;
  }
  const ms = Date.parse(raw);
  if (Number.isNaN(ms)) throw new TraceQLError(`invalid time ${JSON.stringify(raw.slice(0, 40))}`);
  return BigInt(ms) * 1_000_000n;
}

/** A step: a duration (`30s`, `1m`) or a number of seconds; by default about 100 points over the range. */
export function parseStep(raw: string | undefined, startNs: bigint, endNs: bigint): bigint {
  if (raw === undefined || raw === "") {
    const auto = (endNs - startNs) / 100n;
    return auto < 1_000_000_000n ? 1_000_000_000n : auto;
  }
  const ns = /^\d+(\.\d+)?$/.test(raw) ? Number(raw) * 1e9 : parseDuration(raw);
  if (ns === undefined || !(ns >= 1e6)) throw new TraceQLError("step must be a duration of at least 1ms");
  return BigInt(Math.round(ns));
}

/**
 * Tempo's metrics time range: `end` (default now), `start` (default `since` before the earlier of
 * `end` and now; `since` defaults to 1h). Each time is Unix seconds, milliseconds, nanoseconds or RFC 3339.
 */
export function metricsBounds(
  params: { start?: string; end?: string; since?: string },
  nowNs = BigInt(Date.now()) * 1_000_000n,
): { startNs: bigint; endNs: bigint } {
  let sinceNs = 3_600_000_000_000n;
  if (params.since !== undefined && params.since !== "") {
    const d = parseDuration(params.since);
    if (d === undefined || !(d > 0)) {
      throw new TraceQLError(
        `invalid since ${JSON.stringify(params.since.slice(0, 40))}: expected a duration such as 1h`,
      );
    }
    sinceNs = BigInt(Math.round(d));
  }
  const endNs = parseTime(params.end, nowNs);
  const startNs = parseTime(params.start, (endNs < nowNs ? endNs : nowNs) - sinceNs);
  return { startNs, endNs };
}

/**
 * Refuses, with where it is, what a metrics query cannot do here: no metrics function, more than one
 * spanset filter, stages before the metrics function, or whole-trace and per-event fields.
 */
function checkMetricsQuery(q: TraceQuery): {
  m: MetricsStage;
  filter: Extract<Spansets, { type: "spanset" }>["filter"];
} {
  const m = q.metrics;
  if (!m)
    throw new TraceQLError(
      "not a metrics query: end it with a metrics function, e.g. | rate(), at the end of the query",
    );
  if (q.spansets.type !== "spanset") {
    throw new TraceQLError(
      `metrics over several spanset filters (${q.spansets.type === "and" ? "&&" : q.spansets.type === "or" ? "||" : "a structural operator"}${atPosition(q.spansets)}) are not supported: use one {…} filter`,
    );
  }
  const stage = q.stages?.[0];
  if (stage) {
    throw new TraceQLError(
      `pipeline stages before a metrics function (${stage.type === "aggregate" ? `${stage.fn}()` : `${stage.type}()`}${atPosition(stage)}) are not supported in metrics queries`,
    );
  }
  const traceField = filterFields(q.spansets.filter).find(isTraceField);
  if (traceField) {
    throw new TraceQLError(
      `${fieldText(traceField)}${atPosition(traceField)} is a whole-trace field: metrics queries filter on span fields only`,
    );
  }
  const badBy = m.by.find((f) => isTraceField(f) || !perSpan(f));
  if (badBy) {
    throw new TraceQLError(`${fieldText(badBy)}${atPosition(badBy)}: metrics queries group on span fields only`);
  }
  return { m, filter: q.spansets.filter };
}

/** The field as TraceQL writes it, for series labels. */
const fieldLabel = fieldText;

/** The measured value as Float64 SQL; durations in seconds, as Tempo reports them. */
function valueSql(field: Field, p: Params): string {
  if (field.kind === "intrinsic" && field.name === "duration") return "Duration / 1e9";
  if (field.kind === "intrinsic" && field.name !== "duration")
    throw new TraceQLError(`${field.name}${atPosition(field)} is not a number to aggregate`);
  const fs = fieldSql(field, p);
  if (fs.each)
    throw new TraceQLError(
      `${fieldText(field)}${atPosition(field)} has a value per event, not per span: aggregate a span field`,
    );
  return fs.numeric ? fs.expr : `toFloat64OrNull(${fs.expr})`;
}

/** The aggregate columns of one stage, as an array of Float64 per (step, series). */
function aggregateSql(m: MetricsStage, p: Params, stepS: number): string {
  if (m.fn === "count_over_time") return "[toFloat64(count())]";
  if (m.fn === "rate") return `[count() / ${stepS}]`;
  const v = valueSql(m.field as Field, p);
  switch (m.fn) {
    case "min_over_time":
      return `[toFloat64(min(${v}))]`;
    case "max_over_time":
      return `[toFloat64(max(${v}))]`;
    case "avg_over_time":
      return `[toFloat64(avg(${v}))]`;
    case "sum_over_time":
      return `[toFloat64(sum(${v}))]`;
    case "quantile_over_time":
      // Levels are numbers the parser checked to lie in [0, 1], never query text.
      return `arrayMap(x -> toFloat64(x), quantilesExact(${m.quantiles.map((q) => String(q)).join(", ")})(${v}))`;
  }
}

interface Row {
  Bucket: string;
  Labels: string[];
  Values: (number | null)[];
}

/**
 * A TraceQL metrics query over a range: spans matching the (single) spanset filter, counted or
 * measured per step and grouped by the `by()` fields. Counts have a sample at every step (zero
 * when nothing matched); measurements only where spans were.
 */
export async function metricsQueryRange(
  storage: Storage,
  scope: QueryScope,
  q: TraceQuery,
  range: MetricsRange,
): Promise<{ series: MetricsSeries[] }> {
  // Steps are aligned to multiples of the step, as Tempo aligns them, except for an instant query
  // (one step spanning the range, Tempo's IsInstant).
  const instant = range.endNs - range.startNs === range.stepNs;
  return runMetrics(storage, scope, q, {
    ...range,
    startNs: instant ? range.startNs : (range.startNs / range.stepNs) * range.stepNs,
  });
}

/** One value per series of an instant query, as Tempo's JSON writes it (zero values and empty labels left out). */
export interface InstantSeries {
  labels?: MetricsSeries["labels"];
  value?: number;
}

/**
 * An instant TraceQL metrics query: the range query over [start, end) in one step of end − start
 * (not aligned), each series' single value.
 */
export async function metricsQueryInstant(
  storage: Storage,
  scope: QueryScope,
  q: TraceQuery,
  range: { startNs: bigint; endNs: bigint },
): Promise<{ series: InstantSeries[]; metrics: Record<string, never> }> {
  if (range.endNs <= range.startNs) throw new TraceQLError("end must be after start");
  const { series } = await runMetrics(storage, scope, q, { ...range, stepNs: range.endNs - range.startNs });
  return {
    series: series.flatMap((s) => {
      const value = s.samples[0]?.value;
      if (value === undefined) return [];
      return [{ ...(s.labels.length ? { labels: s.labels } : {}), ...(value !== 0 ? { value } : {}) }];
    }),
    metrics: {},
  };
}

async function runMetrics(
  storage: Storage,
  scope: QueryScope,
  q: TraceQuery,
  range: MetricsRange,
): Promise<{ series: MetricsSeries[] }> {
  const { m, filter: spansetFilter } = checkMetricsQuery(q);
  const startNs = range.startNs;
  const points = Number((range.endNs - startNs + range.stepNs - 1n) / range.stepNs);
  if (range.endNs <= range.startNs) throw new TraceQLError("end must be after start");
  if (points > MAX_POINTS) throw new TraceQLError(`too many points (${points}): use a larger step`);

  const p = new Params();
  const filter = filterSql(spansetFilter, p);
  const labels = m.by.map((f) => `toString(${fieldSql(f, p).expr})`);
  const aggregate = aggregateSql(m, p, Number(range.stepNs) / 1e9);
  const team = teamCondition(scope, { column: "TeamName" });
  const limits = limitsOf(storage);
  const variants = m.fn === "quantile_over_time" ? m.quantiles : [null];
  // Every (series, step) with spans is a row: one more than the points allowed means too many.
  const maxRows = Math.floor(limits.traceqlMaxPoints / variants.length) + 1;
  const tooMany = () =>
    new ReadLimitError(
      `the query would return more than ${count(limits.traceqlMaxPoints)} points (COGNIVE_TRACEQL_MAX_POINTS) or ${count(limits.maxSeries)} series (COGNIVE_QUERY_MAX_SERIES); use a larger step, a shorter range, or group by fewer fields`,
    );
  const rows = await select<Row>(
    storage,
    `SELECT
       toString(intDiv(toUnixTimestamp64Nano(Timestamp) - {startNs:Int64}, {stepNs:Int64})) AS Bucket,
       [${labels.join(", ")}]::Array(String) AS Labels,
       ${aggregate} AS Values
     FROM ${databaseOf(storage)}.${SPAN_TABLE}
     WHERE Timestamp >= fromUnixTimestamp64Nano({startNs:Int64}) AND Timestamp < fromUnixTimestamp64Nano({endNs:Int64})
       AND (${team.sql}) AND (${filter})
     GROUP BY Bucket, Labels
     ORDER BY Labels, Bucket
     LIMIT {maxRows:UInt64}`,
    {
      ...p.values,
      ...team.params,
      startNs: String(startNs),
      endNs: String(range.endNs),
      stepNs: String(range.stepNs),
      maxRows,
    },
  );
  if (rows.length >= maxRows) throw tooMany();

  const counts = m.fn === "rate" || m.fn === "count_over_time";
  const bySeries = new Map<string, { labels: string[]; values: Map<number, (number | null)[]> }>();
  for (const r of rows) {
    const key = JSON.stringify(r.Labels);
    let s = bySeries.get(key);
    if (!s) {
      s = { labels: r.Labels, values: new Map() };
      bySeries.set(key, s);
    }
    s.values.set(Number(r.Bucket), r.Values);
  }
  // Counts have a sample at every step, with spans or not.
  const series = bySeries.size * variants.length;
  if (
    series > limits.maxSeries ||
    (counts ? series * points : rows.length * variants.length) > limits.traceqlMaxPoints
  ) {
    throw tooMany();
  }
  const timestampMs = (i: number) => String((startNs + BigInt(i) * range.stepNs) / 1_000_000n);
  const out: MetricsSeries[] = [];
  const turns = new Turns(20_000);
  for (const s of bySeries.values()) {
    await turns.add(points * variants.length);
    variants.forEach((quantile, vi) => {
      const samples: MetricsSeries["samples"] = [];
      for (let i = 0; i < points; i++) {
        const v = s.values.get(i)?.[vi];
        if (v !== undefined && v !== null && Number.isFinite(v))
          samples.push({ timestampMs: timestampMs(i), value: v });
        else if (counts) samples.push({ timestampMs: timestampMs(i), value: 0 });
      }
      out.push({
        labels: [
          ...m.by.map((f, i) => ({ key: fieldLabel(f), value: { stringValue: s.labels[i] || "nil" } })),
          ...(quantile === null ? [] : [{ key: "p", value: { doubleValue: quantile } }]),
        ],
        samples,
      });
    });
  }
  return { series: out };
}
