import { calcPrice } from "@pydantic/genai-prices";
import { describe, expect, it } from "vitest";
import { type Encoding, emitAgentRun, type LlmCall, otelProvider } from "../helpers/otel.ts";
import { getJson, useTestServer } from "../helpers/server.ts";

const server = useTestServer();

function expectedCost(c: LlmCall): number {
  const r = calcPrice(
    {
      input_tokens: c.input,
      output_tokens: c.output,
      cache_read_tokens: c.cacheRead,
      cache_write_tokens: c.cacheWrite,
    },
    c.model,
    { providerId: c.provider },
  );
  if (!r) throw new Error(`no price for ${c.model}`);
  return r.total_price;
}

const CALLS: LlmCall[] = [
  { provider: "openai", model: "gpt-4o", input: 1200, output: 300, cacheRead: 200 },
  {
    provider: "anthropic",
    model: "claude-sonnet-4-20250514",
    input: 5000,
    output: 700,
    cacheRead: 3000,
    cacheWrite: 1000,
  },
  { provider: "openai", model: "gpt-4o-mini", input: 90, output: 15 },
];

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

    const { status, body } = await getJson(`${server().queryUrl}/api/v1/traces/${traceId}`);
    expect(status).toBe(200);
    expect(body.traceId).toBe(traceId);
    expect(body.spans).toHaveLength(CALLS.length + 2);

    const chats = body.spans.filter((s: any) => s.genAi.operation === "chat");
    expect(chats).toHaveLength(CALLS.length);
    for (const call of CALLS) {
      const span = chats.find((s: any) => s.genAi.requestModel === call.model);
      expect(span, call.model).toBeDefined();
      expect(span.serviceName).toBe(`support-bot-${encoding}`);
      expect(span.kind).toBe("Client");
      expect(span.genAi.provider).toBe(call.provider);
      expect(span.genAi.inputTokens).toBe(call.input);
      expect(span.genAi.outputTokens).toBe(call.output);
      expect(span.genAi.cacheReadTokens).toBe(call.cacheRead ?? 0);
      expect(span.genAi.cacheWriteTokens).toBe(call.cacheWrite ?? 0);
      expect(span.genAi.priced).toBe(true);
      expect(span.genAi.costUsd).toBe(expectedCost(call));
      expect(span.genAi.agentName).toBe("refund-agent");
    }

    const root = body.spans.find((s: any) => s.parentSpanId === "" || s.parentSpanId === null);
    expect(root.name).toBe("invoke_agent refund-agent");
    expect(root.genAi.inputTokens).toBe(CALLS.reduce((a, c) => a + c.input, 0));
    const tool = body.spans.find((s: any) => s.name === "execute_tool lookup_order");
    expect(tool.status).toEqual({ code: "error", message: "order service down" });
    expect(tool.genAi.toolName).toBe("lookup_order");

    const summary = body.summary;
    expect(summary.spanCount).toBe(CALLS.length + 2);
    expect(summary.errorCount).toBe(1);
    expect(summary.rootName).toBe("invoke_agent refund-agent");
    expect(summary.inputTokens).toBe(CALLS.reduce((a, c) => a + c.input, 0));
    expect(summary.outputTokens).toBe(CALLS.reduce((a, c) => a + c.output, 0));
    expect(summary.costUsd).toBeCloseTo(
      CALLS.reduce((a, c) => a + expectedCost(c), 0),
      12,
    );
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
