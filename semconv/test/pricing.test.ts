import { calcPrice, findProvider } from "@pydantic/genai-prices";
import { describe, expect, it } from "vitest";
import { type GenAiFacts, Pricer, usdToNanos } from "../src/index.ts";
import { priceModel } from "../src/pricing.ts";

const AT = new Date("2025-06-01T12:00:00Z");

function chat(over: Partial<GenAiFacts>): GenAiFacts {
  return {
    operation: "chat",
    provider: "openai",
    requestModel: "gpt-4o",
    responseModel: null,
    inputTokens: 1000,
    outputTokens: 200,
    cacheReadTokens: null,
    cacheWriteTokens: null,
    reasoningTokens: null,
    agentName: null,
    toolName: null,
    conversationId: null,
    userId: null,
    usageRole: "model_call",
    ...over,
  };
}

function sumParts(c: {
  inputNanos: number;
  outputNanos: number;
  cacheReadNanos: number;
  cacheWriteNanos: number;
}): number {
  return c.inputNanos + c.outputNanos + c.cacheReadNanos + c.cacheWriteNanos;
}

/** A library figure (USD) in nano-dollars; null stays null. */
const nanos = (usd: number | undefined) => (usd === undefined ? undefined : usdToNanos(usd));

describe("Pricer with genai-prices", () => {
  const pricer = new Pricer();

  it("matches calcPrice to the nano-dollar for an OpenAI call with cache reads, and splits parts", () => {
    const f = chat({ responseModel: "gpt-4o-2024-08-06", inputTokens: 1200, outputTokens: 300, cacheReadTokens: 512 });
    const cost = pricer.price(f, AT);
    const ref = calcPrice({ input_tokens: 1200, output_tokens: 300, cache_read_tokens: 512 }, "gpt-4o-2024-08-06", {
      providerId: "openai",
      timestamp: AT,
    });
    expect(ref).not.toBeNull();
    expect(cost).not.toBeNull();
    expect(cost?.totalNanos).toBe(nanos(ref?.total_price));
    expect(cost?.outputNanos).toBe(nanos(ref?.output_price));
    expect(cost?.source).toBe("genai-prices");
    // gpt-4o: input 2.5/Mtok, cache read 1.25/Mtok
    expect(cost?.cacheReadNanos).toBe(512 * 1250);
    expect(cost?.inputNanos).toBe((1200 - 512) * 2500);
    expect(cost && sumParts(cost)).toBe(cost?.totalNanos);
  });

  it("prices Anthropic cache writes separately", () => {
    const f = chat({
      provider: "anthropic",
      requestModel: "claude-sonnet-4-20250514",
      inputTokens: 10_000,
      outputTokens: 500,
      cacheReadTokens: 6000,
      cacheWriteTokens: 3000,
    });
    const cost = pricer.price(f, AT);
    const ref = calcPrice(
      { input_tokens: 10_000, output_tokens: 500, cache_read_tokens: 6000, cache_write_tokens: 3000 },
      "claude-sonnet-4-20250514",
      { providerId: "anthropic", timestamp: AT },
    );
    expect(cost?.totalNanos).toBe(nanos(ref?.total_price));
    expect(cost?.cacheWriteNanos).toBeGreaterThan(0);
    expect(cost?.cacheReadNanos).toBeGreaterThan(0);
    // non-cached input is 1000 tokens at the model's input price
    if (ref === null) throw new Error("no reference price");
    const inputPrice = (ref.model_price as Record<string, number>).input_mtok;
    expect(cost?.inputNanos).toBe(usdToNanos((1000 * inputPrice) / 1e6));
    expect(cost && sumParts(cost)).toBe(cost?.totalNanos);
  });

  it("uses tiered prices like the library (Gemini above 200k input)", () => {
    const f = chat({
      provider: "gcp.vertex_ai",
      requestModel: "gemini-2.5-pro",
      inputTokens: 250_000,
      outputTokens: 1000,
      cacheReadTokens: 100_000,
    });
    const cost = pricer.price(f, AT);
    const ref = calcPrice(
      { input_tokens: 250_000, output_tokens: 1000, cache_read_tokens: 100_000 },
      "gemini-2.5-pro",
      {
        providerId: "google",
        timestamp: AT,
      },
    );
    expect(ref).not.toBeNull();
    expect(cost?.totalNanos).toBe(nanos(ref?.total_price));
    expect(cost && sumParts(cost)).toBe(cost?.totalNanos);
  });

  it("maps OTel provider names to genai-prices ids", () => {
    const cases: [string, string, string][] = [
      ["aws.bedrock", "anthropic.claude-3-5-sonnet-20241022-v2:0", "aws"],
      ["azure.ai.openai", "gpt-4o", "azure"],
      ["x_ai", "grok-3", "x-ai"],
      ["mistral_ai", "mistral-large-latest", "mistral"],
      ["gcp.gemini", "gemini-1.5-pro", "google"],
    ];
    for (const [otel, model, pid] of cases) {
      const ref = calcPrice({ input_tokens: 1000, output_tokens: 100 }, model, { providerId: pid, timestamp: AT });
      expect(ref, `${pid}/${model}`).not.toBeNull();
      const cost = pricer.price(
        chat({ provider: otel, requestModel: model, inputTokens: 1000, outputTokens: 100 }),
        AT,
      );
      expect(cost?.totalNanos, otel).toBe(nanos(ref?.total_price));
    }
  });

  it("falls back to the model alone for an unknown provider, and strips provider/ prefixes", () => {
    const ref = calcPrice({ input_tokens: 1000, output_tokens: 100 }, "gpt-4o", { timestamp: AT });
    expect(pricer.price(chat({ provider: "some-gateway", inputTokens: 1000, outputTokens: 100 }), AT)?.totalNanos).toBe(
      nanos(ref?.total_price),
    );
    expect(
      pricer.price(chat({ provider: null, requestModel: "openai/gpt-4o", inputTokens: 1000, outputTokens: 100 }), AT)
        ?.totalNanos,
    ).toBe(nanos(ref?.total_price));
  });

  it("prefers the response model over the request model", () => {
    const mini = calcPrice({ input_tokens: 1000, output_tokens: 200 }, "gpt-4o-mini", {
      providerId: "openai",
      timestamp: AT,
    });
    const big = calcPrice({ input_tokens: 1000, output_tokens: 200 }, "gpt-4o", {
      providerId: "openai",
      timestamp: AT,
    });
    expect(mini?.total_price).not.toBe(big?.total_price);
    expect(pricer.price(chat({ requestModel: "gpt-4o", responseModel: "gpt-4o-mini" }), AT)?.totalNanos).toBe(
      nanos(mini?.total_price),
    );
    // unknown response model: request model is used
    expect(pricer.price(chat({ requestModel: "gpt-4o", responseModel: "zz-unknown-model" }), AT)?.totalNanos).toBe(
      nanos(big?.total_price),
    );
  });

  it("returns null for unknown models, non-model calls and spans without tokens", () => {
    expect(pricer.price(chat({ requestModel: "totally-unknown-model-xyz", provider: "openai" }), AT)).toBeNull();
    expect(pricer.price(chat({ requestModel: "totally-unknown-model-xyz", provider: null }), AT)).toBeNull();
    expect(pricer.price(chat({ requestModel: null, responseModel: null }), AT)).toBeNull();
    expect(pricer.price(chat({ usageRole: "aggregate" }), AT)).toBeNull();
    expect(pricer.price(chat({ usageRole: "none" }), AT)).toBeNull();
    expect(
      pricer.price(chat({ inputTokens: null, outputTokens: null, cacheReadTokens: null, cacheWriteTokens: null }), AT),
    ).toBeNull();
  });

  it("gives the same answer on repeated (cached) lookups, with the timestamp honoured each time", () => {
    const f = chat({ inputTokens: 5000, outputTokens: 50 });
    const a = pricer.price(f, AT);
    const b = pricer.price(f, AT);
    expect(b).toEqual(a);
    const f2 = chat({ inputTokens: 7000, outputTokens: 10 });
    const ref = calcPrice({ input_tokens: 7000, output_tokens: 10 }, "gpt-4o", { providerId: "openai", timestamp: AT });
    expect(pricer.price(f2, AT)?.totalNanos).toBe(nanos(ref?.total_price));
  });

  it("agrees with calcPrice for every model in the bundled data (fast path and fallback)", () => {
    const ids = [
      "anthropic",
      "arcee",
      "avian",
      "aws",
      "azure",
      "baseten",
      "cerebras",
      "cloudflare",
      "cohere",
      "cursor",
      "deepseek",
      "doubleword",
      "fireworks",
      "github-copilot",
      "google",
      "groq",
      "huggingface_cerebras",
      "huggingface_fireworks-ai",
      "huggingface_groq",
      "huggingface_hyperbolic",
      "huggingface_nebius",
      "huggingface_novita",
      "huggingface_nscale",
      "huggingface_ovhcloud",
      "huggingface_publicai",
      "huggingface_sambanova",
      "huggingface_together",
      "minimax",
      "mistral",
      "modal",
      "moonshotai",
      "novita",
      "openai",
      "openrouter",
      "ovhcloud",
      "perplexity",
      "quicksilverpro",
      "together",
      "typesafe",
      "voyageai",
      "x-ai",
      "zai",
      "zhipuai",
    ];
    const usages = [
      { input: 1000, output: 200, cacheRead: 0, cacheWrite: 0 },
      { input: 12_345, output: 678, cacheRead: 4000, cacheWrite: 1000 },
      { input: 250_001, output: 10_000, cacheRead: 100_000, cacheWrite: 50_000 },
      { input: 3, output: 0, cacheRead: 1, cacheWrite: 2 },
      { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 },
    ];
    const times = [new Date("2024-03-01T03:00:00Z"), AT, new Date("2026-01-15T18:30:00Z")];
    let compared = 0;
    for (const pid of ids) {
      const provider = findProvider({ providerId: pid });
      expect(provider, pid).toBeDefined();
      for (const model of provider?.models ?? []) {
        for (const u of usages) {
          for (const at of times) {
            const usage: Record<string, number> = { input_tokens: u.input, output_tokens: u.output };
            if (u.cacheRead > 0) usage.cache_read_tokens = u.cacheRead;
            if (u.cacheWrite > 0) usage.cache_write_tokens = u.cacheWrite;
            let ref: ReturnType<typeof calcPrice>;
            try {
              ref = calcPrice(usage, model.id, { providerId: pid, timestamp: at });
            } catch {
              ref = null;
            }
            const cost = priceModel(pid, model.id, u, at);
            if (ref === null) {
              expect(cost, `${pid}/${model.id}`).toBeNull();
              continue;
            }
            expect(cost?.totalNanos, `${pid}/${model.id} ${JSON.stringify(u)} ${at.toISOString()}`).toBe(
              usdToNanos(ref.total_price),
            );
            // Parts are shared out by largest remainder: each within a nano-dollar of the library's.
            expect(Math.abs((cost?.outputNanos ?? 0) - ref.output_price * 1e9)).toBeLessThan(1);
            expect(cost && sumParts(cost)).toBe(cost?.totalNanos);
            compared++;
          }
        }
      }
    }
    expect(compared).toBeGreaterThan(10_000);
  }, 60_000); // every bundled model × usages × dates: seconds on a busy 2-core machine
});

