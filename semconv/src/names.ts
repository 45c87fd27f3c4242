/**
 * Attribute names for the GenAI conventions Cognive understands.
 *
 * Current OTel names come from `@opentelemetry/semantic-conventions/incubating` where the constant
 * exists (those exports are marked deprecated there since v1.42 only because the definitions moved to
 * the separate `semantic-conventions-genai` repository; the names themselves are current). Names that
 * the package does not export are string literals.
 */
import {
  ATTR_GEN_AI_AGENT_DESCRIPTION,
  ATTR_GEN_AI_AGENT_ID,
  ATTR_GEN_AI_AGENT_NAME,
  ATTR_GEN_AI_AGENT_VERSION,
  ATTR_GEN_AI_COMPLETION,
  ATTR_GEN_AI_CONVERSATION_ID,
  ATTR_GEN_AI_DATA_SOURCE_ID,
  ATTR_GEN_AI_INPUT_MESSAGES,
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_OUTPUT_MESSAGES,
  ATTR_GEN_AI_OUTPUT_TYPE,
  ATTR_GEN_AI_PROMPT,
  ATTR_GEN_AI_PROVIDER_NAME,
  ATTR_GEN_AI_REQUEST_MAX_TOKENS,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_REQUEST_SEED,
  ATTR_GEN_AI_REQUEST_STOP_SEQUENCES,
  ATTR_GEN_AI_REQUEST_STREAM,
  ATTR_GEN_AI_REQUEST_TEMPERATURE,
  ATTR_GEN_AI_REQUEST_TOP_K,
  ATTR_GEN_AI_REQUEST_TOP_P,
  ATTR_GEN_AI_RESPONSE_FINISH_REASONS,
  ATTR_GEN_AI_RESPONSE_ID,
  ATTR_GEN_AI_RESPONSE_MODEL,
  ATTR_GEN_AI_SYSTEM,
  ATTR_GEN_AI_SYSTEM_INSTRUCTIONS,
  ATTR_GEN_AI_TOKEN_TYPE,
  ATTR_GEN_AI_TOOL_CALL_ARGUMENTS,
  ATTR_GEN_AI_TOOL_CALL_ID,
  ATTR_GEN_AI_TOOL_CALL_RESULT,
  ATTR_GEN_AI_TOOL_DEFINITIONS,
  ATTR_GEN_AI_TOOL_DESCRIPTION,
  ATTR_GEN_AI_TOOL_NAME,
  ATTR_GEN_AI_TOOL_TYPE,
  ATTR_GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_COMPLETION_TOKENS,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
  ATTR_GEN_AI_USAGE_PROMPT_TOKENS,
  ATTR_GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
  ATTR_GEN_AI_WORKFLOW_NAME,
  GEN_AI_OPERATION_NAME_VALUE_CHAT,
  GEN_AI_OPERATION_NAME_VALUE_CREATE_AGENT,
  GEN_AI_OPERATION_NAME_VALUE_EMBEDDINGS,
  GEN_AI_OPERATION_NAME_VALUE_EXECUTE_TOOL,
  GEN_AI_OPERATION_NAME_VALUE_GENERATE_CONTENT,
  GEN_AI_OPERATION_NAME_VALUE_INVOKE_AGENT,
  GEN_AI_OPERATION_NAME_VALUE_INVOKE_WORKFLOW,
  GEN_AI_OPERATION_NAME_VALUE_RETRIEVAL,
  GEN_AI_OPERATION_NAME_VALUE_TEXT_COMPLETION,
  GEN_AI_PROVIDER_NAME_VALUE_ANTHROPIC,
  GEN_AI_PROVIDER_NAME_VALUE_AWS_BEDROCK,
  GEN_AI_PROVIDER_NAME_VALUE_AZURE_AI_INFERENCE,
  GEN_AI_PROVIDER_NAME_VALUE_AZURE_AI_OPENAI,
  GEN_AI_PROVIDER_NAME_VALUE_COHERE,
  GEN_AI_PROVIDER_NAME_VALUE_DEEPSEEK,
  GEN_AI_PROVIDER_NAME_VALUE_GCP_GEMINI,
  GEN_AI_PROVIDER_NAME_VALUE_GCP_GEN_AI,
  GEN_AI_PROVIDER_NAME_VALUE_GCP_VERTEX_AI,
  GEN_AI_PROVIDER_NAME_VALUE_GROQ,
  GEN_AI_PROVIDER_NAME_VALUE_IBM_WATSONX_AI,
  GEN_AI_PROVIDER_NAME_VALUE_MISTRAL_AI,
  GEN_AI_PROVIDER_NAME_VALUE_OPENAI,
  GEN_AI_PROVIDER_NAME_VALUE_PERPLEXITY,
  GEN_AI_PROVIDER_NAME_VALUE_X_AI,
} from "@opentelemetry/semantic-conventions/incubating";

