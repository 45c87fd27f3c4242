import type { Attrs } from "@cognive/semconv";
import {
  anyValue,
  attrsOrProblem,
  enumValue,
  hexId,
  isObject,
  list,
  nanos,
  type Obj,
  obj,
  parseOtlpJson,
  str,
} from "./decode-json.ts";
import {
  decodeRequest,
  expect,
  MAX_DEPTH,
  type Reader,
  readAnyValue,
  readBytesHex,
  readFixed64,
  readGroup,
  readKeyValue,
  readResource,
  readScope,
  readString,
  skip,
  sub,
} from "./decode-proto.ts";
import {
  type DecodedLogRecord,
  type DecodedLogs,
  type DecodedResourceLogs,
  type DecodedScopeLogs,
  DecodeError,
} from "./model.ts";

/** Decodes an OTLP ExportLogsServiceRequest (protobuf), in the style of `decodeTracesProto`. */
export function decodeLogsProto(body: Uint8Array): DecodedLogs {
  return { resourceLogs: decodeRequest(body, readResourceLogs) };
}

function readResourceLogs(r: Reader, end: number): DecodedResourceLogs {
  const out: DecodedResourceLogs = { resource: {}, schemaUrl: "", scopeLogs: [] };
  out.schemaUrl = readGroup(
    r,
    end,
    (e) => {
      out.resource = readResource(r, e);
    },
    (e) => out.scopeLogs.push(readScopeLogs(r, e)),
  );
  return out;
}

function readScopeLogs(r: Reader, end: number): DecodedScopeLogs {
  const out: DecodedScopeLogs = { scopeName: "", scopeVersion: "", scopeAttributes: {}, schemaUrl: "", records: [] };
  out.schemaUrl = readGroup(
    r,
    end,
    (e) => {
      ({ name: out.scopeName, version: out.scopeVersion } = readScope(r, e, out.scopeAttributes));
    },
    (e) => out.records.push(readLogRecord(r, e)),
  );
  return out;
}

const emptyRecord = (): DecodedLogRecord => ({
  timeNs: 0n,
  observedNs: 0n,
  severityNumber: 0,
  severityText: "",
  body: null,
  attributes: {},
  droppedAttributesCount: 0,
  flags: 0,
  traceId: "",
  spanId: "",
  eventName: "",
});

const TOO_DEEP = "attribute values nested too deeply";

function readLogRecord(r: Reader, end: number): DecodedLogRecord {
  const rec = emptyRecord();
  try {
    while (r.pos < end) {
      const tag = r.uint32();
      switch (tag >>> 3) {
        case 1:
          expect(tag, 1);
          rec.timeNs = readFixed64(r);
          break;
        case 2:
          expect(tag, 0);
          rec.severityNumber = r.uint32();
          break;
        case 3:
          expect(tag, 2);
          rec.severityText = readString(r);
          break;
        case 5:
          expect(tag, 2);
          rec.body = readAnyValue(r, sub(r), 1);
          break;
        case 6:
          expect(tag, 2);
          readKeyValue(r, sub(r), rec.attributes, 0);
          break;
        case 7:
          expect(tag, 0);
          rec.droppedAttributesCount = r.uint32();
          break;
        case 8:
          expect(tag, 5);
          rec.flags = r.fixed32();
          break;
        case 9:
          expect(tag, 2);
          rec.traceId = readBytesHex(r);
          break;
        case 10:
          expect(tag, 2);
          rec.spanId = readBytesHex(r);
          break;
        case 11:
          expect(tag, 1);
          rec.observedNs = readFixed64(r);
          break;
        case 12:
          expect(tag, 2);
          rec.eventName = readString(r);
          break;
        default:
          skip(r, tag);
      }
    }
  } catch (err) {
    // A too-deep value is this record's problem alone: its length is known, so skip to its end.
    if (!(err instanceof DecodeError) || !err.message.endsWith(TOO_DEEP)) throw err;
    r.pos = end;
    return { ...emptyRecord(), invalid: `body or attributes nested deeper than ${MAX_DEPTH} levels` };
  }
  if (r.pos !== end) throw new DecodeError("invalid protobuf: log record overruns its length");
  return rec;
}

/**
 * Decodes OTLP/JSON logs. A body whose overall shape is wrong is a DecodeError (→ 400); a record
 * with one bad field is marked `invalid` so that only it is rejected.
 */
export function decodeLogsJson(text: string): DecodedLogs {
  const doc = parseOtlpJson(text);
  const rl = doc.resourceLogs ?? doc.resource_logs;
  return { resourceLogs: list(rl, "resourceLogs").map(resourceLogsJson) };
}

