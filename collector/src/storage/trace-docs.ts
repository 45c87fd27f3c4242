/**
 * Trace documents (migration 19): a view keeps, per insert, each trace's spans as RowBinary rows in
 * one column sorted by trace id, so a trace read touches one small granule instead of ~40 columns.
 * Since migration 20 a second view keeps the trace's log records the same way (rows with `Logs > 0`),
 * so a trace read is one query. The fields of a row, the SQL that writes them and the decoder that
 * reads them are defined here once.
 */

/** How a field travels in a row; each is cast to one ClickHouse type, so storage types cannot leak in. */
type DocKind = "string" | "stringMap" | "typeMap" | "stringArray" | "stringMapArray" | "typeMapArray" | "f64" | "u8";

const CAST: Record<DocKind, string> = {
  string: "String",
  stringMap: "Map(String, String)",
  typeMap: "Map(String, UInt8)",
  stringArray: "Array(String)",
  stringMapArray: "Array(Map(String, String))",
  typeMapArray: "Array(Map(String, UInt8))",
  f64: "Float64",
  u8: "UInt8",
};

interface DocField {
  name: string;
  kind: DocKind;
  /** The value from the span table's columns. */
  sql: string;
}

const field = (name: string, kind: DocKind, sql = name): DocField => ({ name, kind, sql });
const text = (...names: string[]) => names.map((n) => field(n, "string"));
/** 64-bit integers as decimal text, as the read API hands them on. */
const decimal = (...names: string[]) => names.map((n) => field(n, "string", `toString(${n})`));

/** A span as a trace read shows it, in row order. */
export const TRACE_DOC_FIELDS: readonly DocField[] = [
  ...text("SpanId", "ParentSpanId", "SpanName", "SpanKind", "ServiceName"),
  field("StartNs", "string", "toString(toUnixTimestamp64Nano(Timestamp))"),
  ...decimal("Duration"),
  ...text("StatusCode", "StatusMessage"),
  field("SpanAttributes", "stringMap"),
  field("ResourceAttributes", "stringMap"),
  field("EventTimes", "stringArray", "arrayMap(t -> toString(toUnixTimestamp64Nano(t)), Events.Timestamp)"),
  field("EventNames", "stringArray", "Events.Name"),
  field("EventAttributes", "stringMapArray", "Events.Attributes"),
  field("SpanAttributeTypes", "typeMap"),
  field("ResourceAttributeTypes", "typeMap"),
  field("EventAttributeTypes", "typeMapArray"),
  ...text("GenAiOperation", "GenAiProvider", "GenAiRequestModel", "GenAiResponseModel"),
  ...decimal("GenAiUsageRole", "InputTokens", "OutputTokens", "CacheReadTokens", "CacheWriteTokens", "ReasoningTokens"),
  ...text("AgentName", "ToolName", "ConversationId"),
  field("CostUsd", "f64"),
  field("Priced", "u8"),
  field("CostInputUsd", "f64"),
  field("CostOutputUsd", "f64"),
  field("CostCacheReadUsd", "f64"),
  field("CostCacheWriteUsd", "f64"),
  ...text("ScopeName", "ScopeVersion", "TraceState"),
];

/** A log record that names a span, as a trace read attaches it, in row order (from `otel_logs`). */
export const TRACE_LOG_FIELDS: readonly DocField[] = [
  ...text("SpanId"),
  field("TimeNs", "string", "toString(toUnixTimestamp64Nano(Timestamp))"),
  ...text("SeverityText", "EventName", "Body"),
  field("LogAttributes", "stringMap"),
];

/** A field's value, cast to the type its decoder reads. */
const castSql = (f: DocField) => `CAST(${f.sql}, '${CAST[f.kind]}')`;

const rowSql = (fields: readonly DocField[]) => `formatRow('RowBinary', ${fields.map(castSql).join(", ")})`;

/** One span's row: RowBinary (no separators; rows follow each other in a document). */
export const TRACE_DOC_ROW = rowSql(TRACE_DOC_FIELDS);

/** One log record's row, likewise. */
export const TRACE_LOG_ROW = rowSql(TRACE_LOG_FIELDS);

const columnsSql = (fields: readonly DocField[]) => fields.map((f) => `${castSql(f)} AS ${f.name}`).join(", ");

/** The same fields as columns (what a document row must equal), for checking documents against spans. */
export const TRACE_DOC_COLUMNS_SQL = columnsSql(TRACE_DOC_FIELDS);

/** Likewise for log records, against `otel_logs`. */
export const TRACE_LOG_COLUMNS_SQL = columnsSql(TRACE_LOG_FIELDS);

export class TraceDocError extends Error {
  override name = "TraceDocError";
}

