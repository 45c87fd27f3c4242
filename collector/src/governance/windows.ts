/**
 * Budget windows: which counter a span's spend goes to. Pure functions, UTC throughout.
 *
 * - `run`: the trace id (one agent run is one trace);
 * - `day`: the UTC calendar day of the span, `YYYY-MM-DD`;
 * - `month`: the UTC calendar month of the span, `YYYY-MM`.
 *
 * Each window carries a TTL for its counter, long enough to outlive late spans and retries
 * (a day counter lives three days, a month counter 40 days), short enough that old windows vanish.
 */
export type BudgetWindow = "run" | "day" | "month";

export const BUDGET_WINDOWS: readonly BudgetWindow[] = ["run", "day", "month"];

const DAY_S = 86_400;

/** Counter TTL per window, in seconds. */
export const WINDOW_TTL_SECONDS: Readonly<Record<BudgetWindow, number>> = {
  run: 2 * DAY_S,
  day: 3 * DAY_S,
  month: 40 * DAY_S,
};

export interface WindowKey {
  window: BudgetWindow;
  windowKey: string;
  ttlSeconds: number;
}

/** A span time: `bigint` is Unix nanoseconds (as decoded from OTLP), `number` is epoch milliseconds. */
export type SpanTime = bigint | number | Date;

export function spanTimeMs(time: SpanTime): number {
  if (typeof time === "bigint") return Number(time / 1_000_000n);
  if (typeof time === "number") return time;
  return time.getTime();
}

function utcDate(time: SpanTime): Date {
  const ms = spanTimeMs(time);
  if (!Number.isFinite(ms)) throw new RangeError(`invalid span time: ${String(time)}`);
  return new Date(ms);
}

const pad2 = (n: number) => String(n).padStart(2, "0");
const year = (d: Date) => String(d.getUTCFullYear()).padStart(4, "0");

/** `YYYY-MM-DD` of the UTC day. */
export function dayKey(time: SpanTime): string {
  const d = utcDate(time);
  return `${year(d)}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`;
}

/** `YYYY-MM` of the UTC month. */
export function monthKey(time: SpanTime): string {
  const d = utcDate(time);
  return `${year(d)}-${pad2(d.getUTCMonth() + 1)}`;
}

/** The run window key: the trace id itself (lower-case hex). */
export function runKey(traceId: string): string {
  if (traceId === "") throw new RangeError("empty trace id");
  return traceId.toLowerCase();
}

export function windowTtlSeconds(window: BudgetWindow): number {
  return WINDOW_TTL_SECONDS[window];
}

/** The key and TTL of one window for a span. */
export function windowKey(window: BudgetWindow, traceId: string, time: SpanTime): WindowKey {
  const key = window === "run" ? runKey(traceId) : window === "day" ? dayKey(time) : monthKey(time);
  return { window, windowKey: key, ttlSeconds: WINDOW_TTL_SECONDS[window] };
}

/** All three windows of a span, in the order run, day, month. */
export function windowKeys(traceId: string, time: SpanTime): WindowKey[] {
  return BUDGET_WINDOWS.map((w) => windowKey(w, traceId, time));
}
