import type { Attrs, AttrTypes } from "@cognive/semconv";
import type { DecodedEvent, DecodedLink } from "../otlp/model.ts";
import type { NormalizedSpan } from "../pipeline/span.ts";
import { NativeColumnWriter, parseNativeType, plainTypeName, streamCount, writeNativeBlock } from "./native.ts";
import { binaryMap, binaryTypes, RowWriter } from "./rowbinary.ts";
import { attrToString, eachAttrType, quotedString, tsvMap, tsvNanos, tsvNanoUsd, tsvString, tsvTypes } from "./tsv.ts";

/**
 * The span table (`otel_traces`), defined once: each column's name, ClickHouse type, codec, the
 * migration that added it and its TSV, RowBinary and Native encoders from a `NormalizedSpan`. The CREATE TABLE of
 * migration 1 (and so its cluster variant), migration 8's ADD COLUMNs, the insert column list and
 * the row and block encoders are all generated from this list, so a column cannot be declared in one
 * place and encoded in another order.
 */
export interface SpanColumn {
  /** The column, or for a Nested one its subcolumn (`Events.Name`), as inserts name it. */
  name: string;
  type: string;
  /** `CODEC(…)` of the column, "" for none; for Nested subcolumns the codec is the group's. */
  codec: string;
  /** The migration that created it: its DDL is generated from the columns of that version. */
  since: 1 | 8;
  encode(s: NormalizedSpan): string;
  /** The same value in RowBinary (Nested subcolumns as arrays). */
  binary(w: RowWriter, s: NormalizedSpan): void;
  /**
   * The same value appended to the column's Native streams (storage/native.ts); required for Array
   * and Map columns. A scalar column's Native values are its RowBinary ones, one after another.
   */
  native?(c: NativeColumnWriter, s: NormalizedSpan): void;
}

const ZSTD = "CODEC(ZSTD(1))";
/** How money is stored: USD with nine decimals, so nano-dollars exactly. */
export const MONEY_TYPE = "Decimal(18, 9)";
const T64 = "CODEC(T64, ZSTD(1))";
const STRING_MAP = "Map(LowCardinality(String), String)";
const TYPE_MAP = "Map(LowCardinality(String), UInt8)";

const str = (name: string, get: (s: NormalizedSpan) => string, type = "String"): SpanColumn => ({
  name,
  type,
  codec: ZSTD,
  since: 1,
  encode: (s) => tsvString(get(s)),
  binary: (w, s) => w.string(get(s)),
});
/** Few distinct values, mostly the same as the previous span's: the last encoding is reused. */
const lowCard = (name: string, get: (s: NormalizedSpan) => string | null): SpanColumn => {
  let last = "";
  let text = "";
  return {
    name,
    type: "LowCardinality(String)",
    codec: ZSTD,
    since: 1,
    encode: (s) => {
      const v = get(s) ?? "";
      if (v !== last) {
        last = v;
        text = tsvString(v);
      }
      return text;
    },
    binary: (w, s) => w.string(get(s) ?? ""),
  };
};
/** Ids are validated lower-case hex: nothing to escape. */
const hexId = (name: string, get: (s: NormalizedSpan) => string): SpanColumn => ({
  name,
  type: "String",
  codec: ZSTD,
  since: 1,
  encode: get,
  binary: (w, s) => w.string(get(s)),
});
const tokens = (name: string, get: (s: NormalizedSpan) => number | null): SpanColumn => ({
  name,
  type: "UInt64",
  codec: T64,
  since: 1,
  encode: (s) => {
    const n = get(s);
    return n === null ? "0" : String(Math.trunc(n));
  },
  binary: (w, s) => {
    const n = get(s);
    w.u64(n === null ? 0 : Math.trunc(n));
  },
});
/** A cost part in nano-dollars; 0 when unpriced, and (as the pricer never gives) when not an exact integer. */
const nanosOf = (s: NormalizedSpan, get: (c: NonNullable<NormalizedSpan["cost"]>) => number): number => {
  if (s.cost === null) return 0;
  const n = get(s.cost);
  return Number.isSafeInteger(n) ? n : 0;
};
/** Money: integer nano-dollars as `Decimal(18, 9)` (an Int64 of nano-dollars underneath), exact in sums. */
const usd = (name: string, get: (c: NonNullable<NormalizedSpan["cost"]>) => number): SpanColumn => ({
  name,
  type: MONEY_TYPE,
  codec: ZSTD,
  since: 1,
  encode: (s) => tsvNanoUsd(nanosOf(s, get)),
  binary: (w, s) => w.i64(nanosOf(s, get)),
});
const nested = (
  group: string,
  name: string,
  type: string,
  encode: (s: NormalizedSpan) => string,
  binary: SpanColumn["binary"],
  native: SpanColumn["native"],
): SpanColumn => ({
  name: `${group}.${name}`,
  type,
  codec: ZSTD,
  since: 1,
  encode,
  binary,
  native,
});
const typeColumn = (
  name: string,
  type: string,
  encode: (s: NormalizedSpan) => string,
  binary: SpanColumn["binary"],
  native: SpanColumn["native"],
): SpanColumn => ({
  name,
  type,
  codec: ZSTD,
  since: 8,
  encode,
  binary,
  native,
});

