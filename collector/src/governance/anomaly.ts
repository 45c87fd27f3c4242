/**
 * Spend anomalies: is the spend of the last N minutes far above what this scope usually spends in
 * N minutes at this hour of the week? Pure functions; the samples come from `spend-history.ts`.
 *
 * Baseline samples: the hour of the week the current window starts in, one to `baselineWeeks` weeks
 * earlier, cut into N-minute buckets (zero when nothing was spent). Robust statistics, so one past
 * spike does not hide the next: m = median, MAD = median |x − m|, scale = max(1.4826·MAD, 10 % of m).
 * Anomalous when spend ≥ `minUsd` and spend > m + threshold × scale. A scope that spent nothing in
 * any baseline bucket is not judged: there is nothing to compare with (a new agent, a new deployment).
 */
export interface AnomalySettings {
  windowMinutes: number;
  baselineWeeks: number;
  threshold: number;
  minUsd: number;
}

export const DEFAULT_ANOMALY: Readonly<AnomalySettings> = Object.freeze({
  windowMinutes: 15,
  baselineWeeks: 4,
  threshold: 6,
  minUsd: 1,
});

/** 1.4826 × MAD estimates the standard deviation of normally distributed samples. */
const MAD_TO_SD = 1.4826;
/** A perfectly flat history would give a zero scale; 10 % of the median keeps a floor. */
const MIN_RELATIVE_SCALE = 0.1;

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export interface AnomalyVerdict {
  anomalous: boolean;
  spendUsd: number;
  medianUsd: number;
  scaleUsd: number;
  /** (spend − median) / scale; Infinity when the scale is zero. */
  score: number;
}

export function judgeSpend(spendUsd: number, baseline: readonly number[], s: AnomalySettings): AnomalyVerdict {
  const m = median(baseline);
  const mad = median(baseline.map((x) => Math.abs(x - m)));
  const scale = Math.max(MAD_TO_SD * mad, MIN_RELATIVE_SCALE * m);
  const excess = spendUsd - m;
  const score = scale > 0 ? excess / scale : excess > 0 ? Number.POSITIVE_INFINITY : 0;
  return {
    anomalous: baseline.some((x) => x > 0) && spendUsd >= s.minUsd && spendUsd > m + s.threshold * scale,
    spendUsd,
    medianUsd: m,
    scaleUsd: scale,
    score,
  };
}

const HOUR_MS = 3_600_000;
const WEEK_MS = 7 * 24 * HOUR_MS;

/** The current window [start, end) ending at `nowMs` floored to the minute. */
export function currentWindow(nowMs: number, s: AnomalySettings): { startMs: number; endMs: number } {
  const endMs = Math.floor(nowMs / 60_000) * 60_000;
  return { startMs: endMs - s.windowMinutes * 60_000, endMs };
}

/** Start of the baseline hours: the current window's hour of the week, 1..baselineWeeks weeks back. */
export function baselineHours(windowStartMs: number, s: AnomalySettings): number[] {
  const hour = Math.floor(windowStartMs / HOUR_MS) * HOUR_MS;
  return Array.from({ length: s.baselineWeeks }, (_, i) => hour - (i + 1) * WEEK_MS);
}

/** Every baseline bucket's start (N-minute buckets of each baseline hour), to fill unseen ones with 0. */
export function baselineBuckets(windowStartMs: number, s: AnomalySettings): number[] {
  const per = 60 / s.windowMinutes;
  return baselineHours(windowStartMs, s).flatMap((h) =>
    Array.from({ length: per }, (_, i) => h + i * s.windowMinutes * 60_000),
  );
}