/** Current OTel GenAI attribute names (emit these). */
export const GENAI = {
  OPERATION_NAME: ATTR_GEN_AI_OPERATION_NAME,
  PROVIDER_NAME: ATTR_GEN_AI_PROVIDER_NAME,
  REQUEST_MODEL: ATTR_GEN_AI_REQUEST_MODEL,
  REQUEST_MAX_TOKENS: ATTR_GEN_AI_REQUEST_MAX_TOKENS,
  REQUEST_TEMPERATURE: ATTR_GEN_AI_REQUEST_TEMPERATURE,
  REQUEST_TOP_P: ATTR_GEN_AI_REQUEST_TOP_P,
  REQUEST_TOP_K: ATTR_GEN_AI_REQUEST_TOP_K,
  REQUEST_STOP_SEQUENCES: ATTR_GEN_AI_REQUEST_STOP_SEQUENCES,
  REQUEST_SEED: ATTR_GEN_AI_REQUEST_SEED,
  REQUEST_STREAM: ATTR_GEN_AI_REQUEST_STREAM,
  RESPONSE_MODEL: ATTR_GEN_AI_RESPONSE_MODEL,
  RESPONSE_ID: ATTR_GEN_AI_RESPONSE_ID,
  RESPONSE_FINISH_REASONS: ATTR_GEN_AI_RESPONSE_FINISH_REASONS,
  USAGE_INPUT_TOKENS: ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  USAGE_OUTPUT_TOKENS: ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
  USAGE_CACHE_READ_INPUT_TOKENS: ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
  /** Name used by semantic-conventions ≤ 1.41. */
  USAGE_CACHE_CREATION_INPUT_TOKENS: ATTR_GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
  /** Name used by the `semantic-conventions-genai` repository (renamed from cache_creation). */
  USAGE_CACHE_WRITE_INPUT_TOKENS: "gen_ai.usage.cache_write.input_tokens",
  USAGE_REASONING_OUTPUT_TOKENS: ATTR_GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
  AGENT_ID: ATTR_GEN_AI_AGENT_ID,
  AGENT_NAME: ATTR_GEN_AI_AGENT_NAME,
  AGENT_DESCRIPTION: ATTR_GEN_AI_AGENT_DESCRIPTION,
  AGENT_VERSION: ATTR_GEN_AI_AGENT_VERSION,
  TOOL_NAME: ATTR_GEN_AI_TOOL_NAME,
  TOOL_DESCRIPTION: ATTR_GEN_AI_TOOL_DESCRIPTION,
  TOOL_TYPE: ATTR_GEN_AI_TOOL_TYPE,
  TOOL_CALL_ID: ATTR_GEN_AI_TOOL_CALL_ID,
  TOOL_CALL_ARGUMENTS: ATTR_GEN_AI_TOOL_CALL_ARGUMENTS,
  TOOL_CALL_RESULT: ATTR_GEN_AI_TOOL_CALL_RESULT,
  TOOL_DEFINITIONS: ATTR_GEN_AI_TOOL_DEFINITIONS,
  CONVERSATION_ID: ATTR_GEN_AI_CONVERSATION_ID,
  DATA_SOURCE_ID: ATTR_GEN_AI_DATA_SOURCE_ID,
  OUTPUT_TYPE: ATTR_GEN_AI_OUTPUT_TYPE,
  WORKFLOW_NAME: ATTR_GEN_AI_WORKFLOW_NAME,
  INPUT_MESSAGES: ATTR_GEN_AI_INPUT_MESSAGES,
  OUTPUT_MESSAGES: ATTR_GEN_AI_OUTPUT_MESSAGES,
  SYSTEM_INSTRUCTIONS: ATTR_GEN_AI_SYSTEM_INSTRUCTIONS,
  TOKEN_TYPE: ATTR_GEN_AI_TOKEN_TYPE,
} as const;

