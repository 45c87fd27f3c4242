/**
 * Query benchmark, end to end: a real `cognive start` process is loaded with realistic agent traces over
 * OTLP/protobuf, then each read path is timed from one keep-alive connection: trace by id (Tempo API,
 * protobuf), TraceQL search, a 24 h Prometheus range query, the native trace, the native trace list
 * (the newest 50), and a 30-day cost breakdown.
 *   npx tsx bench/query.ts -- [--spans 1000000] [--connections 24] [--requests 200] [--warmup 20]
 *     [--data-dir DIR]   keep the loaded data in DIR and reuse it on the next run; a larger --spans
 *                        loads only the difference (1 M, then 10 M in the same directory)
 *     [--layout trace|exporter]  before starting, store the spans in trace order (the default, as
 *                        migration 13 does) or in the ClickHouse exporter's order, to compare the two
 *     [--settle]         before measuring, merge each trace table into one part per day (the store
 *                        a long-running server's merges tend to; without it, as the load left it);
 *                        needs --data-dir
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Agent } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  createStorage,
  SPAN_SORTING_KEY,
  SPAN_TABLE,
  TRACE_DOCS_TABLE,
  TRACE_SUMMARY_TABLE,
  TRACE_TS_TABLE,
} from "@cognive/collector";
import { DEFAULT_RETENTION_DAYS } from "../collector/src/storage/schema.ts";
import { queryRows } from "../collector/src/storage/sql.ts";
import { freePort, spawnCognive, stopProcess } from "../query/test/helpers/process.ts";
import {
  cpuByThreadName,
  cpuSeconds,
  loadAverage,
  machine,
  machineJitter,
  namedFigures,
  peakRssMiB,
  percentile,
  perEach,
  perEachByName,
  ROOT,
  serverPids,
  stealMeter,
  type ThreadCpu,
  threadCpu,
  waitingByThreadName,
} from "./lib.ts";
import {
  buildTemplate,
  patched,
  type Reply,
  SPANS_PER_TRACE,
  send,
  type Template,
  TRACE_ID_LAYOUT,
  traceIdOf,
} from "./workload.ts";

const { values: args } = parseArgs({
  options: {
    spans: { type: "string", default: "1000000" },
    connections: { type: "string", default: "24" },
    "spans-per-request": { type: "string", default: "2048" },
    requests: { type: "string", default: "200" },
    warmup: { type: "string", default: "20" },
    "data-dir": { type: "string" },
    layout: { type: "string", default: "trace" },
    settle: { type: "boolean", default: false },
    "prepare-only": { type: "string" },
  },
});
const SPANS = Number(args.spans);
const CONNECTIONS = Number(args.connections);
const REQUESTS = Number(args.requests);
const WARMUP = Number(args.warmup);
const TRACES = Math.max(1, Math.floor(Number(args["spans-per-request"]) / SPANS_PER_TRACE));

/** Targets from the issue (p99, ms); measures without one are reported only. */
const TARGETS: Record<string, number> = { traceById: 10, traceqlSearch: 100, queryRange: 50, costs30d: 50 };
const LAYOUT = args.layout as "trace" | "exporter";
if (LAYOUT !== "trace" && LAYOUT !== "exporter") throw new Error("--layout is trace or exporter");
// Both act with the server stopped, on a store kept between the load and the measures.
if (LAYOUT === "exporter" && !args["data-dir"] && !args["prepare-only"])
  throw new Error("--layout exporter needs --data-dir");
if (args.settle && !args["data-dir"] && !args["prepare-only"]) throw new Error("--settle needs --data-dir");

/** The sorting key of each layout: the exporter's (migration 1) and the trace order (migration 13). */
const LAYOUT_KEYS = {
  exporter: "(ServiceName, SpanName, toDateTime(Timestamp), Timestamp)",
  trace: SPAN_SORTING_KEY,
} as const;

/**
 * Re-sorts the stored spans into `layout` in place (a copy swapped in, as migration 13 does), with
 * the server stopped. Bench-only: it lets one data directory answer with either layout.
 */
