/**
 * Side-by-side ingest: the same Go load generator (bench/peers/loadgen) sends the same 511-span
 * OTLP/protobuf requests (bench/workload.ts's agent runs, trace ids and times patched per request) to
 * each target in turn, from N keep-alive connections. Per target and connection count: acknowledged
 * spans/s, the target's CPU per span (all its threads, from /proc) and its peak RSS, and the ratio to
 * Cognive. Targets:
 *   cognive   a fresh `cognive start` (embedded chDB); a span counts once durable, and the stored
 *             rows are compared with the acknowledged spans at the end
 *   cognive-wal  the same, answering once spans are in its write-ahead log (COGNIVE_INGEST_ACK=wal)
 *   otelcol   the OpenTelemetry Collector with the file exporter (bench/peers/build-otelcol.sh)
 *   external  any OTLP/HTTP receiver already running: --external-url and --external-pid (its CPU is
 *             read from /proc), e.g. a Grafana Tempo built by hand
 *   npx tsx bench/peers/run.ts [--targets cognive,otelcol] [--connections 8,32] [--seconds 20] [--warmup 3]
 *     [--rounds 1] [--external-name tempo --external-url http://127.0.0.1:4318/v1/traces --external-pid PID]
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createStorage } from "@cognive/collector";
import {
  cpuSeconds,
  freePort,
  loadAverage,
  machine,
  peakRssMiB,
  ROOT,
  report,
  serverPids,
  spawnCognive,
  stopProcess,
  walDrained,
} from "../lib.ts";
import { buildTemplate } from "../workload.ts";

const { values: args } = parseArgs({
  options: {
    targets: { type: "string", default: "cognive,otelcol" },
    connections: { type: "string", default: "8,32" },
    seconds: { type: "string", default: "20" },
    warmup: { type: "string", default: "3" },
    rounds: { type: "string", default: "1" },
    "traces-per-request": { type: "string", default: "73" },
    "external-name": { type: "string", default: "external" },
    "external-url": { type: "string" },
    "external-pid": { type: "string" },
  },
});
const TARGETS = args.targets.split(",");
const CONNECTIONS = args.connections.split(",").map(Number);
for (const t of TARGETS)
  if (!["cognive", "cognive-wal", "otelcol", "external"].includes(t))
    throw new Error(`unknown target ${t}: cognive, cognive-wal, otelcol, external`);
if (TARGETS.includes("external") && !(args["external-url"] && Number(args["external-pid"]) > 0))
  throw new Error("--targets external needs --external-url and --external-pid");
const HERE = join(ROOT, "bench", "peers");
/** Where the load generator's binary is kept (outside the repository). */
const CACHE = join(homedir(), ".cache", "cognive", "peers");

interface LoadgenResult {
  spansPerSecond: number;
  ackedSpans: number;
  measuredSpans: number;
  requests: number;
  refused: number;
  failed: number;
  p50Ms: number;
  p99Ms: number;
}

/** A running target: where to send, whose CPU to count, how to stop it and check what it kept. */
interface Target {
  url: string;
  pids: number[];
  stop(): Promise<void>;
  /** Rows stored, when the target can tell (Cognive). */
  stored?(): Promise<number>;
  /** Resolves once what was answered is in storage (Cognive answering after its log), so its CPU counts. */
  drained?(): Promise<void>;
}