/** Values of `gen_ai.operation.name`. */
export const GENAI_OPERATION = {
  CHAT: GEN_AI_OPERATION_NAME_VALUE_CHAT,
  TEXT_COMPLETION: GEN_AI_OPERATION_NAME_VALUE_TEXT_COMPLETION,
  GENERATE_CONTENT: GEN_AI_OPERATION_NAME_VALUE_GENERATE_CONTENT,
  EMBEDDINGS: GEN_AI_OPERATION_NAME_VALUE_EMBEDDINGS,
  RETRIEVAL: GEN_AI_OPERATION_NAME_VALUE_RETRIEVAL,
  EXECUTE_TOOL: GEN_AI_OPERATION_NAME_VALUE_EXECUTE_TOOL,
  CREATE_AGENT: GEN_AI_OPERATION_NAME_VALUE_CREATE_AGENT,
  INVOKE_AGENT: GEN_AI_OPERATION_NAME_VALUE_INVOKE_AGENT,
  INVOKE_WORKFLOW: GEN_AI_OPERATION_NAME_VALUE_INVOKE_WORKFLOW,
} as const;

/** Well-known values of `gen_ai.provider.name`. */
export const GENAI_PROVIDER = {
  OPENAI: GEN_AI_PROVIDER_NAME_VALUE_OPENAI,
  ANTHROPIC: GEN_AI_PROVIDER_NAME_VALUE_ANTHROPIC,
  AWS_BEDROCK: GEN_AI_PROVIDER_NAME_VALUE_AWS_BEDROCK,
  AZURE_AI_OPENAI: GEN_AI_PROVIDER_NAME_VALUE_AZURE_AI_OPENAI,
  AZURE_AI_INFERENCE: GEN_AI_PROVIDER_NAME_VALUE_AZURE_AI_INFERENCE,
  GCP_GEMINI: GEN_AI_PROVIDER_NAME_VALUE_GCP_GEMINI,
  GCP_VERTEX_AI: GEN_AI_PROVIDER_NAME_VALUE_GCP_VERTEX_AI,
  GCP_GEN_AI: GEN_AI_PROVIDER_NAME_VALUE_GCP_GEN_AI,
  MISTRAL_AI: GEN_AI_PROVIDER_NAME_VALUE_MISTRAL_AI,
  GROQ: GEN_AI_PROVIDER_NAME_VALUE_GROQ,
  DEEPSEEK: GEN_AI_PROVIDER_NAME_VALUE_DEEPSEEK,
  COHERE: GEN_AI_PROVIDER_NAME_VALUE_COHERE,
  PERPLEXITY: GEN_AI_PROVIDER_NAME_VALUE_PERPLEXITY,
  X_AI: GEN_AI_PROVIDER_NAME_VALUE_X_AI,
  IBM_WATSONX_AI: GEN_AI_PROVIDER_NAME_VALUE_IBM_WATSONX_AI,
} as const;

/** Deprecated OTel GenAI names still seen in the wild (accept, never emit). */
export const GENAI_DEPRECATED = {
  /** → `gen_ai.provider.name` (1.37). */
  SYSTEM: ATTR_GEN_AI_SYSTEM,
  /** → `gen_ai.usage.input_tokens` (1.28). */
  USAGE_PROMPT_TOKENS: ATTR_GEN_AI_USAGE_PROMPT_TOKENS,
  /** → `gen_ai.usage.output_tokens` (1.28). */
  USAGE_COMPLETION_TOKENS: ATTR_GEN_AI_USAGE_COMPLETION_TOKENS,
  PROMPT: ATTR_GEN_AI_PROMPT,
  COMPLETION: ATTR_GEN_AI_COMPLETION,
  /** Indexed message prefixes: `gen_ai.prompt.N.content`, `gen_ai.completion.N.content`. */
  PROMPT_PREFIX: "gen_ai.prompt.",
  COMPLETION_PREFIX: "gen_ai.completion.",
  /** Per-message events deprecated in 1.37. */
  EVENT_SYSTEM_MESSAGE: "gen_ai.system.message",
  EVENT_USER_MESSAGE: "gen_ai.user.message",
  EVENT_ASSISTANT_MESSAGE: "gen_ai.assistant.message",
  EVENT_TOOL_MESSAGE: "gen_ai.tool.message",
  EVENT_CHOICE: "gen_ai.choice",
  /** `gen_ai.openai.*` → `openai.*`. */
  OPENAI_PREFIX: "gen_ai.openai.",
} as const;

