import { calcPrice } from "@pydantic/genai-prices";
import { describe, expect, it } from "vitest";
import { type Attrs, extractFacts, type GenAiFacts, normalizeProvider, Pricer, usdToNanos } from "../src/index.ts";

const AT = new Date("2025-06-01T12:00:00Z");
const pricer = new Pricer();
const RES: Attrs = { "service.name": "svc", "telemetry.sdk.language": "python" };

/** Cost from the library for the same usage, in nano-dollars, to compare `totalNanos` with `===`. */
function ref(
  model: string,
  providerId: string | undefined,
  u: { input: number; output: number; cacheRead?: number; cacheWrite?: number },
): number {
  const usage: Record<string, number> = { input_tokens: u.input, output_tokens: u.output };
  if (u.cacheRead) usage.cache_read_tokens = u.cacheRead;
  if (u.cacheWrite) usage.cache_write_tokens = u.cacheWrite;
  const r = calcPrice(usage, model, { providerId, timestamp: AT });
  if (r === null) throw new Error(`no reference price for ${model}`);
  return usdToNanos(r.total_price);
}

function tokens(f: GenAiFacts) {
  return {
    input: f.inputTokens,
    output: f.outputTokens,
    cacheRead: f.cacheReadTokens,
    cacheWrite: f.cacheWriteTokens,
    reasoning: f.reasoningTokens,
  };
}

describe("current OTel GenAI", () => {
  it("chat span", () => {
    const f = extractFacts(
      "chat gpt-4o",
      {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.response.id": "chatcmpl-1",
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.usage.input_tokens": 1500,
        "gen_ai.usage.output_tokens": 400,
        "gen_ai.usage.cache_read.input_tokens": 1024,
        "gen_ai.usage.reasoning.output_tokens": 128,
        "gen_ai.conversation.id": "conv-7",
        "gen_ai.agent.name": "triage",
        "server.address": "api.openai.com",
      },
      { ...RES, "gen_ai.agent.name": "resource-agent" },
    );
    expect(f.operation).toBe("chat");
    expect(f.provider).toBe("openai");
    expect(f.requestModel).toBe("gpt-4o");
    expect(f.responseModel).toBe("gpt-4o-2024-08-06");
    expect(tokens(f)).toEqual({ input: 1500, output: 400, cacheRead: 1024, cacheWrite: null, reasoning: 128 });
    expect(f.usageRole).toBe("model_call");
    expect(f.agentName).toBe("triage");
    expect(f.conversationId).toBe("conv-7");
    expect(pricer.price(f, AT)?.totalNanos).toBe(
      ref("gpt-4o-2024-08-06", "openai", { input: 1500, output: 400, cacheRead: 1024 }),
    );
  });

  it("cache_write (new repo name) and cache_creation (old name) both count, current wins", () => {
    const a = extractFacts(
      "chat",
      {
        "gen_ai.operation.name": "chat",
        "gen_ai.usage.input_tokens": 100,
        "gen_ai.usage.cache_creation.input_tokens": 40,
      },
      RES,
    );
    expect(a.cacheWriteTokens).toBe(40);
    const b = extractFacts(
      "chat",
      {
        "gen_ai.operation.name": "chat",
        "gen_ai.usage.input_tokens": 100,
        "gen_ai.usage.cache_write.input_tokens": 30,
        "gen_ai.usage.cache_creation.input_tokens": 40,
      },
      RES,
    );
    expect(b.cacheWriteTokens).toBe(30);
  });

  it("invoke_agent with totals is an aggregate; agent falls back to the resource, never service.name", () => {
    const f = extractFacts(
      "invoke_agent planner",
      {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.usage.input_tokens": 9000,
        "gen_ai.usage.output_tokens": 700,
      },
      { "service.name": "svc", "gen_ai.agent.name": "planner" },
    );
    expect(f.operation).toBe("invoke_agent");
    expect(f.usageRole).toBe("aggregate");
    expect(f.agentName).toBe("planner");
    expect(pricer.price(f, AT)).toBeNull();
    const g = extractFacts("invoke_agent", { "gen_ai.operation.name": "invoke_agent" }, { "service.name": "svc" });
    expect(g.usageRole).toBe("none");
    expect(g.agentName).toBeNull();
  });

  it("execute_tool is not a model call", () => {
    const f = extractFacts(
      "execute_tool get_weather",
      { "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather" },
      RES,
    );
    expect(f.operation).toBe("execute_tool");
    expect(f.toolName).toBe("get_weather");
    expect(f.usageRole).toBe("none");
  });

  it("embeddings", () => {
    const f = extractFacts(
      "embeddings text-embedding-3-small",
      {
        "gen_ai.operation.name": "embeddings",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "text-embedding-3-small",
        "gen_ai.usage.input_tokens": 5000,
      },
      RES,
    );
    expect(f.usageRole).toBe("model_call");
    expect(f.outputTokens).toBeNull();
    expect(pricer.price(f, AT)?.totalNanos).toBe(ref("text-embedding-3-small", "openai", { input: 5000, output: 0 }));
  });
});

