/**
 * Budget-check latency benchmark, end to end: a real `cognive start` process with a policy of agents
 * and team budgets, some spend ingested over OTLP/JSON, then `GET /api/v1/budget-check` from keep-alive
 * connections — first sequentially on one connection, then concurrently — varying agents and trace ids.
 * Any non-200 answer fails the run; a sample of answers is checked for shape.
 *   npx tsx bench/budget-check.ts [--sequential 5000] [--warmup 500] [--concurrent 20000] [--connections 8]
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { freePort, machine, percentile, ROOT, spawnCognive, stopProcess } from "./lib.ts";

const { values: args } = parseArgs({
  options: {
    sequential: { type: "string", default: "5000" },
    warmup: { type: "string", default: "500" },
    concurrent: { type: "string", default: "20000" },
    connections: { type: "string", default: "8" },
  },
});
const SEQUENTIAL = Number(args.sequential);
const WARMUP = Number(args.warmup);
const CONCURRENT = Number(args.concurrent);
const CONNECTIONS = Number(args.connections);

const POLICY = `teams:
  cx: { budgets: { daily_usd: 40, monthly_usd: 500 } }
  finance: { budgets: { daily_usd: 5, monthly_usd: 100 } }
agents:
  refund-agent:
    team: cx
    budgets: { per_run_usd: 0.5, daily_usd: 30, monthly_usd: 300 }
  triage-agent:
    team: cx
    budgets: { per_run_usd: 0.2, daily_usd: 5, monthly_usd: 60 }
  invoice-agent:
    team: finance
    budgets: { per_run_usd: 1, daily_usd: 1.5, monthly_usd: 20 }
  research-agent:
    budgets: { per_run_usd: 2, monthly_usd: 100 }
alerts:
  thresholds: [0.5, 0.8, 1.0]
`;
/** Agents asked about: the policy's, plus one the policy does not name. */
const AGENTS = ["refund-agent", "triage-agent", "invoice-agent", "research-agent", "unlisted-agent"];
const SEED_TRACES_PER_AGENT = 12;
const SPANS_PER_TRACE = 4;

/** One OTLP/JSON request: one run of `agent` with a few gpt-4o chat spans. */
function otlpBody(agent: string, traceId: string, spans: number, inputTokens: number): Buffer {
  const now = BigInt(Date.now()) * 1_000_000n;
  const str = (key: string, v: string) => ({ key, value: { stringValue: v } });
  const int = (key: string, v: number) => ({ key, value: { intValue: String(v) } });
  return Buffer.from(
    JSON.stringify({
      resourceSpans: [
        {
          resource: { attributes: [str("service.name", "budget-bench")] },
          scopeSpans: [
            {
              spans: Array.from({ length: spans }, (_, i) => ({
                traceId,
                spanId: (i + 1).toString(16).padStart(16, "0"),
                name: "chat gpt-4o",
                kind: 3,
                startTimeUnixNano: String(now + BigInt(i) * 1_000_000n),
                endTimeUnixNano: String(now + BigInt(i + 1) * 1_000_000n),
                attributes: [
                  str("gen_ai.operation.name", "chat"),
                  str("gen_ai.provider.name", "openai"),
                  str("gen_ai.request.model", "gpt-4o"),
                  str("gen_ai.agent.name", agent),
                  int("gen_ai.usage.input_tokens", inputTokens),
                  int("gen_ai.usage.output_tokens", Math.round(inputTokens / 8)),
                ],
              })),
            },
          ],
        },
      ],
    }),
  );
}

