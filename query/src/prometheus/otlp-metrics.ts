/**
 * Stored OTLP metrics (the otel_metrics_* tables) as Prometheus series, beside the span-derived ones.
 *
 * Naming follows the OpenTelemetry → Prometheus compatibility rules: characters outside
 * [a-zA-Z0-9_:] become `_` (runs collapsed), the unit is appended as a word (`s` → `_seconds`,
 * `By` → `_bytes`, `{token}` annotations dropped, `1` → `_ratio` on gauges), `_total` ends a
 * monotonic sum; histograms are `_bucket{le}`, `_sum`, `_count` (exponential ones too, their
 * buckets turned into `le` bounds), summaries `{quantile}`, `_sum`, `_count`. Labels: the data
 * point's attributes (sanitized the same way), `service_name`, `job` (service.namespace/service.name),
 * `instance` (service.instance.id), `team`, and `cognive_source="otlp_metrics"`. Names starting
 * `cognive_` are Cognive's own span-derived series: a stored metric whose name would start so is not served.
 *
 * The engine works on per-minute increments (see engine.ts). Counters: a cumulative point adds
 * its growth since the point before (a drop, or a new start time, is a reset: the whole value
 * is growth); a delta point adds its value; both in the minute it ends in, so rate()/increase()
 * are exact per minute whatever the temporality. Gauges (and non-monotonic cumulative sums,
 * summary quantiles) are differenced so the running sum is the last value. NaN gauge points and
 * points flagged "no recorded value" are skipped.
 */
import { METRICS_TABLES, type Storage } from "@cognive/collector";
import { type QueryScope, teamCondition } from "../api/scope.ts";
import { databaseOf, num, select } from "../api/sql.ts";
import { formatValue } from "./format.ts";
import { type Matcher, matches, PromError } from "./promql.ts";
import { labelValues, type RawSeries, type ReadOptions, readSeries } from "./store.ts";

export const SOURCE_LABEL = "cognive_source";
/** Series computed from stored spans (the rollups). */
export const SOURCE_SPANS = "spans";
/** Series of metric points sent over OTLP. */
export const SOURCE_OTLP = "otlp_metrics";

type Kind = keyof typeof METRICS_TABLES;
type PromType = "gauge" | "counter" | "histogram" | "summary";

const UNITS: Record<string, string> = {
  d: "days",
  h: "hours",
  min: "minutes",
  s: "seconds",
  ms: "milliseconds",
  us: "microseconds",
  ns: "nanoseconds",
  By: "bytes",
  KiBy: "kibibytes",
  MiBy: "mebibytes",
  GiBy: "gibibytes",
  TiBy: "tebibytes",
  KBy: "kilobytes",
  MBy: "megabytes",
  GBy: "gigabytes",
  TBy: "terabytes",
  m: "meters",
  V: "volts",
  A: "amperes",
  J: "joules",
  W: "watts",
  g: "grams",
  Cel: "celsius",
  Hz: "hertz",
  "%": "percent",
};
const PER_UNITS: Record<string, string> = {
  s: "second",
  m: "minute",
  h: "hour",
  d: "day",
  w: "week",
  mo: "month",
  y: "year",
};

const sanitize = (s: string) => s.replace(/[^a-zA-Z0-9_:]+/g, "_").replace(/__+/g, "_");

/** A label name from an attribute key: invalid characters to `_`, a leading digit prefixed `key_`. */
export function labelName(key: string): string {
  const s = key.replace(/[^a-zA-Z0-9_]/g, "_");
  return /^[0-9]/.test(s) ? `key_${s}` : s;
}

/** The unit as a name suffix ("" for none). */
export function unitWord(unit: string, type: PromType): string {
  const u = unit.replace(/\{[^}]*\}/g, "").trim();
  if (u === "") return "";
  if (u === "1") return type === "gauge" ? "ratio" : "";
  const [a, b] = u.split("/", 2);
  const main = a === "" ? "" : (UNITS[a] ?? sanitize(a));
  if (b === undefined) return main.replace(/^_+|_+$/g, "");
  const per = PER_UNITS[b] ?? sanitize(b);
  return `${main}${main ? "_" : ""}per_${per}`.replace(/^_+|_+$/g, "");
}

