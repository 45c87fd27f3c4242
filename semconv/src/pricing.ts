/**
 * GenAI facts → cost in USD, from `@pydantic/genai-prices` (bundled data, offline) and user overrides.
 *
 * Never calls `updatePrices` / `waitForUpdate`: no network.
 *
 * Exactness: `totalUsd` is `calcPrice(...).total_price` itself. The library folds cache read/write
 * prices into `input_price`: it prices each usage unit on its "leaf" count (input leaf = input minus
 * the priced cache parts) and sums input-direction units into `input_price`. We split it the same way:
 * `cacheReadUsd` / `cacheWriteUsd` are the library's own per-unit terms (same price entry, same tier,
 * same arithmetic), `outputUsd` is `output_price`, and `inputUsd` is the remainder (it also carries any
 * non-directional charge such as a per-request fee). If a model has no cache price, the library charges
 * those tokens at the input rate, so they stay in `inputUsd` and the cache part is 0.
 *
 * Lookup: provider-scoped first (OTel provider → genai-prices id), then model only, for the response
 * model then the request model, then the same with a `provider/` prefix stripped. Which (provider id,
 * model string) pair works is cached per (provider, model); prices are always recomputed, since they
 * depend on the timestamp and on tiers reached by the usage.
 */
import { calcPrice } from "@pydantic/genai-prices";
import type { Cost, GenAiFacts, PriceOverride } from "./types.ts";
import { normalizeProvider } from "./provider.ts";

/** OTel provider name → genai-prices provider id. `null`: not in genai-prices, use the model-only lookup. */
export const PRICES_PROVIDER_IDS: Readonly<Record<string, string | null>> = {
  openai: "openai",
  anthropic: "anthropic",
  "aws.bedrock": "aws",
  // genai-prices' azure provider falls back to openai/anthropic/deepseek/x-ai/moonshotai models.
  "azure.ai.openai": "azure",
  "azure.ai.inference": "azure",
  "gcp.gemini": "google",
  "gcp.vertex_ai": "google",
  "gcp.gen_ai": "google",
  mistral_ai: "mistral",
  groq: "groq",
  deepseek: "deepseek",
  cohere: "cohere",
  perplexity: "perplexity",
  x_ai: "x-ai",
  "ibm.watsonx.ai": null,
  together_ai: "together",
  fireworks: "fireworks",
  openrouter: "openrouter",
  cerebras: "cerebras",
  moonshotai: "moonshotai",
  huggingface: null,
  ollama: null,
};

type Usage = Record<string, number>;

interface Resolution {
  /** genai-prices provider id to pass, or undefined for a model-only lookup. */
  readonly providerId: string | undefined;
  readonly modelId: string;
}

const NOT_FOUND: Resolution = { providerId: undefined, modelId: "" };
const PROBE_USAGE: Usage = { input_tokens: 1, output_tokens: 1 };
const PROBE_TIME = new Date(0);
const CACHE_MAX = 10_000;

interface CompiledOverride {
  readonly source: PriceOverride;
  readonly re: RegExp;
  readonly provider: string | null;
  readonly from: number;
  readonly to: number;
}

function checkPrice(o: PriceOverride, key: keyof PriceOverride, required: boolean): void {
  const v = o[key];
  if (v === undefined && !required) return;
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
    throw new Error(`Price override "${String(o.match)}": ${key} must be a finite non-negative number`);
  }
}

function parseDate(o: PriceOverride, key: "effective_from" | "effective_to", dflt: number): number {
  const v = o[key];
  if (v === undefined) return dflt;
  const t = typeof v === "string" ? Date.parse(v) : Number.NaN;
  if (Number.isNaN(t)) throw new Error(`Price override "${String(o.match)}": ${key} is not a valid ISO date: ${String(v)}`);
  return t;
}

