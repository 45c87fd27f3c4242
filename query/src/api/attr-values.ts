import { ATTR_TYPE, type AttrTypes, type AttrValue } from "@cognive/semconv";

/**
 * Attribute values back from storage with their OTLP types: the string maps hold every value as
 * text (as the ClickHouse exporter writes them), the type maps the code of each non-string one.
 * A value its type code does not fit (a hand-written row, a tampered map) stays the stored string.
 */

const INTEGER = /^-?\d+$/;
/** How storage spells the doubles JSON cannot carry. */
const NON_FINITE: Record<string, number> = { NaN: Number.NaN, Inf: Number.POSITIVE_INFINITY, "-Inf": -Infinity };
/** Deeper nesting than a decoder accepts is not worth walking; it stays JSON text. */
const MAX_DEPTH = 32;

function parseJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

/** One stored value as JSON carries it: ints as numbers (as decimal strings beyond 2^53), doubles as numbers. */
export function typedValue(s: string, type: number | undefined): AttrValue {
  switch (type) {
    case ATTR_TYPE.bool:
      return s === "true" ? true : s === "false" ? false : s;
    case ATTR_TYPE.int: {
      if (!INTEGER.test(s)) return s;
      const n = Number(s);
      return Number.isSafeInteger(n) ? n : s;
    }
    case ATTR_TYPE.double: {
      const n = Number(s);
      return s !== "" && Number.isFinite(n) ? n : s;
    }
    case ATTR_TYPE.array: {
      const v = parseJson(s);
      return Array.isArray(v) ? (v as AttrValue[]) : s;
    }
    case ATTR_TYPE.kvlist: {
      const v = parseJson(s);
      return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as AttrValue) : s;
    }
    default:
      return s;
  }
}

/** A stored attribute map with its type map, as typed values (keys in stored order). */
export function typedAttrs(values: Record<string, string>, types: AttrTypes | undefined): Record<string, AttrValue> {
  if (types === undefined) return values;
  let typed = false;
  for (const _ in types) {
    typed = true;
    break;
  }
  if (!typed) return values;
  // No prototype: a key named `__proto__` stays an attribute.
  const out: Record<string, AttrValue> = Object.create(null);
  for (const k in values) out[k] = typedValue(values[k], types[k]);
  return out;
}

/** OTLP/JSON `AnyValue` (int64 as a decimal string, bytes as base64, non-finite doubles by name). */
export type AnyValue =
  | { stringValue: string }
  | { boolValue: boolean }
  | { intValue: string }
  | { doubleValue: number | "NaN" | "Infinity" | "-Infinity" }
  | { arrayValue: { values: AnyValue[] } }
  | { kvlistValue: { values: { key: string; value: AnyValue }[] } }
  | { bytesValue: string }
  | Record<string, never>;

function doubleValue(n: number): AnyValue {
  if (Number.isFinite(n)) return { doubleValue: n };
  return { doubleValue: Number.isNaN(n) ? "NaN" : n > 0 ? "Infinity" : "-Infinity" };
}

/**
 * A typed value (from `typedValue`) as OTLP's AnyValue. `type` settles what the value alone cannot
 * tell: a whole double from an int, an int64 beyond 2^53 or bytes from a string. Values inside arrays
 * and kvlists carry no stored type: whole numbers there read as ints.
 */
export function anyValue(v: AttrValue, type?: number, depth = 0): AnyValue {
  switch (typeof v) {
    case "boolean":
      return { boolValue: v };
    case "number":
      return type === ATTR_TYPE.double || !Number.isInteger(v) ? doubleValue(v) : { intValue: String(v) };
    case "string":
      if (type === ATTR_TYPE.int && INTEGER.test(v)) return { intValue: v };
      if (type === ATTR_TYPE.double && v in NON_FINITE) return doubleValue(NON_FINITE[v]);
      if (type === ATTR_TYPE.bytes) return { bytesValue: v };
      return { stringValue: v };
  }
  if (v === null) return {};
  if (depth >= MAX_DEPTH) return { stringValue: JSON.stringify(v) };
  if (Array.isArray(v)) return { arrayValue: { values: v.map((x) => anyValue(x, undefined, depth + 1)) } };
  return {
    kvlistValue: {
      values: Object.entries(v).map(([key, x]) => ({ key, value: anyValue(x, undefined, depth + 1) })),
    },
  };
}

/** OTLP/JSON `repeated KeyValue` of a typed attribute map. */
export function keyValues(attrs: Record<string, AttrValue>, types: AttrTypes | undefined) {
  return Object.entries(attrs).map(([key, v]) => ({ key, value: anyValue(v, types?.[key]) }));
}
