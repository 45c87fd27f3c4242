import protobuf from "protobufjs/minimal.js";
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
  resource: Record<string, string>;
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
    const key = JSON.stringify(Object.entries(resource).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    let g = byKey.get(key);
    if (!g) {
      g = { resource, scopes: [], byScope: new Map() };
      byKey.set(key, g);
    }
    const { scopeName, scopeVersion } = extrasOf(trace, s);
    const scopeKey = JSON.stringify([scopeName, scopeVersion]);
    let sg = g.byScope.get(scopeKey);
    if (!sg) {
      sg = { name: scopeName, version: scopeVersion, spans: [] };
      g.byScope.set(scopeKey, sg);
      g.scopes.push(sg);
    }
    sg.spans.push(s);
  }
  return [...byKey.values()].map(({ resource, scopes }) => ({ resource, scopes }));
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

function keyValues(w: protobuf.Writer, field: number, attrs: Record<string, string>): void {
  for (const [k, v] of Object.entries(attrs)) {
    w.uint32((field << 3) | 2).fork();
    w.uint32(10).string(k);
    w.uint32(18).fork().uint32(10).string(v).ldelim();
    w.ldelim();
  }
}

/**
 * The span's events and, as events too, its log records (Tempo has no logs): named by their event
 * name or "log", with the body and severity beside their attributes. In time order.
 */
export function tempoEvents(s: Span): SpanEvent[] {
  if (s.logs.length === 0) return s.events;
  const fromLogs = s.logs.map((l) => ({
    timeUnixNano: l.timeUnixNano,
    name: l.eventName || "log",
    attributes: {
      ...l.attributes,
      ...(l.body !== "" ? { body: l.body } : {}),
      ...(l.severityText !== "" ? { severity: l.severityText } : {}),
    },
  }));
  return [...s.events, ...fromLogs].sort((a, b) => {
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
  keyValues(w, 9, s.attributes);
  for (const e of tempoEvents(s)) {
    w.uint32(90).fork();
    fixed64(w, 1, BigInt(e.timeUnixNano));
    w.uint32(18).string(e.name);
    keyValues(w, 3, e.attributes);
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
    keyValues(w, 1, g.resource);
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

const jsonAttrs = (attrs: Record<string, string>) =>
  Object.entries(attrs).map(([key, v]) => ({ key, value: { stringValue: v } }));

/** OTLP/JSON `resourceSpans` (hex ids, enum numbers, int64 as strings). */
export function resourceSpansJson(trace: TempoTrace) {
  return groups(trace).map((g) => ({
    resource: { attributes: jsonAttrs(g.resource) },
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
        attributes: jsonAttrs(s.attributes),
        events: tempoEvents(s).map((e) => ({
          timeUnixNano: e.timeUnixNano,
          name: e.name,
          attributes: jsonAttrs(e.attributes),
        })),
        status: {
          ...(STATUS[s.status.code] ? { code: STATUS[s.status.code] } : {}),
          ...(s.status.message ? { message: s.status.message } : {}),
        },
      })),
    })),
  }));
}