/** The Prometheus family name of a stored metric (without `_bucket`/`_sum`/`_count`). */
export function promFamily(name: string, unit: string, type: PromType): string {
  let n = sanitize(name);
  if (/^[0-9]/.test(n)) n = `_${n}`;
  const word = unitWord(unit, type);
  if (word && !n.endsWith(`_${word}`) && n !== word) n = `${n}_${word}`;
  if (type === "counter" && !n.endsWith("_total")) n = `${n}_total`;
  return n;
}

/** One stored metric (name, unit, and for sums whether monotonic) and the Prometheus names it yields. */
interface Entry {
  kind: Kind;
  name: string;
  unit: string;
  description: string;
  type: PromType;
  family: string;
  /** Series names: family (gauge, counter, summary quantiles), family_bucket/_sum/_count. */
  names: string[];
}

function entryOf(kind: Kind, name: string, unit: string, description: string, monotonic: boolean): Entry {
  const type: PromType =
    kind === "gauge"
      ? "gauge"
      : kind === "sum"
        ? monotonic
          ? "counter"
          : "gauge"
        : kind === "summary"
          ? "summary"
          : "histogram";
  const family = promFamily(name, unit, type);
  const names =
    type === "histogram"
      ? [`${family}_bucket`, `${family}_sum`, `${family}_count`]
      : type === "summary"
        ? [family, `${family}_sum`, `${family}_count`]
        : [family];
  return { kind, name, unit, description, type, family, names };
}

/** Most distinct stored metrics looked at per table. */
const MAX_CATALOG = 10_000;

const nsParam = (s: number) => String(BigInt(Math.floor(Math.max(0, s))) * 1_000_000_000n);

/** Scope and time conditions of every read. */
function baseWhere(scope: QueryScope, range: { from?: number; to?: number }) {
  const team = teamCondition(scope, { column: "TeamName" });
  const where = [`(${team.sql})`];
  const params: Record<string, unknown> = { ...team.params };
  if (range.from !== undefined) {
    where.push("TimeUnix >= fromUnixTimestamp64Nano({fromNs:Int64})");
    params.fromNs = nsParam(range.from);
  }
  if (range.to !== undefined) {
    // Points in the minute of `to` count, as the rollups' minutes ≤ to do.
    where.push("TimeUnix < fromUnixTimestamp64Nano({toNs:Int64})");
    params.toNs = nsParam(Math.floor(range.to / 60) * 60 + 60);
  }
  return { where, params };
}

/** The stored metrics with points in the range that the scope may read. */
async function catalog(
  storage: Storage,
  scope: QueryScope,
  range: { from?: number; to?: number },
  signal?: AbortSignal,
): Promise<Entry[]> {
  const db = databaseOf(storage);
  const { where, params } = baseWhere(scope, range);
  // One read over the five tables: every selector asks, so it is kept to a single statement.
  const parts = (Object.keys(METRICS_TABLES) as Kind[]).map(
    (kind) => `SELECT '${kind}' AS K, MetricName AS N, MetricUnit AS U, any(MetricDescription) AS D,
         ${kind === "sum" ? "IsMonotonic" : "false"} AS M
       FROM ${db}.${METRICS_TABLES[kind]} WHERE ${where.join(" AND ")}
       GROUP BY N, U, M LIMIT ${MAX_CATALOG}`,
  );
  const rows = await select<{ K: Kind; N: string; U: string; D: string; M: boolean | number }>(
    storage,
    `SELECT * FROM (${parts.join("\n UNION ALL \n")}) ORDER BY K, N, U`,
    params,
    { signal },
  );
  return rows
    .map((r) => entryOf(r.K, r.N, r.U, r.D, r.M === true || r.M === 1))
    .filter((e) => !e.family.startsWith(RESERVED_PREFIX));
}

/** The matchers on one label. */
const on = (ms: Matcher[], name: string) => ms.filter((m) => m.name === name);

/** Which sources a selector's `cognive_source` matchers admit, and the matchers without them. */
export function splitSource(matchers: Matcher[]): { spans: boolean; otlp: boolean; rest: Matcher[] } {
  const src = on(matchers, SOURCE_LABEL);
  return {
    spans: src.every((m) => matches(m, SOURCE_SPANS)),
    otlp: src.every((m) => matches(m, SOURCE_OTLP)) && !reservedName(matchers),
    rest: matchers.filter((m) => m.name !== SOURCE_LABEL),
  };
}

/**
 * `cognive_…` names belong to the span-derived series: a selector naming one exactly does not look
 * for stored OTLP metrics at all (it saves the catalog read on every dashboard query).
 */
