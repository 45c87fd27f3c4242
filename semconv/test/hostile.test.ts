import { describe, expect, it } from "vitest";
import { type Attrs, type AttrValue, extractFacts, type GenAiFacts, Pricer } from "../src/index.ts";

const AT = new Date("2025-06-01T00:00:00Z");

const TOKEN_KEYS = [
  "gen_ai.usage.input_tokens",
  "gen_ai.usage.output_tokens",
  "gen_ai.usage.cache_read.input_tokens",
  "gen_ai.usage.cache_creation.input_tokens",
  "gen_ai.usage.prompt_tokens",
  "llm.token_count.prompt",
  "ai.usage.inputTokens",
  "ai.usage.promptTokens",
  "langfuse.observation.usage_details",
  "llm.invocation_parameters",
];
const STRING_KEYS = [
  "gen_ai.operation.name",
  "gen_ai.provider.name",
  "gen_ai.system",
  "gen_ai.request.model",
  "gen_ai.response.model",
  "gen_ai.agent.name",
  "openinference.span.kind",
  "llm.provider",
  "ai.model.provider",
  "ai.operationId",
  "langfuse.observation.type",
  "traceloop.span.kind",
  "session.id",
];
const HOSTILE: AttrValue[] = [
  -1,
  -0,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  1e308,
  2 ** 64,
  "",
  " ",
  "-5",
  "NaN",
  "Infinity",
  "1e400",
  "12abc",
  "99999999999999999999999",
  true,
  null,
  [],
  ["gpt-4o"],
  [1, 2, 3],
  {},
  { model: "gpt-4o" },
  "{not json",
  '{"model": "gpt-\\u0034o"}',
  '{"input": -5, "output": "x"}',
  "x".repeat(100_000),
];

function check(f: GenAiFacts): void {
  for (const k of ["inputTokens", "outputTokens", "cacheReadTokens", "cacheWriteTokens", "reasoningTokens"] as const) {
    const v = f[k];
    if (v !== null) {
      expect(Number.isFinite(v), k).toBe(true);
      expect(v, k).toBeGreaterThanOrEqual(0);
    }
  }
  for (const k of [
    "operation",
    "provider",
    "requestModel",
    "responseModel",
    "agentName",
    "toolName",
    "conversationId",
    "userId",
  ] as const) {
    const v = f[k];
    expect(v === null || typeof v === "string", k).toBe(true);
  }
  expect(["model_call", "aggregate", "none"]).toContain(f.usageRole);
}

describe("hostile values never throw", () => {
  const pricer = new Pricer();

  it("every hostile value in every token and string slot", () => {
    for (const key of [...TOKEN_KEYS, ...STRING_KEYS]) {
      for (const v of HOSTILE) {
        const attrs: Attrs = {
          "gen_ai.operation.name": "chat",
          "gen_ai.provider.name": "openai",
          "gen_ai.request.model": "gpt-4o",
          "gen_ai.usage.input_tokens": 100,
          "gen_ai.usage.output_tokens": 10,
          [key]: v,
        };
        const f = extractFacts("chat gpt-4o", attrs, { "gen_ai.agent.name": v });
        check(f);
        expect(() => pricer.price(f, AT)).not.toThrow();
      }
    }
  });

  it("negative, NaN, infinite and unsafe token counts are absent", () => {
    for (const v of [-1, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 64, "-1", "NaN", "", "abc", "1e400", true, [5]]) {
      const f = extractFacts("chat", { "gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": v }, {});
      expect(f.inputTokens, String(v)).toBeNull();
    }
  });

  it("numeric strings are accepted", () => {
    const f = extractFacts(
      "chat",
      { "gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": "1234", "gen_ai.usage.output_tokens": "56" },
      {},
    );
    expect(f.inputTokens).toBe(1234);
    expect(f.outputTokens).toBe(56);
  });

  it("arrays where strings are expected are ignored", () => {
    const f = extractFacts(
      "my span",
      { "gen_ai.operation.name": ["chat"], "gen_ai.request.model": ["gpt-4o"], "gen_ai.provider.name": ["openai"] },
      {},
    );
    expect(f.requestModel).toBeNull();
    expect(f.provider).toBeNull();
    expect(f.operation).toBeNull();
  });

  it("bad arguments", () => {
    const bad = [null, undefined, 42, "str", [], Object.create(null)] as unknown as Attrs[];
    for (const a of bad) {
      for (const r of bad) {
        expect(() => check(extractFacts(undefined as unknown as string, a, r))).not.toThrow();
      }
    }
    const f = extractFacts(
      "chat",
      { "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 5 },
      {},
    );
    expect(pricer.price(f, new Date(Number.NaN))?.totalNanos).toBeGreaterThan(0); // static price: timestamp unused
    expect(() => pricer.price(f, "yesterday" as unknown as Date)).not.toThrow();
    expect(pricer.price(null as unknown as GenAiFacts, AT)).toBeNull();
  });

  it("huge token counts price to an exact cost, or stay unpriced when no exact one exists", () => {
    const f = extractFacts(
      "chat",
      {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 1e15,
        "gen_ai.usage.output_tokens": 1e15,
      },
      {},
    );
    // $12.5 billion for one call: more nano-dollars than count exactly (2^53), so unpriced.
    expect(pricer.price(f, AT)).toBeNull();
    const big = extractFacts(
      "chat",
      {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 1e9,
        "gen_ai.usage.output_tokens": 1e9,
      },
      {},
    );
    const c = pricer.price(big, AT);
    expect(Number.isSafeInteger(c?.totalNanos)).toBe(true);
    expect(c?.totalNanos).toBe(c && c.inputNanos + c.outputNanos);
  });

  it("state does not leak between calls", () => {
    extractFacts(
      "chat",
      {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 5,
        "gen_ai.agent.name": "a",
      },
      {},
    );
    const f = extractFacts("x", { "gen_ai.tool.name": "t" }, {});
    expect(f.requestModel).toBeNull();
    expect(f.inputTokens).toBeNull();
    expect(f.agentName).toBeNull();
  });
});