function send(
  agent: Agent,
  port: number,
  method: "GET" | "POST",
  path: string,
  body?: Buffer,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path,
        method,
        agent,
        headers: body ? { "content-type": "application/json", "content-length": body.length } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** Throws unless the answer has the documented shape. */
function verify(path: string, body: string): { allowed: boolean } {
  const a = JSON.parse(body) as { allowed: unknown; remainingUsd: unknown; reasons: unknown };
  const ok =
    typeof a.allowed === "boolean" &&
    (a.remainingUsd === null || (typeof a.remainingUsd === "number" && Number.isFinite(a.remainingUsd))) &&
    Array.isArray(a.reasons) &&
    a.reasons.every((r) => typeof r === "string");
  if (!ok) throw new Error(`malformed answer to ${path}: ${body}`);
  return { allowed: a.allowed as boolean };
}

interface ModeResult {
  requests: number;
  connections: number;
  seconds: number;
  requestsPerSecond: number;
  latencyMs: { p50: number; p99: number; max: number };
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), "cognive-bench-budget-"));
  const policyFile = join(dir, "policy.yaml");
  writeFileSync(policyFile, POLICY);
  const dataDir = join(dir, "data");
  mkdirSync(dataDir);
  const otlpPort = await freePort();
  const queryPort = await freePort();
  process.stdout.write(
    `budget-check bench: ${AGENTS.length} agents, sequential ${WARMUP} warm-up + ${SEQUENTIAL} on 1 connection, ` +
      `concurrent ${CONCURRENT} on ${CONNECTIONS} connections\n`,
  );
  const child = await spawnCognive({
    COGNIVE_POLICY: policyFile,
    COGNIVE_DATA_DIR: dataDir,
    COGNIVE_OTLP_PORT: String(otlpPort),
    COGNIVE_PORT: String(queryPort),
  });
  try {
    // Spend: per agent a dozen runs of gpt-4o chat calls; the first run of each is heavy enough to
    // exhaust its per-run budget, and invoice-agent's daily budget runs out.
    const seedAgent = new Agent({ keepAlive: true, maxSockets: 4 });
    const seeded: string[] = [];
    let spans = 0;
    for (const name of AGENTS) {
      for (let t = 0; t < SEED_TRACES_PER_AGENT; t++) {
        const traceId = randomBytes(16).toString("hex");
        seeded.push(traceId);
        const tokens = t === 0 ? 60_000 : 4_000 + 500 * t;
        const res = await send(
          seedAgent,
          otlpPort,
          "POST",
          "/v1/traces",
          otlpBody(name, traceId, SPANS_PER_TRACE, tokens),
        );
        if (res.status !== 200) throw new Error(`OTLP ingest answered ${res.status}: ${res.body}`);
        spans += SPANS_PER_TRACE;
      }
    }
    seedAgent.destroy();

    // Request paths: every agent against seeded runs (some exhausted) and fresh runs, plus no trace id.
    const paths: string[] = [];
    for (let i = 0; i < 1024; i++) {
      const name = AGENTS[i % AGENTS.length];
      const traceId =
        i % 4 === 0 ? seeded[(i * 7) % seeded.length] : i % 4 === 3 ? undefined : randomBytes(16).toString("hex");
      paths.push(`/api/v1/budget-check?agent=${encodeURIComponent(name)}${traceId ? `&traceId=${traceId}` : ""}`);
    }
    // The spend is counted: at least one check is refused (the exhausted runs / invoice-agent's day).
    const probe = new Agent({ keepAlive: true, maxSockets: 1 });
    let refusedSeen = 0;
    for (const p of paths.slice(0, 40)) {
      const r = await send(probe, queryPort, "GET", p);
      if (r.status !== 200) throw new Error(`budget-check answered ${r.status}: ${r.body}`);
      if (!verify(p, r.body).allowed) refusedSeen++;
    }
    probe.destroy();
    if (refusedSeen === 0) throw new Error("no budget check was refused: the seeded spend was not counted");

    let verified = 0;
    let refused = 0;
    async function run(total: number, connections: number, warmup: number): Promise<ModeResult> {
      const agent = new Agent({ keepAlive: true, maxSockets: connections });
      const latencies: number[] = [];
      let next = 0;
      let measuredStart = 0;
      async function worker() {
        for (;;) {
          const n = next++;
          if (n >= warmup + total) return;
          if (n === warmup) measuredStart = performance.now();
          const path = paths[n % paths.length];
          const t0 = performance.now();
          const res = await send(agent, queryPort, "GET", path);
          const t1 = performance.now();
          if (res.status !== 200) throw new Error(`budget-check answered ${res.status}: ${res.body}`);
          if (n % 50 === 0) {
            if (!verify(path, res.body).allowed) refused++;
            verified++;
          }
          if (n >= warmup) latencies.push(t1 - t0);
        }
      }
      if (warmup === 0) measuredStart = performance.now();
      await Promise.all(Array.from({ length: connections }, worker));
      const seconds = (performance.now() - measuredStart) / 1000;
      agent.destroy();
      latencies.sort((a, b) => a - b);
      return {
        requests: latencies.length,
        connections,
        seconds,
        requestsPerSecond: Math.round(latencies.length / seconds),
        latencyMs: {
          p50: percentile(latencies, 50),
          p99: percentile(latencies, 99),
          max: latencies.at(-1) ?? Number.NaN,
        },
      };
    }
    const sequential = await run(SEQUENTIAL, 1, WARMUP);
    const concurrent = await run(CONCURRENT, CONNECTIONS, 0);

    const result = {
      bench: "budget-check",
      date: new Date().toISOString(),
      machine: machine(),
      params: {
        agents: AGENTS,
        seededTraces: seeded.length,
        seededSpans: spans,
        distinctPaths: paths.length,
        warmup: WARMUP,
      },
      sequential,
      concurrent,
      verifiedAnswers: verified,
      refusedAnswersInSample: refused,
    };
    const ms = (n: number) => `${n.toFixed(2)} ms`;
    const header = ["mode", "requests", "p50", "p99", "max", "req/s"];
    const rows = [
      ["sequential (1 conn)", sequential],
      [`concurrent (${CONNECTIONS} conn)`, concurrent],
    ].map(([label, m]) => {
      const r = m as ModeResult;
      return [
        label as string,
        String(r.requests),
        ms(r.latencyMs.p50),
        ms(r.latencyMs.p99),
        ms(r.latencyMs.max),
        String(r.requestsPerSecond),
      ];
    });
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
    process.stdout.write(`\n${[header, ...rows].map(line).join("\n")}\n\n`);
    process.stdout.write(
      `seeded ${spans} chat spans in ${seeded.length} runs; ${verified} answers verified (${refused} refused)\n` +
        `machine: ${result.machine.cores} × ${result.machine.cpuModel}, ${result.machine.memoryGiB} GiB, Node ${result.machine.node}\n`,
    );
    const outDir = join(ROOT, "bench", "out");
    mkdirSync(outDir, { recursive: true });
    const file = join(outDir, `budget-check-${result.date.replace(/[:.]/g, "-")}.json`);
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`\nwritten: ${file}\n`);
  } finally {
    await stopProcess(child);
    rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
