/**
 * @cognive/sdk — agent-side telemetry for Cognive: OpenTelemetry GenAI spans for agent runs, model
 * calls and tool calls, exported over OTLP/HTTP. A module API over a default instance set by `init`,
 * and `createCognive` for independent instances.
 */
import {
  type Cognive,
  type CogniveOptions,
  createCognive,
  type LlmCallOptions,
  passthrough,
  type Stats,
  type ToolCallOptions,
  type Wrapped,
} from "./cognive.ts";

export * from "./attributes.ts";
export { type Budget, BudgetExceededError, type BudgetOptions, createBudget, GUARD_DENIED_EVENT } from "./budget.ts";
export type { Cognive, CogniveOptions, LlmCallOptions, Stats, ToolCallOptions, Wrapped } from "./cognive.ts";
export { createCognive, DEFAULT_ENDPOINT } from "./cognive.ts";
export type { LlmFacts } from "./extract.ts";
export { factsFromResponse, StreamAccumulator } from "./extract.ts";

let current: Cognive | undefined;
/** The instance `stats()` reports on: the current one, else the last one shut down. */
let last: Cognive | undefined;

/** Sets up the default instance used by the module functions. A previous one is shut down. */
export function init(opts: CogniveOptions = {}): Cognive {
  const previous = current;
  current = createCognive(opts);
  last = current;
  if (previous) void previous.shutdown();
  return current;
}

/** `invoke_agent {name}` span around `fn`; before `init`, just runs `fn`. */
export function agentRun<T>(name: string, fn: () => T): Wrapped<T> {
  return current ? current.agentRun(name, fn) : passthrough(fn);
}

/** `chat {model}` client span around `fn`, with usage read from what `fn` returns (or streams). */
export function llmCall<T>(opts: LlmCallOptions, fn: () => T): Wrapped<T> {
  return current ? current.llmCall(opts, fn) : passthrough(fn);
}

/** `execute_tool {name}` span around `fn`. */
export function toolCall<T>(name: string, fn: () => T, opts?: ToolCallOptions): Wrapped<T> {
  return current ? current.toolCall(name, fn, opts) : passthrough(fn);
}

/** Exports what is queued, without stopping. */
export function flush(): Promise<void> {
  return current ? current.flush() : Promise.resolve();
}

/** Flushes and stops the default instance (bounded in time even when the collector is down). */
export function shutdown(): Promise<void> {
  const c = current;
  current = undefined;
  return c ? c.shutdown() : Promise.resolve();
}

/** Counters of the default instance, or of the last one shut down (zeros before `init`). */
export function stats(): Stats {
  return last
    ? last.stats()
    : { droppedSpans: 0, exportedSpans: 0, failedExports: 0, failedSpans: 0, queuedSpans: 0, maxQueuedSpans: 0 };
}

/** Budget guard of the default instance; before `init` it never throws. */
export const budget = {
  guard(opts?: { agent?: string; traceId?: string }): Promise<void> {
    return current ? current.budget.guard(opts) : Promise.resolve();
  },
};
