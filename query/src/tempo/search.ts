import { SPAN_TABLE, type Storage, TRACE_SUMMARY_TABLE } from "@cognive/collector";
import { anyValue, typedValue } from "../api/attr-values.ts";
import { ReadLimitError } from "../api/errors.ts";
import { limitsOf } from "../api/reads.ts";
import { type QueryScope, teamCondition } from "../api/scope.ts";
import { CUTOFF_TRACES_PER_RESULT, databaseOf, newestTraceStartNs, num, select } from "../api/sql.ts";
import type { ReadLimits } from "../limits.ts";
import {
  fieldName,
  fieldSql,
  fieldText,
  filterFields,
  filterSql,
  havingSql,
  isTraceField,
  Params,
  perSpan,
  spansetFilters,
  typeSql,
  usesTraceIntrinsics,
} from "./compile.ts";
import { evaluateStages, type KeyValueJson, stageFields } from "./pipeline.ts";
import { hasStructure, matchSpans } from "./structural.ts";
import {
  atPosition,
  type Field,
  type Filter,
  type Spansets,
  type Stage,
  TraceQLError,
  type TraceQuery,
} from "./traceql.ts";

export interface SearchOptions {
  fromS: number;
  toS: number;
  limit: number;
  spss: number;
}

/** A shown attribute: key, stored text, OTLP type code. */
type ShownAttr = [string, string, number];
type MatchedSpan = [string, string, string, string, ShownAttr[]];

interface CandidateRow {
  TraceId: string;
  FirstNs: string;
  Matched: string;
  Spans: MatchedSpan[];
}

/** One spanset of a found trace: its first `spss` spans, how many matched, what pipeline stages added. */
interface FoundSpanset {
  spans: MatchedSpan[];
  matched: number;
  attributes: KeyValueJson[];
}

interface FoundTrace {
  TraceId: string;
  FirstNs: string;
  spansets: FoundSpanset[];
}

interface SummaryRow {
  TraceId: string;
  StartNs: string;
  DurationNs: string;
  RootName: string;
  RootService: string;
}

/** A trace's summary rows may start this long before the cutoff (for queries on whole-trace fields). */
const TRACE_SLACK_NS = 600_000_000_000n;

/** A DateTime64(9) parameter value from Unix nanoseconds. */
function dt64(ns: bigint): string {
  const s = ns / 1_000_000_000n;
  return `${s}.${String(ns - s * 1_000_000_000n).padStart(9, "0")}`;
}

/** Attribute fields shown with each matched span: those the query filters on, selects, groups or aggregates (one value per span). */
function shownFields(filters: Filter[], selected: Field[], stages: Stage[]): Field[] {
  const seen = new Set<string>();
  const out: Field[] = [];
  for (const f of [...filters.flatMap(filterFields), ...selected, ...stageFields(stages)]) {
    const name = fieldName(f);
    if (name === undefined || seen.has(name) || !perSpan(f)) continue;
    seen.add(name);
    out.push(f);
  }
  return out;
}

/** Refuses, before any read, stage fields that have no single value per span (event fields). */
function checkStageFields(stages: Stage[]): void {
  for (const s of stages) {
    if (s.type === "coalesce") continue;
    const f = s.field;
    if (f && !perSpan(f)) {
      throw new TraceQLError(
        `${fieldText(f)}${atPosition(f)} has a value per event, not per span: ${s.type === "by" ? "by()" : `${s.fn}()`} takes a span field`,
      );
    }
  }
}

/**
 * Tempo search: traces in the range with at least one span per spanset (combined as written),
 * newest first, each with up to `spss` matching spans (earliest first). Pipeline stages (`by()`,
 * `coalesce()`, `count() > n`, …) reshape each trace's spansets; a trace none is left of is not found.
 */
