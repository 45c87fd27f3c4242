import {
  attrs,
  attrsOrProblem,
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
  type DecodedBuckets,
  type DecodedExemplar,
  type DecodedMetric,
  type DecodedMetrics,
  type DecodedPoint,
  type DecodedResourceMetrics,
  type DecodedScopeMetrics,
  emptyPoint,
  MAX_POINT_BUCKETS,
  type MetricKind,
} from "./metrics-model.ts";

/**
 * Decodes OTLP/JSON metrics. A body whose overall shape is wrong is a DecodeError (→ 400); a data
 * point with one bad field is marked `invalid` so that only it is rejected.
 */
export function decodeMetricsJson(text: string): DecodedMetrics {
  const doc = parseOtlpJson(text);
  const rm = doc.resourceMetrics ?? doc.resource_metrics;
  return { resourceMetrics: list(rm, "resourceMetrics").map(resourceMetrics) };
}

function resourceMetrics(v: unknown): DecodedResourceMetrics {
  const o = obj(v, "resourceMetrics[]");
  return {
    resource: o.resource === undefined ? {} : attrs(obj(o.resource, "resource").attributes),
    schemaUrl: str(o.schemaUrl ?? o.schema_url),
    scopeMetrics: list(o.scopeMetrics ?? o.scope_metrics, "scopeMetrics").map(scopeMetrics),
  };
}

function scopeMetrics(v: unknown): DecodedScopeMetrics {
  const o = obj(v, "scopeMetrics[]");
  const scope = isObject(o.scope) ? o.scope : {};
  return {
    scopeName: str(scope.name),
    scopeVersion: str(scope.version),
    scopeAttributes: attrs(scope.attributes),
    schemaUrl: str(o.schemaUrl ?? o.schema_url),
    metrics: list(o.metrics, "metrics").map(metric),
  };
}

const KIND_FIELDS: [MetricKind, string, string][] = [
  ["gauge", "gauge", "gauge"],
  ["sum", "sum", "sum"],
  ["histogram", "histogram", "histogram"],
  ["exponentialHistogram", "exponentialHistogram", "exponential_histogram"],
  ["summary", "summary", "summary"],
];

const TEMPORALITIES: Record<string, number> = {
  AGGREGATION_TEMPORALITY_UNSPECIFIED: 0,
  AGGREGATION_TEMPORALITY_DELTA: 1,
  AGGREGATION_TEMPORALITY_CUMULATIVE: 2,
};

function metric(v: unknown): DecodedMetric {
  const o = obj(v, "metrics[]");
  const m: DecodedMetric = {
    name: str(o.name),
    description: str(o.description),
    unit: str(o.unit),
    kind: null,
    temporality: 0,
    monotonic: false,
    points: [],
  };
  for (const [kind, camel, snake] of KIND_FIELDS) {
    const data = o[camel] ?? o[snake];
    if (data === undefined || data === null) continue;
    const d = obj(data, camel);
    m.kind = kind;
    const t = d.aggregationTemporality ?? d.aggregation_temporality;
    m.temporality =
      typeof t === "number" && Number.isInteger(t) ? t : typeof t === "string" ? (TEMPORALITIES[t] ?? 0) : 0;
    m.monotonic = (d.isMonotonic ?? d.is_monotonic) === true;
    m.points = list(d.dataPoints ?? d.data_points, `${camel}.dataPoints`).map((p) => point(p, kind));
  }
  return m;
}

/** A double as OTLP/JSON writes it: a number, or "NaN", "Infinity", "-Infinity" as strings. */
function double(v: unknown, field: string, problems: string[]): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === "number") return v;
  if (v === "NaN") return Number.NaN;
  if (v === "Infinity") return Number.POSITIVE_INFINITY;
  if (v === "-Infinity") return Number.NEGATIVE_INFINITY;
  if (typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v))) return Number(v);
  problems.push(`${field} is not a number`);
  return 0;
}

/** An int64 / uint64 as a string or number; kept as a double. */
function integer(v: unknown, field: string, problems: string[], unsigned: boolean): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === "number" && Number.isInteger(v) && (!unsigned || v >= 0)) return v;
  if (typeof v === "string" && (unsigned ? /^\d{1,20}$/ : /^-?\d{1,19}$/).test(v)) return Number(v);
  problems.push(`${field} is not an ${unsigned ? "unsigned " : ""}integer`);
  return 0;
}

