/** Every Cognive element; importing this module defines them all. */
export { ApiError, CogniveApi } from "./api.ts";
export { CogniveElement } from "./base.ts";
export * from "./format.ts";
export { CogniveTraceList } from "./trace-list.ts";
export { CogniveTraceView } from "./trace-view.ts";
