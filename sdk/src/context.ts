import { AsyncLocalStorage } from "node:async_hooks";
import { type Context, type ContextManager, context, ROOT_CONTEXT } from "@opentelemetry/api";

/**
 * A ContextManager over AsyncLocalStorage, so that spans nest across `await`. This is what
 * `AsyncLocalStorageContextManager` from `@opentelemetry/context-async-hooks` does; it is written out
 * here (a few lines) because that package is not a declared dependency of this workspace.
 */
export class AlsContextManager implements ContextManager {
  private readonly storage = new AsyncLocalStorage<Context>();

  active(): Context {
    return this.storage.getStore() ?? ROOT_CONTEXT;
  }

  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    const cb = thisArg == null ? fn : fn.bind(thisArg);
    return this.storage.run(ctx, cb as (...args: A) => ReturnType<F>, ...args);
  }

  bind<T>(ctx: Context, target: T): T {
    if (typeof target !== "function") return target;
    const manager = this;
    const fn = target as unknown as (...args: unknown[]) => unknown;
    return function (this: unknown, ...args: unknown[]) {
      return manager.with(ctx, () => fn.apply(this, args));
    } as unknown as T;
  }

  enable(): this {
    return this;
  }

  disable(): this {
    this.storage.disable();
    return this;
  }
}

let registered = false;

/**
 * Registers the AsyncLocalStorage context manager as the global one, once. When the application has
 * already registered its own (e.g. through the OTel Node SDK), that one is kept.
 */
export function ensureContextManager(): void {
  if (registered) return;
  registered = true;
  try {
    context.setGlobalContextManager(new AlsContextManager());
  } catch {
    // never throw into the agent because of telemetry
  }
}
