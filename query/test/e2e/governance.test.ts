import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { emitAgentRun, otelProvider } from "../helpers/otel.ts";
import { getJson, startTestServer, type TestServer } from "../helpers/server.ts";
import { until } from "../helpers/until.ts";
import { startWebhookReceiver, type WebhookHit } from "../helpers/webhook.ts";

const SECRET = "s3cret";
let hook: Awaited<ReturnType<typeof startWebhookReceiver>>;
let received: WebhookHit[];
let server: TestServer;
const dir = mkdtempSync(join(tmpdir(), "cognive-gov-"));

beforeAll(async () => {
  hook = await startWebhookReceiver();
  received = hook.hits;
  const policyFile = join(dir, "policy.yaml");
  writeFileSync(
    policyFile,
    `teams:
  cx: { budgets: { daily_usd: 100 } }
agents:
  refund-agent:
    team: cx
    allowed_models: ["gpt-4o*"]
    approved_tools: [lookup_order]
    budgets: { per_run_usd: 0.02, daily_usd: 5 }
alerts:
  thresholds: [0.5, 0.8, 1.0]
  sinks:
    - { type: webhook, url: "${hook.url}", secret: "${SECRET}" }
`,
  );
  server = await startTestServer({ COGNIVE_POLICY: policyFile });
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await hook?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("governance end to end", () => {
  it("a run crossing 50, 80 and 100 % raises three alerts: signed webhooks, the SSE stream, the alerts API", async () => {
    const sse = await fetch(`${server.queryUrl}/api/v1/alerts/stream`);
    expect(sse.headers.get("content-type")).toContain("text/event-stream");
    const reader = sse.body!.getReader();
    let streamed = "";
    const pump = (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        streamed += new TextDecoder().decode(value);
      }
    })();

    // gpt-4o: 1000 in + 100 out = $0.0035 per call; 6 calls = $0.021 against a $0.02 run budget.
    const provider = otelProvider("proto", server.otlpUrl, { "service.name": "support-bot", "cognive.team": "cx" });
    const calls = Array.from({ length: 6 }, () => ({ provider: "openai", model: "gpt-4o", input: 1000, output: 100 }));
    const traceId = emitAgentRun(provider, "refund-agent", calls);
    await provider.forceFlush();
    await provider.shutdown();

    const hooks = await until("three webhook deliveries", async () => {
      const budget = received
        .map((r) => ({ ...r, alert: JSON.parse(r.body) }))
        .filter((r) => r.alert.kind === "budget.threshold");
      return budget.length >= 3 ? budget : undefined;
    });
    await new Promise((r) => setTimeout(r, 300)); // anything more would be a duplicate
    const budgetHooks = received.filter((r) => JSON.parse(r.body).kind === "budget.threshold");
    expect(budgetHooks).toHaveLength(3);
    expect(hooks.map((h) => h.alert.threshold)).toEqual([50, 80, 100]);
    for (const h of hooks) {
      expect(h.signature).toBe(`sha256=${createHmac("sha256", SECRET).update(h.body).digest("hex")}`);
      expect(h.alert).toMatchObject({
        agent: "refund-agent",
        team: "cx",
        traceId,
        scope: { type: "agent", window: "run" },
      });
    }
    // the tool lookup_order is approved and gpt-4o is allowed: no policy alerts
    expect(received.some((r) => JSON.parse(r.body).kind !== "budget.threshold")).toBe(false);

    await until("three alerts on the SSE stream", async () =>
      (streamed.match(/event: alert/g) ?? []).length >= 3 ? true : undefined,
    );
    await reader.cancel();
    await pump.catch(() => undefined);

    const listed = await getJson(`${server.queryUrl}/api/v1/alerts?kind=budget.threshold`);
    expect(listed.body.alerts.map((a: any) => a.threshold).sort()).toEqual([100, 50, 80]);

    const check = await getJson(`${server.queryUrl}/api/v1/budget-check?agent=refund-agent&traceId=${traceId}`);
    expect(check.status).toBe(200);
    expect(check.body.allowed).toBe(false);
    expect(check.body.remainingUsd).toBe(0);
    expect(check.body.reasons[0]).toMatch(/agent refund-agent run budget exhausted/);

    const fresh = await getJson(`${server.queryUrl}/api/v1/budget-check?agent=refund-agent&traceId=${"f".repeat(32)}`);
    expect(fresh.body.allowed).toBe(true);
    expect(fresh.body.remainingUsd).toBeCloseTo(0.02, 10);

    const budgets = await getJson(`${server.queryUrl}/api/v1/budgets`);
    const day = budgets.body.budgets.find((b: any) => b.scope.name === "refund-agent" && b.window === "day");
    expect(day.limitUsd).toBe(5);
    expect(day.spendUsd).toBeCloseTo(0.021, 10);
    const team = budgets.body.budgets.find((b: any) => b.scope.type === "team" && b.window === "day");
    expect(team.spendUsd).toBeCloseTo(0.021, 10);

    const metrics = await (await fetch(`${server.otlpUrl}/metrics`)).text();
    expect(Number(/^cognive_alerts_raised_total (\S+)$/m.exec(metrics)?.[1])).toBe(3);
    expect(metrics).toMatch(/^cognive_alert_deliveries_pending 0$/m);
    expect(metrics).toMatch(/^cognive_governance_pending_spans 0$/m);
  });

  it("raises model-not-allowed and tool-not-approved alerts", async () => {
    const before = received.length;
    const provider = otelProvider("json", server.otlpUrl, { "service.name": "support-bot" });
    const tracer = provider.getTracer("t");
    tracer
      .startSpan("chat claude-3-opus", {
        attributes: {
          "gen_ai.operation.name": "chat",
          "gen_ai.provider.name": "anthropic",
          "gen_ai.request.model": "claude-3-opus-20240229",
          "gen_ai.agent.name": "refund-agent",
          "gen_ai.usage.input_tokens": 10,
          "gen_ai.usage.output_tokens": 1,
        },
      })
      .end();
    tracer
      .startSpan("execute_tool delete_customer", {
        attributes: {
          "gen_ai.operation.name": "execute_tool",
          "gen_ai.tool.name": "delete_customer",
          "gen_ai.agent.name": "refund-agent",
        },
      })
      .end();
    await provider.forceFlush();
    await provider.shutdown();
    const kinds = await until("two policy alerts", async () => {
      const k = received.slice(before).map((r) => JSON.parse(r.body).kind);
      return k.length >= 2 ? k : undefined;
    });
    expect(kinds.sort()).toEqual(["policy.model_not_allowed", "policy.tool_not_approved"]);
    // The resource names no team: the policy's team for refund-agent is used.
    expect(received.slice(before).map((r) => JSON.parse(r.body).team)).toEqual(["cx", "cx"]);
  });

  it("lists agents: declared policy and what they did", async () => {
    const { status, body } = await getJson(`${server.queryUrl}/api/v1/agents`);
    expect(status).toBe(200);
    const refund = body.agents.find((a: any) => a.name === "refund-agent");
    expect(refund).toMatchObject({
      declared: true,
      team: "cx",
      policy: {
        allowedModels: ["gpt-4o*"],
        approvedTools: ["lookup_order"],
        budgets: { perRunUsd: 0.02, dailyUsd: 5, monthlyUsd: null },
      },
      calls: 7,
      errorRate: 0,
      violations: 2,
    });
    expect(refund.models).toEqual(["claude-3-opus-20240229", "gpt-4o"]);
    expect(refund.tools).toEqual(["delete_customer", "lookup_order"]);
    expect(refund.spendUsd).toBeGreaterThan(0.021);
    expect(refund.spendTodayUsd).toBe(refund.spendUsd);
    expect(Date.parse(refund.firstSeen)).toBeLessThanOrEqual(Date.parse(refund.lastSeen));
    expect((await getJson(`${server.queryUrl}/api/v1/agents?from=abc`)).status).toBe(400);
  });

  it("validates budget-check parameters", async () => {
    expect((await getJson(`${server.queryUrl}/api/v1/budget-check`)).status).toBe(400);
    expect((await getJson(`${server.queryUrl}/api/v1/budget-check?agent=a&traceId=xyz`)).status).toBe(400);
    const unknown = await getJson(`${server.queryUrl}/api/v1/budget-check?agent=${encodeURIComponent("x' OR 1=1 --")}`);
    expect(unknown.body).toEqual({ allowed: true, remainingUsd: null, reasons: [] });
  });
});
