import { type Attributes, context, type Span, SpanKind, SpanStatusCode, type Tracer, trace } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { defaultResource, resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, BatchSpanProcessor, type SpanExporter } from "@opentelemetry/sdk-trace-base";
import {
  ATTR_COGNIVE_TEAM,
  ATTR_DEPLOYMENT_ENVIRONMENT_NAME,
  ATTR_GEN_AI_AGENT_NAME,
  ATTR_GEN_AI_INPUT_MESSAGES,
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_OUTPUT_MESSAGES,
  ATTR_GEN_AI_PROVIDER_NAME,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_RESPONSE_FINISH_REASONS,
  ATTR_GEN_AI_RESPONSE_ID,
  ATTR_GEN_AI_RESPONSE_MODEL,
  ATTR_GEN_AI_TOOL_CALL_ID,
  ATTR_GEN_AI_TOOL_NAME,
  ATTR_GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
  ATTR_GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
  ATTR_SERVICE_NAME,
} from "./attributes.ts";
import { type Budget, createBudget } from "./budget.ts";
import { ensureContextManager } from "./context.ts";
import { factsFromResponse, type LlmFacts, StreamAccumulator, toOtelInputMessages } from "./extract.ts";
import { BoundedProcessor, Counters, CountingExporter } from "./pipeline.ts";

export interface CogniveOptions {
  /** `service.name`; defaults to `agent`, else `unknown_service:node`. */
  serviceName?: string;
  /** Resource attribute `gen_ai.agent.name`. */
  agent?: string;
  /** Resource attribute `cognive.team`. */
  team?: string;
  /** Resource attribute `deployment.environment.name`. */
  environment?: string;
  /** Collector base URL; spans go to `${endpoint}/v1/traces`. Default `http://127.0.0.1:4318`. */
  endpoint?: string;
  /** Ingest key, sent as `Authorization: Bearer <key>`. */
  apiKey?: string;
  /** Record `gen_ai.input.messages` / `gen_ai.output.messages` (and tool arguments/results). Default false. */
  captureContent?: boolean;
  /** Most spans waiting for export; further spans are dropped and counted. Default 2048. */
  maxQueueSize?: number;
  /** Spans per export request. Default 512 (capped at maxQueueSize). */
  maxExportBatchSize?: number;
  /** Longest a span waits before its batch is exported. Default 1000 ms. */
  scheduledDelayMillis?: number;
  /** Longest one export may take (HTTP timeout and batch processor timeout). Default 3000 ms. */
  exportTimeoutMillis?: number;
  /** Longest `shutdown()` waits for the final flush. Default 5000 ms. */
  shutdownTimeoutMillis?: number;
  /** Use this exporter instead of OTLP/HTTP (tests: an InMemorySpanExporter). */
  exporter?: SpanExporter;
  /** Query API base URL, for `budget.guard()`. Default `http://127.0.0.1:3300`. */
  apiUrl?: string;
}

export interface LlmCallOptions {
  /** `gen_ai.provider.name`, e.g. `openai`, `anthropic`, `aws.bedrock`. */
  provider: string;
  /** `gen_ai.request.model`. */
  model: string;
  /** Request messages, recorded as `gen_ai.input.messages` only with `captureContent`. */
  messages?: unknown;
}

export interface ToolCallOptions {
  /** `gen_ai.tool.call.id`. */
  callId?: string;
  /** Recorded as `gen_ai.tool.call.arguments` only with `captureContent`. */
  arguments?: unknown;
}

/**
 * Telemetry counters.
 * - `droppedSpans`: spans discarded because `maxQueueSize` spans were already waiting for export
 *   (counted in front of the BatchSpanProcessor, see BoundedProcessor).
 * - `exportedSpans`: spans the exporter reported as delivered.
 * - `failedExports`: export requests (batches) that failed or timed out; `failedSpans` the spans in them.
 * - `queuedSpans` / `maxQueuedSpans`: spans waiting for export now / at most so far.
 */
export interface Stats {
  droppedSpans: number;
  exportedSpans: number;
  failedExports: number;
  failedSpans: number;
  queuedSpans: number;
  maxQueuedSpans: number;
}

/** A promise-returning `fn` yields a native Promise of its value; anything else is returned as is. */
export type Wrapped<T> = T extends PromiseLike<infer U> ? Promise<U> : T;

