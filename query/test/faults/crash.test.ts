import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createStorage } from "@cognive/collector";
import { afterAll, describe, expect, it } from "vitest";
import { freePort, spawnCognive, stopProcess, walDrained } from "../helpers/process.ts";
import { expectStoredOnce, makeWorkload, POLICY, send, sendUntilAcknowledged, type Workload } from "./workload.ts";

type Ack = "storage" | "wal";

/** A real `cognive start` process on a data directory that outlives it, answering requests after `ack`. */
async function cognive(dir: string, ack: Ack = "storage", extra: Record<string, string> = {}) {
  const policy = join(dir, "policy.yaml");
  writeFileSync(policy, POLICY);
  const env = {
    COGNIVE_DATA_DIR: join(dir, "data"),
    COGNIVE_OTLP_PORT: String(await freePort()),
    COGNIVE_PORT: String(await freePort()),
    COGNIVE_POLICY: policy,
    COGNIVE_INGEST_ACK: ack,
    ...extra,
  };
  const otlp = `http://127.0.0.1:${env.COGNIVE_OTLP_PORT}`;
  return {
    env,
    otlp,
    api: `http://127.0.0.1:${env.COGNIVE_PORT}`,
    start: () => spawnCognive(env),
    /** Resolves once what was acknowledged is in storage (at once unless acknowledged after the log). */
    async loaded(): Promise<void> {
      if (ack === "wal") await walDrained(otlp);
    },
  };
}

/** Starts the process again, resends every request `times` times, and checks each is stored and counted once. */
async function restartAndResend(c: Awaited<ReturnType<typeof cognive>>, work: Workload, times = 1): Promise<void> {
  const proc = await c.start();
  try {
    for (let i = 0; i < times; i++) {
      await sendUntilAcknowledged(c.otlp, work);
      await c.loaded();
      await expectStoredOnce(c.api, work, { budget: true });
    }
  } finally {
    await stopProcess(proc);
  }
}

function killed(proc: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
    proc.once("exit", () => resolve());
    proc.kill("SIGKILL");
  });
}

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "cognive-crash-"));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true, maxRetries: 5 });
});

describe.each<Ack>(["storage", "wal"])("exactly once across crashes and restarts, answered after %s", (ack) => {
  it("kill -9 under load, restart, resend every request: each trace has its spans once, costs and budgets count each call once", async () => {
    const c = await cognive(tempDir(), ack);
    const work = makeWorkload(80, 1);
    const proc = await c.start();
    let acked = 0;
    const sending = send(c.otlp, work, 8);
    // Kill once a third is acknowledged, with requests (and inserts) in flight.
    const poll = setInterval(async () => {
      const res = await fetch(`${c.otlp}/metrics`).catch(() => null);
      const line = (await res?.text())?.split("\n").find((l) => l.startsWith("cognive_spans_accepted_total "));
      acked = Number(line?.split(" ")[1] ?? 0);
    }, 20);
    while (acked < (work.length / 3) * 20 && proc.exitCode === null) await new Promise((r) => setTimeout(r, 10));
    clearInterval(poll);
    await killed(proc);
    const first = await sending;
    expect(first.some((a) => a instanceof Error || a.status !== 200)).toBe(true);

    // A client that never saw the answers resends once more: nothing changes.
    await restartAndResend(c, work, 2);
  }, 180_000);

  it("kill -9 right after every request was answered: all of it is stored and counted once, with no resend", async () => {
    // Loads a minute apart: with the log, everything acknowledged is still only in it at the kill.
    const c = await cognive(tempDir(), ack, { COGNIVE_WAL_LOAD_MS: "60000" });
    const work = makeWorkload(30, 4);
    const proc = await c.start();
    await sendUntilAcknowledged(c.otlp, work);
    await killed(proc);
    const again = await c.start();
    try {
      await c.loaded();
      await expectStoredOnce(c.api, work, { budget: true });
    } finally {
      await stopProcess(again);
    }
  }, 180_000);

  it("SIGTERM, restart, resend: stored and counted once; the stop answers what it accepted", async () => {
    const c = await cognive(tempDir(), ack);
    const work = makeWorkload(40, 2);
    const proc = await c.start();
    const sending = send(c.otlp, work, 4);
    await new Promise((r) => setTimeout(r, 300));
    // A clean stop under load (how long it takes is measured by bench/ingest.ts, not asserted here).
    expect(await stopProcess(proc)).toBe(0);
    await sending;
    await restartAndResend(c, work);
  }, 180_000);
});

describe("repair after a crash", () => {
  it("repairs at start what a crash between the span table and its views left, before budgets are rebuilt", async () => {
    const c = await cognive(tempDir());
    const work = makeWorkload(20, 3);
    const proc = await c.start();
    await sendUntilAcknowledged(c.otlp, work);
    expect(await stopProcess(proc)).toBe(0);
    // As a kill -9 after the span table's part but before its views' parts: the derived rows are gone.
    const storage = createStorage({ dataDir: c.env.COGNIVE_DATA_DIR, database: "cognive" });
    try {
      for (const table of [
        "llm_rollup_1m",
        "llm_histogram_1m",
        "agent_runs_1m",
        "trace_summary",
        "otel_traces_trace_id_ts",
      ]) {
        await storage.client.command({ query: `TRUNCATE TABLE cognive.${table}` });
      }
    } finally {
      await storage.close();
    }
    await restartAndResend(c, work);
  }, 180_000);
});