async function relayout(dataDir: string, layout: keyof typeof LAYOUT_KEYS) {
  const storage = createStorage({ dataDir, database: "cognive" });
  try {
    const key = LAYOUT_KEYS[layout];
    const rows = await queryRows<{ sorting_key: string }>(
      storage,
      "SELECT sorting_key FROM system.tables WHERE database = 'cognive' AND name = {t:String}",
      { t: SPAN_TABLE },
    );
    if (rows.length === 0 || rows[0].sorting_key === key.slice(1, -1)) return;
    process.stdout.write(`  re-sorting the stored spans into the ${layout} order…\n`);
    const copy = `cognive.${SPAN_TABLE}_bench_relayout`;
    for (const q of [
      `DROP TABLE IF EXISTS ${copy}`,
      // The table's TTL too: a server finding it changed would rewrite every part at start.
      `CREATE TABLE ${copy} AS cognive.${SPAN_TABLE} ENGINE = MergeTree PARTITION BY toDate(Timestamp) ORDER BY ${key}
       TTL toDateTime(Timestamp) + INTERVAL ${DEFAULT_RETENTION_DAYS} DAY
       SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, merge_selector_base = 20`,
      `INSERT INTO ${copy} SELECT * FROM cognive.${SPAN_TABLE}`,
      `OPTIMIZE TABLE ${copy} FINAL`,
      `EXCHANGE TABLES cognive.${SPAN_TABLE} AND ${copy}`,
      `DROP TABLE ${copy}`,
    ])
      await storage.client.command({ query: q });
  } finally {
    await storage.close();
  }
}

/** The tables whose number of parts decides the reads measured here. */
const STORE_TABLES = [SPAN_TABLE, TRACE_DOCS_TABLE, TRACE_SUMMARY_TABLE, TRACE_TS_TABLE];

/**
 * With the server stopped: merges the trace tables into one part each when `settle`, then prints
 * how many parts each has, since a look-up by trace id costs about 0.4 ms per part and a search for
 * the newest traces less with fresh small parts (bench/RESULTS.md, 2026-12-02).
 */
