import { describe, expect, it } from "vitest";
import { AGENT_RUN_CALLS as CALLS, expectAgentRunStored, expectedCost } from "../helpers/agent-run-check.ts";
import { type Encoding, emitAgentRun, type LlmCall, otelProvider } from "../helpers/otel.ts";
import { getJson, useTestServer } from "../helpers/server.ts";

const server = useTestServer();

describe.each<Encoding>(["json", "proto"])("official OTLP/HTTP %s exporter → collector → query API", (encoding) => {
  it("stores every span with exact tokens and the calcPrice cost, and counts the agent total once", async () => {
    const provider = otelProvider(encoding, server().otlpUrl, {
      "service.name": `support-bot-${encoding}`,
      "cognive.team": "cx",
      "deployment.environment.name": "prod",
    });
    const traceId = emitAgentRun(provider, "refund-agent", CALLS, { failTool: true });
    await provider.forceFlush();
    await provider.shutdown();
    await expectAgentRunStored(server().queryUrl, traceId, `support-bot-${encoding}`);
  });
});

describe("reading back through the list and cost APIs", () => {
  it("lists the traces newest first and groups costs by model, agent and team", async () => {
    const provider = otelProvider("proto", server().otlpUrl, {
      "service.name": "billing-bot",
      "cognive.team": "finance",
    });
    const call: LlmCall = { provider: "openai", model: "gpt-4o", input: 1000, output: 100 };
    const traceId = emitAgentRun(provider, "invoice-agent", [call]);
    await provider.forceFlush();
    await provider.shutdown();

    const list = await getJson(`${server().queryUrl}/api/v1/traces?agent=invoice-agent`);
    expect(list.status).toBe(200);
    expect(list.body.traces.map((t: any) => t.traceId)).toEqual([traceId]);

    const byTeam = await getJson(`${server().queryUrl}/api/v1/costs?groupBy=team`);
    expect(byTeam.status).toBe(200);
    const finance = byTeam.body.series.find((s: any) => s.key === "finance");
    expect(finance.calls).toBe(1);
    expect(finance.inputTokens).toBe(1000);
    expect(finance.totalUsd).toBeCloseTo(expectedCost(call), 12);
  });
});