function numbers(v: unknown, field: string, problems: string[], each: (x: unknown) => number): number[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) {
    problems.push(`${field} must be an array`);
    return [];
  }
  if (v.length > MAX_POINT_BUCKETS) {
    problems.push(`more than ${MAX_POINT_BUCKETS} buckets in one data point`);
    return [];
  }
  return v.map(each);
}

function buckets(v: unknown, field: string, problems: string[]): DecodedBuckets {
  if (v === undefined || v === null) return { offset: 0, counts: [] };
  if (!isObject(v)) {
    problems.push(`${field} must be an object`);
    return { offset: 0, counts: [] };
  }
  return {
    offset: integer(v.offset, `${field}.offset`, problems, false),
    counts: numbers(v.bucketCounts ?? v.bucket_counts, `${field}.bucketCounts`, problems, (x) =>
      integer(x, `${field}.bucketCounts`, problems, true),
    ),
  };
}

function exemplar(e: Obj, problems: string[]): DecodedExemplar {
  return {
    filteredAttributes: attrsOrProblem(
      e.filteredAttributes ?? e.filtered_attributes,
      "exemplars.filteredAttributes",
      problems,
    ),
    timeNs: nanos(e.timeUnixNano ?? e.time_unix_nano, "exemplars.timeUnixNano", problems),
    value:
      e.asInt !== undefined || e.as_int !== undefined
        ? integer(e.asInt ?? e.as_int, "exemplars.asInt", problems, false)
        : double(e.asDouble ?? e.as_double, "exemplars.asDouble", problems),
    spanId: hexId(e.spanId ?? e.span_id, "exemplars.spanId", problems),
    traceId: hexId(e.traceId ?? e.trace_id, "exemplars.traceId", problems),
  };
}

function point(v: unknown, kind: MetricKind): DecodedPoint {
  const o = obj(v, "dataPoints[]");
  const problems: string[] = [];
  const p = emptyPoint();
  p.attributes = attrsOrProblem(o.attributes, "attributes", problems);
  p.startNs = nanos(o.startTimeUnixNano ?? o.start_time_unix_nano, "startTimeUnixNano", problems);
  p.timeNs = nanos(o.timeUnixNano ?? o.time_unix_nano, "timeUnixNano", problems);
  p.flags = integer(o.flags, "flags", problems, true);
  for (const e of Array.isArray(o.exemplars) ? o.exemplars : [])
    if (isObject(e)) p.exemplars.push(exemplar(e, problems));
  if (kind === "gauge" || kind === "sum") {
    p.value =
      o.asInt !== undefined || o.as_int !== undefined
        ? integer(o.asInt ?? o.as_int, "asInt", problems, false)
        : double(o.asDouble ?? o.as_double, "asDouble", problems);
  } else {
    p.count = integer(o.count, "count", problems, true);
    p.sum = double(o.sum, "sum", problems);
  }
  if (kind === "histogram" || kind === "exponentialHistogram") {
    p.min = double(o.min, "min", problems);
    p.max = double(o.max, "max", problems);
  }
  if (kind === "histogram") {
    p.bucketCounts = numbers(o.bucketCounts ?? o.bucket_counts, "bucketCounts", problems, (x) =>
      integer(x, "bucketCounts", problems, true),
    );
    p.explicitBounds = numbers(o.explicitBounds ?? o.explicit_bounds, "explicitBounds", problems, (x) =>
      double(x, "explicitBounds", problems),
    );
  } else if (kind === "exponentialHistogram") {
    p.scale = integer(o.scale, "scale", problems, false);
    p.zeroCount = integer(o.zeroCount ?? o.zero_count, "zeroCount", problems, true);
    p.positive = buckets(o.positive, "positive", problems);
    p.negative = buckets(o.negative, "negative", problems);
  } else if (kind === "summary") {
    const qs = o.quantileValues ?? o.quantile_values;
    p.quantiles = numbers(qs, "quantileValues", problems, () => 0).length
      ? (qs as unknown[]).map((q) => {
          const x = isObject(q) ? q : {};
          return { quantile: double(x.quantile, "quantile", problems), value: double(x.value, "value", problems) };
        })
      : [];
  }
  if (problems.length > 0) p.invalid = problems.join("; ");
  return p;
}
