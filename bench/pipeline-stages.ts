/**
 * CPU per span of each in-process ingest stage, on the ingest bench's request (448 spans): decode,
 * normalize, the default processors, the span-table row encoding (TSV), the de-duplication keys, and the whole span stage
 * as a stage worker runs it (Native and RowBinary rows). No storage, no network: what
 * the JS thread spends before a row reaches the writer. It runs the compiled code the server runs
 * (the npm script builds first): tsx's transform of the sources costs some stages a third more.
 * Each measure runs in a process of its own, so none inherits another's heap or V8's type feedback
 * (a stage worker runs one format only).
 *   npm run bench:pipeline-stages -- [--rounds 200] [--redis redis://127.0.0.1:6379]
 */
import { execFileSync } from "node:child_process";
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { InProcessBus } from "@cognive/collector/alerts/bus.ts";
import { type BudgetCounters, MemoryCounters } from "@cognive/collector/governance/counters.ts";
import { RedisCounters } from "@cognive/collector/governance/counters-redis.ts";
import { Governance } from "@cognive/collector/governance/engine.ts";
import type { GovernedSpan } from "@cognive/collector/governance/hook.ts";
import { silentLogger } from "@cognive/collector/log.ts";
import { decodeTracesProto } from "@cognive/collector/otlp/decode-proto.ts";
import { defaultSpanLimits, normalizeTraces, runProcessors } from "@cognive/collector/pipeline/normalize.ts";
import { defaultProcessors } from "@cognive/collector/pipeline/processors.ts";
import type { NormalizedSpan } from "@cognive/collector/pipeline/span.ts";
import { writeSpanKey, writeSpanKeys } from "@cognive/collector/pipeline/span-keys.ts";
import { governedSpans, SpanStage, VERDICT_NEW } from "@cognive/collector/pipeline/stage.ts";
import { parsePolicy } from "@cognive/collector/policy.ts";
import type { AlertStore } from "@cognive/collector/storage/alerts.ts";
import { encodeSpanRow } from "@cognive/collector/storage/span-table.ts";
import { Pricer } from "@cognive/semconv";
import { buildTemplate, patched } from "./workload.ts";

const { values: args } = parseArgs({
  options: {
    rounds: { type: "string", default: "200" },
    redis: { type: "string" },
    /** Internal: measure this stage alone and print its figure. */
    stage: { type: "string" },
  },
});
const ROUNDS = Number(args.rounds);
const template = buildTemplate(64);
const req = decodeTracesProto(template.payload);
const processors = defaultProcessors(new Pricer(), { agents: new Map() });
const request = { identity: { team: "acme" } };
const now = BigInt(Date.now()) * 1_000_000n;

/** CPU µs per span of `round` (one request's worth), after a warm-up. */
function cpuPerSpan(round: () => unknown): number {
  for (let i = 0; i < Math.max(10, ROUNDS / 10); i++) round();
  const c0 = process.cpuUsage();
  for (let i = 0; i < ROUNDS; i++) round();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / (ROUNDS * template.spans);
}

const normalizeWith = (visit: (s: NormalizedSpan) => void) => () => normalizeTraces(req, now, defaultSpanLimits, visit);
const stages: [string, () => unknown][] = [
  ["decode", () => decodeTracesProto(template.payload)],
  ["normalize", normalizeWith(() => {})],
  ["normalize + processors", normalizeWith((s) => runProcessors(processors, s, request))],
  ["normalize + processors + encode", normalizeWith((s) => runProcessors(processors, s, request) && encodeSpanRow(s))],
];
// The request's de-duplication keys alone (part of the stage below).
const normalized: NormalizedSpan[] = [];
normalizeTraces(req, now, defaultSpanLimits, (s) => normalized.push(s));
const keys = new Uint32Array(normalized.length * 4);
stages.push(
  ["span keys", () => writeSpanKeys(keys, normalized)],
  // Each span's key from both its ids, as before a trace's spans shared their trace words.
  ["span keys, one by one", () => normalized.forEach((s, i) => void writeSpanKey(keys, i, s.traceId, s.spanId))],
);
// The whole stage as a worker runs it (the default Native rows): decode, normalize and key, then
// process every span as new and encode the request's block.
for (const format of ["native", "rowbinary"] as const) {
  const stage = new SpanStage({ processors, limits: defaultSpanLimits, format, govern: true });
  stages.push([
    `stage, ${format} (decode … encode)`,
    () => {
      const { request: r, spans } = stage.normalize(decodeTracesProto(template.payload), now);
      return stage.process(spans, new Uint8Array(r.valid).fill(VERDICT_NEW), request.identity);
    },
  ]);
}