describe("deprecated OTel names", () => {
  it("gen_ai.system + prompt/completion tokens; current names win when both are present", () => {
    const f = extractFacts(
      "chat gpt-4o-mini",
      {
        "gen_ai.operation.name": "chat",
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.usage.prompt_tokens": "800",
        "gen_ai.usage.completion_tokens": "60",
      },
      RES,
    );
    expect(f.provider).toBe("openai");
    expect(tokens(f)).toMatchObject({ input: 800, output: 60 });
    expect(f.usageRole).toBe("model_call");
    expect(pricer.price(f, AT)?.totalNanos).toBe(ref("gpt-4o-mini", "openai", { input: 800, output: 60 }));

    const both = extractFacts(
      "chat",
      {
        "gen_ai.operation.name": "chat",
        "gen_ai.system": "cohere",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.usage.prompt_tokens": 1,
        "gen_ai.usage.input_tokens": 2,
        "gen_ai.usage.completion_tokens": 3,
        "gen_ai.usage.output_tokens": 4,
      },
      RES,
    );
    expect(both.provider).toBe("anthropic");
    expect(both.inputTokens).toBe(2);
    expect(both.outputTokens).toBe(4);
  });
});

describe("OpenInference", () => {
  it("LLM span (Anthropic, cache-inclusive prompt count)", () => {
    const f = extractFacts(
      "Messages",
      {
        "openinference.span.kind": "LLM",
        "llm.system": "anthropic",
        "llm.provider": "anthropic",
        "llm.model_name": "claude-3-5-sonnet-20241022",
        "llm.invocation_parameters": '{"model": "claude-3-5-sonnet-latest", "max_tokens": 1024}',
        "llm.token_count.prompt": 5200,
        "llm.token_count.completion": 310,
        "llm.token_count.total": 5510,
        "llm.token_count.prompt_details.cache_read": 4000,
        "llm.token_count.prompt_details.cache_write": 1000,
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.content": "hi",
        "session.id": "sess-1",
        "user.id": "u-9",
      },
      RES,
    );
    expect(f.operation).toBe("chat");
    expect(f.provider).toBe("anthropic");
    expect(f.requestModel).toBe("claude-3-5-sonnet-latest");
    expect(f.responseModel).toBe("claude-3-5-sonnet-20241022");
    expect(tokens(f)).toEqual({ input: 5200, output: 310, cacheRead: 4000, cacheWrite: 1000, reasoning: null });
    expect(f.usageRole).toBe("model_call");
    expect(f.conversationId).toBe("sess-1");
    expect(f.userId).toBe("u-9");
    expect(pricer.price(f, AT)?.totalNanos).toBe(
      ref("claude-3-5-sonnet-20241022", "anthropic", { input: 5200, output: 310, cacheRead: 4000, cacheWrite: 1000 }),
    );
  });

  it("older exclusive Anthropic counts (cache > prompt) are made cache-inclusive", () => {
    const f = extractFacts(
      "Messages",
      {
        "openinference.span.kind": "LLM",
        "llm.model_name": "claude-3-5-sonnet-20241022",
        "llm.token_count.prompt": 12,
        "llm.token_count.completion": 5,
        "llm.token_count.prompt_details.cache_read": 3000,
      },
      RES,
    );
    expect(f.inputTokens).toBe(3012);
  });

  it("AGENT and CHAIN spans with usage are aggregates; EMBEDDING is a model call; TOOL names the tool", () => {
    const agent = extractFacts(
      "agent",
      { "openinference.span.kind": "AGENT", "agent.name": "writer", "llm.token_count.prompt": 100 },
      RES,
    );
    expect(agent.operation).toBe("invoke_agent");
    expect(agent.usageRole).toBe("aggregate");
    expect(agent.agentName).toBe("writer");
    const chain = extractFacts("chain", { "openinference.span.kind": "CHAIN", "llm.token_count.prompt": 100 }, RES);
    expect(chain.usageRole).toBe("aggregate");
    const emb = extractFacts("embed", { "openinference.span.kind": "EMBEDDING", "llm.token_count.prompt": 10 }, RES);
    expect(emb.operation).toBe("embeddings");
    expect(emb.usageRole).toBe("model_call");
    const tool = extractFacts("tool", { "openinference.span.kind": "TOOL", "tool.name": "search" }, RES);
    expect(tool.operation).toBe("execute_tool");
    expect(tool.toolName).toBe("search");
    expect(tool.usageRole).toBe("none");
  });
});