async function store(dataDir: string, settle: boolean) {
  const storage = createStorage({ dataDir, database: "cognive" });
  try {
    const parts = async () =>
      queryRows<{ table: string; parts: string }>(
        storage,
        `SELECT table, toString(count()) AS parts FROM system.parts
         WHERE database = 'cognive' AND active AND table IN {t:Array(String)} GROUP BY table ORDER BY table`,
        { t: STORE_TABLES },
      );
    if (settle) {
      for (const t of STORE_TABLES) {
        const started = performance.now();
        process.stdout.write(`  merging ${t} into one part…`);
        await storage.client.command({ query: `OPTIMIZE TABLE cognive.${t} FINAL` });
        process.stdout.write(` ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
      }
    }
    const counts = (await parts()).map((r) => `${r.table} ${r.parts}`).join(", ");
    process.stdout.write(`  parts: ${counts}\n`);
    return counts;
  } finally {
    await storage.close();
  }
}

/**
 * Re-sorts the stored spans into the layout, then merges and counts parts (`store`), in a child
 * process: this one must not bind the data directory the server will open. Returns the part counts.
 */
function prepareApart(dataDir: string): string {
  const out = execFileSync(
    process.execPath,
    [
      ...process.execArgv,
      process.argv[1],
      "--prepare-only",
      dataDir,
      "--layout",
      LAYOUT,
      ...(args.settle ? ["--settle"] : []),
    ],
    { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] },
  );
  process.stdout.write(out);
  return /parts: (.*)/.exec(out)?.[1] ?? "unknown";
}

/** Sends requests `first`… until SPANS spans are stored in all (earlier runs may have loaded some). */
async function load(tpl: Template, otlpPort: number, first = 1) {
  const totalRequests = Math.ceil(SPANS / tpl.spans) - (first - 1);
  const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  let next = first;
  let done = 0;
  let refused = 0;
  const started = performance.now();
  let lastReport = started;
  async function worker() {
    while (next < first + totalRequests) {
      const requestNo = next++;
      const body = patched(tpl, requestNo);
      for (;;) {
        // A connection reset is retried: the spans carry their ids, so a request stored twice is stored once.
        const res = await send(
          agent,
          otlpPort,
          "POST",
          "/v1/traces",
          { "content-type": "application/x-protobuf", "content-length": body.length },
          body,
        ).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== "ECONNRESET" && err.code !== "EPIPE") throw err;
          return { status: 503, body: Buffer.from(err.code) };
        });
        if (res.status === 200) break;
        if (res.status !== 429 && res.status !== 503)
          throw new Error(`ingest: unexpected ${res.status}: ${res.body.toString()}`);
        refused++;
        await new Promise((r) => setTimeout(r, 100));
      }
      done++;
      const now = performance.now();
      if (now - lastReport > 3000) {
        lastReport = now;
        const secs = (now - started) / 1000;
        process.stdout.write(
          `  loading… ${done * tpl.spans} / ${totalRequests * tpl.spans} spans, ${Math.round((done * tpl.spans) / secs)} spans/s\n`,
        );
      }
    }
  }
  await Promise.all(Array.from({ length: CONNECTIONS }, worker));
  agent.destroy();
  const seconds = (performance.now() - started) / 1000;
  if (done !== totalRequests) throw new Error(`ingest: ${done} of ${totalRequests} requests acknowledged`);
  return { requests: first - 1 + totalRequests, spans: (first - 1 + totalRequests) * tpl.spans, seconds, refused };
}

interface Measure {
  name: string;
  label: string;
  requests: number;
  p50: number;
  p99: number;
  max: number;
  meanBodyBytes: number;
  /** CPU time the hypervisor took from this VM while the measure ran, %. */
  stealPercent: number | null;
  /** The server's CPU a timed request, ms: all threads, and by thread name (the largest four). */
  serverCpuMs: number;
  cpuMsByThread: Record<string, number>;
  /** Time the server's threads were ready to run but waited for a core, ms a request (all threads). */
  coreWaitMs: number;
}

/** Warm-up, then REQUESTS timed requests, one at a time, over one keep-alive connection. */
async function measure(
  name: string,
  label: string,
  server: { port: number; pids: number[] },
  next: (i: number) => { method?: string; path: string; headers?: Record<string, string | number>; body?: Buffer },
  check: (r: Reply) => void,
): Promise<Measure> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const latencies: number[] = [];
  let bytes = 0;
  let steal: (() => number | null) | undefined;
  let threadsAtStart = new Map<string, ThreadCpu>();
  let cpuAtStart = 0;
  for (let i = 0; i < WARMUP + REQUESTS; i++) {
    if (i === WARMUP) {
      steal = stealMeter();
      threadsAtStart = threadCpu(server.pids);
      cpuAtStart = cpuSeconds(server.pids);
    }
    const q = next(i);
    const t0 = performance.now();
    const res = await send(agent, server.port, q.method ?? "GET", q.path, q.headers ?? {}, q.body);
    const t1 = performance.now();
    if (res.status !== 200)
      throw new Error(`${label}: ${q.path} → ${res.status}: ${res.body.toString().slice(0, 500)}`);
    check(res);
    if (i >= WARMUP) {
      latencies.push(t1 - t0);
      bytes += res.body.length;
    }
  }
  const threadsAtEnd = threadCpu(server.pids);
  const serverCpu = cpuSeconds(server.pids) - cpuAtStart;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const n = latencies.length;
  const waiting = Object.values(waitingByThreadName(threadsAtStart, threadsAtEnd)).reduce((a, b) => a + b, 0);
  const m = {
    name,
    label,
    requests: latencies.length,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: latencies.at(-1) ?? Number.NaN,
    meanBodyBytes: Math.round(bytes / latencies.length),
    stealPercent: steal?.() ?? null,
    serverCpuMs: perEach(serverCpu, n, 1e3, 2),
    cpuMsByThread: perEachByName(cpuByThreadName(threadsAtStart, threadsAtEnd, serverCpu), n, 1e3, 2, 4),
    coreWaitMs: perEach(waiting, n, 1e3, 2),
  };
  process.stdout.write(
    `  ${label}: p50 ${m.p50.toFixed(1)} ms, p99 ${m.p99.toFixed(1)} ms, max ${m.max.toFixed(1)} ms` +
      `, CPU steal ${m.stealPercent ?? "?"} %; server CPU ${m.serverCpuMs} ms a request (${namedFigures(m.cpuMsByThread)}), ` +
      `waiting for a core ${m.coreWaitMs} ms\n`,
  );
  return m;
}

function nonEmpty(r: Reply) {
  if (r.body.length === 0) throw new Error("empty body");
}

/**
 * With `--prepare-only DIR`, the child step of `prepareApart` (chDB binds a data directory to the
 * process that opened it, and the server started next must open it); otherwise load or reuse the
 * store, start the server and measure.
 */
async function main() {
  const prepare = args["prepare-only"];
  if (prepare) {
    await relayout(prepare, LAYOUT);
    return void (await store(prepare, args.settle ?? false));
  }
  const tpl = buildTemplate(TRACES);
  const keptDir = args["data-dir"];
  const dataDir = keptDir ?? mkdtempSync(join(tmpdir(), "cognive-bench-"));
  const loadRecord = join(dataDir, "bench-load.json");
  const otlpPort = await freePort();
  const queryPort = await freePort();
  process.stdout.write(
    `query bench: loading ${SPANS} spans, ${tpl.spans} spans/request (${(tpl.payload.length / 1024).toFixed(0)} KiB), ` +
      `${CONNECTIONS} connections\n`,
  );
  type Loaded = Awaited<ReturnType<typeof load>> & {
    loadStartS: number;
    loadEndS: number;
    traceIdTails: string[];
    traceIdLayout?: number;
  };
  let earlier: Loaded | undefined;
  // Counted with the server stopped, so only for a store loaded by an earlier run.
  let storeParts = "as the load left them (not counted)";
  if (keptDir && existsSync(loadRecord)) {
    earlier = JSON.parse(readFileSync(loadRecord, "utf8")) as Loaded;
    if (earlier.traceIdLayout !== TRACE_ID_LAYOUT)
      throw new Error(
        `${dataDir} holds spans loaded with an older trace-id layout (clustered by request), which this bench cannot look up: use another --data-dir`,
      );
    if (earlier.spans > Math.ceil(SPANS / tpl.spans) * tpl.spans)
      throw new Error(`${dataDir} holds ${earlier.spans} spans, more than --spans ${SPANS}: use another --data-dir`);
    // The stored traces carry the random id tails of the template they were loaded from.
    tpl.traceIdTails = earlier.traceIdTails;
    storeParts = prepareApart(dataDir);
  }
  const child = await spawnCognive({
    COGNIVE_DATA_DIR: dataDir,
    COGNIVE_OTLP_PORT: String(otlpPort),
    COGNIVE_PORT: String(queryPort),
  });
  let stopped = false;
  try {
    let loaded: Loaded;
    if (earlier && earlier.spans === Math.ceil(SPANS / tpl.spans) * tpl.spans) {
      loaded = earlier;
      process.stdout.write(`  reusing ${loaded.spans} spans loaded earlier into ${dataDir}\n`);
    } else {
      const first = earlier ? earlier.requests + 1 : 1;
      if (earlier) process.stdout.write(`  ${earlier.spans} spans loaded earlier; loading the rest\n`);
      const l = await load(tpl, otlpPort, first);
      // The search window: the load's own time span, widened by an hour as a user's "last hour" would be.
      loaded = {
        ...l,
        seconds: l.seconds + (earlier?.seconds ?? 0),
        loadEndS: Math.ceil(Date.now() / 1000),
        loadStartS: earlier?.loadStartS ?? Math.floor(Date.now() / 1000 - l.seconds) - 3600,
        traceIdTails: tpl.traceIdTails,
        traceIdLayout: TRACE_ID_LAYOUT,
      };
      if (keptDir) writeFileSync(loadRecord, JSON.stringify(loaded));
      const n = l.spans - (earlier?.spans ?? 0);
      process.stdout.write(
        `  loaded ${n} spans in ${l.seconds.toFixed(1)} s ` +
          `(${Math.round(n / l.seconds)} spans/s, ${l.requests - first + 1} requests, all 200; ${l.refused} retried after 429/503)\n`,
      );
      if (LAYOUT === "exporter" || args.settle) {
        // Freshly loaded spans are in trace order: the next pass re-sorts and merges them with the
        // server stopped.
        await stopProcess(child);
        stopped = true;
        return main();
      }
    }
    const { loadStartS, loadEndS } = loaded;

    // Deterministic pseudo-random picks, so runs are comparable.
    let seed = 42;
    const rand = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) >>> 0;
      return seed % n;
    };
    const randomTraceId = () => traceIdOf(tpl, 1 + rand(loaded.requests), rand(tpl.traceIdOffsets.length));

    // With the server idle: the machine's own pauses, which every measure's tail carries.
    const jitter = machineJitter(10);
    process.stdout.write(
      `  machine jitter: a CPU-only task p50 ${jitter.taskMs.p50} ms, p99 ${jitter.taskMs.p99} ms, ` +
        `max ${jitter.taskMs.max} ms; ${jitter.pausesPerMinute} runs a minute slowed by more than 10 ms\n`,
    );

    // The server's processes, for each measure's CPU by thread.
    const server = { port: queryPort, pids: serverPids(child.pid ?? 0) };
    const measures: Measure[] = [];
    measures.push(
      await measure(
        "traceById",
        "trace by id (Tempo v2, protobuf)",
        server,
        () => ({ path: `/api/v2/traces/${randomTraceId()}`, headers: { accept: "application/protobuf" } }),
        nonEmpty,
      ),
    );
    const QUERIES = [
      '{span.gen_ai.request.model="gpt-4o"}',
      '{resource.service.name="support-bot" && status=error}',
      "{duration>5ms}",
    ];
    let emptySearches = 0;
    measures.push(
      await measure(
        "traceqlSearch",
        "TraceQL search (limit 20)",
        server,
        (i) => ({
          path: `/api/search?q=${encodeURIComponent(QUERIES[i % QUERIES.length])}&limit=20&start=${loadStartS}&end=${loadEndS}`,
        }),
        (r) => {
          const traces = (JSON.parse(r.body.toString()) as { traces: unknown[] }).traces;
          if (traces.length === 0) emptySearches++;
        },
      ),
    );
    if (emptySearches > 0) throw new Error(`TraceQL: ${emptySearches} searches found no traces`);
    const endS = Math.floor(Date.now() / 1000 / 60) * 60;
    const form = Buffer.from(
      new URLSearchParams({
        query: "sum by (gen_ai_request_model) (increase(cognive_cost_usd_total[5m]))",
        start: String(endS - 86_400),
        end: String(endS),
        step: "60",
      }).toString(),
    );
    measures.push(
      await measure(
        "queryRange",
        "query_range 24 h, step 60",
        server,
        () => ({
          method: "POST",
          path: "/api/v1/query_range",
          headers: { "content-type": "application/x-www-form-urlencoded", "content-length": form.length },
          body: form,
        }),
        (r) => {
          const j = JSON.parse(r.body.toString()) as { status: string; data: { result: unknown[] } };
          if (j.status !== "success" || j.data.result.length === 0) throw new Error("query_range: no series");
        },
      ),
    );
    measures.push(
      await measure(
        "nativeTrace",
        "native GET /api/v1/traces/<id>",
        server,
        () => ({ path: `/api/v1/traces/${randomTraceId()}` }),
        nonEmpty,
      ),
    );
    // The UI's traces page: the newest 50 of the load's range.
    measures.push(
      await measure(
        "traceList",
        "native trace list (GET /api/v1/traces?limit=50)",
        server,
        () => ({ path: `/api/v1/traces?limit=50&from=${loadStartS}&to=${loadEndS}` }),
        (r) => {
          const traces = (JSON.parse(r.body.toString()) as { traces: unknown[] }).traces;
          if (traces.length !== 50) throw new Error(`trace list: ${traces.length} traces, not 50`);
        },
      ),
    );
    const nowS = Math.floor(Date.now() / 1000);
    measures.push(
      await measure(
        "costs30d",
        "30-day cost breakdown (GET /api/v1/costs?groupBy=model)",
        server,
        () => ({ path: `/api/v1/costs?groupBy=model&from=${nowS - 30 * 86_400}&to=${nowS}` }),
        nonEmpty,
      ),
    );

    const peakRss = Math.max(...server.pids.map((p) => (p ? peakRssMiB(p) : 0)).filter((n) => !Number.isNaN(n)));

    const result = {
      bench: "query",
      date: new Date().toISOString(),
      machine: machine(),
      machineJitter: jitter,
      loadAverage: loadAverage(),
      layout: LAYOUT,
      settled: args.settle ?? false,
      storeParts,
      params: {
        spans: SPANS,
        connections: CONNECTIONS,
        spansPerRequest: tpl.spans,
        payloadBytes: tpl.payload.length,
        warmup: WARMUP,
        requests: REQUESTS,
        traceqlQueries: QUERIES,
      },
      loaded: { ...loaded, spansPerSecond: Math.round(loaded.spans / loaded.seconds) },
      targetsP99Ms: TARGETS,
      latencyMs: Object.fromEntries(
        measures.map((m) => [
          m.name,
          {
            p50: m.p50,
            p99: m.p99,
            max: m.max,
            requests: m.requests,
            meanBodyBytes: m.meanBodyBytes,
            stealPercent: m.stealPercent,
            serverCpuMs: m.serverCpuMs,
            cpuMsByThread: m.cpuMsByThread,
            coreWaitMs: m.coreWaitMs,
            meetsTarget: m.name in TARGETS ? m.p99 <= TARGETS[m.name] : null,
          },
        ]),
      ),
      serverPeakRssMiB: peakRss,
    };

    const header = [
      "measure",
      "p50 ms",
      "p99 ms",
      "max ms",
      "CPU steal",
      "CPU ms/req",
      "core wait ms/req",
      "target p99",
    ];
    const rows = measures.map((m) => [
      m.label,
      m.p50.toFixed(1),
      m.p99.toFixed(1),
      m.max.toFixed(1),
      m.stealPercent === null ? "?" : `${m.stealPercent} %`,
      m.serverCpuMs.toFixed(2),
      m.coreWaitMs.toFixed(2),
      m.name in TARGETS ? `≤ ${TARGETS[m.name]} ms ${m.p99 <= TARGETS[m.name] ? "ok" : "MISSED"}` : "–",
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
    process.stdout.write(
      `\n${[line(header), ...rows.map(line)].join("\n")}\n\n` +
        `spans loaded       ${loaded.spans} in ${loaded.seconds.toFixed(1)} s\n` +
        `server peak RSS    ${peakRss} MiB\n` +
        `span layout        ${LAYOUT}\n` +
        `store parts        ${storeParts}${args.settle ? " (merged before measuring: --settle)" : ""}\n` +
        `load average       ${result.loadAverage} (1 min, at the end)\n` +
        `machine jitter     CPU-only task p50 ${jitter.taskMs.p50} / p99 ${jitter.taskMs.p99} / max ${jitter.taskMs.max} ms, ` +
        `${jitter.pausesPerMinute} pauses > 10 ms a minute\n` +
        `machine            ${result.machine.cores} × ${result.machine.cpuModel}, ${result.machine.memoryGiB} GiB, Node ${result.machine.node}\n`,
    );
    const outDir = join(ROOT, "bench", "out");
    mkdirSync(outDir, { recursive: true });
    const file = join(outDir, `query-${result.date.replace(/[:.]/g, "-")}.json`);
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`\nwritten: ${file}\n`);
  } finally {
    if (!stopped) await stopProcess(child);
    if (!keptDir) rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
