import { type Context, TraceFlags } from "@opentelemetry/api";
import type { ReadableSpan, Span, SpanExporter, SpanProcessor } from "@opentelemetry/sdk-trace-base";

/** `ExportResult` of `@opentelemetry/core` (not a direct dependency): code 0 = SUCCESS, 1 = FAILED. */
export type ExportResult = Parameters<Parameters<SpanExporter["export"]>[1]>[0];
const ExportResultCode = { SUCCESS: 0, FAILED: 1 } as const;

/** Telemetry counters; see `Stats` in index.ts for their meaning. */
export class Counters {
  droppedSpans = 0;
  exportedSpans = 0;
  failedExports = 0;
  failedSpans = 0;
  /** Spans handed to the batch processor and not yet taken by it for export. */
  queuedSpans = 0;
  /** High-water mark of `queuedSpans`. */
  maxQueuedSpans = 0;
}

/**
 * Wraps the real exporter to count outcomes, and to move the export (serialisation and the HTTP
 * request) off the call stack of whatever ended the span: the batch processor exports synchronously
 * from `onEnd` when a batch fills up, which would otherwise land inside the agent's call.
 */
export class CountingExporter implements SpanExporter {
  constructor(
    private readonly inner: SpanExporter,
    private readonly counters: Counters,
  ) {}

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    const c = this.counters;
    const n = spans.length;
    // The batch processor has just removed these spans from its queue.
    c.queuedSpans -= n;
    let called = false;
    const done = (result: ExportResult) => {
      if (called) return;
      called = true;
      if (result.code === ExportResultCode.SUCCESS) c.exportedSpans += n;
      else {
        c.failedExports++;
        c.failedSpans += n;
      }
      resultCallback(result);
    };
    setImmediate(() => {
      try {
        this.inner.export(spans, done);
      } catch (error) {
        done({ code: ExportResultCode.FAILED, error: error as Error });
      }
    });
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush ? this.inner.forceFlush() : Promise.resolve();
  }
}

/**
 * Sits in front of the BatchSpanProcessor and keeps its queue bounded with exact accounting: a span
 * is forwarded only while fewer than `maxQueueSize` spans are waiting (handed to the processor and not
 * yet passed to the exporter, counted by this class and by CountingExporter); otherwise it is dropped
 * here and counted in `droppedSpans`. Because the count is taken when the processor hands a batch to the
 * exporter, it is never lower than the processor's own queue length, so the processor itself never
 * reaches its limit and never drops silently.
 */
export class BoundedProcessor implements SpanProcessor {
  private closed = false;

  constructor(
    private readonly inner: SpanProcessor,
    private readonly counters: Counters,
    private readonly maxQueueSize: number,
  ) {}

  onStart(_span: Span, _parentContext: Context): void {}

  onEnd(span: ReadableSpan): void {
    if (this.closed) return;
    if ((span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0) return;
    const c = this.counters;
    if (c.queuedSpans >= this.maxQueueSize) {
      c.droppedSpans++;
      return;
    }
    c.queuedSpans++;
    if (c.queuedSpans > c.maxQueuedSpans) c.maxQueuedSpans = c.queuedSpans;
    this.inner.onEnd(span);
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush();
  }

  shutdown(): Promise<void> {
    this.closed = true;
    return this.inner.shutdown();
  }
}
