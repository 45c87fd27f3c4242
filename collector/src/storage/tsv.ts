import { ATTR_TYPE, type Attrs, type AttrTypes, type AttrValue, inferAttrType } from "@cognive/semconv";

/**
 * TabSeparated encoding for chDB/ClickHouse inserts. Strings in plain fields escape backslash,
 * tab and line breaks; strings inside Map/Array literals are single-quoted and escape the quote too,
 * and never contain a raw line break (the parallel parser splits rows on newlines).
 */
const PLAIN_SPECIAL = /[\\\t\n\r\0]/;
const QUOTED_SPECIAL = /[\\\t\n\r\0']/;
const ESCAPES: Record<string, string> = {
  "\\": "\\\\",
  "\t": "\\t",
  "\n": "\\n",
  "\r": "\\r",
  "\0": "\\0",
  "'": "\\'",
};
const PLAIN_ALL = /[\\\t\n\r\0]/g;
const QUOTED_ALL = /[\\\t\n\r\0']/g;
const esc = (c: string) => ESCAPES[c];

export function tsvString(s: string): string {
  return PLAIN_SPECIAL.test(s) ? s.replace(PLAIN_ALL, esc) : s;
}

export function quotedString(s: string): string {
  return QUOTED_SPECIAL.test(s) ? `'${s.replace(QUOTED_ALL, esc)}'` : `'${s}'`;
}

/** An attribute value as the ClickHouse exporter stores it in Map(String, String). */
export function attrToString(v: AttrValue): string {
  switch (typeof v) {
    case "string":
      return v;
    case "number":
      return Number.isFinite(v) ? String(v) : v > 0 ? "Inf" : v < 0 ? "-Inf" : "NaN";
    case "boolean":
      return v ? "true" : "false";
    default:
      return v === null ? "" : JSON.stringify(v);
  }
}

export function tsvMap(attrs: Attrs): string {
  let out = "{";
  let first = true;
  for (const k in attrs) {
    if (!first) out += ",";
    first = false;
    out += `${quotedString(k)}:${quotedString(attrToString(attrs[k]))}`;
  }
  return `${out}}`;
}

/**
 * The type map stored beside an attribute map: the OTLP type code of each non-string attribute,
 * `types` as a decoder saw them (its keys are all in `attrs`), else inferred from the values.
 */
export function tsvTypes(attrs: Attrs, types: AttrTypes | undefined): string {
  let out = "{";
  eachAttrType(attrs, types, (k, t) => {
    out += `${out.length > 1 ? "," : ""}${quotedString(k)}:${t}`;
  });
  return `${out}}`;
}

/**
 * The entries of the type map stored beside an attribute map, in every row format: the decoded types
 * when the decoder kept them, else the non-string types inferred from the values. Calls `each` per
 * entry; returns how many there are.
 */
export function eachAttrType(
  attrs: Attrs,
  types: AttrTypes | undefined,
  each: (key: string, type: number) => void,
): number {
  let n = 0;
  if (types !== undefined) {
    for (const k in types) {
      each(k, types[k]);
      n++;
    }
    return n;
  }
  for (const k in attrs) {
    const t = inferAttrType(attrs[k]);
    if (t > ATTR_TYPE.string) {
      each(k, t);
      n++;
    }
  }
  return n;
}

export function tsvStringArray(items: string[]): string {
  if (items.length === 0) return "[]";
  let out = "[";
  for (let i = 0; i < items.length; i++) out += (i ? "," : "") + quotedString(items[i]);
  return `${out}]`;
}

/** Nanoseconds since the epoch as a DateTime64(9) literal: `seconds.nanoseconds`. */
export function tsvNanos(ns: bigint): string {
  const s = ns / 1_000_000_000n;
  const frac = Number(ns - s * 1_000_000_000n);
  // Ten digits of seconds at least: ClickHouse reads a shorter integer part as a date, not a timestamp.
  return `${String(s).padStart(10, "0")}.${String(frac).padStart(9, "0")}`;
}

/** Integer nano-dollars as the `Decimal(18, 9)` text of the same value (USD, nine decimals). */
export function tsvNanoUsd(nanos: number): string {
  const sign = nanos < 0 ? "-" : "";
  const a = Math.abs(nanos);
  const whole = Math.floor(a / 1e9);
  return `${sign}${whole}.${String(a - whole * 1e9).padStart(9, "0")}`;
}
