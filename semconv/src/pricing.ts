/**
 * GenAI facts → cost in USD, from `@pydantic/genai-prices` (bundled data, offline) and user overrides.
 *
 * Never calls `updatePrices` / `waitForUpdate`: no network.
 *
 * Money is integer nano-dollars (1e-9 USD), the unit storage keeps (`Decimal(18, 9)`): `totalNanos` is
 * `calcPrice(...).total_price` to the nearest nano-dollar, and the parts add up to it exactly. The
 * library folds cache read/write prices into `input_price`: it prices each usage unit on its "leaf"
 * count (input leaf = input minus the priced cache parts) and sums input-direction units into
 * `input_price`. We split it the same way: `cacheReadNanos` / `cacheWriteNanos` are the library's own
 * per-unit terms (same price entry, same tier, same arithmetic), `outputNanos` is `output_price`, each
 * to the nearest nano-dollar, and `inputNanos` is the remainder (it also carries any non-directional
 * charge such as a per-request fee). If a model has no cache price, the library charges those tokens
 * at the input rate, so they stay in `inputNanos` and the cache part is 0.
 *
 * Lookup: provider-scoped first (OTel provider → genai-prices id), then model only, for the response
 * model then the request model, then the same with a `provider/` prefix stripped. Which (provider id,
 * model string) pair works is cached per (provider, model); prices are always recomputed, since they
 * depend on the timestamp and on tiers reached by the usage.
 */
import { calcPrice } from "@pydantic/genai-prices";
import { normalizeProvider } from "./provider.ts";
import type { Cost, GenAiFacts, PriceOverride } from "./types.ts";

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

// Usage kinds of a price entry, for the exact fast path.
const K_INPUT = 0;
const K_OUTPUT = 1;
const K_CACHE_READ = 2;
const K_CACHE_WRITE = 3;
const K_REQUEST = 4;
/** Units whose usage we never report: their leaf count is 0, so their term is 0. */
const K_ZERO = 5;

const D_INPUT = 0;
const D_OUTPUT = 1;
const D_OTHER = 2;

/**
 * Price keys the fast path understands: [usage kind, per, direction]. Every other key (per-page,
 * per-hour, per-message prices) sends the model to `calcPrice`. None of the K_ZERO units is an
 * ancestor of input/output/cache_read/cache_write tokens, so genai-prices gives them a leaf of 0.
 */
const FAST_KEYS: ReadonlyMap<string, readonly [number, number, number]> = new Map([
  ["input_mtok", [K_INPUT, 1e6, D_INPUT]],
  ["output_mtok", [K_OUTPUT, 1e6, D_OUTPUT]],
  ["cache_read_mtok", [K_CACHE_READ, 1e6, D_INPUT]],
  ["cache_write_mtok", [K_CACHE_WRITE, 1e6, D_INPUT]],
  ["requests_kcount", [K_REQUEST, 1e3, D_OTHER]],
  ["cache_write_1h_mtok", [K_ZERO, 1e6, D_INPUT]],
  ["input_audio_mtok", [K_ZERO, 1e6, D_INPUT]],
  ["cache_audio_read_mtok", [K_ZERO, 1e6, D_INPUT]],
  ["input_image_mtok", [K_ZERO, 1e6, D_INPUT]],
  ["cache_image_read_mtok", [K_ZERO, 1e6, D_INPUT]],
  ["input_video_mtok", [K_ZERO, 1e6, D_INPUT]],
  ["output_audio_mtok", [K_ZERO, 1e6, D_OUTPUT]],
  ["output_image_mtok", [K_ZERO, 1e6, D_OUTPUT]],
  ["output_video_mtok", [K_ZERO, 1e6, D_OUTPUT]],
  ["output_reasoning_mtok", [K_ZERO, 1e6, D_OUTPUT]],
  ["output_citation_mtok", [K_ZERO, 1e6, D_OUTPUT]],
  ["web_searches_kcount", [K_ZERO, 1e3, D_OTHER]],
  ["storage_searches_kcount", [K_ZERO, 1e3, D_OTHER]],
]);

