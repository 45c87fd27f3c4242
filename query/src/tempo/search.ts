import { SPAN_TABLE, type Storage } from "@cognive/collector";
import { type QueryScope, teamCondition } from "../api/scope.ts";
import { databaseOf, num, select } from "../api/sql.ts";
import { fieldName, fieldSql, filterFields, filterSql, havingSql, Params, spansetFilters } from "./compile.ts";
import type { Field, Filter, TraceQuery } from "./traceql.ts";

export interface SearchOptions {
  fromS: number;
  toS: number;
  limit: number;
  spss: number;
}

interface Row {
  TraceId: string;
  RootName: string;
  RootService: string;
  StartNs: string;
  DurationNs: string;
  Matched: string;
  Spans: [string, string, string, string, [string, string][]][];
}

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
 * newest first, each with up to `spss` matching spans.
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
  const sql = `
    SELECT
      TraceId,
      any(_RootName) AS RootName,
      any(_RootService) AS RootService,
      toString(min(_Start)) AS StartNs,
      toString(any(_TraceDuration)) AS DurationNs,
      toString(countIf(${matchAny})) AS Matched,
      arraySlice(
        arraySort(s -> s.3, groupArrayIf(
          tuple(SpanId, toString(SpanName), toString(_Start), toString(Duration), arrayConcat(${attrs.join(", ")})),
          ${matchAny})),
        1, {spss:UInt32}) AS Spans
    FROM (
      SELECT *,
        toUnixTimestamp64Nano(Timestamp) AS _Start,
        max(if(ParentSpanId = '', toString(SpanName), '')) OVER w AS _RootName,
        max(if(ParentSpanId = '', toString(ServiceName), '')) OVER w AS _RootService,
        max(toUnixTimestamp64Nano(Timestamp) + toInt64(Duration)) OVER w - min(toUnixTimestamp64Nano(Timestamp)) OVER w
          AS _TraceDuration
      FROM ${db}.${SPAN_TABLE}
      WHERE Timestamp >= toDateTime({fromS:UInt32}) AND Timestamp <= toDateTime({toS:UInt32}) AND (${team.sql})
      WINDOW w AS (PARTITION BY TraceId)
    )
    GROUP BY TraceId
    HAVING ${having}
    ORDER BY min(_Start) DESC
    LIMIT {limit:UInt32}`;
  const rows = await select<Row>(storage, sql, {
    ...p.values,
    ...team.params,
    fromS: opts.fromS,
    toS: opts.toS,
    limit: opts.limit,
    spss: opts.spss,
  });
  return {
    traces: rows.map((r) => ({
      traceID: r.TraceId,
      rootServiceName: r.RootService || "<root span not yet received>",
      ...(r.RootName ? { rootTraceName: r.RootName } : {}),
      startTimeUnixNano: r.StartNs,
      durationMs: Math.floor(num(r.DurationNs) / 1e6),
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
    })),
    metrics: { inspectedTraces: rows.length },
  };
}
