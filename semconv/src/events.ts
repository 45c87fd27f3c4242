/**
 * GenAI content sent as OTLP log events, in the shape of the `gen_ai.input.messages` /
 * `gen_ai.output.messages` attributes: messages `{role, parts[], name?, finish_reason?}`.
 * Values arrive as stored (attribute values and the body as strings, structured ones as JSON text).
 */

export interface GenAiPart {
  type: string;
  [key: string]: unknown;
}

export interface GenAiMessage {
  role: string;
  parts: GenAiPart[];
  name?: string;
  finish_reason?: string;
}

/** What one event adds to its span's captured messages. */
export interface GenAiEventContent {
  input: GenAiMessage[];
  output: GenAiMessage[];
  systemInstructions: GenAiPart[];
}

/** An evaluation of a span (`gen_ai.evaluation.result`). */
export interface GenAiScore {
  name: string;
  value: number | null;
  label: string | null;
  explanation: string | null;
}

export const EVENT_INFERENCE_DETAILS = "gen_ai.client.inference.operation.details";
export const EVENT_EVALUATION_RESULT = "gen_ai.evaluation.result";
/** The per-message events of semconv ≤ 1.36 (deprecated in 1.37); content is in the body. */
export const LEGACY_MESSAGE_EVENTS = [
  "gen_ai.system.message",
  "gen_ai.user.message",
  "gen_ai.assistant.message",
  "gen_ai.tool.message",
  "gen_ai.choice",
] as const;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** A stored value: JSON text for structured values, else the string itself. */
function parsed(v: string | undefined): unknown {
  if (v === undefined || v === "") return undefined;
  const t = v.trimStart();
  if (t.startsWith("{") || t.startsWith("[")) {
    try {
      return JSON.parse(v);
    } catch {
      return v;
    }
  }
  return v;
}

function text(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

/** Messages in the current shape as sent (an array of `{role, parts}`); anything else is dropped. */
function messages(v: unknown): GenAiMessage[] {
  if (!Array.isArray(v)) return [];
  const out: GenAiMessage[] = [];
  for (const m of v) {
    if (!isObj(m)) continue;
    const parts = Array.isArray(m.parts) ? m.parts.filter(isObj).map(part) : [];
    const msg: GenAiMessage = { role: text(m.role) ?? "unknown", parts };
    if (typeof m.name === "string") msg.name = m.name;
    if (typeof m.finish_reason === "string") msg.finish_reason = m.finish_reason;
    out.push(msg);
  }
  return out;
}

function part(p: Obj): GenAiPart {
  return { ...p, type: text(p.type) ?? "generic" };
}

/** Legacy `content`: a string, or a list of provider content blocks, as parts. */
function contentParts(content: unknown): GenAiPart[] {
  if (content === undefined || content === null || content === "") return [];
  if (typeof content === "string") return [{ type: "text", content }];
  if (Array.isArray(content)) {
    return content.map((c) => {
      if (typeof c === "string") return { type: "text", content: c };
      if (isObj(c) && typeof c.text === "string") return { type: "text", content: c.text };
      return isObj(c) ? part(c) : { type: "text", content: JSON.stringify(c) };
    });
  }
  return [{ type: "text", content: JSON.stringify(content) }];
}

/** Legacy `tool_calls[{id, type, function{name, arguments}}]` as tool_call parts. */
function toolCallParts(calls: unknown): GenAiPart[] {
  if (!Array.isArray(calls)) return [];
  return calls.filter(isObj).map((c) => {
    const fn = isObj(c.function) ? c.function : {};
    return {
      type: "tool_call",
      id: c.id ?? null,
      name: fn.name ?? null,
      arguments: parsed(text(fn.arguments)) ?? null,
    };
  });
}

/**
 * The captured content one log event carries, or null when the event is not a GenAI content event.
 * `attributes` and `body` are as stored (the exporter's `AsString()`: structured values as JSON text).
 */
export function genAiEventContent(
  eventName: string,
  attributes: Record<string, string>,
  body: string,
): GenAiEventContent | null {
  const out: GenAiEventContent = { input: [], output: [], systemInstructions: [] };
  if (eventName === EVENT_INFERENCE_DETAILS) {
    out.input = messages(parsed(attributes["gen_ai.input.messages"]));
    out.output = messages(parsed(attributes["gen_ai.output.messages"]));
    const system = parsed(attributes["gen_ai.system_instructions"]);
    out.systemInstructions = Array.isArray(system)
      ? system.filter(isObj).map(part)
      : typeof system === "string"
        ? [{ type: "text", content: system }]
        : [];
    return out;
  }
  if (!(LEGACY_MESSAGE_EVENTS as readonly string[]).includes(eventName)) return null;
  const b = parsed(body);
  const m: Obj = isObj(b) ? b : { content: b };
  if (eventName === "gen_ai.choice") {
    const message = isObj(m.message) ? m.message : {};
    const msg: GenAiMessage = {
      role: text(message.role) ?? "assistant",
      parts: [...contentParts(message.content), ...toolCallParts(m.tool_calls ?? message.tool_calls)],
    };
    if (typeof m.finish_reason === "string") msg.finish_reason = m.finish_reason;
    out.output.push(msg);
    return out;
  }
  const role = text(m.role) ?? eventName.slice("gen_ai.".length, -".message".length);
  const parts =
    eventName === "gen_ai.tool.message"
      ? [{ type: "tool_call_response", id: m.id ?? null, response: m.content ?? null }]
      : [...contentParts(m.content), ...toolCallParts(m.tool_calls)];
  out.input.push({ role, parts });
  return out;
}

/** The score a `gen_ai.evaluation.result` event reports, or null for any other event. */
export function genAiEventScore(eventName: string, attributes: Record<string, string>): GenAiScore | null {
  if (eventName !== EVENT_EVALUATION_RESULT) return null;
  const raw = attributes["gen_ai.evaluation.score.value"];
  const value = raw === undefined || raw.trim() === "" ? null : Number(raw);
  return {
    name: attributes["gen_ai.evaluation.name"] ?? "",
    value: value !== null && Number.isFinite(value) ? value : null,
    label: attributes["gen_ai.evaluation.score.label"] || null,
    explanation: attributes["gen_ai.evaluation.explanation"] || null,
  };
}
