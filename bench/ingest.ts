/**
 * OTLP/protobuf ingest benchmark, end to end: a real `cognive start` process, realistic agent traces
 * from concurrent keep-alive connections, a success counted only once spans are durable; at the end the
 * stored row count is checked against the acknowledged spans.
 * `--protocol both` runs the same workload over OTLP/HTTP and then OTLP/gRPC, each on a fresh server,
 * and prints them side by side.
 * Each run reports the server's CPU seconds per 100k acknowledged spans (all its threads, from /proc)
 * and its peak RSS; `--connections 8,32` runs each count in turn (fresh server each), and the load
 * average is printed beside every figure (the machine may be shared). `--traces-per-request 73` sends
 * the 511-span requests of the peer comparison (bench/peers). `--ack wal` answers requests once their
 * rows are in the write-ahead log (COGNIVE_INGEST_ACK=wal) instead of in storage. The server counts
 * budgets in memory, or in Redis when REDIS_URL is set in the environment; each run reports how many
 * written spans governance had yet to count when the load ended, and waits for it (CPU counted).
 *   npm run bench:ingest -- [--protocol http|grpc|both] [--ack storage|wal] [--seconds 20] [--connections 8,32] [--traces-per-request 64] [--cpu-prof DIR] [--node-arg=--flag …]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { Agent } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createStorage } from "@cognive/collector";
import * as grpc from "@grpc/grpc-js";
import {
  cpuByThreadName,
  cpuProfArgs,
  cpuSeconds,
  freePort,
  loadAverage,
  machine,
  metricValue,
  metricZero,
  namedFigures,
  peakRssMiB,
  percentile,
  perEachByName,
  report,
  serverPids,
  spawnCognive,
  stopProcess,
  systemByThreadName,
  threadCpu,
  walDrained,
} from "./lib.ts";
import { buildTemplate, patched, send } from "./workload.ts";

const { values: args } = parseArgs({
  options: {
    seconds: { type: "string", default: "20" },
    warmup: { type: "string", default: "3" },
    connections: { type: "string", default: "8,32" },
    "traces-per-request": { type: "string", default: "64" },
    protocol: { type: "string", default: "http" },
    ack: { type: "string", default: "storage" },
    "cpu-prof": { type: "string" },
    "node-arg": { type: "string", multiple: true, default: [] },
  },
});
const SECONDS = Number(args.seconds);
if (args.ack !== "storage" && args.ack !== "wal") throw new Error(`--ack must be storage or wal, not ${args.ack}`);
const ACK = args.ack;
const WARMUP = Number(args.warmup);
const CONNECTION_COUNTS = args.connections.split(",").map(Number);
if (CONNECTION_COUNTS.some((n) => !Number.isInteger(n) || n < 1)) throw new Error("--connections is a list like 8,32");
const TRACES = Number(args["traces-per-request"]);
const PROTOCOLS = args.protocol === "both" ? (["http", "grpc"] as const) : ([args.protocol] as ("http" | "grpc")[]);
if (PROTOCOLS.some((p) => p !== "http" && p !== "grpc")) throw new Error("--protocol is http, grpc or both");
const TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

type Protocol = "http" | "grpc";
type Sender = (body: Buffer) => Promise<{ ok: boolean; retry: boolean; detail: string }>;

/** One exporter per connection: keep-alive HTTP/1.1 sockets, or gRPC channels of their own (as separate exporters would). */
function senders(
  protocol: Protocol,
  otlpPort: number,
  grpcPort: number,
  connections: number,
): { next(): Sender; close(): void } {
  if (protocol === "http") {
    const agent = new Agent({ keepAlive: true, maxSockets: connections });
    const sender: Sender = async (body) => {
      const res = await send(
        agent,
        otlpPort,
        "POST",
        "/v1/traces",
        { "content-type": "application/x-protobuf", "content-length": body.length },
        body,
      );
      const ok = res.status === 200 && res.body.length === 0;
      return { ok, retry: res.status === 429 || res.status === 503, detail: `${res.status}: ${res.body.toString()}` };
    };
    return { next: () => sender, close: () => agent.destroy() };
  }
  const clients: grpc.Client[] = [];
  return {
    next() {
      const client = new grpc.Client(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure(), {
        "grpc.use_local_subchannel_pool": 1,
        "grpc.max_send_message_length": -1,
      });
      clients.push(client);
      return (body) =>
        new Promise((resolve) => {
          client.makeUnaryRequest(
            TRACE_EXPORT,
            (b: Buffer) => b,
            (b: Buffer) => b,
            body,
            (err, reply) => {
              if (err) {
                const retry = err.code === grpc.status.UNAVAILABLE || err.code === grpc.status.RESOURCE_EXHAUSTED;
                resolve({ ok: false, retry, detail: `${grpc.status[err.code]}: ${err.details}` });
              } else resolve({ ok: (reply?.length ?? 0) === 0, retry: false, detail: "partial success" });
            },
          );
        });
    },
    close: () => {
      for (const c of clients) c.close();
    },
  };
}

