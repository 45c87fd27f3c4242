/**
 * Span attributes (any convention) → GenAI facts.
 *
 * Hot path: runs for every ingested span. One pass over the span's own attribute keys with a
 * first-character gate and one Map lookup per candidate key; values land in a reused slot array.
 * A span with no GenAI attribute costs the key walk plus one resource lookup. No regexes, no
 * JSON.parse except for Langfuse's `usage_details` (only when no other token counts exist).
 *
 * Precedence: current OTel names › deprecated OTel names › OpenInference › Vercel AI SDK › Langfuse ›
 * OpenLLMetry-only / Pydantic AI-only names.
 *
 * Token accounting (output: OTel rules — input is cache-inclusive, output includes reasoning):
 * - OTel `gen_ai.usage.input_tokens` is cache-inclusive by definition. OpenLLMetry's Anthropic
 *   instrumentation has written input = input_tokens + cache_read + cache_creation since it added cache
 *   support (openllmetry PR #2175, Oct 2024), under both `gen_ai.usage.prompt_tokens` (older) and
 *   `gen_ai.usage.input_tokens` (newer), so these are taken as inclusive.
 * - OpenInference `llm.token_count.prompt` is cache-inclusive by spec; its Anthropic/Bedrock
 *   instrumentations were fixed to add cache tokens in openinference PR #1429 (Mar 2025).
 * - Vercel AI SDK v6 (`ai.usage.inputTokenDetails.*` present): `ai.usage.inputTokens` is the
 *   cache-inclusive total; when only `noCacheTokens` is present, input = noCache + cacheRead + cacheWrite.
 *   AI SDK v5 (`ai.usage.cachedInputTokens`, no details): providers pass their native number through,
 *   so Anthropic and Bedrock report input WITHOUT cache → we add the cached tokens for those providers.
 * - Langfuse `usage_details` keys are priced separately and summed by Langfuse, so they are disjoint:
 *   `input` excludes cache keys and `output` excludes reasoning keys → we add them back.
 * - Safety net for old instrumentations (pre-fix OpenInference Anthropic, Bedrock InvokeModel): if
 *   cacheRead + cacheWrite > input, input cannot have been inclusive → input += cacheRead + cacheWrite.
 *
 * Operation mapping for Vercel AI SDK (no documented OTel mapping exists for the `ai.*` spans):
 * `*.doGenerate` / `*.doStream` → `chat` (model_call); `ai.embed.doEmbed` / `ai.embedMany.doEmbed` →
 * `embeddings` (model_call); outer `ai.generateText` / `ai.streamText` / `ai.generateObject` /
 * `ai.streamObject` → `chat` with usageRole `aggregate` (their usage totals the steps; they are not
 * agent invocations in the OTel sense, so `invoke_agent` would misreport them); outer `ai.embed` /
 * `ai.embedMany` → `embeddings` aggregate; `ai.toolCall` → `execute_tool`.
 */

import { normalizeProvider } from "./provider.ts";
import type { Attrs, AttrValue, GenAiFacts } from "./types.ts";

// ---------------------------------------------------------------------------------------------
// Slots

