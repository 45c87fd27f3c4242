import { usdToNanos } from "@cognive/semconv";
import { calcPrice } from "@pydantic/genai-prices";
import { expect } from "vitest";
import type { LlmCall } from "./otel.ts";
import { getJson } from "./server.ts";

/** What @pydantic/genai-prices says a call costs, in nano-dollars (the unit Cognive stores). */
export function expectedNanos(c: LlmCall): number {
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
  return usdToNanos(r.total_price);
}

/** The same in USD, as the API answers it. */
export const expectedCost = (c: LlmCall): number => expectedNanos(c) / 1e9;

/** The model calls of the agent run the OTLP round-trip tests send (two providers, cache reads and writes). */
export const AGENT_RUN_CALLS: LlmCall[] = [
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

/**
 * Asserts the `emitAgentRun(…, "refund-agent", AGENT_RUN_CALLS, { failTool: true })` trace is stored
 * with every span, exact tokens, the calcPrice cost per call, and the agent total counted once.
 */
export async function expectAgentRunStored(queryUrl: string, traceId: string, serviceName: string): Promise<void> {
  const CALLS = AGENT_RUN_CALLS;
  const { status, body } = await getJson(`${queryUrl}/api/v1/traces/${traceId}`);
  expect(status).toBe(200);
  expect(body.traceId).toBe(traceId);
  expect(body.spans).toHaveLength(CALLS.length + 2);

  const chats = body.spans.filter((s: any) => s.genAi.operation === "chat");
  expect(chats).toHaveLength(CALLS.length);
  for (const call of CALLS) {
    const span = chats.find((s: any) => s.genAi.requestModel === call.model);
    expect(span, call.model).toBeDefined();
    expect(span.serviceName).toBe(serviceName);
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
  // Decimal sums: exactly the calls' nano-dollars added up.
  expect(summary.costUsd).toBe(CALLS.reduce((a, c) => a + expectedNanos(c), 0) / 1e9);
}
