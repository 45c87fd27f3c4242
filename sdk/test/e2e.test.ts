import { trace } from "@opentelemetry/api";
import { calcPrice } from "@pydantic/genai-prices";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../../query/test/helpers/server.ts";
import { createCognive } from "../src/index.ts";

const openaiResponse = {
  id: "chatcmpl-e2e",
  object: "chat.completion",
  model: "gpt-4o",
  choices: [{ index: 0, message: { role: "assistant", content: "Looking it up." }, finish_reason: "tool_calls" }],
  usage: {
    prompt_tokens: 1200,
    completion_tokens: 300,
    total_tokens: 1500,
    prompt_tokens_details: { cached_tokens: 1024 },
    completion_tokens_details: { reasoning_tokens: 0 },
  },
};

const anthropicResponse = {
  id: "msg_e2e",
  type: "message",
  role: "assistant",
  model: "claude-sonnet-4-20250514",
  content: [{ type: "text", text: "Done." }],
  stop_reason: "end_turn",
  usage: { input_tokens: 50, cache_read_input_tokens: 2000, cache_creation_input_tokens: 300, output_tokens: 120 },
};

describe("end to end against a real Cognive", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  });

  it("an agent run with two model calls and a tool call is stored with exact tokens and costs", async () => {
    const cognive = createCognive({
      serviceName: "e2e-service",
      agent: "e2e-agent",
      environment: "test",
      endpoint: server.otlpUrl,
    });
    let traceId = "";
    await cognive.agentRun("e2e-agent", async () => {
      traceId = trace.getActiveSpan()!.spanContext().traceId;
      await cognive.llmCall({ provider: "openai", model: "gpt-4o" }, async () => openaiResponse);
      await cognive.toolCall("search", async () => "result", { callId: "call_e2e" });
      await cognive.llmCall(
        { provider: "anthropic", model: "claude-sonnet-4-20250514" },
        async () => anthropicResponse,
      );
    });
    await cognive.shutdown();
    expect(cognive.stats()).toMatchObject({ exportedSpans: 4, droppedSpans: 0, failedExports: 0 });

    const res = await fetch(`${server.queryUrl}/api/v1/traces/${traceId}`);
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.traceId).toBe(traceId);
    expect(body.spans).toHaveLength(4);
    const byName = Object.fromEntries(body.spans.map((s: any) => [s.name, s]));
    const agent = byName["invoke_agent e2e-agent"];
    const gpt = byName["chat gpt-4o"];
    const claude = byName["chat claude-sonnet-4-20250514"];
    const tool = byName["execute_tool search"];
    for (const s of [gpt, claude, tool]) expect(s.parentSpanId).toBe(agent.spanId);
    expect(agent.parentSpanId).toBe("");
    expect(agent.resource["service.name"]).toBe("e2e-service");
    expect(agent.genAi.agentName).toBe("e2e-agent");
    expect(tool.genAi.toolName).toBe("search");

    const gptUsage = { input_tokens: 1200, cache_read_tokens: 1024, output_tokens: 300 };
    const claudeUsage = { input_tokens: 2350, cache_read_tokens: 2000, cache_write_tokens: 300, output_tokens: 120 };
    // Cognive stores money to the nano-dollar.
    const nanos = (usd: number) => Math.round(usd * 1e9);
    const gptNanos = nanos(calcPrice(gptUsage, "gpt-4o", { providerId: "openai" })!.total_price);
    const claudeNanos = nanos(
      calcPrice(claudeUsage, "claude-sonnet-4-20250514", { providerId: "anthropic" })!.total_price,
    );
    const gptCost = gptNanos / 1e9;
    const claudeCost = claudeNanos / 1e9;
    expect(gptCost).toBeGreaterThan(0);
    expect(claudeCost).toBeGreaterThan(0);

    expect(gpt.genAi).toMatchObject({
      operation: "chat",
      provider: "openai",
      requestModel: "gpt-4o",
      responseModel: "gpt-4o",
      inputTokens: 1200,
      outputTokens: 300,
      cacheReadTokens: 1024,
      reasoningTokens: 0,
      usageRole: "model_call",
      priced: true,
    });
    expect(gpt.genAi.costUsd).toBe(gptCost);
    expect(claude.genAi).toMatchObject({
      operation: "chat",
      provider: "anthropic",
      requestModel: "claude-sonnet-4-20250514",
      inputTokens: 2350,
      outputTokens: 120,
      cacheReadTokens: 2000,
      cacheWriteTokens: 300,
      usageRole: "model_call",
      priced: true,
    });
    expect(claude.genAi.costUsd).toBe(claudeCost);
    expect(body.summary).toMatchObject({
      rootName: "invoke_agent e2e-agent",
      rootService: "e2e-service",
      spanCount: 4,
      errorCount: 0,
      inputTokens: 1200 + 2350,
      outputTokens: 300 + 120,
    });
    expect(body.summary.costUsd).toBe((gptNanos + claudeNanos) / 1e9);
  }, 60_000);
});
