import { ATTR_TYPE, type Attrs, type AttrTypes, type AttrValue } from "@cognive/semconv";
import {
  type DecodedEvent,
  type DecodedLink,
  type DecodedResourceSpans,
  type DecodedScopeSpans,
  type DecodedSpan,
  type DecodedTraces,
  DecodeError,
} from "./model.ts";

/**
 * Decodes OTLP/JSON (ids in hex, enums as numbers or names, 64-bit integers as strings or numbers).
 * A body whose overall shape is wrong is a DecodeError (→ 400); a span with one bad field is marked
 * `invalid` so that only it is rejected.
 */
export function decodeTracesJson(text: string): DecodedTraces {
  const doc = parseOtlpJson(text);
  const rs = doc.resourceSpans ?? doc.resource_spans;
  if (rs === undefined) return { resourceSpans: [] };
  return { resourceSpans: list(rs, "resourceSpans").map(resourceSpans) };
}

export type Obj = Record<string, unknown>;

/** An OTLP/JSON request body: an object, else a DecodeError. */
export function parseOtlpJson(text: string): Obj {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new DecodeError(`invalid JSON: ${(err as Error).message}`);
  }
  if (!isObject(doc)) throw new DecodeError("invalid OTLP/JSON: the body must be an object");
  return doc;
}
export const isObject = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

export function list(v: unknown, field: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new DecodeError(`invalid OTLP/JSON: ${field} must be an array`);
  return v;
}

export function obj(v: unknown, field: string): Obj {
  if (!isObject(v)) throw new DecodeError(`invalid OTLP/JSON: ${field} must be an object`);
  return v;
}

export function str(v: unknown): string {
  return typeof v === "string" ? v : "";
}

function resourceSpans(v: unknown): DecodedResourceSpans {
  const o = obj(v, "resourceSpans[]");
  const resourceTypes: AttrTypes = {};
  const resource = o.resource === undefined ? {} : attrs(obj(o.resource, "resource").attributes, resourceTypes);
  const scopeSpans = list(o.scopeSpans ?? o.scope_spans, "scopeSpans").map(scopeSpansOf);
  return { resource, resourceTypes, scopeSpans };
}

function scopeSpansOf(v: unknown): DecodedScopeSpans {
  const o = obj(v, "scopeSpans[]");
  const scope = isObject(o.scope) ? o.scope : {};
  return {
    scopeName: str(scope.name),
    scopeVersion: str(scope.version),
    spans: list(o.spans, "spans").map(span),
  };
}

const HEX_ID = /^[0-9a-fA-F]*$/;

export function hexId(v: unknown, field: string, problems: string[]): string {
  if (v === undefined || v === null || v === "") return "";
  if (typeof v !== "string" || !HEX_ID.test(v)) {
    problems.push(`${field} is not a hex string`);
    return "";
  }
  return v.toLowerCase();
}

export function nanos(v: unknown, field: string, problems: string[]): bigint {
  if (v === undefined || v === null) return 0n;
  if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  if (typeof v === "string" && /^\d{1,20}$/.test(v)) return BigInt(v);
  problems.push(`${field} is not an unsigned integer`);
  return 0n;
}

const KINDS: Record<string, number> = {
  SPAN_KIND_UNSPECIFIED: 0,
  SPAN_KIND_INTERNAL: 1,
  SPAN_KIND_SERVER: 2,
  SPAN_KIND_CLIENT: 3,
  SPAN_KIND_PRODUCER: 4,
  SPAN_KIND_CONSUMER: 5,
};
const STATUS: Record<string, number> = { STATUS_CODE_UNSET: 0, STATUS_CODE_OK: 1, STATUS_CODE_ERROR: 2 };

export function enumValue(
  v: unknown,
  names: Record<string, number>,
  max: number,
  field: string,
  problems: string[],
): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= max) return v;
  if (typeof v === "string" && v in names) return names[v];
  problems.push(`${field} is not a valid enum value`);
  return 0;
}

