/** The simulated agents of the demo and the provider-shaped responses their model calls return. */

export interface Model {
  provider: "openai" | "anthropic";
  id: string;
}

export interface AgentProfile {
  agent: string;
  team: string;
  service: string;
  models: Model[];
  expensiveModel: Model;
  tools: string[];
}

const GPT_4O: Model = { provider: "openai", id: "gpt-4o" };
const GPT_41_MINI: Model = { provider: "openai", id: "gpt-4.1-mini" };
const O3_MINI: Model = { provider: "openai", id: "o3-mini" };
const SONNET: Model = { provider: "anthropic", id: "claude-sonnet-4-20250514" };
const HAIKU: Model = { provider: "anthropic", id: "claude-3-5-haiku-20241022" };
const OPUS: Model = { provider: "anthropic", id: "claude-opus-4-20250514" };

export const PROFILES: AgentProfile[] = [
  {
    agent: "refund-agent",
    team: "cx",
    service: "support-bot",
    models: [GPT_4O, SONNET, GPT_41_MINI],
    expensiveModel: OPUS,
    tools: ["lookup_order", "issue_refund"],
  },
  {
    agent: "triage-agent",
    team: "cx",
    service: "support-bot",
    models: [HAIKU, GPT_41_MINI],
    expensiveModel: OPUS,
    tools: ["classify_ticket", "search_kb"],
  },
  {
    agent: "invoice-agent",
    team: "finance",
    service: "billing-bot",
    models: [O3_MINI, SONNET, GPT_4O],
    expensiveModel: OPUS,
    tools: ["fetch_invoice", "post_ledger_entry"],
  },
];

export function pick<T>(items: T[], n: number): T {
  return items[n % items.length];
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** An OpenAI Chat Completions response; input counts cached tokens, as OpenAI reports it. */
export function openaiResponse(model: string, input: number, output: number, cached: number) {
  return {
    id: `chatcmpl-${Math.random().toString(36).slice(2, 12)}`,
    object: "chat.completion",
    model,
    choices: [{ index: 0, message: { role: "assistant", content: "Done." }, finish_reason: "stop" }],
    usage: {
      prompt_tokens: input,
      completion_tokens: output,
      total_tokens: input + output,
      prompt_tokens_details: { cached_tokens: cached },
      completion_tokens_details: { reasoning_tokens: model.startsWith("o") ? Math.floor(output / 2) : 0 },
    },
  };
}

/** An Anthropic Messages response; Anthropic reports input without the cached part. */
export function anthropicResponse(model: string, input: number, output: number, cacheRead: number, cacheWrite: number) {
  return {
    id: `msg_${Math.random().toString(36).slice(2, 12)}`,
    type: "message",
    role: "assistant",
    model,
    content: [{ type: "text", text: "Done." }],
    stop_reason: "end_turn",
    usage: {
      input_tokens: input - cacheRead - cacheWrite,
      output_tokens: output,
      cache_read_input_tokens: cacheRead,
      cache_creation_input_tokens: cacheWrite,
    },
  };
}