/** The last resource's encodings: every span of a resource shares its attribute object. */
function perResource(encode: (attrs: Attrs, types: AttrTypes | undefined) => string): (s: NormalizedSpan) => string {
  let last: Attrs | null = null;
  let lastTypes: AttrTypes | undefined;
  let text = "";
  return (s) => {
    if (s.resource !== last || s.resourceTypes !== lastTypes) {
      last = s.resource;
      lastTypes = s.resourceTypes;
      text = encode(last, lastTypes);
    }
    return text;
  };
}

/** The binary twin of `perResource`: a resource's bytes are encoded once and copied. */
function perResourceBinary(encode: (w: RowWriter, attrs: Attrs, types: AttrTypes | undefined) => void) {
  let last: Attrs | null = null;
  let lastTypes: AttrTypes | undefined;
  let bytes = Buffer.alloc(0);
  const scratch = new RowWriter(1024);
  return (w: RowWriter, s: NormalizedSpan): void => {
    if (s.resource !== last || s.resourceTypes !== lastTypes) {
      last = s.resource;
      lastTypes = s.resourceTypes;
      scratch.reset();
      encode(scratch, last, lastTypes);
      bytes = Buffer.from(scratch.bytes());
    }
    w.raw(bytes);
  };
}

/** A RowBinary Array column over a span's events or links. */
const each =
  <T>(items: (s: NormalizedSpan) => readonly T[], item: (w: RowWriter, x: T) => void) =>
  (w: RowWriter, s: NormalizedSpan): void => {
    const xs = items(s);
    w.varint(xs.length);
    for (let i = 0; i < xs.length; i++) item(w, xs[i]);
  };
const events = (s: NormalizedSpan) => s.events;
const links = (s: NormalizedSpan) => s.links;

/**
 * A Native Array column over a span's events or links: the running total to stream 0, each item's
 * value to stream 1 (`item` gets the column too, for items that are maps: streams 1 to 3).
 */
const nativeEach =
  <T>(items: (s: NormalizedSpan) => readonly T[], item: (w: RowWriter, x: T, c: NativeColumnWriter) => void) =>
  (c: NativeColumnWriter, s: NormalizedSpan): void => {
    const xs = items(s);
    const w = c.streams[1];
    for (let i = 0; i < xs.length; i++) item(w, xs[i], c);
    c.offset(0, xs.length);
  };

/** A Map(String, String) of attribute values in Native: its running total to stream `at`, keys and values to the next two. */
function nativeMap(c: NativeColumnWriter, at: number, attrs: Attrs): void {
  const keys = c.streams[at + 1];
  const values = c.streams[at + 2];
  let n = 0;
  for (const k in attrs) {
    keys.string(k);
    values.string(attrToString(attrs[k]));
    n++;
  }
  c.offset(at, n);
}

/** The type map beside an attribute map (`eachAttrType`) in Native, laid out as `nativeMap`. */
function nativeTypes(c: NativeColumnWriter, at: number, attrs: Attrs, types: AttrTypes | undefined): void {
  const keys = c.streams[at + 1];
  const values = c.streams[at + 2];
  c.offset(
    at,
    eachAttrType(attrs, types, (k, t) => {
      keys.string(k);
      values.u8(t);
    }),
  );
}

