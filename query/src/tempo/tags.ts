import { SPAN_TABLE, type Storage } from "@cognive/collector";
import { ATTR_TYPE } from "@cognive/semconv";
import { type QueryScope, teamCondition } from "../api/scope.ts";
import { databaseOf, select } from "../api/sql.ts";
import { fieldSql, filterFields, filterSql, isTraceField, Params, TYPED_SPAN_PRESENT, typeSql } from "./compile.ts";
import { type Field, type Filter, parseField, parseTraceQL } from "./traceql.ts";

export interface TagRange {
  fromS: number;
  toS: number;
  limit: number;
}

/** How many recent spans a tag-name listing samples. */
const SAMPLE_SPANS = 100_000;

export const INTRINSIC_TAGS = [
  "duration",
  "kind",
  "name",
  "status",
  "statusMessage",
  "rootName",
  "rootServiceName",
  "traceDuration",
  "event:name",
  "instrumentation:name",
  "instrumentation:version",
  "span:id",
  "span:parentID",
  "trace:id",
];

/** Distinct resource and span attribute keys of recent spans (typed GenAI columns included). */
export async function tagNames(storage: Storage, scope: QueryScope, r: TagRange) {
  const db = databaseOf(storage);
  const team = teamCondition(scope, { column: "TeamName" });
  const typedKeys = Object.keys(TYPED_SPAN_PRESENT);
  const typedPresent = Object.values(TYPED_SPAN_PRESENT);
  const rows = await select<{ resource: string[]; span: string[] }>(
    storage,
    // The newest spans only: first the time of the SAMPLE_SPANS-th newest (sorting timestamps alone),
    // then the keys of the spans since (sorting whole rows with their maps costs ten times more).
    `SELECT
       arraySort(arraySlice(groupUniqArrayArray(arrayConcat(['service.name'], mapKeys(ResourceAttributes))), 1, {limit:UInt32})) AS resource,
       arraySort(arraySlice(groupUniqArrayArray(arrayConcat(
         mapKeys(SpanAttributes),
         arrayFilter((k, present) -> present, {typedKeys:Array(String)}, [${typedPresent.join(", ")}]))), 1, {limit:UInt32})) AS span
     FROM ${db}.${SPAN_TABLE}
     WHERE Timestamp >= greatest(toDateTime64({fromS:UInt32}, 9), (
         SELECT min(Timestamp) FROM (
           SELECT Timestamp FROM ${db}.${SPAN_TABLE}
           WHERE Timestamp >= toDateTime({fromS:UInt32}) AND Timestamp <= toDateTime({toS:UInt32}) AND (${team.sql})
           ORDER BY Timestamp DESC
           LIMIT ${SAMPLE_SPANS})))
       AND Timestamp <= toDateTime({toS:UInt32}) AND (${team.sql})`,
    { ...team.params, typedKeys, fromS: r.fromS, toS: r.toS, limit: r.limit },
  );
  const row = rows[0] ?? { resource: [], span: [] };
  return row;
}

/** A tag path as it arrives in the URL, decoded until stable (Grafana may encode it twice). */
export function decodeTag(raw: string): string {
  let s = raw;
  for (let i = 0; i < 5; i++) {
    let next: string;
    try {
      next = decodeURIComponent(s);
    } catch {
      break;
    }
    if (next === s) break;
    s = next;
  }
  return s;
}

/** The field a tag path names: scoped (`span.x`), an intrinsic, or a bare v1 key (`x` → `.x`). */
export function tagField(tag: string): Field | undefined {
  return parseField(tag) ?? (tag.length > 0 ? parseField(`.${tag}`) : undefined);
}

/** The span-level condition of a (complete) TraceQL `q`, for narrowing tag values; "1" otherwise. */
function narrowing(q: string | undefined, p: Params): string {
  if (!q) return "1";
  try {
    const parsed = parseTraceQL(q);
    if (parsed.spansets.type !== "spanset") return "1";
    const filter: Filter = parsed.spansets.filter;
    if (filterFields(filter).some(isTraceField)) return "1";
    return filterSql(filter, p);
  } catch {
    return "1"; // a partial query while the user types: answer without it
  }
}

const NOT_LISTED = new Set(["duration", "traceDuration", "spanID", "parentID", "traceID"]);

/** Tempo's tag value types by stored OTLP type; arrays, kvlists and bytes list as strings. */
const VALUE_TYPES: Record<number, "int" | "float" | "bool"> = {
  [ATTR_TYPE.int]: "int",
  [ATTR_TYPE.double]: "float",
  [ATTR_TYPE.bool]: "bool",
};

export type TagValueType = "string" | "keyword" | "int" | "float" | "bool";

/** Distinct values of one tag, with the kind of value Grafana's editor should write. */
export async function tagValues(
  storage: Storage,
  scope: QueryScope,
  field: Field,
  q: string | undefined,
  r: TagRange,
): Promise<{ type: TagValueType; value: string }[]> {
  // Durations and ids are not worth listing.
  if (field.kind === "intrinsic" && NOT_LISTED.has(field.name)) return [];
  const p = new Params();
  let expr: string;
  let type = String(ATTR_TYPE.string);
  let present = "1";
  let arrayJoin = "";
  if (field.kind === "intrinsic" && field.name === "rootName") {
    expr = "toString(SpanName)";
    present = "ParentSpanId = ''";
  } else if (field.kind === "intrinsic" && field.name === "rootServiceName") {
    expr = "toString(ServiceName)";
    present = "ParentSpanId = ''";
  } else {
    const fs = fieldSql(field, p);
    expr = `toString(${fs.expr})`;
    type = typeSql(fs);
    present = fs.present ?? "1";
    // Per-event fields: one row per event of each span.
    if (fs.each) {
      const { name, array, typeName, typeArray } = fs.each;
      arrayJoin = `ARRAY JOIN ${array} AS ${name}${typeName ? `, ${typeArray} AS ${typeName}` : ""}`;
    }
  }
  const cond = narrowing(q, p);
  const db = databaseOf(storage);
  const team = teamCondition(scope, { column: "TeamName" });
  const rows = await select<{ v: string; t: number }>(
    storage,
    `SELECT DISTINCT ${expr} AS v, toUInt8(${type}) AS t
     FROM ${db}.${SPAN_TABLE} ${arrayJoin}
     WHERE Timestamp >= toDateTime({fromS:UInt32}) AND Timestamp <= toDateTime({toS:UInt32}) AND (${team.sql})
       AND ${present} AND (${cond})
     ORDER BY v, t
     LIMIT {limit:UInt32}`,
    { ...p.values, ...team.params, fromS: r.fromS, toS: r.toS, limit: r.limit + 1 },
  );
  const keyword = field.kind === "intrinsic" && (field.name === "status" || field.name === "kind");
  return rows
    .filter((row) => row.v !== "")
    .slice(0, r.limit)
    .map((row) => ({ type: keyword ? "keyword" : (VALUE_TYPES[row.t] ?? "string"), value: row.v }));
}