// Budgets on every agent and the team, high enough that no threshold is crossed: the cost measured
// is counting, not alerting (so no alert is stored).
const POLICY = parsePolicy(`
teams:
  cx: { budgets: { daily_usd: 1000000, monthly_usd: 10000000 } }
agents:
${["refund-agent", "triage-agent", "billing-agent"].map((a) => `  ${a}: { team: cx, budgets: { per_run_usd: 1000, daily_usd: 1000000, monthly_usd: 10000000 } }`).join("\n")}
alerts:
  thresholds: [0.5, 0.8, 1.0]
`);

/** Each round's governed spans, from a request with trace ids of its own (a repeated span counts nothing). */
function governedRequests(n: number): GovernedSpan[][] {
  const stage = new SpanStage({ processors, limits: defaultSpanLimits, format: "native", govern: true });
  return Array.from({ length: n }, (_, i) => {
    const { request: r, spans } = stage.normalize(decodeTracesProto(patched(template, i + 1)), now);
    return governedSpans(stage.process(spans, new Uint8Array(r.valid).fill(VERDICT_NEW), request.identity).governed);
  });
}

/**
 * Governance over `ROUNDS` requests after a warm-up: CPU µs per span (of the whole request) in this
 * process, and governed spans counted a second (wall clock: with Redis, round trips count too).
 */
async function governance(counters: BudgetCounters) {
  const warmup = Math.max(10, ROUNDS / 10);
  const requests = governedRequests(warmup + ROUNDS);
  const alerts: unknown[] = [];
  const store = { save: async (a: unknown[]) => void alerts.push(...a) } as unknown as AlertStore;
  const gov = new Governance(POLICY, counters, new InProcessBus(), store, silentLogger);
  for (const spans of requests.slice(0, warmup)) gov.onDurable(spans);
  await gov.idle();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (const spans of requests.slice(warmup)) gov.onDurable(spans);
  await gov.idle();
  const seconds = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  await counters.close();
  if (alerts.length > 0 || gov.stats.failures > 0)
    throw new Error("governance raised alerts or failed: not counting alone");
  const governed = requests[0].length;
  return {
    usPerSpan: (c.user + c.system) / (ROUNDS * template.spans),
    governed,
    perSecond: (ROUNDS * governed) / seconds,
  };
}

if (args.stage !== undefined) {
  const round = stages.find(([name]) => name === args.stage)?.[1];
  if (round === undefined) throw new Error(`no stage ${args.stage}`);
  console.log(cpuPerSpan(round).toFixed(2));
  process.exit(0);
}
console.log(
  `${template.spans} spans/request, ${ROUNDS} rounds, load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(" ")}`,
);
for (const [name] of stages) {
  const out = execFileSync(
    process.execPath,
    [...process.execArgv, process.argv[1], "--rounds", String(ROUNDS), "--stage", name],
    { encoding: "utf8" },
  );
  console.log(`${name.padEnd(34)} ${out.trim()} µs CPU/span`);
}
const runs: [string, () => Promise<BudgetCounters>][] = [["memory counters", async () => new MemoryCounters()]];
if (args.redis) {
  const url = args.redis;
  // A prefix of its own, so the run neither reads nor leaves behind another's counters.
  const prefix = `cognive-bench-${process.pid}`;
  runs.push(["Redis counters", () => RedisCounters.connect(url, { keyPrefix: prefix })]);
}
for (const [name, counters] of runs) {
  const g = await governance(await counters());
  console.log(
    `${`governance, ${name}`.padEnd(34)} ${g.usPerSpan.toFixed(2)} µs CPU/span (${g.governed} of ${template.spans} spans governed, ${Math.round(g.perSecond)} a second)`,
  );
}