/** The Native twin of `perResourceBinary`: a resource's keys and values are encoded once and copied. */
function perResourceNative(
  encode: (c: NativeColumnWriter, at: number, attrs: Attrs, types: AttrTypes | undefined) => void,
) {
  let last: Attrs | null = null;
  let lastTypes: AttrTypes | undefined;
  const scratch = new NativeColumnWriter(3);
  let keys = Buffer.alloc(0);
  let values = Buffer.alloc(0);
  let n = 0;
  return (c: NativeColumnWriter, s: NormalizedSpan): void => {
    if (s.resource !== last || s.resourceTypes !== lastTypes) {
      last = s.resource;
      lastTypes = s.resourceTypes;
      scratch.reset();
      encode(scratch, 0, last, lastTypes);
      n = scratch.totals[0];
      keys = Buffer.from(scratch.streams[1].bytes());
      values = Buffer.from(scratch.streams[2].bytes());
    }
    c.streams[1].raw(keys);
    c.streams[2].raw(values);
    c.offset(0, n);
  };
}

/** An Array column over a span's events or links; "[]" for none. */
function arrayOf<T>(items: readonly T[], item: (x: T) => string): string {
  if (items.length === 0) return "[]";
  let out = "[";
  for (let i = 0; i < items.length; i++) out += (i ? "," : "") + item(items[i]);
  return `${out}]`;
}

const attrTypes = (x: DecodedEvent | DecodedLink) => tsvTypes(x.attributes, x.attributeTypes);
const binaryAttrTypes = (w: RowWriter, x: DecodedEvent | DecodedLink) => binaryTypes(w, x.attributes, x.attributeTypes);
const nativeAttrTypes = (_: RowWriter, x: DecodedEvent | DecodedLink, c: NativeColumnWriter) =>
  nativeTypes(c, 1, x.attributes, x.attributeTypes);
const USAGE_ROLE = { none: 0, model_call: 1, aggregate: 2 } as const;