interface Tiered {
  readonly base: number;
  /** Sorted by start, ascending (as genai-prices' TieredPrices does). */
  readonly tiers: ReadonlyArray<{ readonly start: number; readonly price: number }>;
}

interface FastEntry {
  readonly kind: number;
  readonly per: number;
  readonly dir: number;
  readonly price: number | Tiered;
}

/** A static (unconditional) model price, compiled for the fast path. */
interface FastModel {
  readonly entries: readonly FastEntry[];
  readonly tiered: boolean;
  readonly pricesCacheRead: boolean;
  readonly pricesCacheWrite: boolean;
  readonly cacheRead: number | Tiered | undefined;
  readonly cacheWrite: number | Tiered | undefined;
}

interface Resolution {
  /** genai-prices provider id to pass, or undefined for a model-only lookup. */
  readonly providerId: string | undefined;
  readonly modelId: string;
  /** Set when the model has one static price made only of keys in FAST_KEYS. */
  readonly fast: FastModel | null;
}

const NOT_FOUND: Resolution = { providerId: undefined, modelId: "", fast: null };
const PROBE_USAGE: Usage = { input_tokens: 1, output_tokens: 1 };
const PROBE_TIME = new Date(0);
const CACHE_MAX = 10_000;

function isTiered(v: unknown): v is { base: number; tiers: { start: number; price: number }[] } {
  return v !== null && typeof v === "object" && Array.isArray((v as { tiers?: unknown }).tiers);
}

function compileFast(providerId: string, model: { id: string; prices: unknown }): FastModel | null {
  if (Array.isArray(model.prices)) return null; // conditional prices: let calcPrice pick by timestamp
  if (providerId === "groq" && model.id.startsWith("whisper")) return null; // special-cased by calcPrice
  const prices = model.prices as Record<string, unknown>;
  const entries: FastEntry[] = [];
  let tiered = false;
  for (const [key, value] of Object.entries(prices)) {
    if (value === undefined) continue;
    const k = FAST_KEYS.get(key);
    if (k === undefined) return null;
    let price: number | Tiered;
    if (typeof value === "number") price = value;
    else if (isTiered(value)) {
      tiered = true;
      price = { base: value.base, tiers: [...value.tiers].sort((a, b) => a.start - b.start) };
    } else return null;
    entries.push({ kind: k[0], per: k[1], dir: k[2], price });
  }
  const cr = entries.find((e) => e.kind === K_CACHE_READ);
  const cw = entries.find((e) => e.kind === K_CACHE_WRITE);
  return {
    entries,
    tiered,
    pricesCacheRead: cr !== undefined,
    pricesCacheWrite: cw !== undefined,
    cacheRead: cr?.price,
    cacheWrite: cw?.price,
  };
}

/** One unit's term exactly as genai-prices computes it (`_e` / `de` in its source). */
function term(price: number | Tiered | undefined, tokens: number, tierBasis: number, per: number): number {
  if (price === undefined) return 0;
  if (typeof price === "number") return (price * tokens) / per;
  if (tokens <= 0) return 0;
  let p = price.base;
  for (const t of price.tiers) if (tierBasis > t.start) p = t.price;
  return (((p * tokens) / 1e6) * 1e6) / per;
}

/**
 * Replicates genai-prices' standard pricing for usage made of input/output/cache_read/cache_write
 * tokens (integers) and a static model price: leaf counts (input minus priced cache parts), terms in
 * the price object's key order, summed per direction, total = input + output + other.
 */
function fastPrice(f: FastModel, input: number, output: number, cacheRead: number, cacheWrite: number): Cost {
  const leafInput = input - (f.pricesCacheRead ? cacheRead : 0) - (f.pricesCacheWrite ? cacheWrite : 0);
  const basis = f.tiered ? input : 0;
  let o = 0;
  let n = 0;
  let s = 0;
  for (const e of f.entries) {
    let t: number;
    switch (e.kind) {
      case K_INPUT:
        t = leafInput;
        break;
      case K_OUTPUT:
        t = output;
        break;
      case K_CACHE_READ:
        t = cacheRead;
        break;
      case K_CACHE_WRITE:
        t = cacheWrite;
        break;
      case K_REQUEST:
        t = 1;
        break;
      default:
        t = 0;
    }
    const x = term(e.price, t, basis, e.per);
    if (e.dir === D_INPUT) o += x;
    else if (e.dir === D_OUTPUT) n += x;
    else s += x;
  }
  const total = o + n + s;
  const cacheReadUsd = term(f.cacheRead, cacheRead, basis, 1e6);
  const cacheWriteUsd = term(f.cacheWrite, cacheWrite, basis, 1e6);
  return nanoCost(total, n, cacheReadUsd, cacheWriteUsd);
}