describe("OpenLLMetry / Traceloop", () => {
  it("anthropic.chat span (OpenLLMetry writes cache-inclusive input)", () => {
    const f = extractFacts(
      "anthropic.chat",
      {
        "gen_ai.system": "Anthropic",
        "llm.request.type": "completion",
        "gen_ai.request.model": "claude-3-5-haiku-20241022",
        "gen_ai.response.model": "claude-3-5-haiku-20241022",
        "gen_ai.usage.prompt_tokens": 2100,
        "gen_ai.usage.completion_tokens": 90,
        "llm.usage.total_tokens": 2190,
        "gen_ai.usage.cache_read_input_tokens": 2000,
        "gen_ai.usage.cache_creation_input_tokens": 0,
        "gen_ai.prompt.0.role": "user",
        "gen_ai.prompt.0.content": "hello",
      },
      RES,
    );
    expect(f.provider).toBe("anthropic");
    expect(f.operation).toBe("text_completion");
    expect(f.usageRole).toBe("model_call");
    expect(tokens(f)).toEqual({ input: 2100, output: 90, cacheRead: 2000, cacheWrite: 0, reasoning: null });
    expect(pricer.price(f, AT)?.totalNanos).toBe(
      ref("claude-3-5-haiku-20241022", "anthropic", { input: 2100, output: 90, cacheRead: 2000 }),
    );
  });

  it("workflow / agent spans", () => {
    const wf = extractFacts(
      "support.workflow",
      { "traceloop.span.kind": "workflow", "traceloop.entity.name": "support", "gen_ai.usage.input_tokens": 5 },
      RES,
    );
    expect(wf.operation).toBe("invoke_workflow");
    expect(wf.usageRole).toBe("aggregate");
    expect(wf.agentName).toBeNull();
    const ag = extractFacts(
      "researcher.agent",
      { "traceloop.span.kind": "agent", "traceloop.entity.name": "researcher" },
      RES,
    );
    expect(ag.operation).toBe("invoke_agent");
    expect(ag.agentName).toBe("researcher");
    expect(ag.usageRole).toBe("none");
    const tool = extractFacts("lookup.tool", { "traceloop.span.kind": "tool", "traceloop.entity.name": "lookup" }, RES);
    expect(tool.toolName).toBe("lookup");
  });
});

