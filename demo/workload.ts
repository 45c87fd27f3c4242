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

/** What each agent is asked, by run: the prompts and replies the demo records as captured content. */
const TASKS: Record<string, { ask: string; answer: string }[]> = {
  "refund-agent": [
    {
      ask: "Order #4471 arrived broken. Can I get my money back?",
      answer: "I've refunded order #4471 in full; it shows on your card in 3–5 days.",
    },
    {
      ask: "I was charged twice for order #5120.",
      answer: "You were charged twice: I refunded the duplicate charge of $42.10.",
    },
    {
      ask: "Cancel order #6003 and refund the shipping.",
      answer: "Order #6003 is cancelled and the $7.99 shipping refunded.",
    },
  ],
  "triage-agent": [
    {
      ask: "The app logs me out every five minutes since the update.",
      answer: "Category: bug · auth · priority high. Routed to the mobile team.",
    },
    {
      ask: "How do I export my invoices as CSV?",
      answer: "Category: how-to · billing. Linked KB article 'Exporting invoices'.",
    },
    {
      ask: "Your API returns 502 for /v2/orders since 9:00.",
      answer: "Category: incident · API · priority urgent. Paged on-call.",
    },
  ],
  "invoice-agent": [
    {
      ask: "Reconcile invoice INV-2291 against the March ledger.",
      answer: "INV-2291 matches ledger entry L-8812; posted as reconciled.",
    },
    {
      ask: "Book the AWS invoice for November under cloud costs.",
      answer: "Booked $18,240.55 to 6120 Cloud infrastructure, November.",
    },
    {
      ask: "Why does INV-3310 differ from the PO?",
      answer: "INV-3310 bills 12 seats, the PO 10: flagged for procurement.",
    },
  ],
};

/** The task of run `n` for an agent. */
export function taskOf(agent: string, n: number): { ask: string; answer: string } {
  const list = TASKS[agent] ?? [{ ask: "Help me.", answer: "Done." }];
  return list[Math.floor(n / 3) % list.length] as { ask: string; answer: string };
}

/** The messages a step sends: the system prompt, the user's ask and, after the first step, the last tool's result. */
export function requestMessages(profile: AgentProfile, ask: string, step: number, lastTool: string | null) {
  const messages: Record<string, unknown>[] = [
    { role: "system", content: `You are ${profile.agent}. Use the tools ${profile.tools.join(", ")}. Be brief.` },
    { role: "user", content: ask },
  ];
  if (step > 0 && lastTool) {
    messages.push({
      role: "assistant",
      content: null,
      tool_calls: [{ id: `call_${step - 1}`, type: "function", function: { name: lastTool, arguments: "{}" } }],
    });
    messages.push({ role: "tool", tool_call_id: `call_${step - 1}`, content: '{"ok":true}' });
  }
  return messages;
}

/** An OpenAI Chat Completions response; input counts cached tokens, as OpenAI reports it. */
export function openaiResponse(model: string, input: number, output: number, cached: number, text = "Done.") {
  return {
    id: `chatcmpl-${Math.random().toString(36).slice(2, 12)}`,
    object: "chat.completion",
    model,
    choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: "stop" }],
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
export function anthropicResponse(
  model: string,
  input: number,
  output: number,
  cacheRead: number,
  cacheWrite: number,
  text = "Done.",
) {
  return {
    id: `msg_${Math.random().toString(36).slice(2, 12)}`,
    type: "message",
    role: "assistant",
    model,
    content: [{ type: "text", text }],
    stop_reason: "end_turn",
    usage: {
      input_tokens: input - cacheRead - cacheWrite,
      output_tokens: output,
      cache_read_input_tokens: cacheRead,
      cache_creation_input_tokens: cacheWrite,
    },
  };
}
