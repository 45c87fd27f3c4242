import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/**
 * A registry with the standard process and Node.js metrics (`process_cpu_seconds_total`,
 * `nodejs_heap_size_used_bytes`, ...), unprefixed so stock dashboards and alerts match them.
 */
export function processRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // Gauges named like counters; the same figures stay by type in nodejs_active_{handles,requests,resources}.
  for (const name of ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"]) {
    registry.removeSingleMetric(name);
  }
  return registry;
}

/**
 * A counter whose value is a running count kept elsewhere, read at scrape time: a number, or one
 * number per value of `labelName`.
 */
export function countedAtScrape(
  registry: Registry,
  name: string,
  help: string,
  read: () => number | Record<string, number>,
  labelName?: string,
): Counter {
  return new Counter({
    name,
    help,
    labelNames: labelName ? [labelName] : [],
    registers: [registry],
    collect() {
      this.reset();
      const value = read();
      if (typeof value === "number") this.inc(value);
      else for (const [label, n] of Object.entries(value)) this.inc({ [labelName as string]: label }, n);
    },
  });
}

/** Requests refused by per-key rate limits, on whichever port serves the process's metrics. */
export function registerAuthMetrics(registry: Registry, limited: { requests: number; spans: number }): void {
  countedAtScrape(
    registry,
    "cognive_rate_limited_total",
    "Requests refused with 429 by per-key rate limits (query API and ingest), by kind of limit",
    () => ({ requests: limited.requests, spans: limited.spans }),
    "kind",
  );
}

/** The write-ahead log's figures (`COGNIVE_INGEST_ACK=wal`), read at each scrape. */
export function registerWalMetrics(
  registry: Registry,
  wal: { waitingBytes: number; stats: { loads: number; rejectedRecords: number } },
): void {
  new Gauge({
    name: "cognive_wal_waiting_bytes",
    help: "Bytes of acknowledged span rows in the write-ahead log, not yet loaded into storage",
    registers: [registry],
    collect() {
      this.set(wal.waitingBytes);
    },
  });
  countedAtScrape(
    registry,
    "cognive_wal_loads_total",
    "Loads from the write-ahead log into storage",
    () => wal.stats.loads,
  );
  countedAtScrape(
    registry,
    "cognive_wal_rejected_records_total",
    "Write-ahead log records storage refused for their data, kept in the log's rejected/ directory",
    () => wal.stats.rejectedRecords,
  );
}

/** The collector's own Prometheus metrics, one registry per process. */
export function createCollectorMetrics(registry = processRegistry()) {
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