const S_OP = 0;
const S_PROVIDER = 1;
const S_SYSTEM = 2;
const S_REQ_MODEL = 3;
const S_RESP_MODEL = 4;
const S_IN = 5;
const S_OUT = 6;
const S_CR = 7;
const S_CW = 8;
const S_CW2 = 9;
const S_RS = 10;
const S_PROMPT = 11;
const S_COMPLETION = 12;
const S_TL_CR = 13;
const S_TL_CW = 14;
const S_TL_RS = 15;
const S_PD_CR = 16;
const S_PD_CW = 17;
const S_PD_RS = 18;
const S_SE_CR = 19;
const S_SE_CW = 20;
const S_SE_RS = 21;
const S_AGENT = 22;
const S_TOOL = 23;
const S_CONV = 24;
const S_OI_KIND = 25;
const S_OI_SYSTEM = 26;
const S_OI_PROVIDER = 27;
const S_OI_MODEL = 28;
const S_OI_REQ_MODEL = 29;
const S_OI_RESP_MODEL = 30;
const S_OI_INV = 31;
const S_OI_PROMPT = 32;
const S_OI_COMPLETION = 33;
const S_OI_CR = 34;
const S_OI_CW = 35;
const S_OI_RS = 36;
const S_OI_AGENT = 37;
const S_OI_TOOL = 38;
const S_OI_SESSION = 39;
const S_USER = 40;
const S_ENDUSER = 41;
const S_TL_KIND = 42;
const S_TL_REQ_TYPE = 43;
const S_TL_ENTITY = 44;
const S_V_OPID = 45;
const S_V_PROVIDER = 46;
const S_V_MODEL = 47;
const S_V_RESP_MODEL = 48;
const S_V_PROMPT = 49;
const S_V_COMPLETION = 50;
const S_V_IN = 51;
const S_V_OUT = 52;
const S_V_CACHED = 53;
const S_V_RS = 54;
const S_V_NOCACHE = 55;
const S_V_CR = 56;
const S_V_CW = 57;
const S_V_ORS = 58;
const S_V_FUNC = 59;
const S_V_TOOL = 60;
const S_V_SESSION = 61;
const S_V_USER = 62;
const S_LF_TYPE = 63;
const S_LF_MODEL = 64;
const S_LF_USAGE = 65;
const S_LF_SESSION = 66;
const S_LF_USER = 67;
const S_PY_AGENT = 68;
const S_PY_MODEL = 69;
const S_PY_FINAL = 70;
const S_PY_ALL_MESSAGES = 71;
const S_V_TOKENS = 72;
const SLOT_COUNT = 73;

