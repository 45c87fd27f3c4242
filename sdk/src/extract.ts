/**
 * Reading GenAI facts (usage, response model and id, finish reasons, output messages) from what an
 * LLM client returned: OpenAI Chat Completions, OpenAI Responses and Anthropic Messages, whole or
 * streamed. Everything here is defensive: unknown shapes yield no facts, and callers wrap it in
 * try/catch anyway (a getter may throw).
 */

/** GenAI facts read from one model response. Token counts follow the OTel conventions. */
export interface LlmFacts {
  /** Cache-inclusive: cache reads and cache writes are parts of it. */
  inputTokens?: number;
  /** Includes reasoning tokens. */
  outputTokens?: number;
  cacheReadTokens?: number;
  cacheCreationTokens?: number;
  reasoningTokens?: number;
  responseModel?: string;
  responseId?: string;
  finishReasons?: string[];
  /** Output messages in the OTel GenAI message format (only built when content is captured). */
  outputMessages?: OtelMessage[];
}

export interface OtelPart {
  type: string;
  [key: string]: unknown;
}

export interface OtelMessage {
  role: string;
  parts: OtelPart[];
  finish_reason?: string;
}

type Obj = Record<string, any>;

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null;
}

function num(v: unknown): number | undefined {
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

function parseJsonOr(v: unknown): unknown {
  if (typeof v !== "string") return v;
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}

/** Which API a response object (not a stream) comes from, by its shape. */
export type ResponseShape = "chat" | "responses" | "anthropic";

export function detectShape(r: Obj): ResponseShape | undefined {
  if (Array.isArray(r.choices) || r.object === "chat.completion" || (isObj(r.usage) && "prompt_tokens" in r.usage)) {
    return "chat";
  }
  if (r.type === "message" || "stop_reason" in r) return "anthropic";
  if (r.object === "response" || Array.isArray(r.output) || ("status" in r && isObj(r.usage))) return "responses";
  if (isObj(r.usage) && ("cache_read_input_tokens" in r.usage || "cache_creation_input_tokens" in r.usage)) {
    return "anthropic";
  }
  return undefined;
}

/** Facts from a whole (non-streamed) response; undefined when the value is not a known response. */
export function factsFromResponse(r: unknown, captureContent: boolean): LlmFacts | undefined {
  if (!isObj(r)) return undefined;
  switch (detectShape(r)) {
    case "chat":
      return fromChat(r, captureContent);
    case "responses":
      return fromResponses(r, captureContent);
    case "anthropic":
      return fromAnthropic(r, captureContent);
    default:
      return undefined;
  }
}

function chatMessage(m: unknown, finishReason: string | undefined): OtelMessage {
  const parts: OtelPart[] = [];
  if (isObj(m)) {
    if (typeof m.content === "string" && m.content !== "") parts.push({ type: "text", content: m.content });
    if (typeof m.refusal === "string" && m.refusal !== "") parts.push({ type: "refusal", content: m.refusal });
    if (Array.isArray(m.tool_calls)) {
      for (const tc of m.tool_calls) {
        if (!isObj(tc)) continue;
        parts.push({
          type: "tool_call",
          id: tc.id,
          name: tc.function?.name,
          arguments: parseJsonOr(tc.function?.arguments),
        });
      }
    }
  }
  const msg: OtelMessage = { role: (isObj(m) && str(m.role)) || "assistant", parts };
  if (finishReason !== undefined) msg.finish_reason = finishReason;
  return msg;
}

function fromChat(r: Obj, captureContent: boolean): LlmFacts {
  const f: LlmFacts = {};
  const u = r.usage;
  if (isObj(u)) {
    f.inputTokens = num(u.prompt_tokens);
    f.outputTokens = num(u.completion_tokens);
    f.cacheReadTokens = num(u.prompt_tokens_details?.cached_tokens);
    f.reasoningTokens = num(u.completion_tokens_details?.reasoning_tokens);
  }
  f.responseModel = str(r.model);
  f.responseId = str(r.id);
  if (Array.isArray(r.choices)) {
    const reasons: string[] = [];
    for (const c of r.choices) {
      const fr = isObj(c) ? str(c.finish_reason) : undefined;
      if (fr !== undefined) reasons.push(fr);
    }
    if (reasons.length > 0) f.finishReasons = reasons;
    if (captureContent) {
      f.outputMessages = r.choices.map((c: unknown) =>
        chatMessage(isObj(c) ? c.message : undefined, isObj(c) ? str(c.finish_reason) : undefined),
      );
    }
  }
  return f;
}

/**
 * Responses API finish reason: `status` "completed" → "tool_calls" when the output holds a function
 * call, else "stop"; "incomplete" → `incomplete_details.reason` (e.g. "max_output_tokens"); any other
 * status ("failed", "cancelled") is recorded as is.
 */
function responsesFinishReason(r: Obj): string | undefined {
  const status = str(r.status);
  if (status === undefined) return undefined;
  if (status === "completed") {
    const calls = Array.isArray(r.output) && r.output.some((o: unknown) => isObj(o) && o.type === "function_call");
    return calls ? "tool_calls" : "stop";
  }
  if (status === "incomplete") return str(r.incomplete_details?.reason) ?? "incomplete";
  return status;
}

function fromResponses(r: Obj, captureContent: boolean): LlmFacts {
  const f: LlmFacts = {};
  const u = r.usage;
  if (isObj(u)) {
    // OpenAI reports input_tokens cache-inclusive already.
    f.inputTokens = num(u.input_tokens);
    f.outputTokens = num(u.output_tokens);
    f.cacheReadTokens = num(u.input_tokens_details?.cached_tokens);
    f.reasoningTokens = num(u.output_tokens_details?.reasoning_tokens);
  }
  f.responseModel = str(r.model);
  f.responseId = str(r.id);
  const fr = responsesFinishReason(r);
  if (fr !== undefined) f.finishReasons = [fr];
  if (captureContent && Array.isArray(r.output)) {
    const parts: OtelPart[] = [];
    for (const item of r.output) {
      if (!isObj(item)) continue;
      if (item.type === "message" && Array.isArray(item.content)) {
        for (const c of item.content) {
          if (isObj(c) && c.type === "output_text") parts.push({ type: "text", content: c.text });
          else if (isObj(c) && c.type === "refusal") parts.push({ type: "refusal", content: c.refusal });
        }
      } else if (item.type === "function_call") {
        parts.push({ type: "tool_call", id: item.call_id, name: item.name, arguments: parseJsonOr(item.arguments) });
      }
    }
    const msg: OtelMessage = { role: "assistant", parts };
    if (fr !== undefined) msg.finish_reason = fr;
    f.outputMessages = [msg];
  }
  return f;
}

/** Anthropic's `input_tokens` excludes the cache; the OTel value includes reads and writes. */
function anthropicUsage(f: LlmFacts, u: Obj): void {
  const input = num(u.input_tokens);
  const read = num(u.cache_read_input_tokens);
  const write = num(u.cache_creation_input_tokens);
  if (input !== undefined || read !== undefined || write !== undefined) {
    f.inputTokens = (input ?? 0) + (read ?? 0) + (write ?? 0);
  }
  if (read !== undefined) f.cacheReadTokens = read;
  if (write !== undefined) f.cacheCreationTokens = write;
  const output = num(u.output_tokens);
  if (output !== undefined) f.outputTokens = output;
}

function anthropicParts(content: unknown): OtelPart[] {
  const parts: OtelPart[] = [];
  if (!Array.isArray(content)) return parts;
  for (const b of content) {
    if (!isObj(b)) continue;
    if (b.type === "text") parts.push({ type: "text", content: b.text });
    else if (b.type === "tool_use") parts.push({ type: "tool_call", id: b.id, name: b.name, arguments: b.input });
    else if (b.type === "thinking") parts.push({ type: "reasoning", content: b.thinking });
  }
  return parts;
}

function fromAnthropic(r: Obj, captureContent: boolean): LlmFacts {
  const f: LlmFacts = {};
  if (isObj(r.usage)) anthropicUsage(f, r.usage);
  f.responseModel = str(r.model);
  f.responseId = str(r.id);
  const stop = str(r.stop_reason);
  if (stop !== undefined) f.finishReasons = [stop];
  if (captureContent) {
    const msg: OtelMessage = { role: str(r.role) ?? "assistant", parts: anthropicParts(r.content) };
    if (stop !== undefined) msg.finish_reason = stop;
    f.outputMessages = [msg];
  }
  return f;
}

/**
 * Accumulates facts over the chunks or events of a streamed response:
 * - OpenAI Chat Completions chunks (`chat.completion.chunk`); usage arrives in a final chunk only when
 *   the request set `stream_options.include_usage`;
 * - OpenAI Responses stream events; `response.completed` / `response.incomplete` / `response.failed`
 *   carry the whole `response`;
 * - Anthropic Messages stream events: `message_start` (id, model, usage) and `message_delta`
 *   (cumulative `usage.output_tokens`, `delta.stop_reason`).
 */
export class StreamAccumulator {
  private id: string | undefined;
  private model: string | undefined;
  private chatUsage: Obj | undefined;
  private chatReasons: (string | undefined)[] = [];
  private chatText: string[] = [];
  private final: LlmFacts | undefined;
  private anthropicUsage: Obj | undefined;
  private stopReason: string | undefined;
  private anthropicBlocks: Obj[] = [];
  private seen = false;

  constructor(private readonly captureContent: boolean) {}

  add(chunk: unknown): void {
    if (!isObj(chunk)) return;
    const type = chunk.type;
    if (typeof type === "string") {
      if (type.startsWith("response.")) {
        this.addResponsesEvent(type, chunk);
        return;
      }
      if (type.startsWith("message_") || type.startsWith("content_block_")) {
        this.addAnthropicEvent(type, chunk);
        return;
      }
    }
    if (Array.isArray(chunk.choices) || chunk.object === "chat.completion.chunk") this.addChatChunk(chunk);
  }

  private addChatChunk(c: Obj): void {
    this.seen = true;
    this.id ??= str(c.id);
    this.model ??= str(c.model);
    if (isObj(c.usage)) this.chatUsage = c.usage;
    if (!Array.isArray(c.choices)) return;
    for (const choice of c.choices) {
      if (!isObj(choice)) continue;
      const i = num(choice.index) ?? 0;
      const fr = str(choice.finish_reason);
      if (fr !== undefined) this.chatReasons[i] = fr;
      if (this.captureContent) {
        const d = choice.delta?.content;
        if (typeof d === "string") this.chatText[i] = (this.chatText[i] ?? "") + d;
      }
    }
  }

  private addResponsesEvent(type: string, e: Obj): void {
    this.seen = true;
    if (!isObj(e.response)) return;
    if (type === "response.completed" || type === "response.incomplete" || type === "response.failed") {
      this.final = fromResponses(e.response, this.captureContent);
    } else {
      this.id ??= str(e.response.id);
      this.model ??= str(e.response.model);
    }
  }

  private addAnthropicEvent(type: string, e: Obj): void {
    this.seen = true;
    if (type === "message_start" && isObj(e.message)) {
      this.id = str(e.message.id);
      this.model = str(e.message.model);
      if (isObj(e.message.usage)) this.anthropicUsage = { ...e.message.usage };
    } else if (type === "message_delta") {
      if (isObj(e.usage)) {
        this.anthropicUsage ??= {};
        // message_delta usage is cumulative; any field present replaces the earlier value
        for (const [k, v] of Object.entries(e.usage)) if (typeof v === "number") this.anthropicUsage[k] = v;
      }
      const stop = str(e.delta?.stop_reason);
      if (stop !== undefined) this.stopReason = stop;
    } else if (this.captureContent) {
      if (type === "content_block_start" && isObj(e.content_block)) {
        const b: Obj = { ...e.content_block };
        if (b.type === "text") b.text = b.text ?? "";
        if (b.type === "tool_use") b.partialJson = "";
        this.anthropicBlocks[num(e.index) ?? this.anthropicBlocks.length] = b;
      } else if (type === "content_block_delta" && isObj(e.delta)) {
        const b = this.anthropicBlocks[num(e.index) ?? -1];
        if (!b) return;
        if (e.delta.type === "text_delta" && typeof e.delta.text === "string") b.text += e.delta.text;
        else if (e.delta.type === "input_json_delta" && typeof e.delta.partial_json === "string") {
          b.partialJson += e.delta.partial_json;
        }
      }
    }
  }

  /** The facts gathered so far; undefined when no chunk was recognised. */
  facts(): LlmFacts | undefined {
    if (!this.seen) return undefined;
    if (this.final) return this.final;
    const f: LlmFacts = { responseId: this.id, responseModel: this.model };
    if (this.anthropicUsage || this.stopReason !== undefined || this.anthropicBlocks.length > 0) {
      if (this.anthropicUsage) anthropicUsage(f, this.anthropicUsage);
      if (this.stopReason !== undefined) f.finishReasons = [this.stopReason];
      if (this.captureContent) {
        const blocks = this.anthropicBlocks
          .filter((b) => b)
          .map((b) => (b.type === "tool_use" && b.partialJson ? { ...b, input: parseJsonOr(b.partialJson) } : b));
        const msg: OtelMessage = { role: "assistant", parts: anthropicParts(blocks) };
        if (this.stopReason !== undefined) msg.finish_reason = this.stopReason;
        f.outputMessages = [msg];
      }
      return f;
    }
    const u = this.chatUsage;
    if (u) {
      f.inputTokens = num(u.prompt_tokens);
      f.outputTokens = num(u.completion_tokens);
      f.cacheReadTokens = num(u.prompt_tokens_details?.cached_tokens);
      f.reasoningTokens = num(u.completion_tokens_details?.reasoning_tokens);
    }
    const reasons = this.chatReasons.filter((r): r is string => r !== undefined);
    if (reasons.length > 0) f.finishReasons = reasons;
    if (this.captureContent) {
      const n = Math.max(this.chatText.length, this.chatReasons.length);
      const msgs: OtelMessage[] = [];
      for (let i = 0; i < n; i++) {
        const text = this.chatText[i];
        const msg: OtelMessage = { role: "assistant", parts: text ? [{ type: "text", content: text }] : [] };
        const fr = this.chatReasons[i];
        if (fr !== undefined) msg.finish_reason = fr;
        msgs.push(msg);
      }
      f.outputMessages = msgs;
    }
    return f;
  }
}

/** Input messages (OpenAI or Anthropic request style) in the OTel GenAI message format. */
export function toOtelInputMessages(messages: unknown): OtelMessage[] {
  if (!Array.isArray(messages)) return [];
  const out: OtelMessage[] = [];
  for (const m of messages) {
    if (!isObj(m)) continue;
    const role = str(m.role) ?? "user";
    const parts: OtelPart[] = [];
    if (typeof m.content === "string") parts.push({ type: "text", content: m.content });
    else if (Array.isArray(m.content)) {
      for (const p of m.content) {
        if (!isObj(p)) continue;
        if (typeof p.text === "string" && (p.type === "text" || p.type === "input_text")) {
          parts.push({ type: "text", content: p.text });
        } else if (p.type === "tool_result") {
          parts.push({ type: "tool_call_response", id: p.tool_use_id, response: p.content });
        } else if (p.type === "tool_use") {
          parts.push({ type: "tool_call", id: p.id, name: p.name, arguments: p.input });
        } else parts.push({ ...p, type: str(p.type) ?? "unknown" });
      }
    }
    if (role === "tool") {
      out.push({ role, parts: [{ type: "tool_call_response", id: m.tool_call_id, response: m.content }] });
      continue;
    }
    if (Array.isArray(m.tool_calls)) out.push(chatMessage(m, undefined));
    else out.push({ role, parts });
  }
  return out;
}