/** OpenInference (Arize Phoenix) span attributes. */
export const OPENINFERENCE = {
  SPAN_KIND: "openinference.span.kind",
  LLM_SYSTEM: "llm.system",
  LLM_PROVIDER: "llm.provider",
  LLM_MODEL_NAME: "llm.model_name",
  LLM_REQUEST_MODEL_NAME: "llm.request.model_name",
  LLM_RESPONSE_MODEL_NAME: "llm.response.model_name",
  LLM_INVOCATION_PARAMETERS: "llm.invocation_parameters",
  LLM_TOKEN_COUNT_PROMPT: "llm.token_count.prompt",
  LLM_TOKEN_COUNT_COMPLETION: "llm.token_count.completion",
  LLM_TOKEN_COUNT_TOTAL: "llm.token_count.total",
  LLM_TOKEN_COUNT_PROMPT_CACHE_READ: "llm.token_count.prompt_details.cache_read",
  LLM_TOKEN_COUNT_PROMPT_CACHE_WRITE: "llm.token_count.prompt_details.cache_write",
  LLM_TOKEN_COUNT_COMPLETION_REASONING: "llm.token_count.completion_details.reasoning",
  LLM_INPUT_MESSAGES_PREFIX: "llm.input_messages.",
  LLM_OUTPUT_MESSAGES_PREFIX: "llm.output_messages.",
  INPUT_VALUE: "input.value",
  OUTPUT_VALUE: "output.value",
  AGENT_NAME: "agent.name",
  TOOL_NAME: "tool.name",
  TOOL_ID: "tool.id",
  SESSION_ID: "session.id",
  USER_ID: "user.id",
} as const;

/** Values of `openinference.span.kind`. */
export const OPENINFERENCE_SPAN_KIND = {
  LLM: "LLM",
  EMBEDDING: "EMBEDDING",
  CHAIN: "CHAIN",
  TOOL: "TOOL",
  AGENT: "AGENT",
  RETRIEVER: "RETRIEVER",
  RERANKER: "RERANKER",
  GUARDRAIL: "GUARDRAIL",
  EVALUATOR: "EVALUATOR",
} as const;

/** OpenLLMetry / Traceloop legacy attributes (besides the deprecated `gen_ai.*` names above). */
export const TRACELOOP = {
  SPAN_KIND: "traceloop.span.kind",
  ENTITY_NAME: "traceloop.entity.name",
  ENTITY_PATH: "traceloop.entity.path",
  WORKFLOW_NAME: "traceloop.workflow.name",
  LLM_REQUEST_TYPE: "llm.request.type",
  LLM_USAGE_TOTAL_TOKENS: "llm.usage.total_tokens",
  USAGE_CACHE_READ_INPUT_TOKENS: "gen_ai.usage.cache_read_input_tokens",
  USAGE_CACHE_CREATION_INPUT_TOKENS: "gen_ai.usage.cache_creation_input_tokens",
  USAGE_REASONING_TOKENS: "gen_ai.usage.reasoning_tokens",
} as const;

/** Vercel AI SDK (`ai.*`) telemetry attributes and span names. */
export const VERCEL_AI = {
  OPERATION_ID: "ai.operationId",
  MODEL_PROVIDER: "ai.model.provider",
  MODEL_ID: "ai.model.id",
  RESPONSE_MODEL: "ai.response.model",
  RESPONSE_TEXT: "ai.response.text",
  PROMPT_MESSAGES: "ai.prompt.messages",
  /** v4. */
  USAGE_PROMPT_TOKENS: "ai.usage.promptTokens",
  /** v4. */
  USAGE_COMPLETION_TOKENS: "ai.usage.completionTokens",
  /** v5+. */
  USAGE_INPUT_TOKENS: "ai.usage.inputTokens",
  USAGE_OUTPUT_TOKENS: "ai.usage.outputTokens",
  USAGE_CACHED_INPUT_TOKENS: "ai.usage.cachedInputTokens",
  USAGE_REASONING_TOKENS: "ai.usage.reasoningTokens",
  /** v6. */
  USAGE_INPUT_NO_CACHE_TOKENS: "ai.usage.inputTokenDetails.noCacheTokens",
  USAGE_INPUT_CACHE_READ_TOKENS: "ai.usage.inputTokenDetails.cacheReadTokens",
  USAGE_INPUT_CACHE_WRITE_TOKENS: "ai.usage.inputTokenDetails.cacheWriteTokens",
  USAGE_OUTPUT_REASONING_TOKENS: "ai.usage.outputTokenDetails.reasoningTokens",
  TELEMETRY_FUNCTION_ID: "ai.telemetry.functionId",
  TELEMETRY_METADATA_PREFIX: "ai.telemetry.metadata.",
  TELEMETRY_SESSION_ID: "ai.telemetry.metadata.sessionId",
  TELEMETRY_USER_ID: "ai.telemetry.metadata.userId",
  TOOL_CALL_NAME: "ai.toolCall.name",
  TOOL_CALL_ID: "ai.toolCall.id",
} as const;