function span(v: unknown): DecodedSpan {
  const o = obj(v, "spans[]");
  const problems: string[] = [];
  const status = isObject(o.status) ? o.status : {};
  const attributeTypes: AttrTypes = {};
  const s: DecodedSpan = {
    traceId: hexId(o.traceId ?? o.trace_id, "traceId", problems),
    spanId: hexId(o.spanId ?? o.span_id, "spanId", problems),
    parentSpanId: hexId(o.parentSpanId ?? o.parent_span_id, "parentSpanId", problems),
    traceState: str(o.traceState ?? o.trace_state),
    name: typeof o.name === "string" ? o.name : "",
    kind: enumValue(o.kind, KINDS, 5, "kind", problems),
    startNs: nanos(o.startTimeUnixNano ?? o.start_time_unix_nano, "startTimeUnixNano", problems),
    endNs: nanos(o.endTimeUnixNano ?? o.end_time_unix_nano, "endTimeUnixNano", problems),
    attributes: attrsOrProblem(o.attributes, "attributes", problems, attributeTypes),
    attributeTypes,
    events: [],
    links: [],
    statusCode: enumValue(status.code, STATUS, 2, "status.code", problems),
    statusMessage: str(status.message),
  };
  if (o.name !== undefined && typeof o.name !== "string") problems.push("name is not a string");
  for (const e of Array.isArray(o.events) ? o.events : []) {
    if (!isObject(e)) continue;
    const types: AttrTypes = {};
    const ev: DecodedEvent = {
      timeNs: nanos(e.timeUnixNano ?? e.time_unix_nano, "events.timeUnixNano", problems),
      name: str(e.name),
      attributes: attrsOrProblem(e.attributes, "events.attributes", problems, types),
      attributeTypes: types,
    };
    s.events.push(ev);
  }
  for (const l of Array.isArray(o.links) ? o.links : []) {
    if (!isObject(l)) continue;
    const types: AttrTypes = {};
    const link: DecodedLink = {
      traceId: hexId(l.traceId ?? l.trace_id, "links.traceId", problems),
      spanId: hexId(l.spanId ?? l.span_id, "links.spanId", problems),
      traceState: str(l.traceState ?? l.trace_state),
      attributes: attrsOrProblem(l.attributes, "links.attributes", problems, types),
      attributeTypes: types,
    };
    s.links.push(link);
  }
  if (problems.length > 0) s.invalid = problems.join("; ");
  return s;
}

export function attrsOrProblem(v: unknown, field: string, problems: string[], types: AttrTypes = {}): Attrs {
  if (v === undefined || v === null) return {};
  if (!Array.isArray(v)) {
    problems.push(`${field} must be an array`);
    return {};
  }
  return attrs(v, types);
}

export function attrs(v: unknown, types: AttrTypes = {}): Attrs {
  const out: Attrs = {};
  if (!Array.isArray(v)) return out;
  for (const kv of v) {
    if (!isObject(kv) || typeof kv.key !== "string" || kv.key === "") continue;
    const value = anyValue(kv.value, 0);
    out[kv.key] = value;
    const type = value === null ? 0 : typeOf(kv.value as Obj);
    if (type > ATTR_TYPE.string) types[kv.key] = type;
    else if (types[kv.key] !== undefined) delete types[kv.key]; // a repeated key: the last one wins
  }
  return out;
}

/** The type an AnyValue object says it holds (anyValue reads the same fields in the same order). */
function typeOf(v: Obj): number {
  if (v.stringValue !== undefined) return ATTR_TYPE.string;
  if (v.boolValue !== undefined) return ATTR_TYPE.bool;
  if (v.intValue !== undefined) return ATTR_TYPE.int;
  if (v.doubleValue !== undefined) return ATTR_TYPE.double;
  if (isObject(v.arrayValue)) return ATTR_TYPE.array;
  if (isObject(v.kvlistValue)) return ATTR_TYPE.kvlist;
  return ATTR_TYPE.bytes;
}

export function anyValue(v: unknown, depth: number): AttrValue {
  if (!isObject(v) || depth > 16) return null;
  if (v.stringValue !== undefined) return String(v.stringValue);
  if (v.boolValue !== undefined) return v.boolValue === true || v.boolValue === "true";
  if (v.intValue !== undefined) {
    const n = Number(v.intValue);
    if (Number.isSafeInteger(n)) return n;
    return typeof v.intValue === "string" && /^-?\d+$/.test(v.intValue) ? v.intValue : null;
  }
  if (v.doubleValue !== undefined) {
    const n = Number(v.doubleValue);
    return Number.isNaN(n) && v.doubleValue !== "NaN" ? null : n;
  }
  if (isObject(v.arrayValue)) {
    return Array.isArray(v.arrayValue.values) ? v.arrayValue.values.map((x) => anyValue(x, depth + 1)) : [];
  }
  if (isObject(v.kvlistValue)) {
    const out: Attrs = {};
    for (const kv of Array.isArray(v.kvlistValue.values) ? v.kvlistValue.values : []) {
      if (isObject(kv) && typeof kv.key === "string") out[kv.key] = anyValue(kv.value, depth + 1);
    }
    return out;
  }
  if (typeof v.bytesValue === "string") return v.bytesValue;
  return null;
}