export const RESERVED_PREFIX = "cognive_";
const reservedName = (matchers: Matcher[]) =>
  on(matchers, "__name__").some((m) => m.op === "=" && m.value.startsWith(RESERVED_PREFIX));

/** Labels fixed by the row rather than by the point's attributes. */
const FIXED = new Set(["__name__", "service_name", "job", "instance", "team", SOURCE_LABEL, "le", "quantile"]);

interface PointRow {
  N: string;
  U: string;
  SN: string;
  TN: string;
  NS: string;
  INST: string;
  A: Record<string, string>;
  S: string;
  T: string;
  F: number;
  AT?: number;
  M?: boolean | number;
  V?: number | null;
  C?: string;
  SUM?: number | null;
  BC?: string[];
  EB?: number[];
  SC?: number;
  ZC?: string;
  PO?: number;
  PC?: string[];
  NC?: string[];
  QQ?: number[];
  QV?: (number | null)[];
}

const VALUE_COLUMNS: Record<Kind, string> = {
  gauge: "Value AS V",
  sum: "Value AS V, AggregationTemporality AS AT, IsMonotonic AS M",
  histogram:
    "toString(Count) AS C, Sum AS SUM, arrayMap(x -> toString(x), BucketCounts) AS BC, ExplicitBounds AS EB, AggregationTemporality AS AT",
  exponentialHistogram:
    "toString(Count) AS C, Sum AS SUM, Scale AS SC, toString(ZeroCount) AS ZC, PositiveOffset AS PO, arrayMap(x -> toString(x), PositiveBucketCounts) AS PC, arrayMap(x -> toString(x), NegativeBucketCounts) AS NC, AggregationTemporality AS AT",
  summary: "toString(Count) AS C, Sum AS SUM, ValueAtQuantiles.Quantile AS QQ, ValueAtQuantiles.Value AS QV",
};

/** How a series' points turn into increments. */
type Mode = "cumulative" | "delta" | "gauge";

/** One Prometheus series being built: its labels and (time ns, start ns, value) samples. */
interface Building {
  labels: Record<string, string>;
  mode: Mode;
  t: bigint[];
  start: bigint[];
  v: number[];
}

/** Reads stored OTLP points and builds the Prometheus series a selector matches. */
export async function readOtlpSeries(
  storage: Storage,
  scope: QueryScope,
  matchers: Matcher[],
  range: { from?: number; to?: number },
  perMinute: boolean,
  opts: ReadOptions,
): Promise<{ series: RawSeries[]; truncated: boolean }> {
  const names = on(matchers, "__name__");
  const entries = (await catalog(storage, scope, range, opts.signal)).filter((e) =>
    e.names.some((n) => names.every((m) => matches(m, n))),
  );
  if (entries.length === 0) return { series: [], truncated: false };
  const db = databaseOf(storage);
  const building = new Map<string, Building>();
  let truncated = false;
  const reads = (Object.keys(METRICS_TABLES) as Kind[]).map(async (kind) => {
    const mine = entries.filter((e) => e.kind === kind);
    if (mine.length === 0) return;
    const { where, params } = baseWhere(scope, range);
    where.push("MetricName IN {names:Array(String)}");
    params.names = [...new Set(mine.map((e) => e.name))];
    pushDown(matchers, where, params);
    const samplesPerRow = kind === "histogram" || kind === "exponentialHistogram" ? 3 : 1;
    const limit = opts.limits
      ? Math.floor(opts.limits.samplesLeft / samplesPerRow) + 1
      : opts.cap !== undefined && !perMinute
        ? opts.cap + 1
        : undefined;
    const by = "MetricName, MetricUnit, ServiceName, TeamName, NS, INST, Attributes";
    const sql = `
      SELECT MetricName AS N, MetricUnit AS U, ServiceName AS SN, TeamName AS TN,
        ResourceAttributes['service.namespace'] AS NS, ResourceAttributes['service.instance.id'] AS INST,
        Attributes AS A, toString(toUnixTimestamp64Nano(StartTimeUnix)) AS S,
        toString(toUnixTimestamp64Nano(TimeUnix)) AS T, Flags AS F, ${VALUE_COLUMNS[kind]}
      FROM ${db}.${METRICS_TABLES[kind]}
      WHERE ${where.join(" AND ")}
      ${perMinute ? "ORDER BY TimeUnix" : `ORDER BY TimeUnix DESC LIMIT 1 BY ${by}`}${limit === undefined ? "" : ` LIMIT ${limit}`}`;
    let rows: PointRow[];
    try {
      rows = await select<PointRow>(storage, sql, params, { signal: opts.signal });
    } catch (err) {
      if (/regexp|regular expression|re2/i.test(String(err))) {
        throw new PromError("invalid regular expression in a label matcher");
      }
      throw err;
    }
    if (limit !== undefined && rows.length >= limit) {
      if (opts.limits) throw opts.limits.tooManySamplesRead();
      truncated = true;
    }
    for (const r of rows) {
      const entry = mine.find(
        (e) => e.name === r.N && e.unit === r.U && (kind !== "sum" || isMonotonic(r) === (e.type === "counter")),
      );
      if (entry) addRow(entry, r, building);
    }
  });
  await Promise.all(reads);

  const out: RawSeries[] = [];
  const fromNs = range.from === undefined ? 0n : BigInt(Math.floor(range.from)) * 1_000_000_000n;
  for (const b of building.values()) {
    if (!matchers.every((m) => matches(m, b.labels[m.name] ?? ""))) continue;
    if (opts.cap !== undefined && out.length >= opts.cap) {
      truncated = true;
      break;
    }
    opts.limits?.series(out.length + 1);
    const s = toIncrements(b, fromNs);
    opts.limits?.read(s.minutes.length);
    out.push(s);
  }
  return { series: out, truncated };
}

