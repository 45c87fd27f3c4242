import { SPAN_TABLE, type Storage, TRACE_SUMMARY_TABLE } from "@cognive/collector";
import { type QueryScope, teamCondition } from "../api/scope.ts";
import { databaseOf, num, select } from "../api/sql.ts";
import {
  fieldName,
  fieldSql,
  filterFields,
  filterSql,
  havingSql,
  Params,
  spansetFilters,
  usesTraceIntrinsics,
} from "./compile.ts";
import type { Field, Filter, TraceQuery } from "./traceql.ts";

export interface SearchOptions {
  fromS: number;
  toS: number;
  limit: number;
  spss: number;
}

type MatchedSpan = [string, string, string, string, [string, string][]];

interface CandidateRow {
  TraceId: string;
  FirstNs: string;
  Matched: string;
  Spans: MatchedSpan[];
}

interface SummaryRow {
  TraceId: string;
  StartNs: string;
  DurationNs: string;
  RootName: string;
  RootService: string;
}

/**
 * Search reads the newest traces first: it looks only at spans after a cutoff that leaves about
 * this many traces per wanted result, and widens to the next step, then to the whole range, while it
 * finds fewer than `limit`.
 */
const CUTOFF_TRACES_PER_RESULT = [50, 1000];
/** Spans of a trace may start this long before the cutoff (only queries on whole-trace fields look). */
const TRACE_SLACK_S = 600;

/** Attribute fields shown with each matched span: those the query filters on or selects. */
function shownFields(filters: Filter[], selected: Field[]): Field[] {
  const seen = new Set<string>();
  const out: Field[] = [];
  for (const f of [...filters.flatMap(filterFields), ...selected]) {
    const name = fieldName(f);
    if (name === undefined || seen.has(name)) continue;
    seen.add(name);
    out.push(f);
  }
  return out;
}

/**
 * Tempo search: traces in the range with at least one span per spanset (combined as written),
 * newest first, each with up to `spss` matching spans (earliest first).
 */