/** Vercel AI SDK span names (also the values of `ai.operationId`). */
export const VERCEL_AI_SPAN = {
  GENERATE_TEXT: "ai.generateText",
  GENERATE_TEXT_DO_GENERATE: "ai.generateText.doGenerate",
  STREAM_TEXT: "ai.streamText",
  STREAM_TEXT_DO_STREAM: "ai.streamText.doStream",
  GENERATE_OBJECT: "ai.generateObject",
  GENERATE_OBJECT_DO_GENERATE: "ai.generateObject.doGenerate",
  STREAM_OBJECT: "ai.streamObject",
  STREAM_OBJECT_DO_STREAM: "ai.streamObject.doStream",
  EMBED: "ai.embed",
  EMBED_DO_EMBED: "ai.embed.doEmbed",
  EMBED_MANY: "ai.embedMany",
  EMBED_MANY_DO_EMBED: "ai.embedMany.doEmbed",
  TOOL_CALL: "ai.toolCall",
} as const;

/** Langfuse OTel attributes. */
export const LANGFUSE = {
  OBSERVATION_TYPE: "langfuse.observation.type",
  OBSERVATION_MODEL_NAME: "langfuse.observation.model.name",
  OBSERVATION_USAGE_DETAILS: "langfuse.observation.usage_details",
  OBSERVATION_COST_DETAILS: "langfuse.observation.cost_details",
  OBSERVATION_INPUT: "langfuse.observation.input",
  OBSERVATION_OUTPUT: "langfuse.observation.output",
  SESSION_ID: "langfuse.session.id",
  USER_ID: "langfuse.user.id",
  TRACE_NAME: "langfuse.trace.name",
} as const;

/** Pydantic Logfire / Pydantic AI attributes (alongside `gen_ai.*`). */
export const LOGFIRE = {
  MSG: "logfire.msg",
  MSG_TEMPLATE: "logfire.msg_template",
  SPAN_TYPE: "logfire.span_type",
  JSON_SCHEMA: "logfire.json_schema",
  /** Pydantic AI agent run span. */
  AGENT_NAME: "agent_name",
  MODEL_NAME: "model_name",
  FINAL_RESULT: "final_result",
  ALL_MESSAGES: "pydantic_ai.all_messages",
  TOOL_ARGUMENTS: "tool_arguments",
  TOOL_RESPONSE: "tool_response",
  OPERATION_COST: "operation.cost",
  USAGE_DETAILS_CACHE_READ_TOKENS: "gen_ai.usage.details.cache_read_tokens",
  USAGE_DETAILS_CACHE_WRITE_TOKENS: "gen_ai.usage.details.cache_write_tokens",
  USAGE_DETAILS_REASONING_TOKENS: "gen_ai.usage.details.reasoning_tokens",
  /** Pydantic AI agent run span names (instrumentation v1, v2+). */
  SPAN_AGENT_RUN: "agent run",
  SPAN_RUNNING_TOOL: "running tool",
} as const;

/** Other names used by instrumentations (Sentry-style legacy cache/reasoning names, generic user ids). */
export const OTHER = {
  USAGE_INPUT_TOKENS_CACHED: "gen_ai.usage.input_tokens.cached",
  USAGE_INPUT_TOKENS_CACHE_WRITE: "gen_ai.usage.input_tokens.cache_write",
  USAGE_OUTPUT_TOKENS_REASONING: "gen_ai.usage.output_tokens.reasoning",
  ENDUSER_ID: "enduser.id",
} as const;