const isMonotonic = (r: PointRow) => r.M === true || r.M === 1;

/**
 * Narrows the read by the equality and regex matchers on attribute labels: some attribute whose
 * sanitized key is the label must hold a matching value. Only matchers that cannot match an absent
 * label are pushed down; every matcher is applied exactly once the series are built.
 */
function pushDown(matchers: Matcher[], where: string[], params: Record<string, unknown>): void {
  matchers.forEach((m, i) => {
    if (FIXED.has(m.name) || matches(m, "")) return;
    if (m.op !== "=" && m.op !== "=~") return;
    const cond = m.op === "=" ? `v = {pv${i}:String}` : `match(v, {pv${i}:String})`;
    where.push(
      `arrayExists((k, v) -> replaceRegexpAll(k, '[^a-zA-Z0-9_]', '_') IN ({pk${i}:String}, {pkd${i}:String}) AND ${cond}, mapKeys(Attributes), mapValues(Attributes))`,
    );
    params[`pk${i}`] = m.name;
    // A key starting with a digit became `key_…`.
    params[`pkd${i}`] = m.name.replace(/^key_(?=[0-9])/, "");
    params[`pv${i}`] = m.op === "=" ? m.value : `^(?:${m.value})$`;
  });
}

/** The labels every series of a row carries. */
function rowLabels(r: PointRow): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.A ?? {})) {
    const name = labelName(k);
    if (FIXED.has(name) || v === "") continue;
    labels[name] = name in labels ? `${labels[name]};${v}` : v;
  }
  labels.service_name = r.SN;
  labels.job = r.NS ? `${r.NS}/${r.SN}` : r.SN;
  if (r.INST) labels.instance = r.INST;
  if (r.TN) labels.team = r.TN;
  labels[SOURCE_LABEL] = SOURCE_OTLP;
  return labels;
}

