import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { describe, expect, it } from "vitest";
import {
  anthropicEvents,
  anthropicMessage,
  chatChunks,
  chatCompletion,
  responsesEvents,
  responsesResponse,
  responsesToolCall,
} from "./fixtures.ts";
import { collect, genAi, harness, stream } from "./helpers.ts";

describe("llmCall reads whole responses", () => {
  it("OpenAI Chat Completions", async () => {
    const h = harness();
    const out = await h.cognive.llmCall({ provider: "openai", model: "gpt-4o" }, async () => chatCompletion);
    expect(out).toBe(chatCompletion);
    const span = await h.span("chat gpt-4o");
    expect(span.kind).toBe(SpanKind.CLIENT);
    expect(genAi(span)).toEqual({
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": "openai",
      "gen_ai.request.model": "gpt-4o",
      "gen_ai.response.model": "gpt-4o-2024-08-06",
      "gen_ai.response.id": "chatcmpl-abc123",
      "gen_ai.response.finish_reasons": ["stop", "tool_calls"],
      "gen_ai.usage.input_tokens": 1200,
      "gen_ai.usage.output_tokens": 300,
      "gen_ai.usage.cache_read.input_tokens": 1024,
      "gen_ai.usage.reasoning.output_tokens": 64,
    });
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
  });

  it("OpenAI Responses, incomplete", async () => {
    const h = harness();
    await h.cognive.llmCall({ provider: "openai", model: "o4-mini" }, async () => responsesResponse);
    expect(genAi(await h.span("chat o4-mini"))).toEqual({
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": "openai",
      "gen_ai.request.model": "o4-mini",
      "gen_ai.response.model": "o4-mini-2025-04-16",
      "gen_ai.response.id": "resp_67ccd2bed1ec8190",
      "gen_ai.response.finish_reasons": ["max_output_tokens"],
      "gen_ai.usage.input_tokens": 900,
      "gen_ai.usage.output_tokens": 400,
      "gen_ai.usage.cache_read.input_tokens": 512,
      "gen_ai.usage.reasoning.output_tokens": 350,
    });
  });

  it("OpenAI Responses, completed with a function call", async () => {
    const h = harness();
    await h.cognive.llmCall({ provider: "openai", model: "gpt-4.1" }, () => responsesToolCall);
    const a = genAi(await h.span("chat gpt-4.1"));
    expect(a["gen_ai.response.finish_reasons"]).toEqual(["tool_calls"]);
    expect(a["gen_ai.usage.input_tokens"]).toBe(80);
    expect(a["gen_ai.usage.cache_read.input_tokens"]).toBe(0);
  });

  it("Anthropic Messages: input tokens made cache-inclusive", async () => {
    const h = harness();
    const model = "claude-sonnet-4-20250514";
    await h.cognive.llmCall({ provider: "anthropic", model }, async () => anthropicMessage);
    expect(genAi(await h.span(`chat ${model}`))).toEqual({
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": "anthropic",
      "gen_ai.request.model": model,
      "gen_ai.response.model": model,
      "gen_ai.response.id": "msg_01XFDUDYJgAACzvnptvVoYEL",
      "gen_ai.response.finish_reasons": ["tool_use"],
      "gen_ai.usage.input_tokens": 50 + 2000 + 300,
      "gen_ai.usage.output_tokens": 120,
      "gen_ai.usage.cache_read.input_tokens": 2000,
      "gen_ai.usage.cache_creation.input_tokens": 300,
    });
  });

  it("a value that is not a model response leaves only the request attributes", async () => {
    const h = harness();
    expect(await h.cognive.llmCall({ provider: "mistral_ai", model: "m" }, async () => "plain text")).toBe(
      "plain text",
    );
    expect(genAi(await h.span("chat m"))).toEqual({
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": "mistral_ai",
      "gen_ai.request.model": "m",
    });
  });
});

