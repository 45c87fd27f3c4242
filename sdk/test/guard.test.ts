import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { trace } from "@opentelemetry/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../query/test/helpers/process.ts";
import { startTestServer, type TestServer } from "../../query/test/helpers/server.ts";
import { BudgetExceededError, createBudget, createCognive, GUARD_DENIED_EVENT } from "../src/index.ts";
import { chatCompletion } from "./fixtures.ts";

const dir = mkdtempSync(join(tmpdir(), "cognive-guard-"));
let server: TestServer;

beforeAll(async () => {
  const policy = join(dir, "policy.yaml");
  writeFileSync(policy, "agents:\n  spender:\n    budgets: { per_run_usd: 0.001 }\n");
  server = await startTestServer({ COGNIVE_POLICY: policy });
}, 60_000);
afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("budget.guard", () => {
  it("stops a run once the collector has counted it over its per-run budget", async () => {
    const cognive = createCognive({
      serviceName: "guard-test",
      agent: "spender",
      endpoint: server.otlpUrl,
      apiUrl: server.queryUrl,
      scheduledDelayMillis: 10,
    });
    let steps = 0;
    let traceId = "";
    const outcome = await cognive
      .agentRun("spender", async () => {
        traceId = trace.getActiveSpan()?.spanContext().traceId ?? "";
        for (let i = 0; i < 200; i++) {
          await cognive.budget.guard();
          await cognive.llmCall({ provider: "openai", model: "gpt-4o" }, async () => chatCompletion);
          steps++;
          await cognive.flush();
          await new Promise((r) => setTimeout(r, 20));
        }
        return "ran to the end";
      })
      .catch((err: unknown) => err);
    await cognive.shutdown();
    expect(outcome).toBeInstanceOf(BudgetExceededError);
    const err = outcome as BudgetExceededError;
    expect(err.agent).toBe("spender");
    expect(err.reasons[0]).toMatch(/agent spender run budget exhausted/);
    // one gpt-4o call of the fixture costs more than $0.001: the guard stops within a few steps
    expect(steps).toBeGreaterThanOrEqual(1);
    expect(steps).toBeLessThan(200);
    // The run's span says why it stopped, for the trace view.
    const detail = await (await fetch(`${server.queryUrl}/api/v1/traces/${traceId}`)).json();
    const run = detail.spans.find((s: any) => s.parentSpanId === "");
    const denied = run.events.find((e: any) => e.name === GUARD_DENIED_EVENT);
    expect(denied?.attributes["cognive.budget.agent"]).toBe("spender");
  });

  it("lets agents without a budget, and any agent when the API cannot be reached, go on", async () => {
    await expect(createBudget({ apiUrl: server.queryUrl, agent: "free-agent" }).guard()).resolves.toBeUndefined();
    const dead = createBudget({ apiUrl: `http://127.0.0.1:${await freePort()}`, agent: "spender", timeoutMillis: 200 });
    await expect(dead.guard({ traceId: "a".repeat(32) })).resolves.toBeUndefined();
    await expect(createBudget({}).guard()).resolves.toBeUndefined(); // no agent named: nothing to check
  });
});