function addRow(e: Entry, r: PointRow, out: Map<string, Building>): void {
  // "No recorded value": the series went stale; nothing to add.
  if ((r.F & 1) === 1) return;
  const base = rowLabels(r);
  const t = BigInt(r.T);
  const start = BigInt(r.S);
  const counterMode: Mode = r.AT === 1 ? "delta" : "cumulative";
  const add = (name: string, extra: Record<string, string>, mode: Mode, v: number) => {
    if (Number.isNaN(v)) return;
    const labels = { __name__: name, ...base, ...extra };
    const key = JSON.stringify(labels);
    let b = out.get(key);
    if (!b) {
      b = { labels, mode, t: [], start: [], v: [] };
      out.set(key, b);
    }
    b.t.push(t);
    b.start.push(start);
    b.v.push(v);
  };
  switch (e.kind) {
    case "gauge":
      add(e.family, {}, "gauge", num(r.V));
      return;
    case "sum":
      // An up-down counter sent as deltas still adds up to its value; cumulative ones are gauges.
      add(
        e.family,
        {},
        e.type === "counter" || r.AT === 1 ? counterMode : "gauge",
        r.V === null ? Number.NaN : num(r.V),
      );
      return;
    case "summary": {
      add(`${e.family}_sum`, {}, "cumulative", num(r.SUM));
      add(`${e.family}_count`, {}, "cumulative", num(r.C));
      (r.QQ ?? []).forEach((q, i) => {
        add(e.family, { quantile: formatValue(q) }, "gauge", r.QV?.[i] === null ? Number.NaN : num(r.QV?.[i]));
      });
      return;
    }
    case "histogram": {
      add(`${e.family}_sum`, {}, counterMode, num(r.SUM));
      add(`${e.family}_count`, {}, counterMode, num(r.C));
      const counts = (r.BC ?? []).map(num);
      const bounds = r.EB ?? [];
      let acc = 0;
      counts.forEach((c, i) => {
        acc += c;
        add(`${e.family}_bucket`, { le: i < bounds.length ? formatValue(bounds[i]) : "+Inf" }, counterMode, acc);
      });
      if (counts.length === 0) add(`${e.family}_bucket`, { le: "+Inf" }, counterMode, num(r.C));
      return;
    }
    case "exponentialHistogram": {
      add(`${e.family}_sum`, {}, counterMode, num(r.SUM));
      add(`${e.family}_count`, {}, counterMode, num(r.C));
      // Every negative and zero value is below the first positive bound.
      let acc = num(r.ZC) + (r.NC ?? []).reduce((a, c) => a + num(c), 0);
      const base = 2 ** (2 ** -(r.SC ?? 0));
      (r.PC ?? []).forEach((c, i) => {
        acc += num(c);
        add(`${e.family}_bucket`, { le: formatValue(base ** ((r.PO ?? 0) + i + 1)) }, counterMode, acc);
      });
      add(`${e.family}_bucket`, { le: "+Inf" }, counterMode, num(r.C));
      return;
    }
  }
}

/** Per-minute increments of one series (see the file comment). */
function toIncrements(b: Building, fromNs: bigint): RawSeries {
  const minutes: number[] = [];
  const increments: number[] = [];
  let prev: number | undefined;
  let prevStart = 0n;
  for (let i = 0; i < b.t.length; i++) {
    const v = b.v[i];
    let inc: number;
    if (b.mode === "delta") inc = v;
    else if (b.mode === "gauge") inc = prev === undefined ? v : v - prev;
    else if (prev === undefined) inc = b.start[i] > 0n && b.start[i] >= fromNs ? v : 0;
    else inc = v < prev || (b.start[i] !== prevStart && b.start[i] > 0n) ? v : v - prev;
    prev = v;
    prevStart = b.start[i];
    const minute = Number(b.t[i] / 60_000_000_000n) * 60;
    if (minutes.length > 0 && minutes[minutes.length - 1] === minute) increments[increments.length - 1] += inc;
    else {
      minutes.push(minute);
      increments.push(inc);
    }
  }
  return { labels: b.labels, minutes, increments };
}

/** Adds the source label to span-derived series. */
const labelSpans = (r: { series: RawSeries[]; truncated: boolean }) => ({
  series: r.series.map((s) => ({ ...s, labels: { ...s.labels, [SOURCE_LABEL]: SOURCE_SPANS } })),
  truncated: r.truncated,
});

/**
 * The series of both sources a selector matches: span-derived (`cognive_source="spans"`) and
 * stored OTLP metrics (`cognive_source="otlp_metrics"`). Same scope, same limits.
 */
export async function readAllSeries(
  storage: Storage,
  scope: QueryScope,
  matchers: Matcher[],
  range: { from?: number; to?: number },
  perMinute: boolean,
  opts: ReadOptions,
): Promise<{ series: RawSeries[]; truncated: boolean }> {
  const { spans, otlp, rest } = splitSource(matchers);
  const [a, b] = await Promise.all([
    spans ? readSeries(storage, scope, rest, range, perMinute, opts).then(labelSpans) : undefined,
    otlp ? readOtlpSeries(storage, scope, rest, range, perMinute, opts) : undefined,
  ]);
  const series = [...(a?.series ?? []), ...(b?.series ?? [])];
  if (opts.cap !== undefined && series.length > opts.cap) {
    return { series: series.slice(0, opts.cap), truncated: true };
  }
  return { series, truncated: !!(a?.truncated || b?.truncated) };
}