describe("Vercel AI SDK", () => {
  const v4child: Attrs = {
    "ai.operationId": "ai.generateText.doGenerate",
    "operation.name": "ai.generateText.doGenerate my-fn",
    "ai.model.provider": "openai.chat",
    "ai.model.id": "gpt-4o-mini",
    "ai.response.model": "gpt-4o-mini-2024-07-18",
    "ai.usage.promptTokens": 640,
    "ai.usage.completionTokens": 55,
    "ai.telemetry.functionId": "my-fn",
    "ai.telemetry.metadata.sessionId": "chat-123",
    "ai.telemetry.metadata.userId": "user-5",
    "gen_ai.system": "openai.chat",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.usage.input_tokens": 640,
    "gen_ai.usage.output_tokens": 55,
  };
  const v4parent: Attrs = {
    "ai.operationId": "ai.generateText",
    "ai.model.provider": "openai.chat",
    "ai.model.id": "gpt-4o-mini",
    "ai.usage.promptTokens": 640,
    "ai.usage.completionTokens": 55,
    "ai.telemetry.functionId": "my-fn",
  };

  it("v4 parent/child: only the doGenerate child is a model call", () => {
    const child = extractFacts("ai.generateText.doGenerate", v4child, RES);
    const parent = extractFacts("ai.generateText", v4parent, RES);
    expect(child.usageRole).toBe("model_call");
    expect(parent.usageRole).toBe("aggregate");
    expect(child.operation).toBe("chat");
    expect(parent.operation).toBe("chat");
    expect(child.provider).toBe("openai");
    expect(child.requestModel).toBe("gpt-4o-mini");
    expect(child.responseModel).toBe("gpt-4o-mini-2024-07-18");
    expect(tokens(child)).toMatchObject({ input: 640, output: 55 });
    expect(parent.inputTokens).toBe(640);
    expect(child.agentName).toBe("my-fn");
    expect(child.conversationId).toBe("chat-123");
    expect(child.userId).toBe("user-5");
    expect(pricer.price(child, AT)?.totalNanos).toBe(
      ref("gpt-4o-mini-2024-07-18", "openai", { input: 640, output: 55 }),
    );
    expect(pricer.price(parent, AT)).toBeNull();
  });

  it("span names alone are enough (no ai.operationId)", () => {
    const { "ai.operationId": _, ...rest } = v4parent;
    expect(extractFacts("ai.streamText", rest, RES).usageRole).toBe("aggregate");
    expect(extractFacts("ai.streamText.doStream", rest, RES).usageRole).toBe("model_call");
    expect(extractFacts("ai.streamObject.doStream", rest, RES).usageRole).toBe("model_call");
    expect(extractFacts("ai.generateObject", rest, RES).usageRole).toBe("aggregate");
    const emb = extractFacts(
      "ai.embedMany.doEmbed",
      { "ai.model.provider": "openai.embedding", "ai.model.id": "text-embedding-3-small", "ai.usage.tokens": 10 },
      RES,
    );
    expect(emb.operation).toBe("embeddings");
    expect(emb.usageRole).toBe("model_call");
    expect(emb.inputTokens).toBe(10);
    expect(pricer.price(emb, AT)?.totalNanos).toBe(ref("text-embedding-3-small", "openai", { input: 10, output: 0 }));
    expect(extractFacts("ai.embed", { "ai.model.id": "x" }, RES).operation).toBe("embeddings");
    const tool = extractFacts("ai.toolCall", { "ai.toolCall.name": "weather", "ai.toolCall.id": "call_1" }, RES);
    expect(tool.operation).toBe("execute_tool");
    expect(tool.toolName).toBe("weather");
    expect(tool.usageRole).toBe("none");
  });

  it("v5 OpenAI: inputTokens already include cachedInputTokens", () => {
    const f = extractFacts(
      "ai.generateText.doGenerate",
      {
        "ai.operationId": "ai.generateText.doGenerate",
        "ai.model.provider": "openai.responses",
        "ai.model.id": "gpt-4o",
        "ai.usage.inputTokens": 3000,
        "ai.usage.outputTokens": 250,
        "ai.usage.cachedInputTokens": 2048,
        "ai.usage.reasoningTokens": 0,
      },
      RES,
    );
    expect(f.provider).toBe("openai");
    expect(tokens(f)).toEqual({ input: 3000, output: 250, cacheRead: 2048, cacheWrite: null, reasoning: 0 });
    expect(pricer.price(f, AT)?.totalNanos).toBe(
      ref("gpt-4o", "openai", { input: 3000, output: 250, cacheRead: 2048 }),
    );
  });

  it("v5 Anthropic: input excludes cache and is converted to cache-inclusive", () => {
    const f = extractFacts(
      "ai.streamText.doStream",
      {
        "ai.operationId": "ai.streamText.doStream",
        "ai.model.provider": "anthropic.messages",
        "ai.model.id": "claude-sonnet-4-20250514",
        "ai.usage.inputTokens": 200,
        "ai.usage.outputTokens": 100,
        "ai.usage.cachedInputTokens": 150,
        "gen_ai.usage.input_tokens": 200,
      },
      RES,
    );
    expect(f.provider).toBe("anthropic");
    expect(f.inputTokens).toBe(350);
    expect(pricer.price(f, AT)?.totalNanos).toBe(
      ref("claude-sonnet-4-20250514", "anthropic", { input: 350, output: 100, cacheRead: 150 }),
    );
  });

  it("v6: inputTokenDetails, total already inclusive", () => {
    const f = extractFacts(
      "ai.generateText.doGenerate",
      {
        "ai.operationId": "ai.generateText.doGenerate",
        "ai.model.provider": "anthropic.messages",
        "ai.model.id": "claude-sonnet-4-20250514",
        "ai.usage.inputTokens": 10_000,
        "ai.usage.outputTokens": 300,
        "ai.usage.inputTokenDetails.noCacheTokens": 1500,
        "ai.usage.inputTokenDetails.cacheReadTokens": 8000,
        "ai.usage.inputTokenDetails.cacheWriteTokens": 500,
        "ai.usage.outputTokenDetails.reasoningTokens": 120,
      },
      RES,
    );
    expect(tokens(f)).toEqual({ input: 10_000, output: 300, cacheRead: 8000, cacheWrite: 500, reasoning: 120 });
    expect(pricer.price(f, AT)?.totalNanos).toBe(
      ref("claude-sonnet-4-20250514", "anthropic", { input: 10_000, output: 300, cacheRead: 8000, cacheWrite: 500 }),
    );
    const noTotal = extractFacts(
      "ai.generateText.doGenerate",
      {
        "ai.usage.inputTokenDetails.noCacheTokens": 1500,
        "ai.usage.inputTokenDetails.cacheReadTokens": 8000,
        "ai.usage.outputTokens": 3,
      },
      RES,
    );
    expect(noTotal.inputTokens).toBe(9500);
  });
});