/** Price through `calcPrice` itself; parts split with the library's own per-unit terms. */
function slowPrice(
  res: Resolution,
  input: number,
  output: number,
  cacheRead: number,
  cacheWrite: number,
  at: Date,
): Cost | null {
  const usage: Usage = { input_tokens: input, output_tokens: output };
  if (cacheRead > 0) usage.cache_read_tokens = cacheRead;
  if (cacheWrite > 0) usage.cache_write_tokens = cacheWrite;
  let result: ReturnType<typeof calcPrice>;
  try {
    result = calcPrice(usage, res.modelId, { providerId: res.providerId, timestamp: at });
  } catch {
    return null; // invalid timestamp for dated prices, or usage the library refuses
  }
  if (result === null) return null;
  const mp = result.model_price as Record<string, unknown>;
  const tiered = Object.values(mp).some(isTiered);
  const basis = tiered ? input : 0;
  const asPrice = (v: unknown): number | Tiered | undefined =>
    typeof v === "number"
      ? v
      : isTiered(v)
        ? { base: v.base, tiers: [...v.tiers].sort((a, b) => a.start - b.start) }
        : undefined;
  const cacheReadUsd = term(asPrice(mp.cache_read_mtok), cacheRead, basis, 1e6);
  const cacheWriteUsd = term(asPrice(mp.cache_write_mtok), cacheWrite, basis, 1e6);
  const outputUsd = result.output_price;
  const totalUsd = result.total_price;
  return nanoCost(totalUsd, outputUsd, cacheReadUsd, cacheWriteUsd);
}

function priceResolved(
  res: Resolution,
  input: number,
  output: number,
  cacheRead: number,
  cacheWrite: number,
  at: Date,
): Cost | null {
  if (
    res.fast !== null &&
    Number.isInteger(input) &&
    Number.isInteger(output) &&
    Number.isInteger(cacheRead) &&
    Number.isInteger(cacheWrite)
  ) {
    return fastPrice(res.fast, input, output, cacheRead, cacheWrite);
  }
  return slowPrice(res, input, output, cacheRead, cacheWrite, at);
}

/**
 * Price token counts for one genai-prices provider id (or none: model-only) and model string, without
 * the OTel provider mapping and without caching. Same arithmetic as `Pricer.price`; exported for tests
 * and tools.
 */
export function priceModel(
  providerId: string | undefined,
  modelId: string,
  tokens: { input: number; output: number; cacheRead?: number; cacheWrite?: number },
  at: Date,
): Cost | null {
  const res = probe(modelId, providerId);
  if (res === null) return null;
  return countable(priceResolved(res, tokens.input, tokens.output, tokens.cacheRead ?? 0, tokens.cacheWrite ?? 0, at));
}

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
  if (Number.isNaN(t))
    throw new Error(`Price override "${String(o.match)}": ${key} is not a valid ISO date: ${String(v)}`);
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

/** USD to integer nano-dollars, to the nearest: a price library's float noise (0.0030000000000000005) rounds away. */
export function usdToNanos(usd: number): number {
  return Math.round(usd * 1e9);
}

/**
 * Two USD amounts of whole nano-dollars (as read from `Decimal(…, 9)` columns) added exactly: as
 * integers of nano-dollars, then back to the nearest double. `+` on the doubles drifts
 * (0.1 + 0.2 = 0.30000000000000004); a total kept with this stays exact below 2^53 nano-dollars.
 */
export function addUsd(a: number, b: number): number {
  return (usdToNanos(a) + usdToNanos(b)) / 1e9;
}

