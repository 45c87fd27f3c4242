import type { Attrs } from "@cognive/semconv";

/** The five OTLP metric data kinds; null when a metric carried none (it is then rejected). */
export type MetricKind = "gauge" | "sum" | "histogram" | "exponentialHistogram" | "summary";

/** AggregationTemporality: 0 unspecified, 1 delta, 2 cumulative. */
export const TEMPORALITY_DELTA = 1;
export const TEMPORALITY_CUMULATIVE = 2;

/** DataPointFlags.FLAG_NO_RECORDED_VALUE: the point marks a series gone stale, it holds no value. */
export const FLAG_NO_RECORDED_VALUE = 1;

export interface DecodedExemplar {
  filteredAttributes: Attrs;
  timeNs: bigint;
  value: number;
  spanId: string;
  traceId: string;
}

export interface DecodedBuckets {
  offset: number;
  counts: number[];
}

/** One data point of any kind; the fields of the other kinds stay at their zero values. */
export interface DecodedPoint {
  attributes: Attrs;
  startNs: bigint;
  timeNs: bigint;
  flags: number;
  exemplars: DecodedExemplar[];
  /** Gauge and sum. Integers are kept as doubles, as the ClickHouse exporter stores them. */
  value: number;
  /** Histograms and summaries. */
  count: number;
  sum: number;
  min: number;
  max: number;
  bucketCounts: number[];
  explicitBounds: number[];
  scale: number;
  zeroCount: number;
  positive: DecodedBuckets;
  negative: DecodedBuckets;
  quantiles: { quantile: number; value: number }[];
  /** Set by a decoder when one field of the point was unusable; the point is then rejected alone. */
  invalid?: string;
}

export interface DecodedMetric {
  name: string;
  description: string;
  unit: string;
  kind: MetricKind | null;
  temporality: number;
  monotonic: boolean;
  points: DecodedPoint[];
}

export interface DecodedScopeMetrics {
  scopeName: string;
  scopeVersion: string;
  scopeAttributes: Attrs;
  schemaUrl: string;
  metrics: DecodedMetric[];
}

export interface DecodedResourceMetrics {
  resource: Attrs;
  schemaUrl: string;
  scopeMetrics: DecodedScopeMetrics[];
}

/** An OTLP ExportMetricsServiceRequest. */
export interface DecodedMetrics {
  resourceMetrics: DecodedResourceMetrics[];
}

/** Most buckets (or quantiles) one point may carry; a longer array rejects the point. */
export const MAX_POINT_BUCKETS = 4096;

export function emptyPoint(): DecodedPoint {
  return {
    attributes: {},
    startNs: 0n,
    timeNs: 0n,
    flags: 0,
    exemplars: [],
    value: 0,
    count: 0,
    sum: 0,
    min: 0,
    max: 0,
    bucketCounts: [],
    explicitBounds: [],
    scale: 0,
    zeroCount: 0,
    positive: { offset: 0, counts: [] },
    negative: { offset: 0, counts: [] },
    quantiles: [],
  };
}

/** Data points of a request (what partial_success counts and the rate limit charges). */
export function countDataPoints(req: DecodedMetrics): number {
  let n = 0;
  for (const rm of req.resourceMetrics)
    for (const sm of rm.scopeMetrics) for (const m of sm.metrics) n += m.points.length;
  return n;
}
