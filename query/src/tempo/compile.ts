import { ATTR_TYPE } from "@cognive/semconv";
import {
  type Field,
  type Filter,
  literalPosition,
  type Op,
  type Spansets,
  TraceQLError,
  TraceQLLimitError,
  type Value,
} from "./traceql.ts";

/**
 * Compiles TraceQL filters to ClickHouse conditions over the span table (plus the per-trace
 * `_RootName`, `_RootService`, `_TraceDuration` columns the search query adds). SQL text comes from
 * code constants only: every user value and every attribute key is a bound parameter.
 */
export class Params {
  readonly values: Record<string, unknown> = {};
  private n = 0;
  bind(type: "String" | "Float64", value: unknown): string {
    const name = `tq${this.n++}`;
    if (type === "Float64" && typeof value === "number") {
      if (!Number.isFinite(value)) throw new TraceQLLimitError(`number ${value} is out of range`);
      // As text: the store's binder refuses JavaScript numbers of integral value beyond 2^53.
      this.values[name] = String(value);
    } else this.values[name] = value;
    return `{${name}:${type}}`;
  }
}

interface FieldSql {
  /** The value as SQL. */
  expr: string;
  /** Numeric columns compare as numbers; strings as text. */
  numeric: boolean;
  /** A 64-bit integer column (durations, token counts): numbers beyond what it holds are refused. */
  integer?: boolean;
  /** The condition for the field being present (attributes only). */
  present?: string;
  /**
   * The stored OTLP type code of an attribute's value (ATTR_TYPE; 0 for a string and for rows written
   * before types were kept); absent for fields whose type is `numeric`'s.
   */
  type?: string;
  /**
   * A field of each of the span's events: conditions on it hold when they hold for any one event,
   * `expr` and `present` naming the lambda variable `name` bound to each element of `array`
   * (and `type` naming `typeName`, bound to each element of `typeArray`).
   */
  each?: { name: string; array: string; typeName?: string; typeArray?: string };
}

const STATUS_EXPR =
  "multiIf(lower(StatusCode) IN ('error', 'status_code_error'), 'error', lower(StatusCode) IN ('ok', 'status_code_ok'), 'ok', 'unset')";
const KIND_EXPR =
  "if(SpanKind = '', 'unspecified', lower(replaceRegexpOne(toString(SpanKind), '^(?i)span_kind_', '')))";

/** Span attributes the store keeps, normalized, in typed columns; TraceQL reads those columns. */
const TYPED_SPAN: Record<string, { column: string; numeric: boolean }> = {
  "gen_ai.request.model": { column: "GenAiRequestModel", numeric: false },
  "gen_ai.response.model": { column: "GenAiResponseModel", numeric: false },
  "gen_ai.provider.name": { column: "GenAiProvider", numeric: false },
  "gen_ai.system": { column: "GenAiProvider", numeric: false },
  "gen_ai.operation.name": { column: "GenAiOperation", numeric: false },
  "gen_ai.agent.name": { column: "AgentName", numeric: false },
  "gen_ai.tool.name": { column: "ToolName", numeric: false },
  "gen_ai.conversation.id": { column: "ConversationId", numeric: false },
  "gen_ai.usage.input_tokens": { column: "InputTokens", numeric: true },
  "gen_ai.usage.output_tokens": { column: "OutputTokens", numeric: true },
  "gen_ai.usage.cache_read.input_tokens": { column: "CacheReadTokens", numeric: true },
  "gen_ai.usage.cache_creation.input_tokens": { column: "CacheWriteTokens", numeric: true },
  "gen_ai.usage.reasoning.output_tokens": { column: "ReasoningTokens", numeric: true },
};

/** Keys answered from typed columns, each with its SQL presence test (code constants), for tag listings. */
export const TYPED_SPAN_PRESENT: Record<string, string> = Object.fromEntries(
  Object.entries(TYPED_SPAN).map(([k, t]) => [k, t.numeric ? `${t.column} != 0` : `toString(${t.column}) != ''`]),
);

function typed(column: string, numeric: boolean): FieldSql {
  // Served from the typed column alone: it holds the normalized value (whatever convention the span
  // used), and leaving the attribute map unread is what keeps GenAI searches fast.
  if (numeric) return { expr: `toFloat64(${column})`, numeric: true, integer: true, present: `${column} != 0` };
  return { expr: `toString(${column})`, numeric: false, present: `toString(${column}) != ''` };
}

