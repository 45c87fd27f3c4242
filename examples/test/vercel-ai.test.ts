import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../../query/test/helpers/server.ts";
import { FUNCTION_ID, SERVICE_NAME } from "../vercel-ai/agent.ts";
import { FAKE_ANSWER, FAKE_RESPONSE_MODEL, FAKE_USAGE, type FakeLlm, startFakeLlm } from "./fake-llm.ts";
import { exampleEnv, expectOnePricedCall, runTsExample, waitForTrace } from "./helpers.ts";

describe("vercel-ai example", () => {
  let cognive: TestServer;
  let llm: FakeLlm;
  beforeAll(async () => {
    [cognive, llm] = await Promise.all([startTestServer(), startFakeLlm()]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([cognive?.stop(), llm?.stop()]);
  });

  it("sends generateText's spans; the doGenerate call is priced once, the wrapper is not added on top", async () => {
    const result = await runTsExample("vercel-ai/agent.ts", exampleEnv(cognive.otlpUrl, llm.baseUrl));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(FAKE_ANSWER);
    expect(llm.requests).toHaveLength(1);
    expect(llm.requests[0].model).toBe("gpt-4o-mini");
    expect(llm.requests[0].stream).toBeFalsy();

    const trace = await waitForTrace(cognive.queryUrl, SERVICE_NAME);
    const call = expectOnePricedCall(trace, {
      requestModel: "gpt-4o-mini",
      responseModel: FAKE_RESPONSE_MODEL,
      cacheReadTokens: FAKE_USAGE.prompt_tokens_details.cached_tokens,
    });
    expect(call.name).toBe("ai.generateText.doGenerate");
    expect(call.genAi).toMatchObject({ operation: "chat", provider: "openai", agentName: FUNCTION_ID });

    // The outer ai.generateText span carries the same usage as a total, kept for display only.
    const outer = trace.spans.find((s: any) => s.name === "ai.generateText");
    expect(outer).toBeDefined();
    expect(outer.parentSpanId).toBe("");
    expect(call.parentSpanId).toBe(outer.spanId);
    expect(outer.genAi.inputTokens).toBe(FAKE_USAGE.prompt_tokens);
    expect(outer.genAi.usageRole).not.toBe("model_call");
    expect(trace.summary.rootName).toBe("ai.generateText");
  }, 45_000);
});
