import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { emitAgentRun, otelProvider } from "../helpers/otel.ts";
import { freePort, spawnCognive, stopProcess } from "../helpers/process.ts";
import { getJson } from "../helpers/server.ts";

describe("embedded restart", () => {
  const dir = mkdtempSync(join(tmpdir(), "cognive-spend-restart-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true, maxRetries: 5 }));

  it("keeps today's spend per agent and team", async () => {
    const policy = join(dir, "policy.yaml");
    writeFileSync(
      policy,
      "teams:\n  cx: { budgets: { daily_usd: 10 } }\nagents:\n  refund-agent: { team: cx, budgets: { daily_usd: 1 } }\n",
    );
    const env = {
      COGNIVE_DATA_DIR: join(dir, "data"),
      COGNIVE_OTLP_PORT: String(await freePort()),
      COGNIVE_PORT: String(await freePort()),
      COGNIVE_POLICY: policy,
    };
    const api = `http://127.0.0.1:${env.COGNIVE_PORT}/api/v1`;
    const daySpend = async () => {
      const b = (await getJson(`${api}/budgets`)).body.budgets;
      return {
        agent: b.find((x: any) => x.scope.name === "refund-agent" && x.window === "day")?.spendUsd,
        team: b.find((x: any) => x.scope.name === "cx" && x.window === "day")?.spendUsd,
      };
    };

    const first = await spawnCognive(env);
    let before: { agent: number; team: number };
    try {
      const provider = otelProvider("proto", `http://127.0.0.1:${env.COGNIVE_OTLP_PORT}`, { "service.name": "svc" });
      emitAgentRun(provider, "refund-agent", [
        { provider: "openai", model: "gpt-4o", input: 10_000, output: 1_000 },
        { provider: "openai", model: "gpt-4o", input: 20_000, output: 500 },
      ]);
      await provider.forceFlush();
      await provider.shutdown();
      // spend is counted right after the commit, off the export's answer: wait for it
      const deadline = Date.now() + 10_000;
      before = await daySpend();
      while (!(before.agent > 0) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        before = await daySpend();
      }
      // gpt-4o at $2.50 / $10 per million: 30,000 in and 1,500 out
      expect(before.agent).toBeCloseTo(0.09, 9);
      expect(before.team).toBeCloseTo(0.09, 9);
    } finally {
      expect(await stopProcess(first)).toBe(0);
    }

    const second = await spawnCognive(env);
    try {
      expect(await daySpend()).toEqual(before);
    } finally {
      await stopProcess(second);
    }
  }, 120_000);
});
