import type { Attrs, AttrTypes, AttrValue } from "@cognive/semconv";

/** One span as decoded from OTLP, before validation. Ids are lower-case hex ("" when absent). */
export interface DecodedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  traceState: string;
  name: string;
  kind: number;
  startNs: bigint;
  endNs: bigint;
  attributes: Attrs;
  /** The OTLP type of each non-string attribute; without it types are inferred from the values. */
  attributeTypes?: AttrTypes;
  events: DecodedEvent[];
  links: DecodedLink[];
  statusCode: number;
  statusMessage: string;
  /** Set by a decoder when one field of this span was unusable; the span is then rejected alone. */
  invalid?: string;
}

export interface DecodedEvent {
  timeNs: bigint;
  name: string;
  attributes: Attrs;
  attributeTypes?: AttrTypes;
}

export interface DecodedLink {
  traceId: string;
  spanId: string;
  traceState: string;
  attributes: Attrs;
  attributeTypes?: AttrTypes;
}

export interface DecodedScopeSpans {
  scopeName: string;
  scopeVersion: string;
  spans: DecodedSpan[];
}

export interface DecodedResourceSpans {
  resource: Attrs;
  resourceTypes?: AttrTypes;
  scopeSpans: DecodedScopeSpans[];
}

/** An OTLP ExportTraceServiceRequest. */
export interface DecodedTraces {
  resourceSpans: DecodedResourceSpans[];
}

/** Thrown for a body that cannot be decoded at all (→ 400). */
export class DecodeError extends Error {
  override name = "DecodeError";
}

export const SPAN_KIND_NAMES = ["Unspecified", "Internal", "Server", "Client", "Producer", "Consumer"] as const;
export const STATUS_CODE_NAMES = ["Unset", "Ok", "Error"] as const;

/** One OTLP LogRecord as decoded, before validation. Ids are lower-case hex ("" when absent). */
export interface DecodedLogRecord {
  timeNs: bigint;
  observedNs: bigint;
  severityNumber: number;
  severityText: string;
  body: AttrValue;
  attributes: Attrs;
  droppedAttributesCount: number;
  flags: number;
  traceId: string;
  spanId: string;
  /** LogRecord.event_name (field 12); "" when unset. */
  eventName: string;
  /** Set by a decoder when one field of this record was unusable; the record is then rejected alone. */
  invalid?: string;
}

export interface DecodedScopeLogs {
  scopeName: string;
  scopeVersion: string;
  scopeAttributes: Attrs;
  schemaUrl: string;
  records: DecodedLogRecord[];
}

export interface DecodedResourceLogs {
  resource: Attrs;
  schemaUrl: string;
  scopeLogs: DecodedScopeLogs[];
}

/** An OTLP ExportLogsServiceRequest. */
export interface DecodedLogs {
  resourceLogs: DecodedResourceLogs[];
}
