/**
 * Normalization of provider values from any convention to an OTel `gen_ai.provider.name`.
 *
 * Accepted inputs include current OTel values (`azure.ai.openai`), deprecated `gen_ai.system` values
 * (`az.ai.openai`, `vertex_ai`, `xai`), Vercel AI SDK `ai.model.provider` values (`openai.chat`,
 * `openai.responses`, `anthropic.messages`, `google.vertex.chat`, `amazon-bedrock`), OpenLLMetry
 * `gen_ai.system` values (`Anthropic`, `AWS`, `MistralAI`), OpenInference `llm.system` / `llm.provider`
 * values (`mistralai`, `vertexai`, `azure`, `aws`, `google`) and Pydantic AI system names
 * (`google-gla`, `google-vertex`, `bedrock`).
 */

const ALIASES: ReadonlyMap<string, string> = new Map([
  // openai
  ["openai", "openai"],
  ["openai-compatible", "openai"],
  // azure
  ["azure.ai.openai", "azure.ai.openai"],
  ["az.ai.openai", "azure.ai.openai"],
  ["azure", "azure.ai.openai"],
  ["azure_openai", "azure.ai.openai"],
  ["azure-openai", "azure.ai.openai"],
  ["azure openai", "azure.ai.openai"],
  ["azureopenai", "azure.ai.openai"],
  ["azure.ai.inference", "azure.ai.inference"],
  ["az.ai.inference", "azure.ai.inference"],
  ["azure_ai_inference", "azure.ai.inference"],
  ["azure-ai-inference", "azure.ai.inference"],
  // anthropic
  ["anthropic", "anthropic"],
  // aws
  ["aws.bedrock", "aws.bedrock"],
  ["aws", "aws.bedrock"],
  ["bedrock", "aws.bedrock"],
  ["amazon-bedrock", "aws.bedrock"],
  ["amazon_bedrock", "aws.bedrock"],
  ["aws_bedrock", "aws.bedrock"],
  ["aws-bedrock", "aws.bedrock"],
  ["amazon", "aws.bedrock"],
  // google
  ["gcp.gemini", "gcp.gemini"],
  ["gemini", "gcp.gemini"],
  ["google", "gcp.gemini"],
  ["google-gla", "gcp.gemini"],
  ["google_genai", "gcp.gemini"],
  ["google.generative-ai", "gcp.gemini"],
  ["google-generative-ai", "gcp.gemini"],
  ["gcp.vertex_ai", "gcp.vertex_ai"],
  ["vertex_ai", "gcp.vertex_ai"],
  ["vertexai", "gcp.vertex_ai"],
  ["vertex ai", "gcp.vertex_ai"],
  ["vertex", "gcp.vertex_ai"],
  ["google-vertex", "gcp.vertex_ai"],
  ["google.vertex", "gcp.vertex_ai"],
  ["google_vertexai", "gcp.vertex_ai"],
  ["gcp.gen_ai", "gcp.gen_ai"],
  // mistral
  ["mistral_ai", "mistral_ai"],
  ["mistral", "mistral_ai"],
  ["mistralai", "mistral_ai"],
  ["mistral-ai", "mistral_ai"],
  // others named by OTel
  ["groq", "groq"],
  ["deepseek", "deepseek"],
  ["cohere", "cohere"],
  ["perplexity", "perplexity"],
  ["x_ai", "x_ai"],
  ["xai", "x_ai"],
  ["x-ai", "x_ai"],
  ["grok", "x_ai"],
  ["ibm.watsonx.ai", "ibm.watsonx.ai"],
  ["watsonx", "ibm.watsonx.ai"],
  ["watsonx.ai", "ibm.watsonx.ai"],
  ["ibm", "ibm.watsonx.ai"],
  ["ibm_watsonx", "ibm.watsonx.ai"],
  // not named by OTel: keep a stable lowercase id
  ["together", "together_ai"],
  ["togetherai", "together_ai"],
  ["together_ai", "together_ai"],
  ["together-ai", "together_ai"],
  ["together ai", "together_ai"],
  ["fireworks", "fireworks"],
  ["fireworks-ai", "fireworks"],
  ["fireworks_ai", "fireworks"],
  ["openrouter", "openrouter"],
  ["ollama", "ollama"],
  ["cerebras", "cerebras"],
  ["huggingface", "huggingface"],
  ["moonshotai", "moonshotai"],
  ["moonshot", "moonshotai"],
]);

/** Trailing segments of Vercel AI SDK provider strings that name an API, not a provider. */
const API_SUFFIXES: ReadonlySet<string> = new Set([
  "chat",
  "completion",
  "completions",
  "responses",
  "messages",
  "embedding",
  "embeddings",
  "textembedding",
  "image",
  "transcription",
  "speech",
  "generative-ai",
]);

function compute(raw: string): string | null {
  const v = raw.trim().toLowerCase();
  if (v.length === 0) return null;
  const exact = ALIASES.get(v);
  if (exact !== undefined) return exact;
  // Strip trailing dotted segments: "google.vertex.chat" → "google.vertex" → alias.
  let cut = v.lastIndexOf(".");
  while (cut > 0) {
    const head = v.slice(0, cut);
    const hit = ALIASES.get(head);
    if (hit !== undefined) return hit;
    cut = head.lastIndexOf(".");
  }
  // Unknown provider: drop a trailing API segment ("foo.chat" → "foo"), else keep as is.
  const dot = v.lastIndexOf(".");
  if (dot > 0 && API_SUFFIXES.has(v.slice(dot + 1))) return v.slice(0, dot);
  return v;
}

const CACHE = new Map<string, string | null>();
const CACHE_MAX = 4096;

/**
 * Normalize a provider value from any convention to an OTel provider name (`openai`, `anthropic`,
 * `aws.bedrock`, `azure.ai.openai`, `gcp.vertex_ai`, …). Unknown providers come back lowercased (with
 * a trailing Vercel API segment such as `.chat` removed). Non-strings and empty strings give `null`.
 */
export function normalizeProvider(value: unknown): string | null {
  if (typeof value !== "string" || value.length === 0) return null;
  const hit = CACHE.get(value);
  if (hit !== undefined) return hit;
  const out = compute(value);
  if (CACHE.size >= CACHE_MAX) CACHE.clear();
  CACHE.set(value, out);
  return out;
}
