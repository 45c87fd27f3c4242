import type { AttrTypes, AttrValue } from "@cognive/semconv";
import protobuf from "protobufjs/minimal.js";
import { type AnyValue, anyValue, keyValues as jsonAttrs } from "../api/attr-values.ts";
import type { Span, SpanEvent, SpanOtlpExtras, TraceDetail } from "../api/trace-detail.ts";

/** OTLP span kinds by stored name (exporters store `Client` or `SPAN_KIND_CLIENT`). */
const KINDS: Record<string, number> = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 };

export function kindNumber(stored: string): number {
  return KINDS[stored.toLowerCase().replace(/^span_kind_/, "")] ?? 0;
}

const STATUS: Record<string, number> = { unset: 0, ok: 1, error: 2 };

/** A trace with the per-span extras Tempo's answer carries. */
export interface TempoTrace extends TraceDetail {
  extras: Map<string, SpanOtlpExtras>;
}

interface ScopeGroup {
  name: string;
  version: string;
  spans: Span[];
}

interface Group {
  resource: Record<string, AttrValue>;
  resourceTypes: AttrTypes | undefined;
  scopes: ScopeGroup[];
}

const NO_EXTRAS: SpanOtlpExtras = { scopeName: "", scopeVersion: "", traceState: "" };
const extrasOf = (trace: TempoTrace, s: Span): SpanOtlpExtras => trace.extras.get(s.spanId) ?? NO_EXTRAS;

/** Spans grouped by service and resource, then by instrumentation scope, in first-seen order. */
function groups(trace: TempoTrace): Group[] {
  const byKey = new Map<string, Group & { byScope: Map<string, ScopeGroup> }>();
  for (const s of trace.spans) {
    const resource = { ...s.resource };
    if (s.serviceName && !resource["service.name"]) resource["service.name"] = s.serviceName;
    const { scopeName, scopeVersion, resourceTypes } = extrasOf(trace, s);
    const sorted = <T>(o: Record<string, T>) => Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const key = JSON.stringify([sorted(resource), sorted(resourceTypes ?? {})]);
    let g = byKey.get(key);
    if (!g) {
      g = { resource, resourceTypes, scopes: [], byScope: new Map() };
      byKey.set(key, g);
    }
    const scopeKey = JSON.stringify([scopeName, scopeVersion]);
    let sg = g.byScope.get(scopeKey);
    if (!sg) {
      sg = { name: scopeName, version: scopeVersion, spans: [] };
      g.byScope.set(scopeKey, sg);
      g.scopes.push(sg);
    }
    sg.spans.push(s);
  }
  return [...byKey.values()].map(({ resource, resourceTypes, scopes }) => ({ resource, resourceTypes, scopes }));
}

const hexBytes = (hex: string): Uint8Array => Buffer.from(hex.length % 2 === 0 ? hex : `0${hex}`, "hex");

function endNs(s: Span): bigint {
  return BigInt(s.startTimeUnixNano) + BigInt(s.durationNs);
}

function fixed64(w: protobuf.Writer, field: number, v: bigint): void {
  const lo = Number(v & 0xffffffffn);
  const hi = Number((v >> 32n) & 0xffffffffn);
  w.uint32((field << 3) | 1)
    .fixed32(lo)
    .fixed32(hi);
}

/** An int64 in decimal as the two's-complement halves protobufjs writes as a varint. */
function int64Bits(decimal: string): { low: number; high: number } {
  const u = BigInt.asUintN(64, BigInt(decimal));
  return { low: Number(u & 0xffffffffn), high: Number(u >> 32n) };
}

/** The body of an OTLP `AnyValue` message, from its OTLP/JSON form (one encoding of values for both answers). */
function writeAnyValue(w: protobuf.Writer, v: AnyValue): void {
  if ("stringValue" in v) w.uint32(10).string(v.stringValue);
  else if ("boolValue" in v) w.uint32(16).bool(v.boolValue);
  else if ("intValue" in v) w.uint32(24).int64(int64Bits(v.intValue) as unknown as number);
  else if ("doubleValue" in v) w.uint32(33).double(Number(v.doubleValue));
  else if ("arrayValue" in v) {
    w.uint32(42).fork();
    for (const x of v.arrayValue.values) {
      w.uint32(10).fork();
      writeAnyValue(w, x);
      w.ldelim();
    }
    w.ldelim();
  } else if ("kvlistValue" in v) {
    w.uint32(50).fork();
    for (const kv of v.kvlistValue.values) writeKeyValue(w, 1, kv.key, kv.value);
    w.ldelim();
  } else if ("bytesValue" in v) w.uint32(58).bytes(Buffer.from(v.bytesValue, "base64"));
}

function writeKeyValue(w: protobuf.Writer, field: number, key: string, value: AnyValue): void {
  w.uint32((field << 3) | 2).fork();
  w.uint32(10).string(key);
  w.uint32(18).fork();
  writeAnyValue(w, value);
  w.ldelim();
  w.ldelim();
}

function keyValues(w: protobuf.Writer, field: number, attrs: Record<string, AttrValue>, types?: AttrTypes): void {
  for (const k in attrs) writeKeyValue(w, field, k, anyValue(attrs[k], types?.[k]));
}