describe("llmCall reads streamed responses", () => {
  it("OpenAI Chat Completions chunks with a final usage chunk", async () => {
    const h = harness();
    const s = await h.cognive.llmCall({ provider: "openai", model: "gpt-4o-mini" }, async () => stream(chatChunks));
    expect(await h.spans()).toHaveLength(0); // open until the stream ends
    const got = await collect(s);
    expect(got).toHaveLength(chatChunks.length);
    got.forEach((c, i) => {
      expect(c).toBe(chatChunks[i]);
    });
    expect(genAi(await h.span("chat gpt-4o-mini"))).toEqual({
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": "openai",
      "gen_ai.request.model": "gpt-4o-mini",
      "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
      "gen_ai.response.id": "chatcmpl-s1",
      "gen_ai.response.finish_reasons": ["length"],
      "gen_ai.usage.input_tokens": 40,
      "gen_ai.usage.output_tokens": 7,
      "gen_ai.usage.cache_read.input_tokens": 0,
      "gen_ai.usage.reasoning.output_tokens": 0,
    });
  });

  it("OpenAI Responses events with response.completed", async () => {
    const h = harness();
    const s = await h.cognive.llmCall({ provider: "openai", model: "gpt-4.1" }, async () => stream(responsesEvents));
    const got = await collect(s);
    expect(got).toEqual(responsesEvents);
    expect(genAi(await h.span("chat gpt-4.1"))).toEqual({
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": "openai",
      "gen_ai.request.model": "gpt-4.1",
      "gen_ai.response.model": "gpt-4.1-2025-04-14",
      "gen_ai.response.id": "resp_s1",
      "gen_ai.response.finish_reasons": ["stop"],
      "gen_ai.usage.input_tokens": 2048,
      "gen_ai.usage.output_tokens": 12,
      "gen_ai.usage.cache_read.input_tokens": 1536,
      "gen_ai.usage.reasoning.output_tokens": 0,
    });
  });

  it("Anthropic message_start + message_delta, cache-inclusive input", async () => {
    const h = harness();
    const model = "claude-sonnet-4-20250514";
    const s = await h.cognive.llmCall({ provider: "anthropic", model }, async () => stream(anthropicEvents));
    expect(await collect(s)).toEqual(anthropicEvents);
    expect(genAi(await h.span(`chat ${model}`))).toEqual({
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": "anthropic",
      "gen_ai.request.model": model,
      "gen_ai.response.model": model,
      "gen_ai.response.id": "msg_stream_1",
      "gen_ai.response.finish_reasons": ["end_turn"],
      "gen_ai.usage.input_tokens": 25 + 4000 + 1000,
      "gen_ai.usage.output_tokens": 87,
      "gen_ai.usage.cache_read.input_tokens": 4000,
      "gen_ai.usage.cache_creation.input_tokens": 1000,
    });
  });

  it("a stream abandoned with break ends the span with what was seen", async () => {
    const h = harness();
    const s = await h.cognive.llmCall({ provider: "anthropic", model: "c" }, () => stream(anthropicEvents));
    for await (const e of s) {
      if (e.type === "message_start") break;
    }
    const span = await h.span("chat c");
    expect(span.attributes["gen_ai.usage.input_tokens"]).toBe(5025);
    expect(span.attributes["gen_ai.usage.output_tokens"]).toBe(1);
    expect(span.attributes["gen_ai.response.finish_reasons"]).toBeUndefined();
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
  });

  it("a stream that fails ends the span as an error and rethrows", async () => {
    const h = harness();
    const boom = new Error("connection reset");
    async function* failing() {
      yield chatChunks[0];
      throw boom;
    }
    const s = await h.cognive.llmCall({ provider: "openai", model: "g" }, () => failing());
    await expect(collect(s)).rejects.toBe(boom);
    const span = await h.span("chat g");
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.events.map((e) => e.name)).toEqual(["exception"]);
    expect(span.attributes["gen_ai.response.id"]).toBe("chatcmpl-s1");
  });

  it("an SDK stream object keeps its other members", async () => {
    const h = harness();
    class FakeStream {
      #chunks = chatChunks;
      controller = { aborted: false };
      abort() {
        this.controller.aborted = true;
      }
      async *[Symbol.asyncIterator]() {
        yield* this.#chunks;
      }
    }
    const original = new FakeStream();
    const s = await h.cognive.llmCall({ provider: "openai", model: "x" }, async () => original);
    s.abort();
    expect(original.controller.aborted).toBe(true);
    expect(s.controller).toBe(original.controller);
    expect(await collect(s)).toHaveLength(chatChunks.length);
    expect((await h.span("chat x")).attributes["gen_ai.usage.input_tokens"]).toBe(40);
  });
});

describe("captureContent", () => {
  const messages = [
    { role: "system", content: "Be brief." },
    { role: "user", content: "Capital of France?" },
  ];

  it("is off by default", async () => {
    const h = harness();
    await h.cognive.llmCall({ provider: "openai", model: "gpt-4o", messages }, async () => chatCompletion);
    const span = await h.span("chat gpt-4o");
    expect(span.attributes["gen_ai.input.messages"]).toBeUndefined();
    expect(span.attributes["gen_ai.output.messages"]).toBeUndefined();
  });

  it("records input and output messages as JSON strings", async () => {
    const h = harness({ captureContent: true });
    await h.cognive.llmCall({ provider: "openai", model: "gpt-4o", messages }, async () => chatCompletion);
    const span = await h.span("chat gpt-4o");
    expect(JSON.parse(span.attributes["gen_ai.input.messages"] as string)).toEqual([
      { role: "system", parts: [{ type: "text", content: "Be brief." }] },
      { role: "user", parts: [{ type: "text", content: "Capital of France?" }] },
    ]);
    expect(JSON.parse(span.attributes["gen_ai.output.messages"] as string)).toEqual([
      { role: "assistant", parts: [{ type: "text", content: "Paris." }], finish_reason: "stop" },
      {
        role: "assistant",
        parts: [{ type: "tool_call", id: "call_1", name: "lookup", arguments: { q: "Paris" } }],
        finish_reason: "tool_calls",
      },
    ]);
  });

  it("records streamed Anthropic text and tool arguments/results", async () => {
    const h = harness({ captureContent: true });
    const s = await h.cognive.llmCall({ provider: "anthropic", model: "c" }, async () => stream(anthropicEvents));
    await collect(s);
    const span = await h.span("chat c");
    expect(JSON.parse(span.attributes["gen_ai.output.messages"] as string)).toEqual([
      { role: "assistant", parts: [{ type: "text", content: "Hello there" }], finish_reason: "end_turn" },
    ]);
    await h.cognive.toolCall("get_weather", () => ({ tempC: 4 }), { callId: "toolu_1", arguments: { city: "Oslo" } });
    const tool = await h.span("execute_tool get_weather");
    expect(tool.attributes["gen_ai.tool.call.arguments"]).toBe('{"city":"Oslo"}');
    expect(tool.attributes["gen_ai.tool.call.result"]).toBe('{"tempC":4}');
  });
});