export interface Cognive {
  /** `budget.guard()` throws BudgetExceededError when this agent or its run is over budget. */
  budget: Budget;
  agentRun<T>(name: string, fn: () => T): Wrapped<T>;
  llmCall<T>(opts: LlmCallOptions, fn: () => T): Wrapped<T>;
  toolCall<T>(name: string, fn: () => T, opts?: ToolCallOptions): Wrapped<T>;
  /** Exports everything queued so far (bounded by the export timeout). */
  flush(): Promise<void>;
  /** Flushes and stops; resolves within `shutdownTimeoutMillis` even when the collector is down. */
  shutdown(): Promise<void>;
  stats(): Stats;
}

export const DEFAULT_ENDPOINT = "http://127.0.0.1:4318";

const SDK_NAME = "@cognive/sdk";
const SDK_VERSION = "0.1.0";

function isThenable(v: unknown): v is PromiseLike<unknown> {
  try {
    return v !== null && (typeof v === "object" || typeof v === "function") && typeof (v as any).then === "function";
  } catch {
    // a hostile value (throwing getter or Proxy trap) is returned to the agent as is
    return false;
  }
}

function isAsyncIterable(v: unknown): v is AsyncIterable<unknown> {
  return v !== null && typeof v === "object" && typeof (v as any)[Symbol.asyncIterator] === "function";
}

function safeJson(v: unknown): string | undefined {
  try {
    return typeof v === "string" ? v : JSON.stringify(v);
  } catch {
    return undefined;
  }
}

function recordError(span: Span, err: unknown): void {
  try {
    const e = err instanceof Error ? err : undefined;
    span.recordException(e ?? String(err));
    span.setStatus({ code: SpanStatusCode.ERROR, message: e ? e.message : String(err) });
    span.setAttribute("error.type", e ? e.constructor?.name || e.name || "Error" : typeof err);
  } catch {
    // telemetry never throws into the agent
  }
}

function endSpan(span: Span): void {
  try {
    span.end();
  } catch {
    // telemetry never throws into the agent
  }
}

function applyFacts(span: Span, f: LlmFacts): void {
  if (f.inputTokens !== undefined) span.setAttribute(ATTR_GEN_AI_USAGE_INPUT_TOKENS, f.inputTokens);
  if (f.outputTokens !== undefined) span.setAttribute(ATTR_GEN_AI_USAGE_OUTPUT_TOKENS, f.outputTokens);
  if (f.cacheReadTokens !== undefined) span.setAttribute(ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, f.cacheReadTokens);
  if (f.cacheCreationTokens !== undefined) {
    span.setAttribute(ATTR_GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, f.cacheCreationTokens);
  }
  if (f.reasoningTokens !== undefined) span.setAttribute(ATTR_GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, f.reasoningTokens);
  if (f.responseModel !== undefined) span.setAttribute(ATTR_GEN_AI_RESPONSE_MODEL, f.responseModel);
  if (f.responseId !== undefined) span.setAttribute(ATTR_GEN_AI_RESPONSE_ID, f.responseId);
  if (f.finishReasons !== undefined) span.setAttribute(ATTR_GEN_AI_RESPONSE_FINISH_REASONS, f.finishReasons);
  if (f.outputMessages !== undefined) {
    const json = safeJson(f.outputMessages);
    if (json !== undefined) span.setAttribute(ATTR_GEN_AI_OUTPUT_MESSAGES, json);
  }
}

/**
 * Runs `fn` inside `span` (as the active span, so children nest across `await`), ends the span when
 * `fn` returns or its promise settles, records a throw or rejection as status ERROR plus an exception
 * event and rethrows it unchanged. `finish` may record facts from the value; when it returns
 * `{ value }` that value is returned instead and the span is left open (ended later by a stream wrapper).
 */
function runInSpan<T>(span: Span | undefined, fn: () => T, finish?: (span: Span, value: unknown) => unknown): any {
  if (span === undefined) return passthrough(fn);
  let result: T;
  try {
    result = context.with(trace.setSpan(context.active(), span), fn);
  } catch (err) {
    recordError(span, err);
    endSpan(span);
    throw err;
  }
  if (isThenable(result)) {
    return Promise.resolve(result).then(
      (value) => complete(span, value, finish),
      (err) => {
        recordError(span, err);
        endSpan(span);
        throw err;
      },
    );
  }
  return complete(span, result, finish);
}