describe("Pricer overrides", () => {
  const base = { input_per_mtok: 1, output_per_mtok: 2 };

  it("applies a matching override instead of the library, with cache prices", () => {
    const p = new Pricer([{ match: "^gpt-4o", ...base, cache_read_per_mtok: 0.5, cache_write_per_mtok: 4 }]);
    const c = p.price(
      chat({ inputTokens: 1_000_000, outputTokens: 500_000, cacheReadTokens: 200_000, cacheWriteTokens: 100_000 }),
      AT,
    );
    expect(c?.source).toBe("override");
    expect(c?.inputNanos).toBe(700_000_000);
    expect(c?.cacheReadNanos).toBe(100_000_000);
    expect(c?.cacheWriteNanos).toBe(400_000_000);
    expect(c?.outputNanos).toBe(1_000_000_000);
    expect(c?.totalNanos).toBe(2_200_000_000);
    expect(c && sumParts(c)).toBe(c?.totalNanos);
  });

  it("charges cache tokens at the input price when no cache price is given", () => {
    const p = new Pricer([{ match: "gpt", ...base }]);
    const c = p.price(chat({ inputTokens: 1_000_000, outputTokens: 0, cacheReadTokens: 400_000 }), AT);
    expect(c?.inputNanos).toBe(600_000_000);
    expect(c?.cacheReadNanos).toBe(400_000_000);
    expect(c?.totalNanos).toBe(1_000_000_000);
  });

  it("prices models unknown to the library", () => {
    const p = new Pricer([{ match: "^acme-llm-", ...base }]);
    const c = p.price(
      chat({ requestModel: "acme-llm-7b", provider: "acme", inputTokens: 2_000_000, outputTokens: 1_000_000 }),
      AT,
    );
    expect(c?.totalNanos).toBe(4_000_000_000);
    expect(new Pricer().price(chat({ requestModel: "acme-llm-7b", provider: "acme" }), AT)).toBeNull();
  });

  it("matches the response model, else the request model", () => {
    const p = new Pricer([{ match: "^ft:custom$", ...base }]);
    expect(p.price(chat({ requestModel: "gpt-4o", responseModel: "ft:custom" }), AT)?.source).toBe("override");
    expect(p.price(chat({ requestModel: "ft:custom", responseModel: null }), AT)?.source).toBe("override");
    expect(p.price(chat({ requestModel: "gpt-4o", responseModel: "gpt-4o-2024-08-06" }), AT)?.source).toBe(
      "genai-prices",
    );
  });

  it("honours the provider filter (normalized)", () => {
    const p = new Pricer([{ match: "gpt-4o", provider: "azure.ai.openai", ...base }]);
    expect(p.price(chat({ provider: "azure.ai.openai" }), AT)?.source).toBe("override");
    expect(p.price(chat({ provider: "openai" }), AT)?.source).toBe("genai-prices");
    const q = new Pricer([{ match: "gpt-4o", provider: "Azure", ...base }]);
    expect(q.price(chat({ provider: "azure.ai.openai" }), AT)?.source).toBe("override");
  });

  it("applies effective_from inclusive and effective_to exclusive", () => {
    const p = new Pricer([{ match: "gpt-4o", ...base, effective_from: "2025-01-01", effective_to: "2025-02-01" }]);
    expect(p.price(chat({}), new Date("2024-12-31T23:59:59Z"))?.source).toBe("genai-prices");
    expect(p.price(chat({}), new Date("2025-01-01T00:00:00Z"))?.source).toBe("override");
    expect(p.price(chat({}), new Date("2025-01-31T23:59:59Z"))?.source).toBe("override");
    expect(p.price(chat({}), new Date("2025-02-01T00:00:00Z"))?.source).toBe("genai-prices");
  });

  it("uses the first matching override in order", () => {
    const p = new Pricer([
      { match: "gpt-4o-mini", input_per_mtok: 10, output_per_mtok: 10 },
      { match: "gpt-4o", input_per_mtok: 20, output_per_mtok: 20 },
    ]);
    expect(
      p.price(chat({ requestModel: "gpt-4o-mini", inputTokens: 1_000_000, outputTokens: 0 }), AT)?.totalNanos,
    ).toBe(10_000_000_000);
    expect(p.price(chat({ requestModel: "gpt-4o", inputTokens: 1_000_000, outputTokens: 0 }), AT)?.totalNanos).toBe(
      20_000_000_000,
    );
  });

  it("rejects an invalid regex with an error naming the pattern", () => {
    expect(() => new Pricer([{ match: "gpt-(4o", ...base }])).toThrowError(/gpt-\(4o/);
    expect(() => new Pricer([{ match: "[", ...base }])).toThrowError(Error);
  });

  it("rejects invalid prices and dates", () => {
    expect(() => new Pricer([{ match: "x", input_per_mtok: -1, output_per_mtok: 1 }])).toThrowError(/input_per_mtok/);
    expect(() => new Pricer([{ match: "x", ...base, effective_from: "not a date" }])).toThrowError(/effective_from/);
  });
});