export function fieldSql(f: Field, p: Params): FieldSql {
  if (f.kind === "intrinsic") {
    switch (f.name) {
      case "name":
        return { expr: "toString(SpanName)", numeric: false };
      case "status":
        return { expr: STATUS_EXPR, numeric: false };
      case "kind":
        return { expr: KIND_EXPR, numeric: false };
      case "duration":
        return { expr: "toFloat64(Duration)", numeric: true, integer: true };
      case "statusMessage":
        return { expr: "StatusMessage", numeric: false };
      case "traceDuration":
        return { expr: "toFloat64(_TraceDuration)", numeric: true, integer: true };
      case "rootName":
        return { expr: "_RootName", numeric: false };
      case "rootServiceName":
        return { expr: "_RootService", numeric: false };
      case "spanID":
        return { expr: "lower(SpanId)", numeric: false };
      case "parentID":
        return { expr: "lower(ParentSpanId)", numeric: false };
      case "traceID":
        return { expr: "lower(TraceId)", numeric: false };
      case "instrumentationName":
        return { expr: "ScopeName", numeric: false };
      case "instrumentationVersion":
        return { expr: "ScopeVersion", numeric: false };
      case "eventName":
        return { expr: "ev", numeric: false, each: { name: "ev", array: "Events.Name" } };
    }
  }
  const { scope, key } = f;
  if (scope !== "span" && key === "service.name") return { expr: "toString(ServiceName)", numeric: false };
  if (scope !== "resource") {
    const t = TYPED_SPAN[key];
    if (t) return typed(t.column, t.numeric);
  }
  const k = p.bind("String", key);
  if (scope === "event")
    return {
      expr: `ev[${k}]`,
      numeric: false,
      present: `mapContains(ev, ${k})`,
      type: `evt[${k}]`,
      // Padded: rows written without types hold fewer type maps than events.
      each: {
        name: "ev",
        array: "Events.Attributes",
        typeName: "evt",
        typeArray: "arrayResize(EventAttributeTypes, length(Events.Attributes))",
      },
    };
  if (scope === "span")
    return {
      expr: `SpanAttributes[${k}]`,
      numeric: false,
      present: `mapContains(SpanAttributes, ${k})`,
      type: `SpanAttributeTypes[${k}]`,
    };
  if (scope === "resource")
    return {
      expr: `ResourceAttributes[${k}]`,
      numeric: false,
      present: `mapContains(ResourceAttributes, ${k})`,
      type: `ResourceAttributeTypes[${k}]`,
    };
  return {
    expr: `if(mapContains(SpanAttributes, ${k}), SpanAttributes[${k}], ResourceAttributes[${k}])`,
    numeric: false,
    present: `(mapContains(SpanAttributes, ${k}) OR mapContains(ResourceAttributes, ${k}))`,
    type: `if(mapContains(SpanAttributes, ${k}), SpanAttributeTypes[${k}], ResourceAttributeTypes[${k}])`,
  };
}

/** The SQL of a field's OTLP type code: stored per value for attributes, fixed for other fields. */
export function typeSql(f: FieldSql): string {
  return f.type ?? String(f.numeric ? ATTR_TYPE.int : ATTR_TYPE.string);
}

const SQL_OPS: Record<Exclude<Op, "=~" | "!~">, string> = {
  "=": "=",
  "!=": "!=",
  ">": ">",
  ">=": ">=",
  "<": "<",
  "<=": "<=",
};

function valueText(v: Value): string {
  return v.type === "bool" ? String(v.value) : String(v.value);
}

/** What 64-bit integer columns hold: the least signed and the greatest unsigned value. */
const INTEGER_MIN = -(2 ** 63);
const INTEGER_MAX = 2 ** 64 - 1;

/** The field as TraceQL writes it. */
export function fieldText(f: Field): string {
  if (f.kind === "intrinsic") return f.name;
  return f.scope === "any" ? `.${f.key}` : `${f.scope}.${f.key}`;
}

/** Refuses a number an integer column cannot hold: the comparison would mean nothing. */
function checkRange(fs: FieldSql, field: Field, n: number, v: Value): void {
  if (!fs.integer || (n >= INTEGER_MIN && n <= INTEGER_MAX)) return;
  const pos = literalPosition(v);
  const at = pos === undefined ? "" : ` at position ${pos}`;
  throw new TraceQLLimitError(
    `number ${n}${at} is out of range for ${fieldText(field)} (a 64-bit integer, at most 18446744073709551615)`,
  );
}