/**
 * The span's events and, as events too, its log records (Tempo has no logs): named by their event
 * name or "log", with the body and severity beside their attributes. In time order.
 */
export function tempoEvents(s: Span, extras: SpanOtlpExtras): (SpanEvent & { types?: AttrTypes })[] {
  const events = s.events.map((e, i) => ({ ...e, types: extras.eventAttributeTypes?.[i] }));
  if (s.logs.length === 0) return events;
  const fromLogs = s.logs.map((l) => ({
    timeUnixNano: l.timeUnixNano,
    name: l.eventName || "log",
    attributes: {
      ...l.attributes,
      ...(l.body !== "" ? { body: l.body } : {}),
      ...(l.severityText !== "" ? { severity: l.severityText } : {}),
    },
  }));
  return [...events, ...fromLogs].sort((a, b) => {
    const d = BigInt(a.timeUnixNano) - BigInt(b.timeUnixNano);
    return d < 0n ? -1 : d > 0n ? 1 : 0;
  });
}

function writeSpan(w: protobuf.Writer, trace: TempoTrace, s: Span): void {
  w.uint32(10).bytes(hexBytes(trace.traceId));
  w.uint32(18).bytes(hexBytes(s.spanId));
  const { traceState } = extrasOf(trace, s);
  if (traceState) w.uint32(26).string(traceState);
  if (s.parentSpanId) w.uint32(34).bytes(hexBytes(s.parentSpanId));
  w.uint32(42).string(s.name);
  const kind = kindNumber(s.kind);
  if (kind) w.uint32(48).int32(kind);
  fixed64(w, 7, BigInt(s.startTimeUnixNano));
  fixed64(w, 8, endNs(s));
  const extras = extrasOf(trace, s);
  keyValues(w, 9, s.attributes, extras.attributeTypes);
  for (const e of tempoEvents(s, extras)) {
    w.uint32(90).fork();
    fixed64(w, 1, BigInt(e.timeUnixNano));
    w.uint32(18).string(e.name);
    keyValues(w, 3, e.attributes, e.types);
    w.ldelim();
  }
  w.uint32(122).fork();
  if (s.status.message) w.uint32(18).string(s.status.message);
  const code = STATUS[s.status.code] ?? 0;
  if (code) w.uint32(24).int32(code);
  w.ldelim();
}

/** Writes `repeated ResourceSpans resource_spans = 1` (the body of OTLP TracesData / Tempo's Trace). */
function writeResourceSpans(w: protobuf.Writer, trace: TempoTrace): void {
  for (const g of groups(trace)) {
    w.uint32(10).fork();
    w.uint32(10).fork();
    keyValues(w, 1, g.resource, g.resourceTypes);
    w.ldelim();
    for (const sg of g.scopes) {
      w.uint32(18).fork();
      w.uint32(10).fork();
      if (sg.name) w.uint32(10).string(sg.name);
      if (sg.version) w.uint32(18).string(sg.version);
      w.ldelim();
      for (const s of sg.spans) {
        w.uint32(18).fork();
        writeSpan(w, trace, s);
        w.ldelim();
      }
      w.ldelim();
    }
    w.ldelim();
  }
}

/** Tempo's `Trace` message, byte-compatible with OTLP `TracesData`. */
export function encodeTrace(trace: TempoTrace): Uint8Array {
  const w = protobuf.Writer.create();
  writeResourceSpans(w, trace);
  return w.finish();
}

/** Tempo's `TraceByIDResponse { Trace trace = 1; Status status = 3; string message = 4 }`, status COMPLETE. */
export function encodeTraceByIdResponse(trace: TempoTrace): Uint8Array {
  const w = protobuf.Writer.create();
  w.uint32(10).fork();
  writeResourceSpans(w, trace);
  w.ldelim();
  return w.finish();
}

/** OTLP/JSON `resourceSpans` (hex ids, enum numbers, int64 as strings). */
export function resourceSpansJson(trace: TempoTrace) {
  return groups(trace).map((g) => ({
    resource: { attributes: jsonAttrs(g.resource, g.resourceTypes) },
    scopeSpans: g.scopes.map((sg) => ({
      scope: { name: sg.name, ...(sg.version ? { version: sg.version } : {}) },
      spans: sg.spans.map((s) => ({
        traceId: trace.traceId,
        spanId: s.spanId,
        ...(extrasOf(trace, s).traceState ? { traceState: extrasOf(trace, s).traceState } : {}),
        ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
        name: s.name,
        kind: kindNumber(s.kind),
        startTimeUnixNano: s.startTimeUnixNano,
        endTimeUnixNano: String(endNs(s)),
        attributes: jsonAttrs(s.attributes, extrasOf(trace, s).attributeTypes),
        events: tempoEvents(s, extrasOf(trace, s)).map((e) => ({
          timeUnixNano: e.timeUnixNano,
          name: e.name,
          attributes: jsonAttrs(e.attributes, e.types),
        })),
        status: {
          ...(STATUS[s.status.code] ? { code: STATUS[s.status.code] } : {}),
          ...(s.status.message ? { message: s.status.message } : {}),
        },
      })),
    })),
  }));
}