function waitForPort(port: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const s = connect(port, "127.0.0.1");
      s.once("connect", () => {
        s.destroy();
        resolve();
      });
      s.once("error", () => {
        s.destroy();
        if (Date.now() > deadline) reject(new Error(`port ${port} not open after ${timeoutMs} ms`));
        else setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}

async function startTarget(name: string): Promise<Target> {
  if (name === "cognive" || name === "cognive-wal") {
    const dataDir = mkdtempSync(join(tmpdir(), "cognive-peers-"));
    const otlpPort = await freePort();
    const child = await spawnCognive({
      COGNIVE_DATA_DIR: dataDir,
      COGNIVE_OTLP_PORT: String(otlpPort),
      COGNIVE_GRPC_PORT: String(await freePort()),
      COGNIVE_PORT: String(await freePort()),
      COGNIVE_INGEST_ACK: name === "cognive-wal" ? "wal" : "storage",
    });
    let stored = 0;
    return {
      url: `http://127.0.0.1:${otlpPort}/v1/traces`,
      drained: name === "cognive-wal" ? () => walDrained(`http://127.0.0.1:${otlpPort}`) : undefined,
      pids: serverPids(child.pid ?? 0),
      async stop() {
        await stopProcess(child);
        const storage = createStorage({ dataDir, database: "cognive" });
        const rs = await storage.client.query({
          query: "SELECT count() AS n FROM cognive.otel_traces",
          format: "JSONEachRow",
        });
        stored = Number(((await rs.json()) as { n: string }[])[0].n);
        await storage.close();
        rmSync(dataDir, { recursive: true, force: true });
      },
      stored: async () => stored,
    };
  }
  if (name === "otelcol") {
    const bin = execFileSync(join(HERE, "build-otelcol.sh"), {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    }).trim();
    const dir = mkdtempSync(join(tmpdir(), "cognive-peers-otelcol-"));
    const port = await freePort();
    const child = spawn(bin, ["--config", join(HERE, "otelcol-file.yaml")], {
      env: { ...process.env, PEER_OTLP_PORT: String(port), PEER_FILE: join(dir, "spans.json") },
      stdio: ["ignore", "ignore", "inherit"],
    });
    await waitForPort(port);
    return {
      url: `http://127.0.0.1:${port}/v1/traces`,
      pids: [child.pid ?? 0],
      async stop() {
        await stopProcess(child);
        process.stdout.write(`  otelcol wrote ${(statSync(join(dir, "spans.json")).size / 2 ** 20).toFixed(0)} MiB\n`);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const pid = Number(args["external-pid"]);
  return { url: args["external-url"] as string, pids: serverPids(pid), stop: async () => {} };
}

function runLoadgen(bin: string, templateDir: string, url: string, connections: number): Promise<LoadgenResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      bin,
      [
        `-template=${templateDir}`,
        `-url=${url}`,
        `-connections=${connections}`,
        `-seconds=${args.seconds}`,
        `-warmup=${args.warmup}`,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0 ? resolve(JSON.parse(out) as LoadgenResult) : reject(new Error(`loadgen exited ${code}`)),
    );
  });
}

async function main() {
  mkdirSync(CACHE, { recursive: true });
  const loadgen = join(CACHE, "loadgen");
  execFileSync("go", ["build", "-o", loadgen, "."], { cwd: join(HERE, "loadgen"), stdio: "inherit" });
  const tpl = buildTemplate(Number(args["traces-per-request"]));
  const templateDir = mkdtempSync(join(tmpdir(), "cognive-peers-template-"));
  writeFileSync(join(templateDir, "payload.bin"), tpl.payload);
  writeFileSync(
    join(templateDir, "layout.json"),
    JSON.stringify({
      traceIdOffsets: tpl.traceIdOffsets,
      timeOffsets: tpl.timeOffsets,
      times: Array.from(tpl.times, String),
      endNs: String(tpl.endNs),
      spans: tpl.spans,
    }),
  );
  process.stdout.write(
    `peers: ${tpl.spans} spans a request (${(tpl.payload.length / 1024).toFixed(0)} KiB), targets ${TARGETS.join(", ")}, ` +
      `connections ${CONNECTIONS.join(", ")}, ${args.warmup}s warm-up + ${args.seconds}s, ${args.rounds} round(s)\n`,
  );
  const runs: {
    target: string;
    connections: number;
    round: number;
    loadgen: LoadgenResult;
    cpuUsPerSpan: number;
    peakRssMiB: number;
    stored?: number;
    loadAverage: { before: number; after: number };
  }[] = [];
  for (let round = 1; round <= Number(args.rounds); round++)
    for (const connections of CONNECTIONS)
      for (const name of TARGETS) {
        const label = name === "external" ? (args["external-name"] as string) : name;
        process.stdout.write(`${label} × ${connections} connections (round ${round})\n`);
        const target = await startTarget(name);
        const before = loadAverage();
        const cpu0 = cpuSeconds(target.pids);
        const r = await runLoadgen(loadgen, templateDir, target.url, connections);
        await target.drained?.();
        const cpu = cpuSeconds(target.pids) - cpu0;
        const rss = Math.max(...target.pids.map((p) => peakRssMiB(p)).filter((n) => !Number.isNaN(n)));
        const after = loadAverage();
        await target.stop();
        const stored = await target.stored?.();
        runs.push({
          target: label,
          connections,
          round,
          loadgen: r,
          cpuUsPerSpan: (cpu * 1e6) / r.ackedSpans,
          peakRssMiB: rss,
          ...(stored === undefined ? {} : { stored }),
          loadAverage: { before, after },
        });
        if (stored !== undefined && stored !== r.ackedSpans) {
          process.stdout.write(`  STORED ${stored} ≠ ACKNOWLEDGED ${r.ackedSpans}\n`);
          process.exitCode = 1;
        }
      }
  rmSync(templateDir, { recursive: true, force: true });

  const find = (target: string, c: number, round: number) =>
    runs.find((r) => r.target === target && r.connections === c && r.round === round);
  const rows: [string, string][] = runs.map((r) => {
    const ratio = (["cognive", "cognive-wal"] as const)
      .map((t) => [t, find(t, r.connections, r.round)] as const)
      .filter(([t, base]) => base !== undefined && r.target !== t && !(r.target === "cognive" && t === "cognive-wal"))
      .map(
        ([t, base]) =>
          `, ${(r.loadgen.spansPerSecond / (base?.loadgen.spansPerSecond ?? 1)).toFixed(2)}× ${t === "cognive" ? "Cognive" : "Cognive (wal)"}`,
      )
      .join("");
    return [
      `${r.target} × ${r.connections} (round ${r.round})`,
      `${Math.round(r.loadgen.spansPerSecond)} spans/s${ratio}; ${r.cpuUsPerSpan.toFixed(1)} µs CPU/span; ` +
        `p50 ${r.loadgen.p50Ms.toFixed(0)} / p99 ${r.loadgen.p99Ms.toFixed(0)} ms; peak RSS ${r.peakRssMiB} MiB; ` +
        `${r.loadgen.refused} refused, ${r.loadgen.failed} failed` +
        (r.stored === undefined ? "" : `; stored ${r.stored === r.loadgen.ackedSpans ? "= acknowledged" : r.stored}`) +
        `; load ${r.loadAverage.before} → ${r.loadAverage.after}`,
    ];
  });
  const summary = { date: new Date().toISOString(), machine: machine(), runs };
  report("peers", rows, summary);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