describe("Langfuse", () => {
  it("generation with usage_details (disjoint keys → cache-inclusive input)", () => {
    const f = extractFacts(
      "llm-call",
      {
        "langfuse.observation.type": "generation",
        "langfuse.observation.model.name": "gpt-4o-mini",
        "langfuse.observation.usage_details": JSON.stringify({
          input: 700,
          output: 80,
          input_cached_tokens: 300,
          total: 1080,
        }),
        "langfuse.session.id": "lf-session",
        "langfuse.user.id": "lf-user",
      },
      RES,
    );
    expect(f.operation).toBe("chat");
    expect(f.usageRole).toBe("model_call");
    expect(f.requestModel).toBe("gpt-4o-mini");
    expect(tokens(f)).toEqual({ input: 1000, output: 80, cacheRead: 300, cacheWrite: null, reasoning: null });
    expect(f.conversationId).toBe("lf-session");
    expect(f.userId).toBe("lf-user");
    expect(pricer.price(f, AT)?.totalNanos).toBe(
      ref("gpt-4o-mini", undefined, { input: 1000, output: 80, cacheRead: 300 }),
    );
  });

  it("span/agent observations are not model calls", () => {
    expect(extractFacts("x", { "langfuse.observation.type": "span" }, RES).usageRole).toBe("none");
    expect(extractFacts("x", { "langfuse.observation.type": "agent" }, RES).operation).toBe("invoke_agent");
    expect(
      extractFacts(
        "x",
        { "langfuse.observation.type": "embedding", "langfuse.observation.usage_details": '{"input": 5}' },
        RES,
      ).usageRole,
    ).toBe("model_call");
  });
});