/** In the order of the table's columns (the insert names them, so only the DDL depends on it). */
export const SPAN_TABLE_COLUMNS: readonly SpanColumn[] = [
  {
    name: "Timestamp",
    type: "DateTime64(9)",
    codec: "CODEC(Delta(8), ZSTD(1))",
    since: 1,
    encode: (s) => tsvNanos(s.startNs),
    binary: (w, s) => w.i64n(s.startNs),
  },
  hexId("TraceId", (s) => s.traceId),
  hexId("SpanId", (s) => s.spanId),
  hexId("ParentSpanId", (s) => s.parentSpanId),
  str("TraceState", (s) => s.traceState),
  lowCard("SpanName", (s) => s.name),
  lowCard("SpanKind", (s) => s.kind),
  lowCard("ServiceName", (s) => s.serviceName),
  {
    name: "ResourceAttributes",
    type: STRING_MAP,
    codec: ZSTD,
    since: 1,
    encode: perResource(tsvMap),
    binary: perResourceBinary(binaryMap),
    native: perResourceNative(nativeMap),
  },
  str("ScopeName", (s) => s.scopeName),
  str("ScopeVersion", (s) => s.scopeVersion),
  {
    name: "SpanAttributes",
    type: STRING_MAP,
    codec: ZSTD,
    since: 1,
    encode: (s) => tsvMap(s.attributes),
    binary: (w, s) => binaryMap(w, s.attributes),
    native: (c, s) => nativeMap(c, 0, s.attributes),
  },
  {
    name: "Duration",
    type: "UInt64",
    codec: T64,
    since: 1,
    encode: (s) => String(s.durationNs),
    binary: (w, s) => w.u64n(s.durationNs),
  },
  lowCard("StatusCode", (s) => s.statusCode),
  str("StatusMessage", (s) => s.statusMessage),
  nested(
    "Events",
    "Timestamp",
    "DateTime64(9)",
    (s) => arrayOf(s.events, (e) => quotedString(tsvNanos(e.timeNs))),
    each(events, (w, e) => w.i64n(e.timeNs)),
    nativeEach(events, (w, e) => w.i64n(e.timeNs)),
  ),
  nested(
    "Events",
    "Name",
    "LowCardinality(String)",
    (s) => arrayOf(s.events, (e) => quotedString(e.name)),
    each(events, (w, e) => w.string(e.name)),
    nativeEach(events, (w, e) => w.string(e.name)),
  ),
  nested(
    "Events",
    "Attributes",
    STRING_MAP,
    (s) => arrayOf(s.events, (e) => tsvMap(e.attributes)),
    each(events, (w, e) => binaryMap(w, e.attributes)),
    nativeEach(events, (_, e, c) => nativeMap(c, 1, e.attributes)),
  ),
  nested(
    "Links",
    "TraceId",
    "String",
    (s) => arrayOf(s.links, (l) => quotedString(l.traceId)),
    each(links, (w, l) => w.string(l.traceId)),
    nativeEach(links, (w, l) => w.string(l.traceId)),
  ),
  nested(
    "Links",
    "SpanId",
    "String",
    (s) => arrayOf(s.links, (l) => quotedString(l.spanId)),
    each(links, (w, l) => w.string(l.spanId)),
    nativeEach(links, (w, l) => w.string(l.spanId)),
  ),
  nested(
    "Links",
    "TraceState",
    "String",
    (s) => arrayOf(s.links, (l) => quotedString(l.traceState)),
    each(links, (w, l) => w.string(l.traceState)),
    nativeEach(links, (w, l) => w.string(l.traceState)),
  ),
  nested(
    "Links",
    "Attributes",
    STRING_MAP,
    (s) => arrayOf(s.links, (l) => tsvMap(l.attributes)),
    each(links, (w, l) => binaryMap(w, l.attributes)),
    nativeEach(links, (_, l, c) => nativeMap(c, 1, l.attributes)),
  ),
  lowCard("TeamName", (s) => s.team),
  lowCard("Environment", (s) => s.environment),
  lowCard("AgentName", (s) => s.agent),
  lowCard("GenAiOperation", (s) => s.operation),
  lowCard("GenAiProvider", (s) => s.provider),
  lowCard("GenAiRequestModel", (s) => s.requestModel),
  lowCard("GenAiResponseModel", (s) => s.responseModel),
  {
    name: "GenAiUsageRole",
    type: "Enum8('none' = 0, 'model_call' = 1, 'aggregate' = 2)",
    codec: "",
    since: 1,
    encode: (s) => s.usageRole,
    binary: (w, s) => w.u8(USAGE_ROLE[s.usageRole]),
  },
  tokens("InputTokens", (s) => s.inputTokens),
  tokens("OutputTokens", (s) => s.outputTokens),
  tokens("CacheReadTokens", (s) => s.cacheReadTokens),
  tokens("CacheWriteTokens", (s) => s.cacheWriteTokens),
  tokens("ReasoningTokens", (s) => s.reasoningTokens),
  lowCard("ToolName", (s) => s.toolName),
  str("ConversationId", (s) => s.conversationId ?? ""),
  str("UserId", (s) => s.userId ?? ""),
  {
    name: "Priced",
    type: "UInt8",
    codec: "",
    since: 1,
    encode: (s) => (s.cost === null ? "0" : "1"),
    binary: (w, s) => w.u8(s.cost === null ? 0 : 1),
  },
  usd("CostInputUsd", (c) => c.inputNanos),
  usd("CostOutputUsd", (c) => c.outputNanos),
  usd("CostCacheReadUsd", (c) => c.cacheReadNanos),
  usd("CostCacheWriteUsd", (c) => c.cacheWriteNanos),
  usd("CostUsd", (c) => c.totalNanos),
  typeColumn(
    "ResourceAttributeTypes",
    TYPE_MAP,
    perResource(tsvTypes),
    perResourceBinary(binaryTypes),
    perResourceNative(nativeTypes),
  ),
  typeColumn(
    "SpanAttributeTypes",
    TYPE_MAP,
    (s) => tsvTypes(s.attributes, s.attributeTypes),
    (w, s) => binaryTypes(w, s.attributes, s.attributeTypes),
    (c, s) => nativeTypes(c, 0, s.attributes, s.attributeTypes),
  ),
  typeColumn(
    "EventAttributeTypes",
    `Array(${TYPE_MAP})`,
    (s) => arrayOf(s.events, attrTypes),
    each(events, binaryAttrTypes),
    nativeEach(events, nativeAttrTypes),
  ),
  typeColumn(
    "LinkAttributeTypes",
    `Array(${TYPE_MAP})`,
    (s) => arrayOf(s.links, attrTypes),
    each(links, binaryAttrTypes),
    nativeEach(links, nativeAttrTypes),
  ),
];