export async function searchTraces(storage: Storage, scope: QueryScope, q: TraceQuery, opts: SearchOptions) {
  const db = databaseOf(storage);
  const p = new Params();
  if (q.metrics) {
    throw new TraceQLError(
      `a metrics function${atPosition(q.metrics)} makes a metrics query: ask /api/metrics/query_range or /api/metrics/query, not search`,
    );
  }
  const stages = q.stages ?? [];
  checkStageFields(stages);
  const filters = spansetFilters(q.spansets);
  const conds = filters.map((f) => filterSql(f, p));
  const matchAny = conds.length === 1 ? conds[0] : conds.map((c) => `(${c})`).join(" OR ");
  const valueFields = stageFields(stages);
  // Each span's value of every field the stages read, as text (null when absent).
  const stageValues = valueFields.map((f) => {
    const fs = fieldSql(f, p);
    return `if(${fs.present ?? "1"}, toString(${fs.expr}), NULL)`;
  });
  const attrs = shownFields(filters, q.select, stages)
    .map((f) => {
      const fs = fieldSql(f, p);
      const key = p.bind("String", fieldName(f));
      return `if(${fs.present ?? "1"}, [tuple(${key}, toString(${fs.expr}), toUInt8(${typeSql(fs)}))], [])`;
    })
    .concat(["CAST([], 'Array(Tuple(String, String, UInt8))')"]);
  const team = teamCondition(scope, { column: "TeamName" });
  const wholeTrace = filters.some(usesTraceIntrinsics) || valueFields.some(isTraceField);
  // The earliest `spss` matching spans of each trace, kept sorted by start while aggregating.
  const start = "toUnixTimestamp64Nano(Timestamp)";
  const span = `tuple(${start}, tuple(SpanId, toString(SpanName), toString(${start}), toString(Duration), arrayConcat(${attrs.join(", ")})))`;
  const matchedSpans = `arrayMap(s -> tupleElement(s, 2), groupArraySorted({spss:UInt32})(${span}))`;

  // One pass over the spans after the cutoff and the columns the filter names, grouped by trace.
  // Whole-trace fields (root name and service, trace duration) come from the per-trace summary,
  // joined on trace id; its rows for spans a little before the cutoff count too.
  const traceFields = wholeTrace
    ? `INNER JOIN (
        SELECT TraceId,
          max(RootName) AS _RootName,
          max(RootService) AS _RootService,
          toUnixTimestamp64Nano(max(End)) - toUnixTimestamp64Nano(min(Start)) AS _TraceDuration
        FROM ${db}.${TRACE_SUMMARY_TABLE}
        WHERE Start >= {summaryFrom:DateTime64(9)} AND Start <= toDateTime({toS:UInt32})
        GROUP BY TraceId
      ) AS trace_fields USING (TraceId)`
    : "";
  // Two passes: the newest matching traces from the few columns the filter names, then their
  // matching spans (a key look-up within the window). One pass built the shown spans of every
  // matching trace in the window: 2.3x slower at 10 M spans.
  const inWindow = (fromExpr: string) =>
    `Timestamp >= ${fromExpr} AND Timestamp <= toDateTime({toS:UInt32}) AND (${team.sql}) AND (${matchAny})`;
  const candidatesSql = (fromExpr: string) => `
    SELECT TraceId, toString(min(toUnixTimestamp64Nano(Timestamp))) AS FirstNs, toString(count()) AS Matched,
      ${matchedSpans} AS Spans
    FROM ${db}.${SPAN_TABLE} ${traceFields}
    WHERE ${inWindow(fromExpr)} AND TraceId IN (
      SELECT TraceId FROM ${db}.${SPAN_TABLE} ${traceFields}
      WHERE ${inWindow(fromExpr)}
      GROUP BY TraceId
      HAVING ${havingSql(q.spansets, conds)}
      ORDER BY min(Timestamp) DESC
      LIMIT {limit:UInt32})
    GROUP BY TraceId
    ORDER BY min(Timestamp) DESC`;

  // Structural operators and pipeline stages are evaluated here, trace by trace: the spans of each
  // candidate trace are read with the filters they match (every span when structural, as relations
  // involve them all; else the matching ones) and the values the stages read.
  const structural = hasStructure(q.spansets);
  const inMemory = structural || stages.length > 0;
  const spanSql = `
    SELECT TraceId, SpanId, ParentSpanId, toString(toUnixTimestamp64Nano(Timestamp)) AS StartNs,
      toString(SpanName) AS Name, toString(Duration) AS Dur,
      [${conds.map((c) => `if(${c}, 1, 0)`).join(", ")}] AS Leaves, arrayConcat(${attrs.join(", ")}) AS Attrs,
      [${stageValues.join(", ")}]::Array(Nullable(String)) AS Vals
    FROM ${db}.${SPAN_TABLE} ${traceFields}
    WHERE Timestamp >= fromUnixTimestamp64Nano({spanFromNs:Int64}) AND Timestamp <= toDateTime({toS:UInt32})
      AND (${team.sql}) ${structural ? "" : `AND (${matchAny})`}
      AND TraceId IN (
        SELECT TraceId FROM ${db}.${SPAN_TABLE} ${traceFields}
        WHERE Timestamp >= fromUnixTimestamp64Nano({fromNs:Int64}) AND Timestamp <= toDateTime({toS:UInt32})
          AND (${team.sql}) AND (${matchAny})
        GROUP BY TraceId
        ${structural ? "" : `HAVING ${havingSql(q.spansets, conds)}`}
        ORDER BY min(Timestamp) DESC
        LIMIT {maxTraces:UInt32})
    LIMIT {maxSpans:UInt32}`;
  const limits = limitsOf(storage);

  const params = { ...p.values, ...team.params, fromS: opts.fromS, toS: opts.toS, limit: opts.limit, spss: opts.spss };
  let rows: FoundTrace[] = [];
  // Structural and pipeline queries read whole traces: only as many of the newest as the limits allow.
  const ladder = inMemory
    ? structuralLadder(opts.limit, limits.traceqlMaxTraces)
    : [...CUTOFF_TRACES_PER_RESULT.map((k) => opts.limit * k), null];
  for (const traces of ladder) {
    const cutoff = traces === null ? null : await newestTraceStartNs(storage, scope, opts.fromS, opts.toS, traces);
    // No cutoff (the range holds fewer traces, or this is the last step): read the whole range.
    const rangeFromNs = BigInt(opts.fromS) * 1_000_000_000n;
    const fromNs = cutoff === null ? rangeFromNs : BigInt(cutoff);
    const windowParams = { ...params, fromNs: String(fromNs), summaryFrom: dt64(fromNs - TRACE_SLACK_NS) };
    if (inMemory) {
      const slackFrom = fromNs - TRACE_SLACK_NS;
      const spanRows = await select<SpanRow>(storage, spanSql, {
        ...windowParams,
        spanFromNs: String(slackFrom > rangeFromNs ? slackFrom : rangeFromNs),
        maxTraces: limits.traceqlMaxTraces + 1,
        maxSpans: limits.traceqlMaxSpans + 1,
      });
      const over = overInMemoryLimits(spanRows, limits, structural ? "structural query" : "query's pipeline");
      if (over) {
        // A wider window than the last is over the limits: what the last found are the newest matches.
        if (rows.length > 0) break;
        throw over;
      }
      rows = inMemoryMatches(q.spansets, stages, valueFields, spanRows, opts);
    } else {
      const found = await select<CandidateRow>(
        storage,
        candidatesSql("fromUnixTimestamp64Nano({fromNs:Int64})"),
        windowParams,
      );
      rows = found.map((r) => ({
        TraceId: r.TraceId,
        FirstNs: r.FirstNs,
        spansets: [{ spans: r.Spans, matched: num(r.Matched), attributes: [] }],
      }));
    }
    if (rows.length >= opts.limit || cutoff === null) break;
  }

  const summaries = await traceSummaries(
    storage,
    rows.map((r) => r.TraceId),
  );
  const traces = rows.map((r) => {
    const s = summaries.get(r.TraceId);
    return {
      traceID: r.TraceId,
      rootServiceName: s?.RootService || "<root span not yet received>",
      ...(s?.RootName ? { rootTraceName: s.RootName } : {}),
      startTimeUnixNano: s?.StartNs ?? r.FirstNs,
      durationMs: Math.floor(num(s?.DurationNs ?? "0") / 1e6),
      spanSets: r.spansets.map((set) => ({
        spans: set.spans.map(([spanID, name, start, dur, attributes]) => ({
          spanID,
          name,
          startTimeUnixNano: start,
          durationNanos: dur,
          ...(attributes.length
            ? { attributes: attributes.map(([key, v, t]) => ({ key, value: anyValue(typedValue(v, t), t) })) }
            : {}),
        })),
        matched: set.matched,
        ...(set.attributes.length ? { attributes: set.attributes } : {}),
      })),
    };
  });
  traces.sort((a, b) => (BigInt(b.startTimeUnixNano) > BigInt(a.startTimeUnixNano) ? 1 : -1));
  return { traces, metrics: { inspectedTraces: rows.length } };
}