function compare(f: FieldSql, field: Field, op: Op, v: Value, p: Params): string {
  if (op === "=~" || op === "!~") {
    // TraceQL regexes match the whole value. A pattern that does not even compile here is a query
    // error (a partial one, typically), not a store failure.
    try {
      new RegExp(valueText(v));
    } catch {
      throw new TraceQLError("invalid regular expression");
    }
    const re = p.bind("String", `^(?:${valueText(v)})$`);
    const m = `match(${f.numeric ? `toString(${f.expr})` : f.expr}, ${re})`;
    return op === "=~" ? m : `NOT ${m}`;
  }
  const sqlOp = SQL_OPS[op];
  if (v.type === "number") {
    checkRange(f, field, v.value, v);
    const lhs = f.numeric ? f.expr : `toFloat64OrNull(${f.expr})`;
    const c = `ifNull(${lhs} ${sqlOp} ${p.bind("Float64", v.value)}, 0)`;
    // As Tempo: a number matches int and double attributes only, never a string that reads as one.
    return f.type ? `(${f.type} IN (${ATTR_TYPE.int}, ${ATTR_TYPE.double}) AND ${c})` : c;
  }
  if (f.type && (v.type === "bool" || v.type === "string")) {
    const want = v.type === "bool" ? `= ${ATTR_TYPE.bool}` : `<= ${ATTR_TYPE.string}`;
    return `(${f.type} ${want} AND ${f.expr} ${sqlOp} ${p.bind("String", valueText(v))})`;
  }
  if (f.numeric) {
    const n = Number(valueText(v));
    if (!Number.isFinite(n)) return op === "!=" ? "1" : "0";
    checkRange(f, field, n, v);
    return `${f.expr} ${sqlOp} ${p.bind("Float64", n)}`;
  }
  return `${f.expr} ${sqlOp} ${p.bind("String", valueText(v))}`;
}

export function filterSql(f: Filter, p: Params): string {
  switch (f.type) {
    case "true":
      return "1";
    case "false":
      return "0";
    case "and":
      return `(${filterSql(f.left, p)} AND ${filterSql(f.right, p)})`;
    case "or":
      return `(${filterSql(f.left, p)} OR ${filterSql(f.right, p)})`;
    case "exists": {
      const fs = fieldSql(f.field, p);
      return anyEvent(fs, fs.present ?? "1");
    }
    case "absent": {
      const fs = fieldSql(f.field, p);
      return `NOT ${anyEvent(fs, fs.present ?? "1")}`;
    }
    case "cmp": {
      const fs = fieldSql(f.field, p);
      const c = compare(fs, f.field, f.op, f.value, p);
      return anyEvent(fs, fs.present ? `(${fs.present} AND ${c})` : `(${c})`);
    }
  }
}

/** A condition on a per-event field holds when it holds for one of the span's events. */
function anyEvent(fs: FieldSql, cond: string): string {
  if (!fs.each) return cond;
  const { name, array, typeName, typeArray } = fs.each;
  return typeName
    ? `arrayExists((${name}, ${typeName}) -> ${cond}, ${array}, ${typeArray})`
    : `arrayExists(${name} -> ${cond}, ${array})`;
}

/** Whether a field has one value per span (not one per event), so it can be selected or grouped on. */
export function perSpan(f: Field): boolean {
  return fieldSql(f, new Params()).each === undefined;
}

/** Every spanset filter of a query, in order. */
export function spansetFilters(s: Spansets): Filter[] {
  return s.type === "spanset" ? [s.filter] : [...spansetFilters(s.left), ...spansetFilters(s.right)];
}

/** The per-trace condition: each spanset as `countIf(filter) > 0`, combined as written. */
export function havingSql(s: Spansets, conds: string[], counter = { i: 0 }): string {
  if (s.type === "spanset") return `countIf(${conds[counter.i++]}) > 0`;
  if (s.type !== "and" && s.type !== "or") throw new TraceQLError("structural operators are evaluated per trace");
  const l = havingSql(s.left, conds, counter);
  const r = havingSql(s.right, conds, counter);
  return `(${l} ${s.type === "and" ? "AND" : "OR"} ${r})`;
}

const TRACE_INTRINSICS = new Set(["traceDuration", "rootName", "rootServiceName"]);

/** Whether a field is a whole-trace intrinsic (`traceDuration`, `rootName`, `rootServiceName`). */
export function isTraceField(f: Field): boolean {
  return f.kind === "intrinsic" && TRACE_INTRINSICS.has(f.name);
}

/** Whether a filter needs per-trace columns (`_RootName`, `_RootService`, `_TraceDuration`). */
export function usesTraceIntrinsics(f: Filter): boolean {
  return filterFields(f).some(isTraceField);
}

/** Every field a filter mentions (for the attributes shown with matched spans). */
export function filterFields(f: Filter): Field[] {
  if (f.type === "cmp" || f.type === "exists" || f.type === "absent") return [f.field];
  if (f.type === "and" || f.type === "or") return [...filterFields(f.left), ...filterFields(f.right)];
  return [];
}

/** The TraceQL name of a field, as Tempo shows it in span attributes. */
export function fieldName(f: Field): string | undefined {
  return f.kind === "attr" ? f.key : undefined;
}