class Reader {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new TraceDocError("truncated trace document");
  }

  varint(): number {
    let value = 0;
    for (let shift = 0; shift < 56; shift += 7) {
      this.need(1);
      const b = this.buf[this.pos++] as number;
      value += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return value;
    }
    throw new TraceDocError("malformed length in a trace document");
  }

  string(): string {
    const n = this.varint();
    this.need(n);
    const s = this.buf.toString("utf8", this.pos, this.pos + n);
    this.pos += n;
    return s;
  }

  bytes(): Buffer {
    const n = this.varint();
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++] as number;
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  f64(): number {
    this.need(8);
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  map<V>(value: () => V): Record<string, V> {
    const out: Record<string, V> = {};
    for (let i = this.varint(); i > 0; i--) {
      const k = this.string();
      // An own property, as JSON.parse makes it: `__proto__` is an attribute name like any other.
      if (k === "__proto__")
        Object.defineProperty(out, k, { value: value(), enumerable: true, writable: true, configurable: true });
      else out[k] = value();
    }
    return out;
  }

  array<V>(item: () => V): V[] {
    const out: V[] = [];
    for (let i = this.varint(); i > 0; i--) out.push(item());
    return out;
  }
}

function readField(r: Reader, kind: DocKind): unknown {
  switch (kind) {
    case "string":
      return r.string();
    case "stringMap":
      return r.map(() => r.string());
    case "typeMap":
      return r.map(() => r.u8());
    case "stringArray":
      return r.array(() => r.string());
    case "stringMapArray":
      return r.array(() => r.map(() => r.string()));
    case "typeMapArray":
      return r.array(() => r.map(() => r.u8()));
    case "f64":
      return r.f64();
    case "u8":
      return r.u8();
  }
}

/** Decimal strings of non-negative integers, compared as numbers. */
const byNumber = (a: string, b: string) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);

/** The rows of documents, each once: a row stored twice (a backfill that ran again) is one row. */
function readRows(docs: Iterable<Buffer>, fields: readonly DocField[]): Record<string, unknown>[] {
  const seen = new Set<string>();
  const rows: Record<string, unknown>[] = [];
  for (const doc of docs) {
    const r = new Reader(doc);
    while (!r.done) {
      const start = r.pos;
      const row: Record<string, unknown> = {};
      for (const f of fields) row[f.name] = readField(r, f.kind);
      const key = doc.toString("latin1", start, r.pos);
      if (seen.has(key)) continue;
      seen.add(key);
      rows.push(row);
    }
  }
  return rows;
}

/** The spans of a trace's documents in start order (then span id), as the span table would list them. */
export function readTraceDocs<T = Record<string, unknown>>(docs: Iterable<Buffer>): T[] {
  const rows = readRows(docs, TRACE_DOC_FIELDS);
  rows.sort(
    (a, b) =>
      byNumber(a.StartNs as string, b.StartNs as string) ||
      ((a.SpanId as string) < (b.SpanId as string) ? -1 : (a.SpanId as string) > (b.SpanId as string) ? 1 : 0),
  );
  return rows as T[];
}

/** The log records of a trace's log documents in time order. */
export function readTraceLogDocs<T = Record<string, unknown>>(docs: Iterable<Buffer>): T[] {
  const rows = readRows(docs, TRACE_LOG_FIELDS);
  rows.sort((a, b) => byNumber(a.TimeNs as string, b.TimeNs as string));
  return rows as T[];
}

/** What a trace read selects from `trace_docs`, in this order: see `splitTraceDocs`. */
export const TRACE_DOCS_READ = "Logs, Doc";

/**
 * The documents of a RowBinary result of `SELECT ${TRACE_DOCS_READ}`: span documents (no logs)
 * apart from log documents. The buffers are views of `result`, not copies.
 */
export function splitTraceDocs(result: Buffer): { spans: Buffer[]; logs: Buffer[] } {
  const r = new Reader(result);
  const docs: { spans: Buffer[]; logs: Buffer[] } = { spans: [], logs: [] };
  while (!r.done) readDoc(r, docs);
  return docs;
}

/** One `Logs, Doc` pair: a span document (no logs) or a log document. */
function readDoc(r: Reader, into: { spans: Buffer[]; logs: Buffer[] }): void {
  const n = r.u32();
  (n === 0 ? into.spans : into.logs).push(r.bytes());
}

/** What a read of several traces selects from `trace_docs`, in this order: see `splitTraceDocsById`. */
export const TRACE_DOCS_READ_BY_ID = `TraceId, ${TRACE_DOCS_READ}`;

/** `splitTraceDocs` for a result of `SELECT ${TRACE_DOCS_READ_BY_ID}`: each trace's documents by its id. */
export function splitTraceDocsById(result: Buffer): Map<string, { spans: Buffer[]; logs: Buffer[] }> {
  const r = new Reader(result);
  const out = new Map<string, { spans: Buffer[]; logs: Buffer[] }>();
  while (!r.done) {
    const id = r.string();
    let docs = out.get(id);
    if (docs === undefined) {
      docs = { spans: [], logs: [] };
      out.set(id, docs);
    }
    readDoc(r, docs);
  }
  return out;
}