/** `readAllSeries` for the evaluator: per-minute series within the query's limits. */
export async function fetchAllSeries(
  storage: Storage,
  scope: QueryScope,
  matchers: Matcher[],
  range: { from?: number; to?: number },
  opts: ReadOptions,
): Promise<RawSeries[]> {
  return (await readAllSeries(storage, scope, matchers, range, true, opts)).series;
}

/**
 * Values of one label over both sources. Span-derived values come from the store's distinct reads;
 * OTLP metric names from the catalog, other OTLP labels from the matching series (at most `limit`).
 */
export async function allLabelValues(
  storage: Storage,
  scope: QueryScope,
  name: string,
  selectors: Matcher[][],
  range: { from?: number; to?: number },
  limit: number,
): Promise<{ values: string[]; truncated: boolean }> {
  const found = new Set<string>();
  let truncated = false;
  const sels = selectors.length > 0 ? selectors : [[]];
  const spanSelectors = sels.map(splitSource).filter((s) => s.spans);
  if (name === SOURCE_LABEL) {
    for (const s of sels.map(splitSource)) {
      if (s.spans) found.add(SOURCE_SPANS);
      if (s.otlp) found.add(SOURCE_OTLP);
    }
  } else if (spanSelectors.length > 0) {
    const r = await labelValues(
      storage,
      scope,
      name,
      selectors.length > 0 ? spanSelectors.map((s) => s.rest) : [],
      range,
      limit,
    );
    for (const v of r.values) found.add(v);
    truncated ||= r.truncated;
  }
  for (const s of sels.map(splitSource)) {
    if (!s.otlp || name === SOURCE_LABEL) continue;
    const onlyNames = s.rest.every((m) => m.name === "__name__");
    if (name === "__name__" && onlyNames) {
      for (const e of await catalog(storage, scope, range)) {
        for (const n of e.names) if (s.rest.every((m) => matches(m, n))) found.add(n);
      }
      continue;
    }
    const r = await readOtlpSeries(storage, scope, s.rest, range, false, { cap: limit });
    truncated ||= r.truncated;
    for (const x of r.series) if (x.labels[name]) found.add(x.labels[name]);
  }
  const values = [...found].sort();
  return { values: values.slice(0, limit), truncated: truncated || values.length > limit };
}

/** How far back metadata looks for stored metrics: /metadata has no time range, and must not scan them all. */
export const METADATA_LOOKBACK_SECONDS = 86_400;

/** Metadata of the OTLP metric families stored in the last day, by family name. */
export async function otlpMetadata(
  storage: Storage,
  scope: QueryScope,
): Promise<Record<string, { type: string; help: string; unit: string }>> {
  const out: Record<string, { type: string; help: string; unit: string }> = {};
  const from = Math.floor(Date.now() / 1000) - METADATA_LOOKBACK_SECONDS;
  for (const e of await catalog(storage, scope, { from })) {
    out[e.family] ??= { type: e.type, help: e.description, unit: unitWord(e.unit, e.type) };
  }
  return out;
}

/** Label names of the stored OTLP series the scope may read in the range (attribute keys and the fixed ones). */
export async function otlpLabelNames(
  storage: Storage,
  scope: QueryScope,
  range: { from?: number; to?: number },
  limit: number,
): Promise<string[]> {
  const db = databaseOf(storage);
  const { where, params } = baseWhere(scope, range);
  const found = new Set<string>();
  await Promise.all(
    (Object.keys(METRICS_TABLES) as Kind[]).map(async (kind) => {
      const rows = await select<{ k: string }>(
        storage,
        // '' stands for the table having rows at all, attributes or not.
        `SELECT DISTINCT arrayJoin(arrayPushBack(mapKeys(Attributes), '')) AS k FROM ${db}.${METRICS_TABLES[kind]}
         WHERE ${where.join(" AND ")} LIMIT {lim:UInt32}`,
        { ...params, lim: limit + 1 },
      );
      if (rows.length === 0) return;
      for (const r of rows) if (r.k !== "") found.add(labelName(r.k));
      for (const l of ["service_name", "job", "team", SOURCE_LABEL]) found.add(l);
      if (kind === "histogram" || kind === "exponentialHistogram") found.add("le");
      if (kind === "summary") found.add("quantile");
    }),
  );
  return [...found];
}
