/** Dating the demo's runs in the past: which run goes how far back, and an exporter that moves its spans there. */
import type { ExportResult } from "@opentelemetry/core";
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace-base";

const DAY_S = 86_400;

/**
 * How many seconds before now run `n` of `runs` happened, spreading runs over the past `days`
 * oldest first: the last quarter within the last 20 hours (so today has data), the rest over the
 * days before, at varied hours. Whole seconds, so span times shift without rounding.
 */
export function runOffsetSeconds(n: number, runs: number, days: number): number {
  if (!(days > 0) || runs <= 1) return 0;
  const todayFrom = Math.floor(runs * 0.75);
  // Deterministic jitter of up to ~3 hours: runs do not line up on the same minute each day.
  const jitter = ((n * 7919) % 10_800) + 60;
  if (n >= todayFrom) {
    const left = runs - 1 - n; // 0 for the last run
    const span = Math.max(1, runs - todayFrom);
    return Math.round((left / span) * 20 * 3600) + (left === 0 ? 0 : jitter % 3600);
  }
  const back = 1 - n / Math.max(1, todayFrom); // 1 for the oldest, towards 0 for the newest
  return Math.round(DAY_S + back * (days - 1) * DAY_S) - jitter;
}

type HrTime = [number, number];
const shift = (t: HrTime, s: number): HrTime => [t[0] - s, t[1]];

/** Moves each span of a backdated trace (and its events) `offsets.get(traceId)` seconds into the past. */
export class BackdatingExporter implements SpanExporter {
  constructor(
    private readonly inner: SpanExporter,
    private readonly offsets: ReadonlyMap<string, number>,
  ) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.inner.export(
      spans.map((s) => this.moved(s)),
      done,
    );
  }

  private moved(s: ReadableSpan): ReadableSpan {
    const offset = this.offsets.get(s.spanContext().traceId) ?? 0;
    if (offset === 0) return s;
    // The span's own methods (spanContext) stay; its times are overridden on a copy.
    return Object.assign(Object.create(Object.getPrototypeOf(s)), s, {
      startTime: shift(s.startTime, offset),
      endTime: shift(s.endTime, offset),
      events: s.events.map((e) => ({ ...e, time: shift(e.time, offset) })),
    });
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}
