export { ATTR_TYPE, type AttrTypes, inferAttrType } from "./attr-types.ts";
export * from "./events.ts";
export { extractFacts } from "./facts.ts";
export * from "./names.ts";
export { addUsd, PRICES_PROVIDER_IDS, Pricer, usdToNanos } from "./pricing.ts";
export { normalizeProvider } from "./provider.ts";
export type { Attrs, AttrValue, Cost, GenAiFacts, PriceOverride } from "./types.ts";