export async function searchTraces(storage: Storage, scope: QueryScope, q: TraceQuery, opts: SearchOptions) {
  const db = databaseOf(storage);
  const p = new Params();
  const filters = spansetFilters(q.spansets);
  const conds = filters.map((f) => filterSql(f, p));
  const matchAny = conds.length === 1 ? conds[0] : conds.map((c) => `(${c})`).join(" OR ");
  const having = havingSql(q.spansets, conds);
  const attrs = shownFields(filters, q.select)
    .map((f) => {
      const fs = fieldSql(f, p);
      const key = p.bind("String", fieldName(f));
      return `if(${fs.present ?? "1"}, [tuple(${key}, toString(${fs.expr}))], [])`;
    })
    .concat(["CAST([], 'Array(Tuple(String, String))')"]);
  const team = teamCondition(scope, { column: "TeamName" });
  const wholeTrace = filters.some(usesTraceIntrinsics);
  // The earliest `spss` matching spans of each trace, kept sorted by start while aggregating.
  const matchedSpans = (start: string, onlyIf?: string) => {
    const span = `tuple(${start}, tuple(SpanId, toString(SpanName), toString(${start}), toString(Duration), arrayConcat(${attrs.join(", ")})))`;
    const agg = onlyIf
      ? `groupArraySortedIf({spss:UInt32})(${span}, ${onlyIf})`
      : `groupArraySorted({spss:UInt32})(${span})`;
    return `arrayMap(s -> tupleElement(s, 2), ${agg})`;
  };

  // Without whole-trace fields a trace matches on its own spans: one pass over the columns the
  // filter names, grouped by trace. With them, each span also sees its trace's root and extent
  // (window functions over the trace's spans).
  const candidatesSql = (fromExpr: string, spanFromExpr: string) =>
    wholeTrace
      ? `
    SELECT TraceId, toString(min(_Start)) AS FirstNs, toString(countIf(${matchAny})) AS Matched,
      ${matchedSpans("_Start", matchAny)} AS Spans
    FROM (
      SELECT *,
        toUnixTimestamp64Nano(Timestamp) AS _Start,
        max(if(ParentSpanId = '', toString(SpanName), '')) OVER w AS _RootName,
        max(if(ParentSpanId = '', toString(ServiceName), '')) OVER w AS _RootService,
        max(toUnixTimestamp64Nano(Timestamp) + toInt64(Duration)) OVER w - min(toUnixTimestamp64Nano(Timestamp)) OVER w
          AS _TraceDuration
      FROM ${db}.${SPAN_TABLE}
      WHERE Timestamp >= ${spanFromExpr} AND Timestamp <= toDateTime({toS:UInt32}) AND (${team.sql})
      WINDOW w AS (PARTITION BY TraceId)
    )
    GROUP BY TraceId
    HAVING ${having} AND max(_Start) >= toUnixTimestamp64Nano(${fromExpr})
    ORDER BY min(_Start) DESC
    LIMIT {limit:UInt32}`
      : `
    SELECT TraceId, toString(min(toUnixTimestamp64Nano(Timestamp))) AS FirstNs, toString(count()) AS Matched,
      ${matchedSpans("toUnixTimestamp64Nano(Timestamp)")} AS Spans
    FROM ${db}.${SPAN_TABLE}
    WHERE Timestamp >= ${fromExpr} AND Timestamp <= toDateTime({toS:UInt32}) AND (${team.sql}) AND (${matchAny})
    GROUP BY TraceId
    HAVING ${having}
    ORDER BY min(Timestamp) DESC
    LIMIT {limit:UInt32}`;

  const params = { ...p.values, ...team.params, fromS: opts.fromS, toS: opts.toS, limit: opts.limit, spss: opts.spss };
  let rows: CandidateRow[] = [];
  for (const perResult of [...CUTOFF_TRACES_PER_RESULT, null]) {
    const cutoff = perResult === null ? null : await cutoffNs(storage, scope, opts, opts.limit * perResult);
    if (perResult !== null && cutoff === null) continue; // the range holds fewer traces: read it whole
    const fromExpr = cutoff === null ? "toDateTime64({fromS:UInt32}, 9)" : "fromUnixTimestamp64Nano({cutoffNs:Int64})";
    const spanFrom = wholeTrace
      ? `greatest(toDateTime64({fromS:UInt32}, 9), ${fromExpr} - toIntervalSecond(${TRACE_SLACK_S}))`
      : fromExpr;
    rows = await select<CandidateRow>(storage, candidatesSql(fromExpr, spanFrom), {
      ...params,
      ...(cutoff === null ? {} : { cutoffNs: cutoff }),
    });
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
      spanSets: [
        {
          spans: r.Spans.map(([spanID, name, start, dur, attributes]) => ({
            spanID,
            name,
            startTimeUnixNano: start,
            durationNanos: dur,
            ...(attributes.length
              ? { attributes: attributes.map(([key, v]) => ({ key, value: { stringValue: v } })) }
              : {}),
          })),
          matched: num(r.Matched),
        },
      ],
    };
  });
  traces.sort((a, b) => (BigInt(b.startTimeUnixNano) > BigInt(a.startTimeUnixNano) ? 1 : -1));
  return { traces, metrics: { inspectedTraces: rows.length } };
}

/**
 * The start of the `n`-th newest trace in the range (from the per-trace summary), or null when the
 * range holds fewer: only spans after it need reading to find the newest matches.
 */
async function cutoffNs(storage: Storage, scope: QueryScope, opts: SearchOptions, n: number): Promise<string | null> {
  const team = teamCondition(scope, { array: "Teams" });
  const rows = await select<{ StartNs: string }>(
    storage,
    `SELECT toString(toUnixTimestamp64Nano(Start)) AS StartNs
     FROM ${databaseOf(storage)}.${TRACE_SUMMARY_TABLE}
     WHERE Start >= toDateTime64({fromS:UInt32}, 9) AND Start <= toDateTime64({toS:UInt32}, 9) AND (${team.sql})
     ORDER BY Start DESC
     LIMIT 1 OFFSET {n:UInt32}`,
    { ...team.params, fromS: opts.fromS, toS: opts.toS, n },
  );
  return rows[0]?.StartNs ?? null;
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
