/**
 * Reads and ingest side by side, end to end on a real `cognive start` process loaded with agent traces
 * over OTLP/protobuf:
 *   (a) ingest throughput alone, then while loops of pathological reads run (PromQL `or`×10 of every
 *       series, chained structural TraceQL over the whole range, TraceQL metrics by model, label
 *       values, a day of PromQL at a 15 s step, a regex search over everything), with `/readyz` probed;
 *   (b) the latency of representative reads (TraceQL search, PromQL range, label values, native trace
 *       list, tag values) while ingest runs.
 *   npm run bench:read-under-ingest -- [--spans 300000] [--seconds 15] [--connections 4] [--read-loops 4] [--requests 40]
 *     [--cpu-prof DIR]   write the server's CPU profile to DIR
 */
import { mkdtempSync, rmSync } from "node:fs";
import { Agent } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  cpuProfArgs,
  freePort,
  machine,
  peakRssMiB,
  percentile,
  report,
  serverPids,
  spawnCognive,
  stopProcess,
} from "./lib.ts";
import { buildTemplate, patched, send, type Template } from "./workload.ts";

const { values: args } = parseArgs({
  options: {
    spans: { type: "string", default: "300000" },
    seconds: { type: "string", default: "15" },
    connections: { type: "string", default: "4" },
    "read-loops": { type: "string", default: "4" },
    requests: { type: "string", default: "40" },
    "traces-per-request": { type: "string", default: "64" },
    "cpu-prof": { type: "string" },
  },
});
const SPANS = Number(args.spans);
const SECONDS = Number(args.seconds);
const CONNECTIONS = Number(args.connections);
const READ_LOOPS = Number(args["read-loops"]);
const REQUESTS = Number(args.requests);
const TRACES = Number(args["traces-per-request"]);

let requestNo = 1;

