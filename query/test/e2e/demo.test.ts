import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { freePort, runDemo, spawnCognive, stopProcess } from "../helpers/process.ts";
import { getJson } from "../helpers/server.ts";

const ROOT = new URL("../../..", import.meta.url).pathname;

/** `npm run demo` against the Cognive on these ports, to the end. */
const demoOn = (env: { COGNIVE_OTLP_PORT: string; COGNIVE_PORT: string }) =>
  runDemo({ otlpUrl: `http://127.0.0.1:${env.COGNIVE_OTLP_PORT}`, apiUrl: `http://127.0.0.1:${env.COGNIVE_PORT}` });

describe("npm run demo", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "cognive-demo-"));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true, maxRetries: 5 }));

  it("fills a fresh Cognive with three agents in two teams within a minute; the guard stops the overspender", async () => {
    const env = {
      COGNIVE_DATA_DIR: dataDir,
      COGNIVE_OTLP_PORT: String(await freePort()),
      COGNIVE_PORT: String(await freePort()),
      COGNIVE_POLICY: join(ROOT, "demo/policy.yaml"),
    };
    const server = await spawnCognive(env);
    try {
      const started = Date.now();
      const demo = demoOn(env);
      expect(demo.stderr).toBe("");
      expect(demo.status).toBe(0);
      expect(Date.now() - started).toBeLessThan(60_000);
      expect(demo.stdout).toMatch(/Where to look/);
      // The SDK's guard stops the overspending run once its per-run budget is used up.
      expect(demo.stdout).toMatch(/The budget guard stopped the overspending run after \d+ of 12 steps/);
      const api = `http://127.0.0.1:${env.COGNIVE_PORT}/api/v1`;
      const agents = await getJson(`${api}/costs?groupBy=agent`);
      expect(agents.body.series.map((s: any) => s.key).sort()).toEqual([
        "invoice-agent",
        "refund-agent",
        "triage-agent",
      ]);
      const teams = await getJson(`${api}/costs?groupBy=team`);
      expect(teams.body.series.map((s: any) => s.key).sort()).toEqual(["cx", "finance"]);
      const models = await getJson(`${api}/costs?groupBy=model`);
      expect(models.body.series.length).toBeGreaterThanOrEqual(4);
      const providers = await getJson(`${api}/costs?groupBy=provider`);
      expect(providers.body.series.map((s: any) => s.key).sort()).toEqual(["anthropic", "openai"]);
      const errors = await getJson(`${api}/traces?status=error&limit=5`);
      expect(errors.body.traces.length).toBeGreaterThan(0);
      // triage-agent may not use gpt-4o and friends: the policy file in demo/ makes that an alert
      const alerts = await getJson(`${api}/alerts?limit=1000`);
      const kinds = new Set(alerts.body.alerts.map((a: any) => a.kind));
      expect(kinds.has("budget.threshold")).toBe(true);
      // The Budgets view has every declared budget, with spend.
      const budgets = await getJson(`${api}/budgets`);
      expect(budgets.body.budgets.length).toBeGreaterThanOrEqual(7);
      expect(budgets.body.budgets.some((b: any) => b.spendUsd > 0)).toBe(true);
    } finally {
      await stopProcess(server);
    }
  }, 120_000);

  it("on a Cognive started without a policy (plain npm start) prints the restart line and sends nothing", async () => {
    const env = {
      COGNIVE_DATA_DIR: mkdtempSync(join(tmpdir(), "cognive-demo-nopolicy-")),
      COGNIVE_OTLP_PORT: String(await freePort()),
      COGNIVE_PORT: String(await freePort()),
    };
    const server = await spawnCognive(env);
    try {
      const demo = demoOn(env);
      expect(demo.status).toBe(1);
      expect(demo.stderr).toContain("has no budgets");
      expect(demo.stderr).toContain("\n  COGNIVE_POLICY=demo/policy.yaml npm start\n");
      const costs = await getJson(`http://127.0.0.1:${env.COGNIVE_PORT}/api/v1/costs?groupBy=agent`);
      expect(costs.body.series).toEqual([]);
    } finally {
      await stopProcess(server);
      rmSync(env.COGNIVE_DATA_DIR, { recursive: true, force: true, maxRetries: 5 });
    }
  }, 120_000);
});
