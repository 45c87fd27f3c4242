import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { missingService, type Service, startRedis } from "../../../collector/test/support/services.ts";
import { freePort, spawnCognive, stopProcess } from "../helpers/process.ts";
import { getJson } from "../helpers/server.ts";
import { AGENT, makeWorkload, POLICY, send, sendUntilAcknowledged } from "./workload.ts";

const skip = missingService("redis-server");

describe.skipIf(skip)("Redis-backed budgets after Redis faults", () => {
  const dir = mkdtempSync(join(tmpdir(), "cognive-redis-faults-"));
  let redis: Service;
  let env: Record<string, string>;
  let otlp: string;
  let api: string;
  let proc: ChildProcess | null = null;

  beforeAll(async () => {
    redis = await startRedis();
    writeFileSync(join(dir, "policy.yaml"), POLICY);
    env = {
      COGNIVE_DATA_DIR: join(dir, "data"),
      COGNIVE_OTLP_PORT: String(await freePort()),
      COGNIVE_PORT: String(await freePort()),
      COGNIVE_POLICY: join(dir, "policy.yaml"),
      REDIS_URL: redis.url,
      COGNIVE_BUDGET_RECONCILE_SECONDS: "1",
    };
    otlp = `http://127.0.0.1:${env.COGNIVE_OTLP_PORT}`;
    api = `http://127.0.0.1:${env.COGNIVE_PORT}`;
    proc = await spawnCognive(env);
  }, 60_000);
  afterAll(async () => {
    if (proc) await stopProcess(proc);
    await redis.stop();
    rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
  });

  /** The cost API's total for the agent today, and the day budget's spend. */
  async function figures(): Promise<{ cost: number; budget: number }> {
    const from = Math.floor(Date.now() / 1000) - 86_400;
    const costs = await getJson(`${api}/api/v1/costs?groupBy=agent&from=${from}`);
    const cost = costs.body.series.find((s: { key: string }) => s.key === AGENT)?.totalUsd ?? 0;
    const budgets = await getJson(`${api}/api/v1/budgets`);
    const day = budgets.body.budgets.find(
      (b: { scope: { name: string }; window: string }) => b.scope.name === AGENT && b.window === "day",
    );
    return { cost, budget: day.spendUsd };
  }

  /** Waits (bounded) until the budget equals the cost API's total, to the micro-dollar per call. */
  async function expectConverged(calls: number): Promise<void> {
    const deadline = Date.now() + 20_000;
    let f = await figures();
    while (Math.abs(f.budget - f.cost) > 1e-6 * calls + 1e-9 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      f = await figures();
    }
    expect(f.cost).toBeGreaterThan(0);
    expect(Math.abs(f.budget - f.cost), `day budget ${f.budget} against cost API ${f.cost}`).toBeLessThanOrEqual(
      1e-6 * calls + 1e-9,
    );
  }

  let calls = 0;
  const load = async (seed: number, n = 20) => {
    const work = makeWorkload(n, seed);
    await sendUntilAcknowledged(otlp, work);
    calls += n * 19;
    return work;
  };

  it("re-seeds a Redis that restarted empty", async () => {
    await load(40);
    await expectConverged(calls);
    await redis.stop();
    await redis.start(); // no persistence: every counter is gone
    await load(41, 5);
    await expectConverged(calls);
  }, 60_000);

  it("converges after Redis stops mid-load", async () => {
    const work = makeWorkload(30, 42);
    const sending = send(otlp, work, 4);
    await new Promise((r) => setTimeout(r, 100));
    await redis.stop();
    await sending;
    await sendUntilAcknowledged(otlp, work);
    calls += 30 * 19;
    await redis.start();
    await expectConverged(calls);
  }, 60_000);

  it("converges after a crash during a Redis outage", async () => {
    await redis.stop();
    await load(43);
    (proc as ChildProcess).kill("SIGKILL");
    await new Promise((r) => (proc as ChildProcess).once("exit", r));
    await redis.start();
    proc = await spawnCognive(env);
    await expectConverged(calls);
  }, 60_000);
});
