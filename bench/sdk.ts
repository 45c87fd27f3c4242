/**
 * @cognive/sdk hot-path overhead: time spent on the agent's thread per instrumented call, with a live
 * collector (a real Cognive started in-process) and with a dead endpoint (a closed loopback port).
 *   npx tsx bench/sdk.ts [--calls 200000] [--warmup 50000] [--chunk 1000]
 *
 * Calls run in synchronous chunks; the figure is the time inside the chunks divided by the calls: what
 * the agent's thread pays per span (span creation, attributes, usage extraction, hand-off to the batch
 * processor). Serialisation and HTTP run outside the call (the exporter is deferred with setImmediate).
 * - live: after each chunk the bench waits until the queue has room for the next chunk, so every span
 *   is exported and none is dropped: the figure is the full, non-dropping path.
 * - dead: no pacing (one event-loop turn per chunk), as during an outage: exports fail, the queue stays
 *   full and most spans take the (cheaper) drop path; the exported/dropped columns show this.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type Cognive, createCognive, type Stats } from "@cognive/sdk";
import { startTestServer } from "../query/test/helpers/server.ts";
import { freePort, machine, ROOT } from "./lib.ts";

const { values: args } = parseArgs({
  options: {
    calls: { type: "string", default: "200000" },
    warmup: { type: "string", default: "50000" },
    chunk: { type: "string", default: "500" },
  },
});
const CALLS = Number(args.calls);
const WARMUP = Number(args.warmup);
const CHUNK = Number(args.chunk);
const TARGET_US = 5;

const chatCompletion = {
  id: "chatcmpl-bench",
  object: "chat.completion",
  created: 1_760_000_000,
  model: "gpt-4o-2024-08-06",
  choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }],
  usage: {
    prompt_tokens: 1200,
    completion_tokens: 300,
    total_tokens: 1500,
    prompt_tokens_details: { cached_tokens: 1024 },
    completion_tokens_details: { reasoning_tokens: 64 },
  },
};

type Op = { name: string; run: (c: Cognive) => unknown };
const OPS: Op[] = [
  { name: 'toolCall("x", () => 1)', run: (c) => c.toolCall("x", () => 1) },
  {
    name: "llmCall, Chat Completions result",
    run: (c) => c.llmCall({ provider: "openai", model: "gpt-4o" }, () => chatCompletion),
  },
];

interface Row {
  collector: "live" | "dead";
  op: string;
  calls: number;
  usPerCall: number;
  wallUsPerCall: number;
  stats: Stats;
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

const MAX_QUEUE = 2048;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function measure(c: Cognive, op: Op, calls: number, paced: boolean): Promise<{ busyNs: bigint; wallNs: bigint }> {
  let busyNs = 0n;
  const wall0 = process.hrtime.bigint();
  for (let done = 0; done < calls; done += CHUNK) {
    const n = Math.min(CHUNK, calls - done);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) op.run(c);
    busyNs += process.hrtime.bigint() - t0;
    await turn();
    if (paced) while (c.stats().queuedSpans > MAX_QUEUE - CHUNK) await sleep(1);
  }
  return { busyNs, wallNs: process.hrtime.bigint() - wall0 };
}

async function runMode(collector: "live" | "dead", endpoint: string): Promise<Row[]> {
  const rows: Row[] = [];
  for (const op of OPS) {
    const c = createCognive({ serviceName: "bench-sdk", agent: "bench", endpoint, maxQueueSize: MAX_QUEUE });
    const paced = collector === "live";
    await measure(c, op, WARMUP, paced);
    await c.flush();
    const before = c.stats();
    const { busyNs, wallNs } = await measure(c, op, CALLS, paced);
    await c.flush();
    const after = c.stats();
    await c.shutdown();
    rows.push({
      collector,
      op: op.name,
      calls: CALLS,
      usPerCall: Number(busyNs) / 1000 / CALLS,
      wallUsPerCall: Number(wallNs) / 1000 / CALLS,
      stats: {
        droppedSpans: after.droppedSpans - before.droppedSpans,
        exportedSpans: after.exportedSpans - before.exportedSpans,
        failedExports: after.failedExports - before.failedExports,
        failedSpans: after.failedSpans - before.failedSpans,
        queuedSpans: after.queuedSpans,
        maxQueuedSpans: after.maxQueuedSpans,
      },
    });
    process.stdout.write(`${collector} ${op.name}: ${rows.at(-1)!.usPerCall.toFixed(2)} µs/call\n`);
  }
  return rows;
}

async function main() {
  const server = await startTestServer();
  let rows: Row[];
  try {
    rows = await runMode("live", server.otlpUrl);
    rows.push(...(await runMode("dead", `http://127.0.0.1:${await freePort()}`)));
  } finally {
    await server.stop();
  }
  const header = [
    "collector",
    "operation",
    "µs/call (agent thread)",
    "µs/call (wall, incl. waiting)",
    "exported",
    "dropped",
  ];
  const table = [
    header,
    ...rows.map((r) => [
      r.collector,
      r.op,
      r.usPerCall.toFixed(2),
      r.wallUsPerCall.toFixed(2),
      String(r.stats.exportedSpans),
      String(r.stats.droppedSpans),
    ]),
  ];
  const widths = header.map((_, i) => Math.max(...table.map((row) => row[i].length)));
  process.stdout.write(`\n${table.map((row) => row.map((cell, i) => cell.padEnd(widths[i])).join("  ")).join("\n")}\n`);
  const worst = Math.max(...rows.map((r) => r.usPerCall));
  process.stdout.write(
    `\ntarget ≤ ${TARGET_US} µs per span: ${worst <= TARGET_US ? "met" : "NOT met"} (worst ${worst.toFixed(2)} µs)\n`,
  );
  const result = {
    benchmark: "sdk",
    date: new Date().toISOString(),
    machine: machine(),
    calls: CALLS,
    warmup: WARMUP,
    chunk: CHUNK,
    targetUsPerSpan: TARGET_US,
    rows,
  };
  const outDir = join(ROOT, "bench", "out");
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, `sdk-${result.date.replace(/[:.]/g, "-")}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`\nwritten: ${file}\n`);
}

await main();