async function runOnce(protocol: Protocol, tpl: ReturnType<typeof buildTemplate>, connections: number) {
  const dataDir = mkdtempSync(join(tmpdir(), "cognive-bench-"));
  const otlpPort = await freePort();
  const grpcPort = await freePort();
  const queryPort = await freePort();
  process.stdout.write(
    `ingest bench over ${protocol === "http" ? "OTLP/HTTP protobuf" : "OTLP/gRPC"}: ${tpl.spans} spans/request ` +
      `(${(tpl.payload.length / 1024).toFixed(0)} KiB), ${connections} connections, ${WARMUP}s warm-up + ${SECONDS}s\n`,
  );
  const child = await spawnCognive(
    {
      COGNIVE_DATA_DIR: dataDir,
      COGNIVE_OTLP_PORT: String(otlpPort),
      COGNIVE_GRPC_PORT: String(grpcPort),
      COGNIVE_PORT: String(queryPort),
      COGNIVE_INGEST_ACK: ACK,
    },
    [...cpuProfArgs(args["cpu-prof"]), ...(args["node-arg"] ?? [])],
  );
  const transport = senders(protocol, otlpPort, grpcPort, connections);
  const pids = serverPids(child.pid ?? 0);
  const loadBefore = loadAverage();
  // Server CPU over the whole load, warm-up included, against every acknowledged span: each worker
  // waits for its last answer, so no span's cost falls outside the interval and none is missing.
  const cpuAtStart = cpuSeconds(pids);
  const threadsAtStart = threadCpu(pids);
  let requestNo = 1;
  let acked = 0;
  let measuredAcked = 0;
  let refused = 0;
  const latencies: number[] = [];
  const started = performance.now();
  const warmEnd = started + WARMUP * 1000;
  const end = warmEnd + SECONDS * 1000;
  const cpuBefore = process.cpuUsage();
  let lastReport = started;

  async function worker() {
    const sender = transport.next();
    while (performance.now() < end) {
      const body = patched(tpl, requestNo++);
      const t0 = performance.now();
      const res = await sender(body);
      const t1 = performance.now();
      if (res.ok) {
        acked += tpl.spans;
        if (t0 >= warmEnd) {
          measuredAcked += tpl.spans;
          latencies.push(t1 - t0);
        }
      } else {
        refused++;
        if (!res.retry) throw new Error(`unexpected ${res.detail}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      if (t1 - lastReport > 2000) {
        lastReport = t1;
        const secs = Math.max(0.001, (t1 - warmEnd) / 1000);
        process.stdout.write(
          t1 < warmEnd
            ? `  warming up… ${acked} spans\n`
            : `  ${secs.toFixed(0)}s: ${Math.round(measuredAcked / secs)} spans/s\n`,
        );
      }
    }
  }
  await Promise.all(Array.from({ length: connections }, worker));
  const measuredSeconds = (performance.now() - warmEnd) / 1000;
  const clientCpu = process.cpuUsage(cpuBefore);
  // Answered after the log, spans may still wait for their load: the CPU counted includes it, and
  // the wait shows whether storage kept up (a backlog growing with the run's length would not).
  // Likewise budgets: how many written spans governance had yet to count, and how long it took to.
  const otlpUrl = `http://127.0.0.1:${otlpPort}`;
  const governanceBehind = await metricValue(otlpUrl, "cognive_governance_pending_spans");
  const drainStarted = performance.now();
  if (ACK === "wal") await walDrained(otlpUrl);
  const drainSeconds = (performance.now() - drainStarted) / 1000;
  await metricZero(otlpUrl, "cognive_governance_pending_spans", "governance did not count the written spans");
  const governanceSeconds = (performance.now() - drainStarted) / 1000;
  const serverCpu = cpuSeconds(pids) - cpuAtStart;
  const threadsAtEnd = threadCpu(pids);
  const byThread = cpuByThreadName(threadsAtStart, threadsAtEnd, serverCpu);
  const systemByThread = systemByThreadName(threadsAtStart, threadsAtEnd);
  const loadAfter = loadAverage();
  const peakRss = Math.max(...pids.map((p) => (p ? peakRssMiB(p) : 0)).filter((n) => !Number.isNaN(n)));
  transport.close();
  const metricsText = await (await fetch(`http://127.0.0.1:${otlpPort}/metrics`)).text();
  const metric = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(metricsText)?.[1] ?? Number.NaN);
  const inserts = metric("cognive_write_batch_rows_count");
  const meanBatchRows = Math.round(metric("cognive_write_batch_rows_sum") / inserts);
  const meanWriteMs =
    (metric("cognive_write_duration_seconds_sum") / metric("cognive_write_duration_seconds_count")) * 1000;
  // With the log, the writer's "inserts" are appends; the loads are the inserts into storage.
  const walLoads = metric("cognive_wal_loads_total");

  // SIGTERM right after the load: the stop flushes what is queued and gives governance its bounded time.
  const stopStarted = performance.now();
  await stopProcess(child);
  const stopSeconds = (performance.now() - stopStarted) / 1000;

  // Re-open the data directory in this process and count what is really stored.
  const storage = createStorage({ dataDir, database: "cognive" });
  const rs = await storage.client.query({
    query: "SELECT count() AS n FROM cognive.otel_traces",
    format: "JSONEachRow",
  });
  const stored = Number(((await rs.json()) as { n: string }[])[0].n);
  await storage.close();
  rmSync(dataDir, { recursive: true, force: true });

  latencies.sort((a, b) => a - b);
  return {
    bench: "ingest",
    protocol,
    date: new Date().toISOString(),
    stopSeconds,
    drainSeconds,
    governanceBehind,
    governanceSeconds,
    machine: machine(),
    params: {
      seconds: SECONDS,
      warmup: WARMUP,
      connections,
      ack: ACK,
      spansPerRequest: tpl.spans,
      payloadBytes: tpl.payload.length,
    },
    spansPerSecond: Math.round(measuredAcked / measuredSeconds),
    acknowledgedSpans: acked,
    storedRows: stored,
    storedMatchesAcknowledged: stored === acked,
    requests: latencies.length,
    refusedRequests: refused,
    latencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1) ?? Number.NaN },
    serverPeakRssMiB: peakRss,
    serverCpuSecondsPer100kSpans: (serverCpu * 1e5) / acked,
    serverCpuUsPerSpan: (serverCpu * 1e6) / acked,
    /** The same CPU by thread name: the JavaScript main thread, the store's pools, V8's helpers. */
    serverCpuUsPerSpanByThread: perEachByName(byThread, acked, 1e6, 1),
    /** Of it, the kernel's time (the log's writes, page faults): where an allocator or a write path shows. */
    serverSystemUsPerSpanByThread: perEachByName(systemByThread, acked, 1e6, 1),
    loadAverage: { before: loadBefore, after: loadAfter },
    storageInserts: ACK === "wal" ? walLoads : inserts,
    walAppends: ACK === "wal" ? inserts : undefined,
    meanBatchRows,
    meanInsertMs: meanWriteMs,
    clientCpuSeconds: (clientCpu.user + clientCpu.system) / 1e6,
  };
}

async function main() {
  const tpl = buildTemplate(TRACES);
  const results: Awaited<ReturnType<typeof runOnce>>[] = [];
  for (const connections of CONNECTION_COUNTS)
    for (const protocol of PROTOCOLS) results.push(await runOnce(protocol, tpl, connections));
  const column = (f: (r: (typeof results)[number]) => string) => results.map(f).join("  |  ");
  const rows: [string, string][] = [
    [
      "protocol × connections",
      column((r) => `${r.protocol === "http" ? "OTLP/HTTP protobuf" : "OTLP/gRPC"} × ${r.params.connections}`),
    ],
    ["acknowledged spans/s", column((r) => String(r.spansPerSecond))],
    ["acknowledged spans (total)", column((r) => String(r.acknowledgedSpans))],
    [
      "rows stored",
      column((r) => `${r.storedRows} ${r.storedMatchesAcknowledged ? "(= acknowledged)" : "(MISMATCH)"}`),
    ],
    ...(ACK === "wal"
      ? [
          [
            "log loaded into storage after the load (counted in the CPU)",
            column((r) => `${r.drainSeconds.toFixed(1)} s`),
          ] as [string, string],
        ]
      : []),
    [
      "governance: spans not yet counted at the end of the load, then counted after",
      column((r) => `${r.governanceBehind}, ${r.governanceSeconds.toFixed(1)} s`),
    ],
    ["stop after the load (SIGTERM → exit)", column((r) => `${r.stopSeconds.toFixed(1)} s`)],
    ["requests refused (retryable)", column((r) => String(r.refusedRequests))],
    ["request latency p50", column((r) => `${r.latencyMs.p50.toFixed(1)} ms`)],
    ["request latency p99", column((r) => `${r.latencyMs.p99.toFixed(1)} ms`)],
    ["server peak RSS", column((r) => `${r.serverPeakRssMiB} MiB`)],
    [
      "server CPU per 100k spans",
      column((r) => `${r.serverCpuSecondsPer100kSpans.toFixed(2)} s (${r.serverCpuUsPerSpan.toFixed(1)} µs/span)`),
    ],
    ["server CPU µs/span by thread (top 6)", column((r) => namedFigures(r.serverCpuUsPerSpanByThread, 6))],
    ["of it in the kernel (top 6)", column((r) => namedFigures(r.serverSystemUsPerSpanByThread, 6))],
    ["load average (1 min) before / after", column((r) => `${r.loadAverage.before} / ${r.loadAverage.after}`)],
    [
      "storage inserts",
      column((r) =>
        r.walAppends === undefined
          ? `${r.storageInserts}, mean ${r.meanBatchRows} rows, mean ${r.meanInsertMs.toFixed(0)} ms`
          : `${r.storageInserts} loads from the log, mean ${Math.round(r.acknowledgedSpans / r.storageInserts)} rows; ` +
            `${r.walAppends} appends, mean ${r.meanBatchRows} rows, mean ${r.meanInsertMs.toFixed(0)} ms`,
      ),
    ],
    ["bench client CPU", column((r) => `${r.clientCpuSeconds.toFixed(1)} s of ${r.params.seconds} s`)],
  ];
  const summary = { ...results[0], runs: results };
  report("ingest", rows, summary);
  if (results.some((r) => !r.storedMatchesAcknowledged)) process.exitCode = 1;
}
main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
