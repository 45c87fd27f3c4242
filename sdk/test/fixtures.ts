/** Response shapes as the OpenAI and Anthropic APIs return them (trimmed to what matters). */

export const chatCompletion = {
  id: "chatcmpl-abc123",
  object: "chat.completion",
  created: 1_760_000_000,
  model: "gpt-4o-2024-08-06",
  choices: [
    { index: 0, message: { role: "assistant", content: "Paris.", refusal: null }, finish_reason: "stop" },
    {
      index: 1,
      message: {
        role: "assistant",
        content: null,
        tool_calls: [{ id: "call_1", type: "function", function: { name: "lookup", arguments: '{"q":"Paris"}' } }],
      },
      finish_reason: "tool_calls",
    },
  ],
  usage: {
    prompt_tokens: 1200,
    completion_tokens: 300,
    total_tokens: 1500,
    prompt_tokens_details: { cached_tokens: 1024, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 64, audio_tokens: 0 },
  },
};

export const chatChunks = [
  {
    id: "chatcmpl-s1",
    object: "chat.completion.chunk",
    model: "gpt-4o-mini-2024-07-18",
    choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }],
  },
  {
    id: "chatcmpl-s1",
    object: "chat.completion.chunk",
    model: "gpt-4o-mini-2024-07-18",
    choices: [{ index: 0, delta: { content: "Hel" }, finish_reason: null }],
  },
  {
    id: "chatcmpl-s1",
    object: "chat.completion.chunk",
    model: "gpt-4o-mini-2024-07-18",
    choices: [{ index: 0, delta: { content: "lo" }, finish_reason: null }],
  },
  {
    id: "chatcmpl-s1",
    object: "chat.completion.chunk",
    model: "gpt-4o-mini-2024-07-18",
    choices: [{ index: 0, delta: {}, finish_reason: "length" }],
  },
  {
    id: "chatcmpl-s1",
    object: "chat.completion.chunk",
    model: "gpt-4o-mini-2024-07-18",
    choices: [],
    usage: {
      prompt_tokens: 40,
      completion_tokens: 7,
      total_tokens: 47,
      prompt_tokens_details: { cached_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 0 },
    },
  },
];

export const responsesResponse = {
  id: "resp_67ccd2bed1ec8190",
  object: "response",
  created_at: 1_760_000_000,
  model: "o4-mini-2025-04-16",
  status: "incomplete",
  incomplete_details: { reason: "max_output_tokens" },
  output: [
    { type: "reasoning", id: "rs_1", summary: [] },
    {
      type: "message",
      id: "msg_1",
      role: "assistant",
      status: "incomplete",
      content: [{ type: "output_text", text: "Partial answer", annotations: [] }],
    },
  ],
  usage: {
    input_tokens: 900,
    input_tokens_details: { cached_tokens: 512 },
    output_tokens: 400,
    output_tokens_details: { reasoning_tokens: 350 },
    total_tokens: 1300,
  },
};

export const responsesToolCall = {
  id: "resp_tool",
  object: "response",
  model: "gpt-4.1-2025-04-14",
  status: "completed",
  incomplete_details: null,
  output: [{ type: "function_call", id: "fc_1", call_id: "call_9", name: "get_weather", arguments: '{"city":"Oslo"}' }],
  usage: {
    input_tokens: 80,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: 20,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: 100,
  },
};

export const responsesEvents = [
  {
    type: "response.created",
    sequence_number: 0,
    response: { id: "resp_s1", object: "response", model: "gpt-4.1-2025-04-14", status: "in_progress", output: [] },
  },
  { type: "response.output_text.delta", sequence_number: 1, item_id: "msg_1", output_index: 0, delta: "Hi" },
  { type: "response.output_text.done", sequence_number: 2, item_id: "msg_1", output_index: 0, text: "Hi" },
  {
    type: "response.completed",
    sequence_number: 3,
    response: {
      id: "resp_s1",
      object: "response",
      model: "gpt-4.1-2025-04-14",
      status: "completed",
      output: [{ type: "message", role: "assistant", content: [{ type: "output_text", text: "Hi" }] }],
      usage: {
        input_tokens: 2048,
        input_tokens_details: { cached_tokens: 1536 },
        output_tokens: 12,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: 2060,
      },
    },
  },
];

export const anthropicMessage = {
  id: "msg_01XFDUDYJgAACzvnptvVoYEL",
  type: "message",
  role: "assistant",
  model: "claude-sonnet-4-20250514",
  content: [
    { type: "text", text: "Let me check." },
    { type: "tool_use", id: "toolu_1", name: "get_weather", input: { city: "Oslo" } },
  ],
  stop_reason: "tool_use",
  stop_sequence: null,
  usage: {
    input_tokens: 50,
    cache_creation_input_tokens: 300,
    cache_read_input_tokens: 2000,
    output_tokens: 120,
  },
};

export const anthropicEvents = [
  {
    type: "message_start",
    message: {
      id: "msg_stream_1",
      type: "message",
      role: "assistant",
      model: "claude-sonnet-4-20250514",
      content: [],
      stop_reason: null,
      usage: { input_tokens: 25, cache_creation_input_tokens: 1000, cache_read_input_tokens: 4000, output_tokens: 1 },
    },
  },
  { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } },
  { type: "ping" },
  { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Hello" } },
  { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: " there" } },
  { type: "content_block_stop", index: 0 },
  { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: 87 } },
  { type: "message_stop" },
];