function complete(span: Span, value: unknown, finish?: (span: Span, value: unknown) => unknown): unknown {
  if (finish) {
    try {
      const replaced = finish(span, value);
      if (replaced !== undefined) return (replaced as { value: unknown }).value;
    } catch {
      // a response whose getters throw: keep the span, drop the facts
    }
  }
  endSpan(span);
  return value;
}

function passthrough<T>(fn: () => T): any {
  const r = fn();
  return isThenable(r) ? Promise.resolve(r) : r;
}

export { passthrough };

/**
 * Returns an object that yields every chunk of `stream` unchanged while accumulating facts, and ends
 * `span` when the stream ends, throws, or is abandoned (`return()`, e.g. `break` out of `for await`).
 * A stream object that is not itself an iterator (e.g. the OpenAI / Anthropic SDK `Stream`) is wrapped
 * in a Proxy so its other members (`controller`, `toReadableStream()`, …) keep working.
 */
function wrapStream(stream: AsyncIterable<unknown>, span: Span, captureContent: boolean): unknown {
  const acc = new StreamAccumulator(captureContent);
  let ended = false;
  const end = (err?: unknown, failed = false) => {
    if (ended) return;
    ended = true;
    try {
      const f = acc.facts();
      if (f) applyFacts(span, f);
    } catch {
      // never throw into the agent
    }
    if (failed) recordError(span, err);
    endSpan(span);
  };
  let inner: AsyncIterator<unknown> | undefined;
  const source = () => {
    inner ??= stream[Symbol.asyncIterator]();
    return inner;
  };
  const it: AsyncIterableIterator<unknown> = {
    async next(...args: [] | [unknown]) {
      let r: IteratorResult<unknown>;
      try {
        r = await source().next(...args);
      } catch (err) {
        end(err, true);
        throw err;
      }
      if (r.done) end();
      else {
        try {
          acc.add(r.value);
        } catch {
          // never throw into the agent
        }
      }
      return r;
    },
    async return(value?: unknown) {
      end();
      if (inner?.return) return inner.return(value);
      return { done: true, value };
    },
    async throw(err?: unknown) {
      end(err, true);
      if (inner?.throw) return inner.throw(err);
      throw err;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
  if (typeof (stream as any).next === "function") return it;
  return new Proxy(stream as object, {
    get(target, prop) {
      if (prop === Symbol.asyncIterator) return () => it;
      const v = Reflect.get(target, prop, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

/** An SDK instance with its own tracer provider and exporter. */
export function createCognive(opts: CogniveOptions = {}): Cognive {
  ensureContextManager();
  const counters = new Counters();
  const captureContent = opts.captureContent === true;
  const maxQueueSize = Math.max(1, opts.maxQueueSize ?? 2048);
  const exportTimeoutMillis = opts.exportTimeoutMillis ?? 3000;
  const shutdownTimeoutMillis = opts.shutdownTimeoutMillis ?? 5000;

  const resourceAttrs: Attributes = {
    [ATTR_SERVICE_NAME]: opts.serviceName ?? opts.agent ?? "unknown_service:node",
  };
  if (opts.agent !== undefined) resourceAttrs[ATTR_GEN_AI_AGENT_NAME] = opts.agent;
  if (opts.team !== undefined) resourceAttrs[ATTR_COGNIVE_TEAM] = opts.team;
  if (opts.environment !== undefined) resourceAttrs[ATTR_DEPLOYMENT_ENVIRONMENT_NAME] = opts.environment;

  const endpoint = (opts.endpoint ?? DEFAULT_ENDPOINT).replace(/\/+$/, "");
  const exporter =
    opts.exporter ??
    new OTLPTraceExporter({
      url: `${endpoint}/v1/traces`,
      headers: opts.apiKey ? { Authorization: `Bearer ${opts.apiKey}` } : {},
      timeoutMillis: exportTimeoutMillis,
    });
  const batch = new BatchSpanProcessor(new CountingExporter(exporter, counters), {
    maxQueueSize,
    maxExportBatchSize: Math.min(opts.maxExportBatchSize ?? 512, maxQueueSize),
    scheduledDelayMillis: opts.scheduledDelayMillis ?? 1000,
    exportTimeoutMillis,
  });
  const provider = new BasicTracerProvider({
    resource: defaultResource().merge(resourceFromAttributes(resourceAttrs)),
    spanProcessors: [new BoundedProcessor(batch, counters, maxQueueSize)],
  });
  const tracer: Tracer = provider.getTracer(SDK_NAME, SDK_VERSION);
  let stopped: Promise<void> | undefined;

  function start(name: string, kind: SpanKind, attributes: Attributes): Span | undefined {
    if (stopped) return undefined;
    try {
      return tracer.startSpan(name, { kind, attributes });
    } catch {
      return undefined;
    }
  }

  function agentRun<T>(name: string, fn: () => T): Wrapped<T> {
    const span = start(`invoke_agent ${name}`, SpanKind.INTERNAL, {
      [ATTR_GEN_AI_OPERATION_NAME]: "invoke_agent",
      [ATTR_GEN_AI_AGENT_NAME]: name,
    });
    return runInSpan(span, fn);
  }

  function llmFinish(span: Span, value: unknown): unknown {
    const facts = factsFromResponse(value, captureContent);
    if (facts) {
      applyFacts(span, facts);
      return undefined;
    }
    if (isAsyncIterable(value)) return { value: wrapStream(value, span, captureContent) };
    return undefined;
  }

  function llmCall<T>(o: LlmCallOptions, fn: () => T): Wrapped<T> {
    let span: Span | undefined;
    try {
      const attrs: Attributes = {
        [ATTR_GEN_AI_OPERATION_NAME]: "chat",
        [ATTR_GEN_AI_PROVIDER_NAME]: o.provider,
        [ATTR_GEN_AI_REQUEST_MODEL]: o.model,
      };
      if (captureContent && o.messages !== undefined) {
        const json = safeJson(toOtelInputMessages(o.messages));
        if (json !== undefined) attrs[ATTR_GEN_AI_INPUT_MESSAGES] = json;
      }
      span = start(`chat ${o.model}`, SpanKind.CLIENT, attrs);
    } catch {
      span = undefined;
    }
    return runInSpan(span, fn, llmFinish);
  }

  function toolFinish(span: Span, value: unknown): undefined {
    const json = safeJson(value);
    if (json !== undefined) span.setAttribute("gen_ai.tool.call.result", json);
    return undefined;
  }

  function toolCall<T>(name: string, fn: () => T, o?: ToolCallOptions): Wrapped<T> {
    const attrs: Attributes = {
      [ATTR_GEN_AI_OPERATION_NAME]: "execute_tool",
      [ATTR_GEN_AI_TOOL_NAME]: name,
    };
    if (o?.callId !== undefined) attrs[ATTR_GEN_AI_TOOL_CALL_ID] = o.callId;
    if (captureContent && o?.arguments !== undefined) {
      const json = safeJson(o.arguments);
      if (json !== undefined) attrs["gen_ai.tool.call.arguments"] = json;
    }
    const span = start(`execute_tool ${name}`, SpanKind.INTERNAL, attrs);
    return runInSpan(span, fn, captureContent ? toolFinish : undefined);
  }

  function withDeadline(p: Promise<unknown>, ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      timer.unref?.();
      p.then(
        () => {
          clearTimeout(timer);
          resolve();
        },
        () => {
          clearTimeout(timer);
          resolve();
        },
      );
    });
  }

  function flush(): Promise<void> {
    try {
      return withDeadline(provider.forceFlush(), shutdownTimeoutMillis);
    } catch {
      return Promise.resolve();
    }
  }

  function shutdown(): Promise<void> {
    if (!stopped) {
      try {
        stopped = withDeadline(provider.shutdown(), shutdownTimeoutMillis);
      } catch {
        stopped = Promise.resolve();
      }
    }
    return stopped;
  }

  function stats(): Stats {
    return {
      droppedSpans: counters.droppedSpans,
      exportedSpans: counters.exportedSpans,
      failedExports: counters.failedExports,
      failedSpans: counters.failedSpans,
      queuedSpans: counters.queuedSpans,
      maxQueuedSpans: counters.maxQueuedSpans,
    };
  }

  const budget = createBudget({ apiUrl: opts.apiUrl, apiKey: opts.apiKey, agent: opts.agent });
  return { budget, agentRun, llmCall, toolCall, flush, shutdown, stats };
}
