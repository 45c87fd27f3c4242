import { decodeMetricsJson } from "../otlp/decode-metrics-json.ts";
import { decodeMetricsProto } from "../otlp/decode-metrics-proto.ts";
import { countDataPoints, type DecodedMetrics } from "../otlp/metrics-model.ts";
import type { MetricsPipeline } from "../pipeline/metrics-ingest.ts";
import { decodeWith, type OtlpSignal } from "./otlp-common.ts";

export const METRICS_EXPORT_PATH = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";

/** Metrics on both receivers: `POST /v1/metrics` and MetricsService/Export. */
export function metricsSignal(pipeline: MetricsPipeline): OtlpSignal<DecodedMetrics> {
  return {
    name: "metrics",
    grpcPath: METRICS_EXPORT_PATH,
    items: "metric points",
    rejectedField: "rejectedDataPoints",
    decode: decodeWith(decodeMetricsProto, decodeMetricsJson),
    count: countDataPoints,
    writer: pipeline.writer,
    submit: (req, identity, transport) => pipeline.submit(req, identity, transport),
  };
}