const SLOT_NAMES: ReadonlyArray<readonly [string, number]> = [
  ["gen_ai.operation.name", S_OP],
  ["gen_ai.provider.name", S_PROVIDER],
  ["gen_ai.system", S_SYSTEM],
  ["gen_ai.request.model", S_REQ_MODEL],
  ["gen_ai.response.model", S_RESP_MODEL],
  ["gen_ai.usage.input_tokens", S_IN],
  ["gen_ai.usage.output_tokens", S_OUT],
  ["gen_ai.usage.cache_read.input_tokens", S_CR],
  ["gen_ai.usage.cache_creation.input_tokens", S_CW],
  ["gen_ai.usage.cache_write.input_tokens", S_CW2],
  ["gen_ai.usage.reasoning.output_tokens", S_RS],
  ["gen_ai.usage.prompt_tokens", S_PROMPT],
  ["gen_ai.usage.completion_tokens", S_COMPLETION],
  ["gen_ai.usage.cache_read_input_tokens", S_TL_CR],
  ["gen_ai.usage.cache_creation_input_tokens", S_TL_CW],
  ["gen_ai.usage.reasoning_tokens", S_TL_RS],
  ["gen_ai.usage.details.cache_read_tokens", S_PD_CR],
  ["gen_ai.usage.details.cache_write_tokens", S_PD_CW],
  ["gen_ai.usage.details.reasoning_tokens", S_PD_RS],
  ["gen_ai.usage.input_tokens.cached", S_SE_CR],
  ["gen_ai.usage.input_tokens.cache_write", S_SE_CW],
  ["gen_ai.usage.output_tokens.reasoning", S_SE_RS],
  ["gen_ai.agent.name", S_AGENT],
  ["gen_ai.tool.name", S_TOOL],
  ["gen_ai.conversation.id", S_CONV],
  ["openinference.span.kind", S_OI_KIND],
  ["llm.system", S_OI_SYSTEM],
  ["llm.provider", S_OI_PROVIDER],
  ["llm.model_name", S_OI_MODEL],
  ["llm.request.model_name", S_OI_REQ_MODEL],
  ["llm.response.model_name", S_OI_RESP_MODEL],
  ["llm.invocation_parameters", S_OI_INV],
  ["llm.token_count.prompt", S_OI_PROMPT],
  ["llm.token_count.completion", S_OI_COMPLETION],
  ["llm.token_count.prompt_details.cache_read", S_OI_CR],
  ["llm.token_count.prompt_details.cache_write", S_OI_CW],
  ["llm.token_count.completion_details.reasoning", S_OI_RS],
  ["agent.name", S_OI_AGENT],
  ["tool.name", S_OI_TOOL],
  ["session.id", S_OI_SESSION],
  ["user.id", S_USER],
  ["enduser.id", S_ENDUSER],
  ["traceloop.span.kind", S_TL_KIND],
  ["llm.request.type", S_TL_REQ_TYPE],
  ["traceloop.entity.name", S_TL_ENTITY],
  ["ai.operationId", S_V_OPID],
  ["ai.model.provider", S_V_PROVIDER],
  ["ai.model.id", S_V_MODEL],
  ["ai.response.model", S_V_RESP_MODEL],
  ["ai.usage.promptTokens", S_V_PROMPT],
  ["ai.usage.completionTokens", S_V_COMPLETION],
  ["ai.usage.inputTokens", S_V_IN],
  ["ai.usage.outputTokens", S_V_OUT],
  ["ai.usage.cachedInputTokens", S_V_CACHED],
  ["ai.usage.reasoningTokens", S_V_RS],
  ["ai.usage.inputTokenDetails.noCacheTokens", S_V_NOCACHE],
  ["ai.usage.inputTokenDetails.cacheReadTokens", S_V_CR],
  ["ai.usage.inputTokenDetails.cacheWriteTokens", S_V_CW],
  ["ai.usage.outputTokenDetails.reasoningTokens", S_V_ORS],
  ["ai.telemetry.functionId", S_V_FUNC],
  ["ai.toolCall.name", S_V_TOOL],
  ["ai.telemetry.metadata.sessionId", S_V_SESSION],
  ["ai.telemetry.metadata.userId", S_V_USER],
  ["langfuse.observation.type", S_LF_TYPE],
  ["langfuse.observation.model.name", S_LF_MODEL],
  ["langfuse.observation.usage_details", S_LF_USAGE],
  ["langfuse.session.id", S_LF_SESSION],
  ["langfuse.user.id", S_LF_USER],
  ["agent_name", S_PY_AGENT],
  ["model_name", S_PY_MODEL],
  ["final_result", S_PY_FINAL],
  ["pydantic_ai.all_messages", S_PY_ALL_MESSAGES],
  ["ai.usage.tokens", S_V_TOKENS],
];

const SLOTS = new Map<string, number>(SLOT_NAMES);
/** First characters of all slot names: keys starting with anything else skip the Map lookup. */
const GATE = new Uint8Array(128);
for (const [name] of SLOT_NAMES) GATE[name.charCodeAt(0)] = 1;

/** Reused between calls (extractFacts is synchronous and not re-entrant). */
const V: (AttrValue | undefined)[] = new Array(SLOT_COUNT).fill(undefined);

// ---------------------------------------------------------------------------------------------
// Value coercion (never throws)

const MAX_TOKENS = Number.MAX_SAFE_INTEGER;

/** A token count: finite, non-negative, safe integer range; numbers or numeric strings. */
function count(v: AttrValue | undefined): number | null {
  if (typeof v === "number") return v >= 0 && v <= MAX_TOKENS ? v : null; // NaN fails both tests
  if (typeof v === "string") {
    const c = v.charCodeAt(0);
    if (!(c >= 48 && c <= 57)) return null; // must start with a digit ("", "-1", " ", "NaN" rejected)
    const n = +v;
    return n >= 0 && n <= MAX_TOKENS ? n : null;
  }
  return null;
}

function str(v: AttrValue | undefined): string | null {
  return typeof v === "string" && v.length > 0 ? v : null;
}

/** Identifiers may arrive as numbers (session 42); accept both. */
function id(v: AttrValue | undefined): string | null {
  if (typeof v === "string") return v.length > 0 ? v : null;
  if (typeof v === "number" && Number.isFinite(v)) return String(v);
  return null;
}