function compile(o: PriceOverride): CompiledOverride {
  if (o === null || typeof o !== "object") throw new Error("Price override must be an object");
  if (typeof o.match !== "string") throw new Error(`Price override match must be a string, got ${typeof o.match}`);
  let re: RegExp;
  try {
    re = new RegExp(o.match);
  } catch (e) {
    throw new Error(`Invalid price override pattern "${o.match}": ${(e as Error).message}`);
  }
  checkPrice(o, "input_per_mtok", true);
  checkPrice(o, "output_per_mtok", true);
  checkPrice(o, "cache_read_per_mtok", false);
  checkPrice(o, "cache_write_per_mtok", false);
  const from = parseDate(o, "effective_from", Number.NEGATIVE_INFINITY);
  const to = parseDate(o, "effective_to", Number.POSITIVE_INFINITY);
  let provider: string | null = null;
  if (o.provider !== undefined) {
    provider = normalizeProvider(o.provider);
    if (provider === null) throw new Error(`Price override "${o.match}": provider must be a non-empty string`);
  }
  return { source: o, re, provider, from, to };
}

/** `tokens × price` exactly as genai-prices computes one unit's term (`per` = 1e6 for token units). */
function unitTerm(price: unknown, tokens: number, tierBasis: number): number {
  if (price === undefined || tokens === 0) return 0;
  if (typeof price === "number") return (price * tokens) / 1e6;
  if (price === null || typeof price !== "object") return 0;
  const tp = price as { base: number; tiers: { start: number; price: number }[] };
  if (tokens <= 0) return 0;
  let p = tp.base;
  const tiers = [...tp.tiers].sort((a, b) => a.start - b.start);
  for (const t of tiers) if (tierBasis > t.start) p = t.price;
  return (((p * tokens) / 1e6) * 1e6) / 1e6;
}

/** Make `input + output + cacheRead + cacheWrite === total` hold exactly by nudging `input`. */
function balance(total: number, input: number, output: number, cacheRead: number, cacheWrite: number): number {
  let x = input;
  for (let i = 0; i < 8; i++) {
    const sum = x + output + cacheRead + cacheWrite;
    if (sum === total) return x;
    x += total - sum;
  }
  return x;
}

export class Pricer {
  readonly #overrides: CompiledOverride[];
  readonly #cache = new Map<string, Map<string, Resolution>>();
  #cacheSize = 0;

  constructor(overrides?: PriceOverride[]) {
    this.#overrides = (overrides ?? []).map(compile);
  }

  /**
   * Cost of one model call, or `null` when the span is not a `model_call`, carries no token counts,
   * or no price is known for its model.
   */
  price(facts: GenAiFacts, at: Date): Cost | null {
    if (facts === null || typeof facts !== "object" || facts.usageRole !== "model_call") return null;
    const input = facts.inputTokens;
    const output = facts.outputTokens;
    const cacheRead = facts.cacheReadTokens;
    const cacheWrite = facts.cacheWriteTokens;
    if (input === null && output === null && cacheRead === null && cacheWrite === null) return null;

    const cr = cacheRead ?? 0;
    const cw = cacheWrite ?? 0;
    // calcPrice rejects cache parts larger than the total input.
    const inTotal = Math.max(input ?? 0, cr + cw);
    const out = output ?? 0;
    if (!Number.isFinite(inTotal + out)) return null;

    const ts = at instanceof Date ? at : new Date(Number.NaN);
    const override = this.#override(facts, ts.getTime());
    if (override !== null) return priceOverride(override, inTotal, out, cr, cw);

    const usage: Usage = { input_tokens: inTotal, output_tokens: out };
    if (cr > 0) usage.cache_read_tokens = cr;
    if (cw > 0) usage.cache_write_tokens = cw;

    const provider = facts.provider;
    const models = [facts.responseModel, facts.requestModel];
    for (let i = 0; i < 2; i++) {
      const model = models[i];
      if (typeof model !== "string" || model.length === 0) continue;
      if (i === 1 && model === models[0]) continue;
      const res = this.#resolve(provider, model);
      if (res === NOT_FOUND) continue;
      let result: ReturnType<typeof calcPrice>;
      try {
        result = calcPrice(usage, res.modelId, { providerId: res.providerId, timestamp: ts });
      } catch {
        return null; // invalid timestamp or usage the library refuses
      }
      if (result === null) continue;
      const mp = result.model_price as Record<string, unknown>;
      const tiered = Object.values(mp).some((p) => p !== null && typeof p === "object");
      const basis = tiered ? inTotal : 0;
      const cacheReadUsd = unitTerm(mp.cache_read_mtok, cr, basis);
      const cacheWriteUsd = unitTerm(mp.cache_write_mtok, cw, basis);
      const outputUsd = result.output_price;
      const totalUsd = result.total_price;
      const inputUsd = balance(totalUsd, totalUsd - outputUsd - cacheReadUsd - cacheWriteUsd, outputUsd, cacheReadUsd, cacheWriteUsd);
      return { inputUsd, outputUsd, cacheReadUsd, cacheWriteUsd, totalUsd, source: "genai-prices" };
    }
    return null;
  }

