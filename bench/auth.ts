/**
 * What keys cost. Three measures:
 *  1. the auth step alone, in process: `check` of a Bearer and of a Basic header (SHA-256 of the key,
 *     a map lookup, a constant-time compare) and an in-memory rate-limit take, per call;
 *  2. ingest end to end, keys off and required, alternating so both see the same machine: spans/s and
 *     the server's CPU per span (from /proc);
 *  3. a request answered from memory (`GET /api/v1/budget-check`, counters in process), keys off and
 *     required: latency over sequential requests.
 *
 *   npx tsx bench/auth.ts [--seconds 10] [--rounds 2] [--requests 2000]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { Agent } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createStorage, generateKey, loadEnvConfig, migrate, silentLogger, startAuth } from "@cognive/collector";
import { cpuSeconds, freePort, machine, percentile, serverPids, spawnCognive, stopProcess } from "./lib.ts";
import { buildTemplate, patched, send } from "./workload.ts";

const { values: args } = parseArgs({
  options: {
    seconds: { type: "string", default: "10" },
    rounds: { type: "string", default: "2" },
    requests: { type: "string", default: "2000" },
  },
});
const SECONDS = Number(args.seconds);
const ROUNDS = Number(args.rounds);
const REQUESTS = Number(args.requests);
const ADMIN = generateKey().key;

function timeIt(n: number, fn: () => unknown): number {
  for (let i = 0; i < Math.min(n, 10_000); i++) fn();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) fn();
  return ((performance.now() - t0) * 1000) / n;
}

async function micro(): Promise<Record<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), "cognive-bench-auth-"));
  const storage = createStorage({ dataDir: dir, database: "cognive" });
  await migrate(storage);
  const config = loadEnvConfig({ COGNIVE_AUTH: "required", COGNIVE_ADMIN_KEY: ADMIN, COGNIVE_DATA_DIR: dir });
  const auth = await startAuth({ storage, config, log: silentLogger });
  const { key } = await auth.keys.create({ name: "bench", role: "ingest", teams: ["t"] });
  const bearer = `Bearer ${key}`;
  const basic = `Basic ${Buffer.from(`x:${key}`).toString("base64")}`;
  const identity = auth.check(bearer, "127.0.0.1");
  if (!identity.ok) throw new Error("the bench key was refused");
  const unknown = Array.from({ length: 1000 }, () => `Bearer ${generateKey().key}`);
  let i = 0;
  const limited = { ...identity.identity, rateLimit: { requestsPerSecond: 1e9, spansPerSecond: null } };
  const out = {
    "check(Bearer), µs": timeIt(200_000, () => auth.check(bearer, "127.0.0.1")),
    "check(Basic), µs": timeIt(200_000, () => auth.check(basic, "127.0.0.1")),
    "check(unknown key), µs": timeIt(200_000, () => auth.check(unknown[i++ % unknown.length], "127.0.0.1")),
    "rate-limit take (memory), µs": 0,
  };
  const n = 200_000;
  const t0 = performance.now();
  for (let k = 0; k < n; k++) await auth.limit(limited, "requests");
  out["rate-limit take (memory), µs"] = ((performance.now() - t0) * 1000) / n;
  await auth.close();
  await storage.close();
  rmSync(dir, { recursive: true, force: true });
  return out;
}

interface Run {
  spansPerSecond: number;
  cpuUsPerSpan: number;
  cachedP50Ms: number;
  cachedP99Ms: number;
}

async function endToEnd(required: boolean): Promise<Run> {
  const dataDir = mkdtempSync(join(tmpdir(), "cognive-bench-auth-"));
  const otlpPort = await freePort();
  const queryPort = await freePort();
  const child = await spawnCognive({
    COGNIVE_DATA_DIR: dataDir,
    COGNIVE_OTLP_PORT: String(otlpPort),
    COGNIVE_PORT: String(queryPort),
    COGNIVE_AUTH: required ? "required" : "off",
    COGNIVE_ADMIN_KEY: ADMIN,
  });
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  try {
    const auth: Record<string, string> = {};
    if (required) {
      const body = Buffer.from(JSON.stringify({ name: "bench", role: "ingest", teams: ["bench"] }));
      const res = await send(
        agent,
        queryPort,
        "POST",
        "/api/v1/keys",
        { authorization: `Bearer ${ADMIN}`, "content-type": "application/json", "content-length": body.length },
        body,
      );
      auth.authorization = `Bearer ${JSON.parse(res.body.toString()).key}`;
    }
    const tpl = buildTemplate(64);
    let requestNo = 1;
    let spans = 0;
    const pids = serverPids(child.pid ?? 0);
    const warmEnd = performance.now() + 2000;
    const end = warmEnd + SECONDS * 1000;
    let cpuAtStart = 0;
    let measureFrom = 0;
    const worker = async () => {
      while (performance.now() < end) {
        const body = patched(tpl, requestNo++);
        const res = await send(
          agent,
          otlpPort,
          "POST",
          "/v1/traces",
          { "content-type": "application/x-protobuf", "content-length": body.length, ...auth },
          body,
        );
        if (res.status !== 200) throw new Error(`ingest answered ${res.status}: ${res.body}`);
        if (performance.now() >= warmEnd) {
          if (measureFrom === 0) {
            measureFrom = performance.now();
            cpuAtStart = cpuSeconds(pids);
          }
          spans += tpl.spans;
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    const seconds = (performance.now() - measureFrom) / 1000;
    const cpu = cpuSeconds(pids) - cpuAtStart;

    // A request answered from memory, one at a time.
    const latencies: number[] = [];
    for (let i = 0; i < REQUESTS; i++) {
      const t0 = performance.now();
      const res = await send(agent, queryPort, "GET", "/api/v1/budget-check?agent=bench", auth);
      latencies.push(performance.now() - t0);
      if (res.status !== 200) throw new Error(`budget-check answered ${res.status}`);
    }
    latencies.sort((a, b) => a - b);
    return {
      spansPerSecond: Math.round(spans / seconds),
      cpuUsPerSpan: (cpu * 1e6) / spans,
      cachedP50Ms: percentile(latencies, 50),
      cachedP99Ms: percentile(latencies, 99),
    };
  } finally {
    agent.destroy();
    await stopProcess(child);
    rmSync(dataDir, { recursive: true, force: true, maxRetries: 5 });
  }
}

async function main() {
  const m = machine();
  process.stdout.write(`auth bench on ${m.cores} × ${m.cpuModel}, ${m.memoryGiB} GiB, Node ${m.node}\n\n`);
  for (const [what, us] of Object.entries(await micro())) process.stdout.write(`${what.padEnd(32)} ${us.toFixed(2)}\n`);
  process.stdout.write("\nkeys    spans/s   server CPU µs/span   budget-check p50 / p99\n");
  for (let round = 0; round < ROUNDS; round++) {
    for (const required of [false, true]) {
      const r = await endToEnd(required);
      process.stdout.write(
        `${(required ? "required" : "off").padEnd(8)}${String(r.spansPerSecond).padStart(8)}   ${r.cpuUsPerSpan.toFixed(1).padStart(18)}   ${r.cachedP50Ms.toFixed(2)} / ${r.cachedP99Ms.toFixed(2)} ms\n`,
      );
    }
  }
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exit(1);
});