function resourceLogsJson(v: unknown): DecodedResourceLogs {
  const o = obj(v, "resourceLogs[]");
  const resource = o.resource === undefined ? {} : attrsJson(obj(o.resource, "resource").attributes);
  return {
    resource,
    schemaUrl: str(o.schemaUrl ?? o.schema_url),
    scopeLogs: list(o.scopeLogs ?? o.scope_logs, "scopeLogs").map(scopeLogsJson),
  };
}

function scopeLogsJson(v: unknown): DecodedScopeLogs {
  const o = obj(v, "scopeLogs[]");
  const scope = isObject(o.scope) ? o.scope : {};
  return {
    scopeName: str(scope.name),
    scopeVersion: str(scope.version),
    scopeAttributes: attrsJson(scope.attributes),
    schemaUrl: str(o.schemaUrl ?? o.schema_url),
    records: list(o.logRecords ?? o.log_records, "logRecords").map(logRecordJson),
  };
}

/** SeverityNumber names (SEVERITY_NUMBER_TRACE = 1 … SEVERITY_NUMBER_FATAL4 = 24). */
const SEVERITIES: Record<string, number> = { SEVERITY_NUMBER_UNSPECIFIED: 0 };
["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"].forEach((name, i) => {
  for (let k = 0; k < 4; k++) SEVERITIES[`SEVERITY_NUMBER_${name}${k === 0 ? "" : k + 1}`] = i * 4 + k + 1;
});

function uint32(v: unknown, field: string, problems: string[]): number {
  if (v === undefined || v === null) return 0;
  const n = typeof v === "string" && /^\d{1,10}$/.test(v) ? Number(v) : v;
  if (typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= 0xffffffff) return n;
  problems.push(`${field} is not an unsigned 32-bit integer`);
  return 0;
}

function logRecordJson(v: unknown): DecodedLogRecord {
  const o = obj(v, "logRecords[]");
  const problems: string[] = [];
  const rec: DecodedLogRecord = {
    timeNs: nanos(o.timeUnixNano ?? o.time_unix_nano, "timeUnixNano", problems),
    observedNs: nanos(o.observedTimeUnixNano ?? o.observed_time_unix_nano, "observedTimeUnixNano", problems),
    severityNumber: enumValue(o.severityNumber ?? o.severity_number, SEVERITIES, 24, "severityNumber", problems),
    severityText: stringField(o.severityText ?? o.severity_text, "severityText", problems),
    body: null,
    attributes: attrsOrProblem(o.attributes, "attributes", problems),
    droppedAttributesCount: uint32(
      o.droppedAttributesCount ?? o.dropped_attributes_count,
      "droppedAttributesCount",
      problems,
    ),
    flags: uint32(o.flags, "flags", problems),
    traceId: hexId(o.traceId ?? o.trace_id, "traceId", problems),
    spanId: hexId(o.spanId ?? o.span_id, "spanId", problems),
    eventName: stringField(o.eventName ?? o.event_name, "eventName", problems),
  };
  if (o.body !== undefined && o.body !== null) {
    if (!isObject(o.body)) problems.push("body must be an AnyValue object");
    else if (tooDeep(o.body)) problems.push(`body nested deeper than ${MAX_DEPTH} levels`);
    else rec.body = anyValue(o.body, 1);
  }
  if (Array.isArray(o.attributes) && o.attributes.some((kv) => isObject(kv) && tooDeep(kv.value))) {
    problems.push(`attributes nested deeper than ${MAX_DEPTH} levels`);
  }
  if (problems.length > 0) rec.invalid = problems.join("; ");
  return rec;
}

function stringField(v: unknown, field: string, problems: string[]): string {
  if (v === undefined || v === null) return "";
  if (typeof v !== "string") problems.push(`${field} is not a string`);
  return str(v);
}

/** Attributes of a resource or scope: entries that are not KeyValues are skipped, as for spans. */
function attrsJson(v: unknown): Attrs {
  return attrsOrProblem(Array.isArray(v) ? v : undefined, "attributes", []);
}

/** Whether an OTLP/JSON AnyValue nests arrays/kvlists deeper than the protobuf decoder accepts. */
function tooDeep(v: unknown): boolean {
  let level: unknown[] = [v];
  for (let depth = 1; level.length > 0; depth++) {
    if (depth > MAX_DEPTH) return true;
    const next: unknown[] = [];
    for (const x of level) {
      if (!isObject(x)) continue;
      const inner = isObject(x.arrayValue)
        ? x.arrayValue.values
        : isObject(x.kvlistValue)
          ? x.kvlistValue.values
          : null;
      if (!Array.isArray(inner)) continue;
      for (const item of inner) next.push(isObject(x.kvlistValue) && isObject(item) ? (item as Obj).value : item);
    }
    level = next;
  }
  return false;
}
