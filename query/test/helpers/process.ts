import { type ChildProcess, type SpawnSyncReturns, spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { freePort } from "../../../collector/test/support/services.ts";
import { FIXTURE_RETENTION } from "../../../collector/test/support/storage.ts";

const QUERY_DIR = new URL("../..", import.meta.url).pathname;

export { freePort };

/**
 * Runs `demo/run.ts` as `npm run demo` does (tsx, @cognive/* from their sources) against the given
 * Cognive: `otlpUrl` for spans, `apiUrl` for the budget guard.
 */
export function runDemo(
  urls: { otlpUrl: string; apiUrl: string },
  env: Record<string, string> = {},
  timeoutMs = 90_000,
): SpawnSyncReturns<string> {
  const root = join(QUERY_DIR, "..");
  return spawnSync(process.execPath, ["--conditions=cognive-source", "--import", "tsx", join(root, "demo/run.ts")], {
    cwd: root,
    env: { ...process.env, COGNIVE_OTLP_URL: urls.otlpUrl, COGNIVE_API_URL: urls.apiUrl, ...env },
    encoding: "utf8",
    timeout: timeoutMs,
  });
}

/** The value of an unlabelled metric on a collector's `/metrics`; NaN when it is not there. */
export async function metricValue(otlpUrl: string, metric: string): Promise<number> {
  const text = await (await fetch(`${otlpUrl}/metrics`)).text();
  return Number(new RegExp(`^${metric} (\\S+)$`, "m").exec(text)?.[1] ?? Number.NaN);
}

/**
 * Resolves once gauge `metric` on the collector's `/metrics` reads 0, polled every 200 ms (a scrape
 * costs the server a few ms of CPU, which a benchmark waiting here counts).
 */
export async function metricZero(otlpUrl: string, metric: string, what: string, timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await metricValue(otlpUrl, metric)) === 0) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} within ${timeoutMs / 1000} s`);
}

/**
 * Resolves once a `cognive` process answering after its write-ahead log (`COGNIVE_INGEST_ACK=wal`)
 * has loaded everything it answered into storage, as its `/metrics` on the OTLP port say.
 */
export const walDrained = (otlpUrl: string, timeoutMs?: number) =>
  metricZero(otlpUrl, "cognive_wal_waiting_bytes", "the write-ahead log did not drain", timeoutMs);

/** Settings that keep dated fixtures (from 2023 on) past the default retention. */
export const FIXTURE_ENV = {
  COGNIVE_RETENTION_DAYS: String(FIXTURE_RETENTION.spans),
  COGNIVE_ROLLUP_RETENTION_DAYS: String(FIXTURE_RETENTION.rollups),
};

/**
 * Starts `cognive <command>` (`start` unless named) as its own process (the bin users run) and
 * resolves once it is ready: on the OTLP port, or for `query` on the query port. The OTLP/gRPC port
 * is a free one unless `env` names it, so that processes never collide on 4317.
 */
export async function spawnCognive(
  env: Record<string, string>,
  nodeArgs: string[] = [],
  command: "start" | "collector" | "query" = "start",
): Promise<ChildProcess> {
  const grpcPort = env.COGNIVE_GRPC_PORT ?? String(await freePort());
  const child = spawn(process.execPath, [...nodeArgs, join(QUERY_DIR, "bin/cognive.js"), command], {
    env: { ...process.env, COGNIVE_LOG_LEVEL: "warn", ...FIXTURE_ENV, ...env, COGNIVE_GRPC_PORT: grpcPort },
    stdio: ["ignore", "inherit", "inherit"],
  });
  const readyPort = command === "query" ? env.COGNIVE_PORT : env.COGNIVE_OTLP_PORT;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    try {
      const r = await fetch(`http://127.0.0.1:${readyPort}/readyz`);
      if (r.ok) return child;
    } catch {
      /* not up yet */
    }
    if (child.exitCode !== null) throw new Error(`cognive ${command} exited with ${child.exitCode}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  child.kill();
  throw new Error(`cognive ${command} did not become ready within 60 s`);
}

/** Runs a one-shot `cognive <args>` (migrate, keys…) to its end. */
export function runCognive(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [join(QUERY_DIR, "bin/cognive.js"), ...args], {
    env: { ...process.env, COGNIVE_LOG_LEVEL: "info", ...FIXTURE_ENV, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c) => {
    stdout += c;
  });
  child.stderr.on("data", (c) => {
    stderr += c;
  });
  return new Promise((resolve) => child.once("close", (code) => resolve({ code, stdout, stderr })));
}

/** SIGTERM, then wait for the process to flush and exit. */
export function stopProcess(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    child.once("exit", (code) => resolve(code));
    child.kill("SIGTERM");
  });
}