function firstCount(
  a: AttrValue | undefined,
  b: AttrValue | undefined,
  c: AttrValue | undefined,
  d: AttrValue | undefined,
): number | null {
  const x = count(a);
  if (x !== null) return x;
  const y = count(b);
  if (y !== null) return y;
  const z = count(c);
  if (z !== null) return z;
  return count(d);
}

/**
 * `"model"` from `llm.invocation_parameters` without JSON.parse: a scan for the first `"model"` key
 * followed by a plain string value. Escaped values fall back to JSON.parse.
 */
function invocationModel(v: AttrValue | undefined): string | null {
  if (typeof v !== "string") {
    if (v !== null && typeof v === "object" && !Array.isArray(v)) return str((v as Record<string, AttrValue>).model);
    return null;
  }
  let at = v.indexOf('"model"');
  while (at >= 0) {
    let i = at + 7;
    const n = v.length;
    while (i < n && v.charCodeAt(i) <= 32) i++;
    if (v.charCodeAt(i) === 58 /* : */) {
      i++;
      while (i < n && v.charCodeAt(i) <= 32) i++;
      if (v.charCodeAt(i) !== 34 /* " */) return null;
      const start = i + 1;
      const end = v.indexOf('"', start);
      if (end < 0) return null;
      const s = v.slice(start, end);
      if (s.indexOf("\\") >= 0) return parsedModel(v);
      return s.length > 0 ? s : null;
    }
    at = v.indexOf('"model"', at + 7);
  }
  return null;
}