  #override(facts: GenAiFacts, t: number): CompiledOverride | null {
    const list = this.#overrides;
    if (list.length === 0) return null;
    const resp = typeof facts.responseModel === "string" ? facts.responseModel : null;
    const req = typeof facts.requestModel === "string" ? facts.requestModel : null;
    if (resp === null && req === null) return null;
    for (const o of list) {
      if (o.provider !== null && o.provider !== facts.provider) continue;
      if (!(t >= o.from && t < o.to)) continue; // NaN time matches only unbounded windows
      if ((resp !== null && o.re.test(resp)) || (req !== null && o.re.test(req))) return o;
    }
    return null;
  }

  #resolve(provider: string | null, model: string): Resolution {
    const pkey = provider ?? "";
    let byModel = this.#cache.get(pkey);
    if (byModel === undefined) {
      byModel = new Map();
      this.#cache.set(pkey, byModel);
    }
    const hit = byModel.get(model);
    if (hit !== undefined) return hit;
    const res = search(provider, model);
    if (this.#cacheSize >= CACHE_MAX) {
      this.#cache.clear();
      this.#cacheSize = 0;
      byModel = new Map();
      this.#cache.set(pkey, byModel);
    }
    byModel.set(model, res);
    this.#cacheSize++;
    return res;
  }
}

function pricesProviderId(provider: string | null): string | null {
  if (provider === null) return null;
  const mapped = PRICES_PROVIDER_IDS[provider];
  if (mapped !== undefined) return mapped;
  return provider; // genai-prices matches ids and provider aliases itself; unknown ids return null
}

function probe(model: string, providerId: string | undefined): Resolution | null {
  try {
    const r = calcPrice(PROBE_USAGE, model, { providerId, timestamp: PROBE_TIME });
    // Pin the provider that matched so later calls skip the provider search.
    if (r !== null) return { providerId: r.provider.id, modelId: model };
  } catch {
    // ignore: treated as not found
  }
  return null;
}

function search(provider: string | null, model: string): Resolution {
  const pid = pricesProviderId(provider);
  const candidates: string[] = [model];
  const slash = model.indexOf("/");
  if (slash > 0 && slash < model.length - 1) candidates.push(model.slice(slash + 1));
  for (const m of candidates) {
    if (pid !== null) {
      const r = probe(m, pid);
      if (r !== null) return r;
    }
    if (m !== model) {
      // "openai/gpt-4o": the prefix names the provider.
      const prefixPid = pricesProviderId(normalizeProvider(model.slice(0, slash)));
      if (prefixPid !== null && prefixPid !== pid) {
        const r = probe(m, prefixPid);
        if (r !== null) return r;
      }
    }
    const r = probe(m, undefined);
    if (r !== null) return r;
  }
  return NOT_FOUND;
}

function priceOverride(o: CompiledOverride, input: number, output: number, cacheRead: number, cacheWrite: number): Cost {
  const s = o.source;
  const nonCached = Math.max(0, input - cacheRead - cacheWrite);
  const inputUsd = (nonCached * s.input_per_mtok) / 1e6;
  const outputUsd = (output * s.output_per_mtok) / 1e6;
  const cacheReadUsd = (cacheRead * (s.cache_read_per_mtok ?? s.input_per_mtok)) / 1e6;
  const cacheWriteUsd = (cacheWrite * (s.cache_write_per_mtok ?? s.input_per_mtok)) / 1e6;
  return {
    inputUsd,
    outputUsd,
    cacheReadUsd,
    cacheWriteUsd,
    totalUsd: inputUsd + outputUsd + cacheReadUsd + cacheWriteUsd,
    source: "override",
  };
}