/** Column order of the TSV rows the writer produces for the span table. */
export const SPAN_COLUMNS: readonly string[] = SPAN_TABLE_COLUMNS.map((c) => c.name);

const ENCODERS = SPAN_TABLE_COLUMNS.map((c) => c.encode);

/** One span-table TSV row, in SPAN_COLUMNS order, ending in a newline. */
export function encodeSpanRow(s: NormalizedSpan): string {
  let row = ENCODERS[0](s);
  for (let i = 1; i < ENCODERS.length; i++) row += `\t${ENCODERS[i](s)}`;
  return `${row}\n`;
}

const BINARY = SPAN_TABLE_COLUMNS.map((c) => c.binary);

/** Appends one span-table RowBinary row, in SPAN_COLUMNS order. */
export function encodeSpanBinary(w: RowWriter, s: NormalizedSpan): void {
  for (let i = 0; i < BINARY.length; i++) BINARY[i](w, s);
}

/** The RowBinary structure of the span rows: each column's name and type as an insert names them. */
export const SPAN_ROW_TYPES: readonly { name: string; type: string }[] = SPAN_TABLE_COLUMNS.map((c) => ({
  name: c.name,
  type: c.name.includes(".") ? `Array(${c.type})` : c.type,
}));

/** Each column as a Native block names it, with its streams (reused from block to block on this thread). */
const NATIVE_COLUMNS = SPAN_TABLE_COLUMNS.map((c) => {
  const type = plainTypeName(c.name.includes(".") ? `Array(${c.type})` : c.type);
  const parsed = parseNativeType(type);
  if (parsed.kind !== "fixed" && parsed.kind !== "string" && c.native === undefined)
    throw new Error(`span column ${c.name} (${type}) has no Native encoder`);
  const binary = c.binary;
  return {
    name: c.name,
    type,
    data: new NativeColumnWriter(streamCount(parsed)),
    encode: c.native ?? ((w: NativeColumnWriter, s: NormalizedSpan) => binary(w.streams[0], s)),
  };
});

/** Appends one Native block of these spans, every span-table column in SPAN_COLUMNS order. */
export function encodeSpanNative(out: RowWriter, spans: readonly NormalizedSpan[]): void {
  for (const c of NATIVE_COLUMNS) {
    c.data.reset();
    for (let i = 0; i < spans.length; i++) c.encode(c.data, spans[i]);
  }
  writeNativeBlock(out, spans.length, NATIVE_COLUMNS);
}

const INDENT = "        ";

/**
 * Column definitions for a CREATE TABLE, one per line: by default migration 1's, exactly as that
 * migration has always read (a deployed database ran it); a new copy of the table passes every
 * version. Nested subcolumns are written as their group.
 */
export function spanTableColumnsDdl(versions: readonly SpanColumn["since"][] = [1]): string {
  const lines: string[] = [];
  const cols = SPAN_TABLE_COLUMNS.filter((c) => versions.includes(c.since));
  for (let i = 0; i < cols.length; i++) {
    const c = cols[i];
    const dot = c.name.indexOf(".");
    if (dot < 0) {
      lines.push(`${INDENT}${c.name} ${c.type}${c.codec === "" ? "" : ` ${c.codec}`}`);
      continue;
    }
    const group = c.name.slice(0, dot);
    const fields: string[] = [];
    for (; i < cols.length && cols[i].name.startsWith(`${group}.`); i++) {
      fields.push(`${INDENT}  ${cols[i].name.slice(dot + 1)} ${cols[i].type}`);
    }
    i--;
    lines.push(`${INDENT}${group} Nested (\n${fields.join(",\n")}\n${INDENT}) ${c.codec}`);
  }
  return lines.join(",\n");
}

/** The ADD COLUMN clauses of a later migration that added span columns. */
export function spanTableAddColumns(version: SpanColumn["since"]): string {
  return SPAN_TABLE_COLUMNS.filter((c) => c.since === version)
    .map((c) => `ADD COLUMN IF NOT EXISTS ${c.name} ${c.type}${c.codec === "" ? "" : ` ${c.codec}`}`)
    .join(",\n         ");
}