function parsedModel(json: string): string | null {
  try {
    const o = JSON.parse(json) as unknown;
    if (o !== null && typeof o === "object" && !Array.isArray(o)) {
      const m = (o as Record<string, unknown>).model;
      return typeof m === "string" && m.length > 0 ? m : null;
    }
  } catch {
    // not JSON
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Operation tables

const ROLE_UNKNOWN = 0;
const ROLE_MODEL = 1;
const ROLE_AGG = 2;
const ROLE_NONE = 3;

const MODEL_OPS: ReadonlySet<string> = new Set(["chat", "text_completion", "generate_content", "embeddings"]);
const AGG_OPS: ReadonlySet<string> = new Set(["invoke_agent", "invoke_workflow", "create_agent"]);

/** Aliases for non-standard `gen_ai.operation.name` / `llm.request.type` values. */
const OP_ALIASES: ReadonlyMap<string, string> = new Map([
  ["completion", "text_completion"],
  ["completions", "text_completion"],
  ["embedding", "embeddings"],
  ["chat_completion", "chat"],
  ["tool", "execute_tool"],
]);

/** Known OTel operations, for the `"{operation} {name}"` span name fallback. */
const SPAN_NAME_OPS: ReadonlySet<string> = new Set([
  "chat",
  "text_completion",
  "generate_content",
  "embeddings",
  "retrieval",
  "execute_tool",
  "create_agent",
  "invoke_agent",
  "invoke_workflow",
]);

interface OpRole {
  readonly op: string | null;
  readonly role: number;
}

const VERCEL_OPS: ReadonlyMap<string, OpRole> = new Map<string, OpRole>([
  ["ai.generateText", { op: "chat", role: ROLE_AGG }],
  ["ai.generateText.doGenerate", { op: "chat", role: ROLE_MODEL }],
  ["ai.streamText", { op: "chat", role: ROLE_AGG }],
  ["ai.streamText.doStream", { op: "chat", role: ROLE_MODEL }],
  ["ai.generateObject", { op: "chat", role: ROLE_AGG }],
  ["ai.generateObject.doGenerate", { op: "chat", role: ROLE_MODEL }],
  ["ai.streamObject", { op: "chat", role: ROLE_AGG }],
  ["ai.streamObject.doStream", { op: "chat", role: ROLE_MODEL }],
  ["ai.embed", { op: "embeddings", role: ROLE_AGG }],
  ["ai.embed.doEmbed", { op: "embeddings", role: ROLE_MODEL }],
  ["ai.embedMany", { op: "embeddings", role: ROLE_AGG }],
  ["ai.embedMany.doEmbed", { op: "embeddings", role: ROLE_MODEL }],
  ["ai.toolCall", { op: "execute_tool", role: ROLE_NONE }],
]);

const OI_KINDS: ReadonlyMap<string, OpRole> = new Map<string, OpRole>([
  ["LLM", { op: "chat", role: ROLE_MODEL }],
  ["EMBEDDING", { op: "embeddings", role: ROLE_MODEL }],
  ["TOOL", { op: "execute_tool", role: ROLE_NONE }],
  ["AGENT", { op: "invoke_agent", role: ROLE_AGG }],
  ["RETRIEVER", { op: "retrieval", role: ROLE_NONE }],
  // No OTel operation for these; usage on them totals children.
  ["CHAIN", { op: null, role: ROLE_AGG }],
  ["RERANKER", { op: null, role: ROLE_NONE }],
  ["GUARDRAIL", { op: null, role: ROLE_NONE }],
  ["EVALUATOR", { op: null, role: ROLE_NONE }],
]);

const LANGFUSE_TYPES: ReadonlyMap<string, OpRole> = new Map<string, OpRole>([
  ["generation", { op: "chat", role: ROLE_MODEL }],
  ["embedding", { op: "embeddings", role: ROLE_MODEL }],
  ["agent", { op: "invoke_agent", role: ROLE_AGG }],
  ["tool", { op: "execute_tool", role: ROLE_NONE }],
  ["chain", { op: null, role: ROLE_AGG }],
  ["retriever", { op: "retrieval", role: ROLE_NONE }],
  ["span", { op: null, role: ROLE_AGG }],
  ["event", { op: null, role: ROLE_NONE }],
  ["evaluator", { op: null, role: ROLE_NONE }],
  ["guardrail", { op: null, role: ROLE_NONE }],
]);

const TRACELOOP_KINDS: ReadonlyMap<string, OpRole> = new Map<string, OpRole>([
  ["workflow", { op: "invoke_workflow", role: ROLE_AGG }],
  ["task", { op: null, role: ROLE_AGG }],
  ["agent", { op: "invoke_agent", role: ROLE_AGG }],
  ["tool", { op: "execute_tool", role: ROLE_NONE }],
]);

const TRACELOOP_REQUEST_TYPES: ReadonlyMap<string, OpRole> = new Map<string, OpRole>([
  ["chat", { op: "chat", role: ROLE_MODEL }],
  ["completion", { op: "text_completion", role: ROLE_MODEL }],
  ["embedding", { op: "embeddings", role: ROLE_MODEL }],
  ["rerank", { op: null, role: ROLE_NONE }],
]);

function normalizeOp(v: string): string {
  return OP_ALIASES.get(v) ?? v;
}

/** Providers whose native input count excludes cache (AI SDK v5 passes it through). */
function exclusiveInputProvider(p: string | null): boolean {
  return p === "anthropic" || p === "aws.bedrock";
}

// ---------------------------------------------------------------------------------------------
// Langfuse usage_details

interface LangfuseUsage {
  input: number | null;
  output: number | null;
  cacheRead: number | null;
  cacheWrite: number | null;
  reasoning: number | null;
}

function langfuseUsage(v: AttrValue | undefined): LangfuseUsage | null {
  let o: unknown = v;
  if (typeof v === "string") {
    if (v.length === 0 || v.length > 100_000) return null;
    try {
      o = JSON.parse(v);
    } catch {
      return null;
    }
  }
  if (o === null || typeof o !== "object" || Array.isArray(o)) return null;
  const r = o as Record<string, AttrValue>;
  const out: LangfuseUsage = { input: null, output: null, cacheRead: null, cacheWrite: null, reasoning: null };
  for (const k in r) {
    const n = count(r[k]);
    if (n === null) continue;
    switch (k) {
      case "input":
      case "prompt_tokens":
      case "input_tokens":
        out.input = (out.input ?? 0) + n;
        break;
      case "output":
      case "completion_tokens":
      case "output_tokens":
        out.output = (out.output ?? 0) + n;
        break;
      case "total":
      case "total_tokens":
        break;
      default:
        if (k.startsWith("input_") || k.startsWith("cache_")) {
          // input_cached_tokens, input_cache_read, cache_read_input_tokens, input_cache_creation, …
          if (k.indexOf("creation") >= 0 || k.indexOf("write") >= 0) out.cacheWrite = (out.cacheWrite ?? 0) + n;
          else if (k.indexOf("cache") >= 0) out.cacheRead = (out.cacheRead ?? 0) + n;
          // other input_* keys (audio, image) are parts of input already counted elsewhere: ignore
        } else if (k.indexOf("reasoning") >= 0) {
          out.reasoning = (out.reasoning ?? 0) + n;
        }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

function facts(
  operation: string | null,
  provider: string | null,
  requestModel: string | null,
  responseModel: string | null,
  inputTokens: number | null,
  outputTokens: number | null,
  cacheReadTokens: number | null,
  cacheWriteTokens: number | null,
  reasoningTokens: number | null,
  agentName: string | null,
  toolName: string | null,
  conversationId: string | null,
  userId: string | null,
  usageRole: GenAiFacts["usageRole"],
): GenAiFacts {
  return {
    operation,
    provider,
    requestModel,
    responseModel,
    inputTokens,
    outputTokens,
    cacheReadTokens,
    cacheWriteTokens,
    reasoningTokens,
    agentName,
    toolName,
    conversationId,
    userId,
    usageRole,
  };
}

function resourceAgent(resourceAttrs: Attrs): string | null {
  if (resourceAttrs === null || typeof resourceAttrs !== "object") return null;
  return str(resourceAttrs["gen_ai.agent.name"]);
}

/** Vercel span names all start with "ai.". */
function vercelOp(spanName: string): OpRole | undefined {
  if (
    spanName.length < 4 ||
    spanName.charCodeAt(0) !== 97 ||
    spanName.charCodeAt(1) !== 105 ||
    spanName.charCodeAt(2) !== 46
  ) {
    return undefined;
  }
  return VERCEL_OPS.get(spanName);
}

/**
 * Extract GenAI facts from one span. Pure, never throws, allocates only the result object for spans
 * without GenAI attributes.
 */
export function extractFacts(spanName: string, spanAttrs: Attrs, resourceAttrs: Attrs): GenAiFacts {
  let any = false;
  if (spanAttrs !== null && typeof spanAttrs === "object") {
    for (const k in spanAttrs) {
      const c = k.charCodeAt(0);
      if (c < 128 && GATE[c] === 1) {
        const s = SLOTS.get(k);
        if (s !== undefined) {
          V[s] = spanAttrs[k];
          any = true;
        }
      }
    }
  }
  const name = typeof spanName === "string" ? spanName : "";
  const vByName = vercelOp(name);
  if (!any && vByName === undefined) {
    return facts(
      null,
      null,
      null,
      null,
      null,
      null,
      null,
      null,
      null,
      resourceAgent(resourceAttrs),
      null,
      null,
      null,
      "none",
    );
  }
  try {
    return resolve(name, vByName, resourceAttrs);
  } finally {
    if (any) V.fill(undefined);
  }
}

function resolve(spanName: string, vByName: OpRole | undefined, resourceAttrs: Attrs): GenAiFacts {
  // --- provider
  let provider = normalizeProvider(V[S_PROVIDER]) ?? normalizeProvider(V[S_SYSTEM]);
  if (provider === null) {
    const host = normalizeProvider(V[S_OI_PROVIDER]);
    const vendor = normalizeProvider(V[S_OI_SYSTEM]);
    if (host === "gcp.gemini" && vendor === "gcp.vertex_ai") provider = vendor;
    else if (host === "azure.ai.openai" && vendor !== null && vendor !== "openai") provider = "azure.ai.inference";
    else provider = host ?? vendor;
  }
  if (provider === null) provider = normalizeProvider(V[S_V_PROVIDER]);

  // --- models
  let requestModel =
    str(V[S_REQ_MODEL]) ?? str(V[S_OI_REQ_MODEL]) ?? str(V[S_V_MODEL]) ?? str(V[S_LF_MODEL]) ?? str(V[S_PY_MODEL]);
  if (requestModel === null && V[S_OI_INV] !== undefined) requestModel = invocationModel(V[S_OI_INV]);
  const responseModel = str(V[S_RESP_MODEL]) ?? str(V[S_OI_RESP_MODEL]) ?? str(V[S_OI_MODEL]) ?? str(V[S_V_RESP_MODEL]);

  // --- operation and role hint
  let operation: string | null = null;
  let hint = ROLE_UNKNOWN;
  const vercel = vercelOp(str(V[S_V_OPID]) ?? "") ?? vByName;
  const otelOp = str(V[S_OP]);
  if (otelOp !== null) {
    operation = normalizeOp(otelOp);
  } else {
    let or: OpRole | undefined;
    const oiKind = str(V[S_OI_KIND]);
    if (oiKind !== null) or = OI_KINDS.get(oiKind.toUpperCase());
    if (or === undefined && vercel !== undefined) or = vercel;
    if (or === undefined) {
      const lf = str(V[S_LF_TYPE]);
      if (lf !== null) or = LANGFUSE_TYPES.get(lf.toLowerCase());
    }
    if (or === undefined) {
      const rt = str(V[S_TL_REQ_TYPE]);
      if (rt !== null) or = TRACELOOP_REQUEST_TYPES.get(rt.toLowerCase());
    }
    if (or === undefined) {
      const tk = str(V[S_TL_KIND]);
      if (tk !== null) or = TRACELOOP_KINDS.get(tk.toLowerCase());
    }
    if (or !== undefined) {
      operation = or.op;
      hint = or.role;
    } else if (
      spanName === "agent run" ||
      (V[S_PY_AGENT] !== undefined && (V[S_PY_FINAL] !== undefined || V[S_PY_ALL_MESSAGES] !== undefined))
    ) {
      // Pydantic AI agent run (Logfire): usage on it totals the model requests below it.
      operation = "invoke_agent";
      hint = ROLE_AGG;
    } else {
      // "{operation} {name}" span names (OTel format) when the attribute is missing.
      const sp = spanName.indexOf(" ");
      const head = sp > 0 ? spanName.slice(0, sp) : spanName;
      if (SPAN_NAME_OPS.has(head)) operation = head;
      else if (V[S_TOOL] !== undefined || V[S_V_TOOL] !== undefined) operation = "execute_tool";
    }
  }
  // An explicit Vercel leaf/aggregate marker overrides the generic operation role.
  if (hint === ROLE_UNKNOWN && vercel !== undefined) hint = vercel.role;

  // --- tokens
  const isVercel = vercel !== undefined || V[S_V_IN] !== undefined || V[S_V_PROMPT] !== undefined;
  const vercelV6 = V[S_V_NOCACHE] !== undefined || V[S_V_CR] !== undefined || V[S_V_CW] !== undefined;

  let input = count(V[S_IN]);
  if (input === null) input = count(V[S_PROMPT]);
  if (input === null) input = count(V[S_OI_PROMPT]);
  if (input === null) input = count(V[S_V_IN]);
  if (input === null) input = count(V[S_V_PROMPT]);
  if (input === null) input = count(V[S_V_TOKENS]); // Vercel embed / embedMany
  let output = firstCount(V[S_OUT], V[S_COMPLETION], V[S_OI_COMPLETION], V[S_V_OUT]);
  if (output === null) output = count(V[S_V_COMPLETION]);

  let cacheRead = firstCount(V[S_CR], V[S_TL_CR], V[S_OI_CR], V[S_V_CR]);
  if (cacheRead === null) cacheRead = firstCount(V[S_V_CACHED], V[S_PD_CR], V[S_SE_CR], undefined);
  let cacheWrite = firstCount(V[S_CW2], V[S_CW], V[S_TL_CW], V[S_OI_CW]);
  if (cacheWrite === null) cacheWrite = firstCount(V[S_V_CW], V[S_PD_CW], V[S_SE_CW], undefined);
  let reasoning = firstCount(V[S_RS], V[S_TL_RS], V[S_OI_RS], V[S_V_ORS]);
  if (reasoning === null) reasoning = firstCount(V[S_V_RS], V[S_PD_RS], V[S_SE_RS], undefined);

  if (isVercel) {
    if (vercelV6) {
      if (input === null) {
        const noCache = count(V[S_V_NOCACHE]);
        if (noCache !== null) input = noCache + (cacheRead ?? 0) + (cacheWrite ?? 0);
      }
    } else if (input !== null && exclusiveInputProvider(provider)) {
      // AI SDK ≤ v5: Anthropic / Bedrock providers report input without cache.
      input += (cacheRead ?? 0) + (cacheWrite ?? 0);
    }
  }

  if (input === null && output === null && cacheRead === null && V[S_LF_USAGE] !== undefined) {
    const lf = langfuseUsage(V[S_LF_USAGE]);
    if (lf !== null) {
      cacheRead = lf.cacheRead;
      cacheWrite = lf.cacheWrite;
      reasoning = lf.reasoning;
      if (lf.input !== null || cacheRead !== null || cacheWrite !== null) {
        input = (lf.input ?? 0) + (cacheRead ?? 0) + (cacheWrite ?? 0);
      }
      if (lf.output !== null || reasoning !== null) output = (lf.output ?? 0) + (reasoning ?? 0);
    }
  }

  // Safety net: a cache-inclusive input can never be smaller than its cached parts.
  if (input !== null) {
    const cached = (cacheRead ?? 0) + (cacheWrite ?? 0);
    if (cached > input) input += cached;
  }
  if (input !== null && input > MAX_TOKENS) input = null;

  const hasTokens = input !== null || output !== null || cacheRead !== null || cacheWrite !== null;

  // --- usage role
  let role: GenAiFacts["usageRole"];
  if (hint === ROLE_MODEL) role = "model_call";
  else if (hint === ROLE_AGG) role = hasTokens ? "aggregate" : "none";
  else if (hint === ROLE_NONE) role = "none";
  else if (operation !== null && MODEL_OPS.has(operation)) role = "model_call";
  else if (operation !== null && AGG_OPS.has(operation)) role = hasTokens ? "aggregate" : "none";
  else if (operation === null && hasTokens && (requestModel !== null || responseModel !== null)) {
    // A span with a model and its own usage but no operation (e.g. older Logfire OpenAI spans).
    role = "model_call";
  } else role = "none";

  // --- names
  let agentName = str(V[S_AGENT]) ?? str(V[S_OI_AGENT]) ?? str(V[S_PY_AGENT]);
  if (agentName === null) {
    const tk = V[S_TL_KIND];
    if (tk === "agent") agentName = str(V[S_TL_ENTITY]);
  }
  if (agentName === null) agentName = str(V[S_V_FUNC]) ?? resourceAgent(resourceAttrs);

  let toolName = str(V[S_TOOL]) ?? str(V[S_OI_TOOL]) ?? str(V[S_V_TOOL]);
  if (toolName === null && V[S_TL_KIND] === "tool") toolName = str(V[S_TL_ENTITY]);

  const conversationId = id(V[S_CONV]) ?? id(V[S_OI_SESSION]) ?? id(V[S_V_SESSION]) ?? id(V[S_LF_SESSION]);
  const userId = id(V[S_USER]) ?? id(V[S_V_USER]) ?? id(V[S_LF_USER]) ?? id(V[S_ENDUSER]);

  return facts(
    operation,
    provider,
    requestModel,
    responseModel,
    input,
    output,
    cacheRead,
    cacheWrite,
    reasoning,
    agentName,
    toolName,
    conversationId,
    userId,
    role,
  );
}