interface SpanRow {
  TraceId: string;
  SpanId: string;
  ParentSpanId: string;
  StartNs: string;
  Name: string;
  Dur: string;
  Leaves: number[];
  Attrs: ShownAttr[];
  Vals: (string | null)[];
}

/**
 * How many of the newest traces a structural search looks at, step by step while it finds fewer
 * than `limit`: a few per wanted result, then more, never more than most of COGNIVE_TRACEQL_MAX_TRACES
 * (candidates are picked by span time, so a window of n traces can hold a few more).
 */
function structuralLadder(limit: number, maxTraces: number): number[] {
  const top = Math.max(1, Math.floor(maxTraces * 0.8));
  return [...new Set([limit * 5, limit * 50, top].map((n) => Math.min(n, top)))].sort((a, b) => a - b);
}

/** Whether a read of whole traces went over its limits: too many candidate traces, or spans of them. */
function overInMemoryLimits(spanRows: SpanRow[], limits: ReadLimits, what: string): ReadLimitError | undefined {
  const narrow = "narrow the time range or make the spanset filters more selective";
  if (spanRows.length > limits.traceqlMaxSpans) {
    return new ReadLimitError(
      `the ${what} would read more than ${limits.traceqlMaxSpans.toLocaleString("en-US")} spans of candidate traces (COGNIVE_TRACEQL_MAX_SPANS); ${narrow}`,
    );
  }
  if (new Set(spanRows.map((r) => r.TraceId)).size > limits.traceqlMaxTraces) {
    return new ReadLimitError(
      `the ${what} would read more than ${limits.traceqlMaxTraces.toLocaleString("en-US")} candidate traces (COGNIVE_TRACEQL_MAX_TRACES); ${narrow}`,
    );
  }
  return undefined;
}

