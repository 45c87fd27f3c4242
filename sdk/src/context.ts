import { context } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";

let registered = false;

/**
 * Registers OpenTelemetry's AsyncLocalStorage context manager globally, once, so spans nest across
 * `await`. When the application has already registered its own (e.g. through the OTel Node SDK), that
 * one is kept.
 */
export function ensureContextManager(): void {
  if (registered) return;
  registered = true;
  try {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  } catch {
    // never throw into the agent because of telemetry
  }
}