/** Sends OTLP requests from `connections` keep-alive connections until `until()` says stop. */
async function ingest(tpl: Template, otlpPort: number, until: () => boolean) {
  const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  const latencies: number[] = [];
  let spans = 0;
  let refused = 0;
  const started = performance.now();
  async function worker() {
    while (!until()) {
      const body = patched(tpl, requestNo++);
      const t0 = performance.now();
      const res = await send(
        agent,
        otlpPort,
        "POST",
        "/v1/traces",
        { "content-type": "application/x-protobuf", "content-length": body.length },
        body,
      );
      latencies.push(performance.now() - t0);
      if (res.status === 200) spans += tpl.spans;
      else {
        refused++;
        if (res.status !== 429 && res.status !== 503) throw new Error(`ingest: ${res.status} ${res.body.toString()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
  await Promise.all(Array.from({ length: CONNECTIONS }, worker));
  agent.destroy();
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    spans,
    seconds,
    spansPerSecond: Math.round(spans / seconds),
    refused,
    latencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1) ?? 0 },
  };
}

const q = (path: string, params: Record<string, string>) => `${path}?${new URLSearchParams(params)}`;

/** Pathological reads: each either answers within the limits or is refused (422/503), never hangs. */
function heavyReads(startS: number, endS: number): string[] {
  return [
    q("/api/v1/query", { query: Array(10).fill('{__name__=~".+"}').join(" or "), time: String(endS) }),
    q("/api/search", { q: "{} >> {} >> {}", start: String(startS), end: String(endS), limit: "1000" }),
    q("/api/metrics/query_range", {
      q: "{} | rate() by (span.gen_ai.request.model)",
      start: String(startS),
      end: String(endS),
      step: "15",
    }),
    q("/api/v1/label/service_name/values", {}),
    q("/api/v1/query_range", {
      query: "sum by (agent, gen_ai_request_model) (rate(cognive_llm_calls_total[5m]))",
      start: String(endS - 86_400),
      end: String(endS),
      step: "15",
    }),
    q("/api/search", { q: '{ span.gen_ai.request.model =~ ".*o.*" }', start: "0", end: String(endS), limit: "1000" }),
  ];
}

/** Representative reads, timed one at a time while ingest runs. */
function representativeReads(startS: number, endS: number): [string, string][] {
  return [
    [
      "TraceQL search",
      q("/api/search", { q: '{span.gen_ai.request.model="gpt-4o"}', start: String(startS), end: String(endS) }),
    ],
    [
      "PromQL range 1 h",
      q("/api/v1/query_range", {
        query: "sum by (gen_ai_request_model) (rate(cognive_llm_calls_total[5m]))",
        start: String(endS - 3600),
        end: String(endS),
        step: "15",
      }),
    ],
    ["label values", q("/api/v1/label/agent/values", { start: String(endS - 21_600), end: String(endS) })],
    ["native trace list", q("/api/v1/traces", { limit: "50" })],
    ["Tempo tag values", q("/api/v2/search/tag/span.gen_ai.request.model/values", {})],
  ];
}

async function main() {
  const tpl = buildTemplate(TRACES);
  const dataDir = mkdtempSync(join(tmpdir(), "cognive-bench-"));
  const otlpPort = await freePort();
  const queryPort = await freePort();
  process.stdout.write(
    `read-under-ingest bench: ${SPANS} spans loaded first, ${tpl.spans} spans/request, ${CONNECTIONS} ingest connections, ` +
      `${READ_LOOPS} heavy read loops, ${SECONDS}s per phase\n`,
  );
  const child = await spawnCognive(
    {
      COGNIVE_DATA_DIR: dataDir,
      COGNIVE_OTLP_PORT: String(otlpPort),
      COGNIVE_PORT: String(queryPort),
    },
    cpuProfArgs(args["cpu-prof"]),
  );
  try {
    const loadStartS = Math.floor(Date.now() / 1000) - 60;
    let loaded = 0;
    const load = await ingest(tpl, otlpPort, () => {
      loaded = (requestNo - 1) * tpl.spans;
      return loaded >= SPANS;
    });
    process.stdout.write(`  loaded ${loaded} spans in ${load.seconds.toFixed(1)} s (${load.spansPerSecond} spans/s)\n`);
    const window = () => [loadStartS, Math.ceil(Date.now() / 1000)] as const;

    // (a) ingest alone, then ingest with heavy read loops and /readyz probes.
    const alone = await timed(SECONDS, (until) => ingest(tpl, otlpPort, until));
    process.stdout.write(`  ingest alone: ${alone.spansPerSecond} spans/s, p99 ${alone.latencyMs.p99.toFixed(0)} ms\n`);
    const outcomes: Record<string, number> = {};
    const readMs: number[] = [];
    const readyMs: number[] = [];
    const readAgent = new Agent({ keepAlive: true, maxSockets: READ_LOOPS });
    const probeAgent = new Agent({ keepAlive: true, maxSockets: 2 });
    const underLoad = await timed(SECONDS, async (until) => {
      const loops = Array.from({ length: READ_LOOPS }, async (_, loop) => {
        for (let i = loop; !until(); i++) {
          const [s, e] = window();
          const reads = heavyReads(s, e);
          const path = reads[i % reads.length];
          const t0 = performance.now();
          const res = await send(readAgent, queryPort, "GET", path, {});
          readMs.push(performance.now() - t0);
          const key = `${path.split("?")[0]} ${res.status}${res.status === 200 ? "" : ` ${reason(res.body)}`}`;
          outcomes[key] = (outcomes[key] ?? 0) + 1;
        }
      });
      const probes = (async () => {
        while (!until()) {
          for (const port of [otlpPort, queryPort]) {
            const t0 = performance.now();
            const res = await send(probeAgent, port, "GET", "/readyz", {});
            readyMs.push(performance.now() - t0);
            if (res.status !== 200) outcomes[`/readyz ${res.status}`] = (outcomes[`/readyz ${res.status}`] ?? 0) + 1;
          }
          await new Promise((r) => setTimeout(r, 250));
        }
      })();
      const result = await ingest(tpl, otlpPort, until);
      await Promise.all([...loops, probes]);
      return result;
    });
    readAgent.destroy();
    probeAgent.destroy();
    readyMs.sort((a, b) => a - b);
    readMs.sort((a, b) => a - b);
    process.stdout.write(
      `  ingest with heavy reads: ${underLoad.spansPerSecond} spans/s, p99 ${underLoad.latencyMs.p99.toFixed(0)} ms; ` +
        `/readyz max ${(readyMs.at(-1) ?? 0).toFixed(0)} ms\n`,
    );

    // (b) representative reads while ingest runs.
    let stopIngest = false;
    const background = ingest(tpl, otlpPort, () => stopIngest);
    const reads: { name: string; p50: number; p99: number; max: number; status: string }[] = [];
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    for (const [name] of representativeReads(0, 0)) {
      const latencies: number[] = [];
      const statuses = new Set<number>();
      for (let i = 0; i < REQUESTS + 3; i++) {
        const [s, e] = window();
        const path = representativeReads(s, e).find(([n]) => n === name)?.[1] as string;
        const t0 = performance.now();
        const res = await send(agent, queryPort, "GET", path, {});
        if (i >= 3) latencies.push(performance.now() - t0);
        statuses.add(res.status);
      }
      latencies.sort((a, b) => a - b);
      const m = {
        name,
        p50: percentile(latencies, 50),
        p99: percentile(latencies, 99),
        max: latencies.at(-1) ?? 0,
        status: [...statuses].join("/"),
      };
      reads.push(m);
      process.stdout.write(
        `  ${name} under ingest: p50 ${m.p50.toFixed(1)} ms, p99 ${m.p99.toFixed(1)} ms (${m.status})\n`,
      );
    }
    agent.destroy();
    stopIngest = true;
    const backgroundIngest = await background;

    const pids = serverPids(child.pid ?? 0);
    const peakRss = Math.max(...pids.map((p) => (p ? peakRssMiB(p) : 0)).filter((n) => !Number.isNaN(n)));
    const result = {
      bench: "read-under-ingest",
      date: new Date().toISOString(),
      machine: machine(),
      params: { spans: loaded, seconds: SECONDS, connections: CONNECTIONS, readLoops: READ_LOOPS, requests: REQUESTS },
      ingestAlone: alone,
      ingestWithHeavyReads: underLoad,
      heavyReads: {
        outcomes,
        latencyMs: { p50: percentile(readMs, 50), p99: percentile(readMs, 99), max: readMs.at(-1) ?? 0 },
      },
      readyzMs: { p50: percentile(readyMs, 50), p99: percentile(readyMs, 99), max: readyMs.at(-1) ?? 0 },
      readsUnderIngest: reads,
      ingestDuringReads: backgroundIngest,
      serverPeakRssMiB: peakRss,
    };
    const rows: [string, string][] = [
      [
        "ingest alone",
        `${alone.spansPerSecond} spans/s (request p50 ${alone.latencyMs.p50.toFixed(0)} ms, p99 ${alone.latencyMs.p99.toFixed(0)} ms)`,
      ],
      [
        "ingest with heavy reads",
        `${underLoad.spansPerSecond} spans/s (request p50 ${underLoad.latencyMs.p50.toFixed(0)} ms, p99 ${underLoad.latencyMs.p99.toFixed(0)} ms, max ${underLoad.latencyMs.max.toFixed(0)} ms)`,
      ],
      [
        "heavy reads answered",
        `${readMs.length} (p50 ${result.heavyReads.latencyMs.p50.toFixed(0)} ms, p99 ${result.heavyReads.latencyMs.p99.toFixed(0)} ms, max ${result.heavyReads.latencyMs.max.toFixed(0)} ms)`,
      ],
      ...Object.entries(outcomes)
        .sort()
        .map(([k, n]): [string, string] => [`  ${k}`, String(n)]),
      [
        "/readyz during heavy reads",
        `p50 ${result.readyzMs.p50.toFixed(1)} ms, max ${result.readyzMs.max.toFixed(1)} ms`,
      ],
      ...reads.map((r): [string, string] => [
        `${r.name} under ingest`,
        `p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, max ${r.max.toFixed(1)} ms (${r.status})`,
      ]),
      ["ingest while timing reads", `${backgroundIngest.spansPerSecond} spans/s`],
      ["server peak RSS", `${peakRss} MiB`],
    ];
    report("read-under-ingest", rows, result);
  } finally {
    await stopProcess(child);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** The start of an error answer's message (native, Tempo or Prometheus shape), to tell limits apart. */
function reason(body: Buffer): string {
  try {
    const j = JSON.parse(body.toString());
    const msg = String(j.error?.message ?? j.error ?? "");
    return (/\(([A-Z_]+)\)/.exec(msg)?.[1] ?? msg.slice(0, 40)).trim();
  } catch {
    return "";
  }
}

/** Runs `phase` until `seconds` have passed (it polls `until`). */
async function timed<T>(seconds: number, phase: (until: () => boolean) => Promise<T>): Promise<T> {
  const end = performance.now() + seconds * 1000;
  return phase(() => performance.now() >= end);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
