import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** The collector's own Prometheus metrics, one registry per process. */
export function createCollectorMetrics(registry = new Registry()) {
  collectDefaultMetrics({ register: registry, prefix: "cognive_process_" });
  return {
    registry,
    spansReceived: new Counter({
      name: "cognive_spans_received_total",
      help: "Spans received in OTLP requests that could be decoded",
      labelNames: ["transport"],
      registers: [registry],
    }),
    spansAccepted: new Counter({
      name: "cognive_spans_accepted_total",
      help: "Spans acknowledged after being written to storage",
      registers: [registry],
    }),
    spansRejected: new Counter({
      name: "cognive_spans_rejected_total",
      help: "Spans refused, by reason",
      labelNames: ["reason"],
      registers: [registry],
    }),
    spansDuplicate: new Counter({
      name: "cognive_spans_duplicate_total",
      help: "Spans dropped because the same trace and span id was already written (client retries)",
      registers: [registry],
    }),
    spansUnpriced: new Counter({
      name: "cognive_spans_unpriced_total",
      help: "LLM call spans stored without a cost because no price is known for their model",
      registers: [registry],
    }),
    spansUsageInvalid: new Counter({
      name: "cognive_spans_usage_invalid_total",
      help: "Model calls stored unpriced because their reported token usage was above the plausible ceiling",
      registers: [registry],
    }),
    metricPointsReceived: new Counter({
      name: "cognive_metric_points_received_total",
      help: "OTLP metric data points received in requests that could be decoded",
      labelNames: ["transport"],
      registers: [registry],
    }),
    metricPointsAccepted: new Counter({
      name: "cognive_metric_points_accepted_total",
      help: "OTLP metric data points acknowledged after being written to storage",
      registers: [registry],
    }),
    metricPointsRejected: new Counter({
      name: "cognive_metric_points_rejected_total",
      help: "OTLP metric data points refused, by reason",
      labelNames: ["reason"],
      registers: [registry],
    }),
    logsReceived: new Counter({
      name: "cognive_log_records_received_total",
      help: "Log records received in OTLP requests that could be decoded",
      labelNames: ["transport"],
      registers: [registry],
    }),
    logsAccepted: new Counter({
      name: "cognive_log_records_accepted_total",
      help: "Log records acknowledged after being written to storage",
      registers: [registry],
    }),
    logsRejected: new Counter({
      name: "cognive_log_records_rejected_total",
      help: "Log records refused, by reason",
      labelNames: ["reason"],
      registers: [registry],
    }),
    requestsAborted: new Counter({
      name: "cognive_otlp_requests_aborted_total",
      help: "OTLP requests whose client went away before the body was read",
      registers: [registry],
    }),
    requests: new Counter({
      name: "cognive_otlp_requests_total",
      help: "OTLP export requests by HTTP status",
      labelNames: ["signal", "status"],
      registers: [registry],
    }),
    batchRows: new Histogram({
      name: "cognive_write_batch_rows",
      help: "Rows per storage insert (group commit size)",
      buckets: [1, 10, 100, 1000, 5000, 10000, 25000, 50000, 100000],
      registers: [registry],
    }),
    writeSeconds: new Histogram({
      name: "cognive_write_duration_seconds",
      help: "Storage insert latency",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    writeFailures: new Counter({
      name: "cognive_write_failures_total",
      help: "Storage inserts that failed",
      registers: [registry],
    }),
    queuedRows: new Gauge({
      name: "cognive_write_queue_rows",
      help: "Rows accepted for writing but not yet committed",
      registers: [registry],
    }),
  };
}

export type CollectorMetrics = ReturnType<typeof createCollectorMetrics>;
