import { extractFacts, Pricer } from "../src/index.ts";
const p = new Pricer();
const cases: [string, Record<string, any>][] = [
  ["chat gpt-4o", {"gen_ai.operation.name":"chat","gen_ai.provider.name":"openai","gen_ai.request.model":"gpt-4o","gen_ai.response.model":"gpt-4o-2024-08-06","gen_ai.usage.input_tokens":1000,"gen_ai.usage.output_tokens":"200","gen_ai.usage.cache_read.input_tokens":400}],
  ["ai.generateText.doGenerate", {"ai.model.provider":"anthropic.messages","ai.model.id":"claude-sonnet-4-20250514","ai.usage.inputTokens":10,"ai.usage.outputTokens":50,"ai.usage.cachedInputTokens":2000}],
  ["Messages", {"openinference.span.kind":"LLM","llm.model_name":"claude-3-5-sonnet-20241022","llm.invocation_parameters":"{\"model\": \"claude-3-5-sonnet-latest\", \"max_tokens\": 100}","llm.token_count.prompt":3000,"llm.token_count.completion":100,"llm.token_count.prompt_details.cache_read":2500,"llm.provider":"anthropic","llm.system":"anthropic"}],
  ["generation", {"langfuse.observation.type":"generation","langfuse.observation.model.name":"gpt-4o-mini","langfuse.observation.usage_details":"{\"input\":800,\"output\":50,\"input_cached_tokens\":200}"}],
];
for (const [n, a] of cases) { const f = extractFacts(n, a, {"service.name":"x"}); console.log(f, p.price(f, new Date("2025-06-01"))); }
