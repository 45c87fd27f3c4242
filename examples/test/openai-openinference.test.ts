import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../../query/test/helpers/server.ts";
import { SERVICE_NAME } from "../openai-openinference/agent.ts";
import { FAKE_ANSWER, FAKE_RESPONSE_MODEL, type FakeLlm, startFakeLlm } from "./fake-llm.ts";
import { exampleEnv, expectOnePricedCall, runTsExample, waitForTrace } from "./helpers.ts";

describe("openai-openinference example", () => {
  let cognive: TestServer;
  let llm: FakeLlm;
  beforeAll(async () => {
    [cognive, llm] = await Promise.all([startTestServer(), startFakeLlm()]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([cognive?.stop(), llm?.stop()]);
  });

  it("sends the OpenInference span of one chat completion, priced from its usage", async () => {
    const result = await runTsExample("openai-openinference/agent.ts", exampleEnv(cognive.otlpUrl, llm.baseUrl));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(FAKE_ANSWER);
    expect(llm.requests).toHaveLength(1);
    expect(llm.requests[0].model).toBe("gpt-4o-mini");

    const trace = await waitForTrace(cognive.queryUrl, SERVICE_NAME);
    const call = expectOnePricedCall(trace, {
      requestModel: "gpt-4o-mini",
      responseModel: FAKE_RESPONSE_MODEL,
      cacheReadTokens: 200,
    });
    expect(call.name).toBe("OpenAI Chat Completions");
    expect(call.genAi.operation).toBe("chat");
    expect(call.genAi.provider).toBe("openai");
    expect(call.serviceName).toBe(SERVICE_NAME);
    expect(call.attributes["openinference.span.kind"]).toBe("LLM");
  }, 45_000);
});
