/** An attribute value as decoded from OTLP (int64 beyond 2^53 arrives as a decimal string). */
export type AttrValue = string | number | boolean | null | AttrValue[] | { [key: string]: AttrValue };
export type Attrs = Record<string, AttrValue>;

/**
 * What a span says about generative AI, whatever convention it was written in.
 * Tokens follow the current OTel rules: input is cache-inclusive, output includes reasoning.
 */
export interface GenAiFacts {
  operation: string | null;
  provider: string | null;
  requestModel: string | null;
  responseModel: string | null;
  inputTokens: number | null;
  outputTokens: number | null;
  cacheReadTokens: number | null;
  cacheWriteTokens: number | null;
  reasoningTokens: number | null;
  agentName: string | null;
  toolName: string | null;
  conversationId: string | null;
  userId: string | null;
  /**
   * `model_call`: a leaf LLM call, priced and summed.
   * `aggregate`: carries usage totalled over children (Vercel `ai.generateText`, `invoke_agent`), shown but never summed.
   * `none`: no model usage of its own.
   */
  usageRole: "model_call" | "aggregate" | "none";
}

/**
 * Cost of one model call in integer nano-dollars (1e-9 USD), as stored (`Decimal(18, 9)`) and counted:
 * `totalNanos` = input + output + cacheRead + cacheWrite, exactly.
 */
export interface Cost {
  inputNanos: number;
  outputNanos: number;
  cacheReadNanos: number;
  cacheWriteNanos: number;
  totalNanos: number;
  /** Where the price came from. */
  source: "genai-prices" | "override";
}

/** A user price override from the policy file (`pricing.overrides`). Prices are USD per million tokens. */
export interface PriceOverride {
  /** Regular expression matched against the response model, else the request model. */
  match: string;
  /** When set, the override applies only to this OTel provider name. */
  provider?: string;
  input_per_mtok: number;
  output_per_mtok: number;
  cache_read_per_mtok?: number;
  cache_write_per_mtok?: number;
  /** ISO date (inclusive) from which the override applies. */
  effective_from?: string;
  /** ISO date (exclusive) until which the override applies. */
  effective_to?: string;
}
