/**
 * OTLP/protobuf ingest benchmark, end to end: a real `cognive start` process, realistic agent traces
 * from concurrent keep-alive connections, a 200 counted only once spans are durable; at the end the
 * stored row count is checked against the acknowledged spans.
 *   npm run bench:ingest -- [--seconds 20] [--connections 8] [--traces-per-request 64] [--cpu-prof DIR] [--node-arg=--flag …]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { Agent } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createStorage } from "@cognive/collector";
import { freePort, machine, peakRssMiB, percentile, report, serverPids, spawnCognive, stopProcess } from "./lib.ts";
import { buildTemplate, patched, send } from "./workload.ts";

const { values: args } = parseArgs({
  options: {
    seconds: { type: "string", default: "20" },
    warmup: { type: "string", default: "3" },
    connections: { type: "string", default: "8" },
    "traces-per-request": { type: "string", default: "64" },
    "cpu-prof": { type: "string" },
    "node-arg": { type: "string", multiple: true, default: [] },
  },
});
const SECONDS = Number(args.seconds);
const WARMUP = Number(args.warmup);
const CONNECTIONS = Number(args.connections);
const TRACES = Number(args["traces-per-request"]);

async function main() {
  const tpl = buildTemplate(TRACES);
  const dataDir = mkdtempSync(join(tmpdir(), "cognive-bench-"));
  const otlpPort = await freePort();
  const queryPort = await freePort();
  process.stdout.write(
    `ingest bench: ${tpl.spans} spans/request (${(tpl.payload.length / 1024).toFixed(0)} KiB), ` +
      `${CONNECTIONS} connections, ${WARMUP}s warm-up + ${SECONDS}s\n`,
  );
  const child = await spawnCognive(
    { COGNIVE_DATA_DIR: dataDir, COGNIVE_OTLP_PORT: String(otlpPort), COGNIVE_PORT: String(queryPort) },
    [...(args["cpu-prof"] ? ["--cpu-prof", `--cpu-prof-dir=${args["cpu-prof"]}`] : []), ...(args["node-arg"] ?? [])],
  );
  const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });
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
    while (performance.now() < end) {
      const body = patched(tpl, requestNo++);
      const t0 = performance.now();
      const res = await send(
        agent,
        otlpPort,
        "POST",
        "/v1/traces",
        {
          "content-type": "application/x-protobuf",
          "content-length": body.length,
        },
        body,
      );
      const t1 = performance.now();
      if (res.status === 200 && res.body.length === 0) {
        acked += tpl.spans;
        if (t0 >= warmEnd) {
          measuredAcked += tpl.spans;
          latencies.push(t1 - t0);
        }
      } else {
        refused++;
        if (res.status !== 429 && res.status !== 503)
          throw new Error(`unexpected ${res.status}: ${res.body.toString()}`);
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
  await Promise.all(Array.from({ length: CONNECTIONS }, worker));
  const measuredSeconds = (performance.now() - warmEnd) / 1000;
  const clientCpu = process.cpuUsage(cpuBefore);
  const pids = serverPids(child.pid ?? 0);
  const peakRss = Math.max(...pids.map((p) => (p ? peakRssMiB(p) : 0)).filter((n) => !Number.isNaN(n)));
  agent.destroy();
  const metricsText = await (await fetch(`http://127.0.0.1:${otlpPort}/metrics`)).text();
  const metric = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(metricsText)?.[1] ?? Number.NaN);
  const inserts = metric("cognive_write_batch_rows_count");
  const meanBatchRows = Math.round(metric("cognive_write_batch_rows_sum") / inserts);
  const meanWriteMs =
    (metric("cognive_write_duration_seconds_sum") / metric("cognive_write_duration_seconds_count")) * 1000;

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
  const result = {
    bench: "ingest",
    date: new Date().toISOString(),
    stopSeconds,
    machine: machine(),
    params: {
      seconds: SECONDS,
      warmup: WARMUP,
      connections: CONNECTIONS,
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
    storageInserts: inserts,
    meanBatchRows,
    meanInsertMs: meanWriteMs,
    clientCpuSeconds: (clientCpu.user + clientCpu.system) / 1e6,
  };
  const rows: [string, string][] = [
    ["acknowledged spans/s", String(result.spansPerSecond)],
    ["acknowledged spans (total)", String(acked)],
    ["rows stored", `${stored} ${stored === acked ? "(= acknowledged)" : "(MISMATCH)"}`],
    ["stop after the load (SIGTERM → exit)", `${stopSeconds.toFixed(1)} s`],
    ["requests refused (429/503)", String(refused)],
    ["request latency p50", `${result.latencyMs.p50.toFixed(1)} ms`],
    ["request latency p99", `${result.latencyMs.p99.toFixed(1)} ms`],
    ["server peak RSS", `${peakRss} MiB`],
    ["storage inserts", `${inserts}, mean ${meanBatchRows} rows, mean ${meanWriteMs.toFixed(0)} ms`],
    ["bench client CPU", `${result.clientCpuSeconds.toFixed(1)} s of ${measuredSeconds.toFixed(1)} s`],
  ];
  report("ingest", rows, result);
  if (stored !== acked) process.exitCode = 1;
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