/**
 * The traces whose spans satisfy a structural query or are left spansets by the pipeline stages,
 * newest first, at most `limit`, each spanset with its earliest `spss` spans.
 */
function inMemoryMatches(
  spansets: Spansets,
  stages: Stage[],
  valueFields: Field[],
  spanRows: SpanRow[],
  opts: SearchOptions,
): FoundTrace[] {
  const byTrace = new Map<string, SpanRow[]>();
  for (const r of spanRows) {
    const list = byTrace.get(r.TraceId);
    if (list) list.push(r);
    else byTrace.set(r.TraceId, [r]);
  }
  const out: (FoundTrace & { traceStart: bigint })[] = [];
  const byStart = (a: SpanRow, b: SpanRow) => (BigInt(a.StartNs) < BigInt(b.StartNs) ? -1 : 1);
  for (const [traceId, unsorted] of byTrace) {
    // Earliest first, so each spanset shows its earliest spans and `by()` groups come in order of appearance.
    const spans = [...unsorted].sort(byStart);
    const matched = matchSpans(
      spansets,
      spans.map((s) => ({ spanId: s.SpanId, parentSpanId: s.ParentSpanId, leaves: s.Leaves.map((l) => l === 1) })),
    );
    if (matched.size === 0) continue;
    const sets = evaluateStages(
      stages,
      valueFields,
      [...matched].sort((a, b) => a - b),
      (i, f) => spans[i].Vals[f] ?? null,
    );
    if (sets.length === 0) continue;
    for (const set of sets) set.spans.sort((a, b) => a - b);
    out.push({
      TraceId: traceId,
      FirstNs: spans[sets.reduce((m, s) => Math.min(m, s.spans[0]), spans.length - 1)].StartNs,
      spansets: sets.map((set) => ({
        spans: set.spans.slice(0, opts.spss).map((i) => {
          const s = spans[i];
          return [s.SpanId, s.Name, s.StartNs, s.Dur, s.Attrs] as MatchedSpan;
        }),
        matched: set.spans.length,
        attributes: set.attributes,
      })),
      traceStart: BigInt(spans[0].StartNs),
    });
  }
  out.sort((a, b) => (a.traceStart > b.traceStart ? -1 : a.traceStart < b.traceStart ? 1 : 0));
  return out.slice(0, opts.limit).map(({ traceStart: _, ...row }) => row);
}

/** Start, duration and root of each trace, from the per-trace summary (keyed by trace id). */
async function traceSummaries(storage: Storage, ids: string[]): Promise<Map<string, SummaryRow>> {
  if (ids.length === 0) return new Map();
  const rows = await select<SummaryRow>(
    storage,
    `SELECT TraceId,
       toString(toUnixTimestamp64Nano(min(Start))) AS StartNs,
       toString(toUnixTimestamp64Nano(max(End)) - toUnixTimestamp64Nano(min(Start))) AS DurationNs,
       max(RootName) AS RootName, max(RootService) AS RootService
     FROM ${databaseOf(storage)}.${TRACE_SUMMARY_TABLE}
     WHERE TraceId IN {ids:Array(String)}
     GROUP BY TraceId`,
    { ids },
  );
  return new Map(rows.map((r) => [r.TraceId, r]));
}
