export type { AttrValue, Attrs, Cost, GenAiFacts, PriceOverride } from "./types.ts";
export { extractFacts } from "./facts.ts";
export { normalizeProvider } from "./provider.ts";
export { PRICES_PROVIDER_IDS, Pricer } from "./pricing.ts";
export * from "./names.ts";