describe("Logfire / Pydantic AI", () => {
  it("model request span", () => {
    const f = extractFacts(
      "chat gpt-4o",
      {
        "gen_ai.operation.name": "chat",
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024-11-20",
        "gen_ai.usage.input_tokens": 100,
        "gen_ai.usage.output_tokens": 200,
        "gen_ai.usage.details.cache_read_tokens": 20,
        "gen_ai.usage.details.cache_write_tokens": 10,
        "gen_ai.usage.details.reasoning_tokens": 30,
        "logfire.msg": "chat gpt-4o",
        "logfire.span_type": "span",
        "logfire.json_schema": "{}",
        "operation.cost": 0.00231,
      },
      RES,
    );
    expect(f.provider).toBe("openai");
    expect(f.usageRole).toBe("model_call");
    expect(tokens(f)).toEqual({ input: 100, output: 200, cacheRead: 20, cacheWrite: 10, reasoning: 30 });
    expect(pricer.price(f, AT)?.totalNanos).toBe(
      ref("gpt-4o-2024-11-20", "openai", { input: 100, output: 200, cacheRead: 20, cacheWrite: 10 }),
    );
  });

  it("agent run span is an aggregate carrying the agent name", () => {
    const f = extractFacts(
      "agent run",
      {
        model_name: "gpt-4o",
        agent_name: "support_agent",
        "gen_ai.agent.name": "support_agent",
        "logfire.msg": "support_agent run",
        final_result: "done",
        "gen_ai.usage.input_tokens": 500,
        "gen_ai.usage.output_tokens": 120,
      },
      RES,
    );
    expect(f.operation).toBe("invoke_agent");
    expect(f.usageRole).toBe("aggregate");
    expect(f.agentName).toBe("support_agent");
    expect(f.requestModel).toBe("gpt-4o");
    expect(pricer.price(f, AT)).toBeNull();
  });

  it("running tool span", () => {
    const f = extractFacts(
      "running tool",
      {
        "gen_ai.tool.name": "roulette_wheel",
        "gen_ai.tool.call.id": "c1",
        tool_arguments: "{}",
        "logfire.msg": "running tool: roulette_wheel",
      },
      RES,
    );
    expect(f.operation).toBe("execute_tool");
    expect(f.toolName).toBe("roulette_wheel");
    expect(f.usageRole).toBe("none");
  });
});

describe("plain spans and provider normalization", () => {
  it("plain HTTP span has no facts", () => {
    const f = extractFacts(
      "GET /",
      { "http.request.method": "GET", "url.full": "https://x", "http.response.status_code": 200 },
      RES,
    );
    expect(f).toEqual({
      operation: null,
      provider: null,
      requestModel: null,
      responseModel: null,
      inputTokens: null,
      outputTokens: null,
      cacheReadTokens: null,
      cacheWriteTokens: null,
      reasoningTokens: null,
      agentName: null,
      toolName: null,
      conversationId: null,
      userId: null,
      usageRole: "none",
    });
  });

  it("normalizes provider values from every convention", () => {
    const cases: [string, string][] = [
      ["openai.chat", "openai"],
      ["openai.responses", "openai"],
      ["anthropic.messages", "anthropic"],
      ["azure.ai.openai", "azure.ai.openai"],
      ["az.ai.openai", "azure.ai.openai"],
      ["Anthropic", "anthropic"],
      ["amazon-bedrock", "aws.bedrock"],
      ["AWS", "aws.bedrock"],
      ["google.vertex.chat", "gcp.vertex_ai"],
      ["google.generative-ai", "gcp.gemini"],
      ["google-gla", "gcp.gemini"],
      ["vertex_ai", "gcp.vertex_ai"],
      ["MistralAI", "mistral_ai"],
      ["mistral.chat", "mistral_ai"],
      ["xai", "x_ai"],
      ["xai.chat", "x_ai"],
      ["watsonx", "ibm.watsonx.ai"],
      ["acme.chat", "acme"],
      ["SomeGateway", "somegateway"],
    ];
    for (const [input, want] of cases) expect(normalizeProvider(input), input).toBe(want);
    expect(normalizeProvider("")).toBeNull();
    expect(normalizeProvider(42)).toBeNull();
    expect(normalizeProvider(["openai"])).toBeNull();
  });
});