/** The parts [input, output, cacheRead, cacheWrite] in nano-dollars, unrounded, then rounded. */
const EXACT = new Float64Array(4);
const PARTS = [0, 0, 0, 0];

/**
 * A library-priced cost in nano-dollars: the total to the nearest nano-dollar, shared out to the parts
 * (input being the rest of the total) by largest remainder, so they add up to it exactly and none is
 * more than a nano-dollar off its own figure.
 */
function nanoCost(totalUsd: number, outputUsd: number, cacheReadUsd: number, cacheWriteUsd: number): Cost {
  const total = usdToNanos(totalUsd);
  EXACT[0] = Math.max(0, totalUsd - outputUsd - cacheReadUsd - cacheWriteUsd) * 1e9;
  EXACT[1] = outputUsd * 1e9;
  EXACT[2] = cacheReadUsd * 1e9;
  EXACT[3] = cacheWriteUsd * 1e9;
  let left = total;
  for (let i = 0; i < 4; i++) {
    PARTS[i] = Math.floor(EXACT[i]);
    left -= PARTS[i];
  }
  // At most a few nano-dollars to hand out (or take back, when the input part was nothing);
  // anything else is not a finite price, and `countable` refuses it.
  if (Math.abs(left) <= 8) {
    for (; left > 0; left--) PARTS[pick(1)]++;
    for (; left < 0; left++) PARTS[pick(-1)]--;
  }
  return {
    inputNanos: PARTS[0],
    outputNanos: PARTS[1],
    cacheReadNanos: PARTS[2],
    cacheWriteNanos: PARTS[3],
    totalNanos: PARTS[0] + PARTS[1] + PARTS[2] + PARTS[3],
    source: "genai-prices",
  };
}

/** The part whose rounding lost the most (`sign` 1) or, among those above 0, gained the most (-1). */
function pick(sign: 1 | -1): number {
  let best = -1;
  let bestBy = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < 4; i++) {
    if (sign < 0 && PARTS[i] <= 0) continue;
    const by = sign * (EXACT[i] - PARTS[i]);
    if (by > bestBy) {
      best = i;
      bestBy = by;
    }
  }
  return Math.max(best, 0);
}

/**
 * The cost, or null (unpriced) when it cannot be counted exactly: above 2^53 nano-dollars (about
 * $9 million for one call, from absurd token counts) integers stop being exact.
 */
function countable(cost: Cost | null): Cost | null {
  return cost !== null && Number.isSafeInteger(cost.totalNanos) && cost.totalNanos >= 0 ? cost : null;
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
    if (override !== null) return countable(priceOverride(override, inTotal, out, cr, cw));

    const models = [facts.responseModel, facts.requestModel];
    for (let i = 0; i < 2; i++) {
      const model = models[i];
      if (typeof model !== "string" || model.length === 0) continue;
      if (i === 1 && model === models[0]) continue;
      const res = this.#resolve(facts.provider, model);
      if (res === NOT_FOUND) continue;
      const cost = priceResolved(res, inTotal, out, cr, cw, ts);
      if (cost !== null) return countable(cost);
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
    if (r !== null) return { providerId: r.provider.id, modelId: model, fast: compileFast(r.provider.id, r.model) };
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

function priceOverride(
  o: CompiledOverride,
  input: number,
  output: number,
  cacheRead: number,
  cacheWrite: number,
): Cost {
  const s = o.source;
  const nonCached = Math.max(0, input - cacheRead - cacheWrite);
  const inputNanos = usdToNanos((nonCached * s.input_per_mtok) / 1e6);
  const outputNanos = usdToNanos((output * s.output_per_mtok) / 1e6);
  const cacheReadNanos = usdToNanos((cacheRead * (s.cache_read_per_mtok ?? s.input_per_mtok)) / 1e6);
  const cacheWriteNanos = usdToNanos((cacheWrite * (s.cache_write_per_mtok ?? s.input_per_mtok)) / 1e6);
  return {
    inputNanos,
    outputNanos,
    cacheReadNanos,
    cacheWriteNanos,
    totalNanos: inputNanos + outputNanos + cacheReadNanos + cacheWriteNanos,
    source: "override",
  };
}
