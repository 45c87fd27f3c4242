import type { HttpBindings } from "@hono/node-server";
import { Hono } from "hono";
import { answersWithin } from "./async.ts";
import type { AuthRuntime } from "./auth/runtime.ts";
import type { EnvConfig } from "./config.ts";
import { type GovernanceRuntime, registerGovernanceMetrics } from "./governance/runtime.ts";
import type { Logger } from "./log.ts";
import { type CollectorMetrics, createCollectorMetrics, registerAuthMetrics, registerWalMetrics } from "./metrics.ts";
import { createPipeline, groupCommitExporter, type IngestPipeline } from "./pipeline/ingest.ts";
import { LogPipeline } from "./pipeline/logs.ts";
import { MetricsPipeline } from "./pipeline/metrics-ingest.ts";
import { defaultSpanLimits } from "./pipeline/normalize.ts";
import { type PolicyProcessorsOptions, policyProcessors, policyProcessorsModule } from "./pipeline/processors.ts";
import type { Policy } from "./policy.ts";
import { logSignal, type OtlpSignal, traceSignal } from "./receiver/otlp-common.ts";
import { otlpHttpRoutes } from "./receiver/otlp-http.ts";
import { metricsSignal } from "./receiver/otlp-metrics.ts";
import { probeStorage, type Storage } from "./storage/client.ts";
import type { WriteAheadLog } from "./storage/wal.ts";

export interface Collector {
  app: Hono<{ Bindings: Partial<HttpBindings> }>;
  pipeline: IngestPipeline;
  /** What the OTLP receivers (HTTP and gRPC) accept; a new signal is one more entry. */
  signals: OtlpSignal<any>[];
  metrics: CollectorMetrics;
  close(): Promise<void>;
}

/** Wires receiver → pipeline → writer for one process. */
export function createCollector(deps: {
  storage: Storage;
  config: EnvConfig;
  policy: Policy;
  log: Logger;
  /** Budgets, policies and alerts on what was stored. */
  governance?: GovernanceRuntime;
  /** Keys and rate limits: the one identity step of ingest. Without it every request is anonymous. */
  auth?: AuthRuntime;
  /** Span rows go to this write-ahead log, and requests are answered once they are in it (`COGNIVE_INGEST_ACK=wal`). */
  wal?: WriteAheadLog;
}): Collector {
  const { storage, config, policy, log } = deps;
  const metrics = createCollectorMetrics();
  // The span processors, built from plain data so that each stage worker can build the same ones.
  const processing: PolicyProcessorsOptions = {
    agents: [...policy.agents].map(([name, a]) => [name, { team: a.team }]),
    priceOverrides: policy.priceOverrides,
  };
  const writer = {
    maxBatchRows: config.COGNIVE_BATCH_MAX_ROWS,
    maxBatchBytes: 64 * 1024 * 1024,
    lingerMs: config.COGNIVE_BATCH_LINGER_MS,
    gatherMs: config.COGNIVE_BATCH_GATHER_MS,
    maxQueuedRows: config.COGNIVE_QUEUE_MAX_ROWS,
    // Embedded, two inserts at once slow each other more than twice on the cores they share with
    // the pipeline (bench/RESULTS.md, 2026-12-04); a server's inserts overlap its network time.
    // The log syncs one append at a time.
    maxConcurrentWrites: deps.wal ? 1 : (config.COGNIVE_WRITE_CONCURRENCY ?? (storage.kind === "chdb" ? 1 : 2)),
    minConcurrentBatchRows: config.COGNIVE_BATCH_MIN_CONCURRENT_ROWS,
  };
  const limits = {
    ...defaultSpanLimits,
    maxTokensPerCall: config.COGNIVE_MAX_TOKENS_PER_CALL,
    maxDaysPerRequest: config.COGNIVE_MAX_DAYS_PER_REQUEST,
  };
  const pipeline = createPipeline({
    storage,
    processors: policyProcessors(processing),
    workers: { count: config.COGNIVE_INGEST_WORKERS, processors: policyProcessorsModule(processing) },
    exporter: groupCommitExporter(deps.wal?.storage ?? storage, writer, log, config.COGNIVE_INSERT_FORMAT),
    onDurable: deps.governance?.governance.onDurable ?? null,
    metrics,
    log,
    dedupCapacity: config.COGNIVE_DEDUP_CAPACITY,
    retryWindowMinutes: config.COGNIVE_RETRY_WINDOW_MINUTES,
    limits,
  });
  // The budget reconciler compares storage with the counters: it must wait for spans in flight.
  deps.governance?.governance.follow(pipeline);
  const logs = new LogPipeline(storage, metrics, log, writer, policy, limits);
  const metricsPipeline = new MetricsPipeline(storage, metrics, log, policy);
  // While storage is failing, a probe every second finds when it is writable again.
  const probe = () => pipeline.writer.probe();
  const probeTimer = setInterval(() => {
    if (!pipeline.writer.healthy) void probe();
    if (!logs.writer.healthy) void logs.writer.probe();
    if (!metricsPipeline.writer.healthy) void metricsPipeline.writer.probe();
  }, 1000);
  probeTimer.unref();
  if (deps.auth) registerAuthMetrics(metrics.registry, deps.auth.limited);
  if (deps.wal) registerWalMetrics(metrics.registry, deps.wal);
  if (deps.governance) {
    registerGovernanceMetrics(metrics.registry, deps.governance);
  }
  const signals: OtlpSignal<any>[] = [traceSignal(pipeline), logSignal(logs), metricsSignal(metricsPipeline)];
  const app = new Hono<{ Bindings: Partial<HttpBindings> }>();
  app.route(
    "/",
    otlpHttpRoutes({
      signals,
      metrics,
      log,
      config: { maxBodyBytes: config.COGNIVE_MAX_BODY_BYTES, retryAfterSeconds: 2 },
      auth: deps.auth ?? null,
    }),
  );
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  // Ready means storage answers now, probed, not that the last export happened to succeed.
  app.get("/readyz", async (c) => {
    let problem = pipeline.writer.unavailableReason;
    if (problem !== null && (await probe())) problem = null;
    problem ??= deps.wal?.problem ?? null;
    if (problem === null && !(await answersWithin(probeStorage(storage), 2000))) {
      problem = "storage does not answer within 2 s";
    }
    return problem === null
      ? c.json({ status: "ready" })
      : c.json({ error: { code: "storage_unavailable", message: problem } }, 503);
  });
  app.get("/metrics", async (c) => {
    metrics.queuedRows.set(pipeline.writer.queuedRows);
    return c.body(await metrics.registry.metrics(), 200, { "content-type": metrics.registry.contentType });
  });
  app.notFound((c) =>
    c.json({ error: { code: "not_found", message: `no route for ${c.req.method} ${c.req.path}` } }, 404),
  );
  app.onError((err, c) => {
    log.error("collector request failed", { err, path: c.req.path });
    return c.json({ error: { code: "internal", message: "internal error" } }, 500);
  });
  return {
    app,
    pipeline,
    signals,
    metrics,
    close: () => {
      clearInterval(probeTimer);
      return Promise.all([pipeline.close(), logs.close()]).then(() => {});
    },
  };
}
