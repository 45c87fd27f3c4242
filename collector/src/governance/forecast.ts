import { dayKey } from "./windows.ts";

/**
 * Month-end spend forecast from daily spend. Pure; UTC days, the budget calendar of `windows.ts`.
 *
 * 1. `spent`: the month's spend up to `asOf`.
 * 2. History: the full days before `asOf`'s day, at most LOOKBACK_DAYS of them, starting from the
 *    first of those days that has any spend (a scope is not judged on days before it existed).
 * 3. Profile, the expected spend of a day: with at least WEEKDAY_MIN_DAYS days of history, the mean
 *    of the history days on the same weekday; with fewer, the mean of all history days; with none,
 *    nothing is projected.
 * 4. `projected` = spent + (the rest of today, as a fraction of a day) × today's expectation + the
 *    expectation of every later day of the month.
 * 5. Interval: s = the sample standard deviation of the history days around their expectation;
 *    R = the days left (fractional); low/high = projected ∓ 1.96·s·√R (low never under `spent`).
 * 6. `exceedsOn`: the first day whose running total (actual days, then today's projected end, then
 *    expected days) reaches the budget.
 */
export const LOOKBACK_DAYS = 28;
/** Two of every weekday: enough to use a weekday's own mean. */
export const WEEKDAY_MIN_DAYS = 14;
const Z95 = 1.96;
const DAY_MS = 86_400_000;

export type ForecastMethod = "weekday" | "flat" | "none";

export interface MonthForecast {
  month: string;
  spentUsd: number;
  projectedUsd: number;
  low: number;
  high: number;
  budgetUsd: number | null;
  exceedsOn: string | null;
  method: ForecastMethod;
  /** Full days of history the profile was built from. */
  historyDays: number;
}

export interface DayForecast {
  day: string;
  spentUsd: number;
  projectedUsd: number;
  method: ForecastMethod;
  historyDays: number;
}

const MONTH_RE = /^(\d{4})-(\d{2})$/;

/** [start, end) of a `YYYY-MM` month in epoch ms; throws on a malformed month. */
export function monthBounds(month: string): { startMs: number; endMs: number } {
  const m = MONTH_RE.exec(month);
  const mm = m ? Number(m[2]) : 0;
  if (!m || mm < 1 || mm > 12) throw new RangeError(`invalid month: ${JSON.stringify(month)}`);
  const y = Number(m[1]);
  // setUTCFullYear, not Date.UTC: Date.UTC reads years 0-99 as 1900-1999.
  const at = (month0: number) => new Date(0).setUTCFullYear(y, month0, 1);
  return { startMs: at(mm - 1), endMs: at(mm) };
}

/** The range of days whose spend a forecast as of `asOfMs` reads: [lookback start, asOf). */
export function historyRange(month: string, asOfMs: number): { fromMs: number; toMs: number } {
  const { startMs, endMs } = monthBounds(month);
  const at = Math.min(Math.max(asOfMs, startMs), endMs);
  const today = Math.floor(at / DAY_MS) * DAY_MS;
  return { fromMs: Math.min(startMs, today - LOOKBACK_DAYS * DAY_MS), toMs: at };
}

interface Profile {
  method: ForecastMethod;
  historyDays: number;
  expected(dayMs: number): number;
  sd: number;
}

const weekday = (dayMs: number) => new Date(dayMs).getUTCDay();

function mean(xs: number[]): number {
  return xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** The daily profile from the full days before `todayMs` (spend per `YYYY-MM-DD`). */
function profileOf(daily: ReadonlyMap<string, number>, todayMs: number): Profile {
  const history: { dayMs: number; usd: number }[] = [];
  for (let d = todayMs - LOOKBACK_DAYS * DAY_MS; d < todayMs; d += DAY_MS) {
    const usd = daily.get(dayKey(d)) ?? 0;
    if (history.length === 0 && usd === 0) continue; // before the scope's first spend
    history.push({ dayMs: d, usd });
  }
  const n = history.length;
  if (n === 0) return { method: "none", historyDays: 0, expected: () => 0, sd: 0 };
  let expected: (dayMs: number) => number;
  let method: ForecastMethod;
  if (n >= WEEKDAY_MIN_DAYS) {
    const byWeekday = Array.from({ length: 7 }, (_, w) =>
      mean(history.filter((h) => weekday(h.dayMs) === w).map((h) => h.usd)),
    );
    expected = (dayMs) => byWeekday[weekday(dayMs)];
    method = "weekday";
  } else {
    const flat = mean(history.map((h) => h.usd));
    expected = () => flat;
    method = "flat";
  }
  const squares = history.reduce((sum, h) => sum + (h.usd - expected(h.dayMs)) ** 2, 0);
  const sd = n >= 2 ? Math.sqrt(squares / (n - 1)) : 0;
  return { method, historyDays: n, expected, sd };
}

/**
 * The forecast of one scope's month as of `asOfMs` (clamped into the month: a past month is simply
 * its spend). `daily` holds the spend of each day from `historyRange` on, today's up to `asOfMs`.
 */
export function forecastMonth(
  month: string,
  daily: ReadonlyMap<string, number>,
  asOfMs: number,
  budgetUsd: number | null,
): MonthForecast {
  const { startMs, endMs } = monthBounds(month);
  const at = Math.min(Math.max(asOfMs, startMs), endMs);
  const todayMs = Math.floor(at / DAY_MS) * DAY_MS;
  const profile = profileOf(daily, todayMs);
  let spent = 0;
  let exceedsOn: string | null = null;
  const reaches = (total: number, dayMs: number) => {
    if (exceedsOn === null && budgetUsd !== null && total >= budgetUsd) exceedsOn = dayKey(dayMs);
  };
  for (let d = startMs; d < endMs && d <= todayMs; d += DAY_MS) {
    spent += daily.get(dayKey(d)) ?? 0;
    reaches(spent, d);
  }
  if (at >= endMs) {
    return {
      month,
      spentUsd: spent,
      projectedUsd: spent,
      low: spent,
      high: spent,
      budgetUsd,
      exceedsOn,
      ...meta(profile),
    };
  }
  const todayLeft = (todayMs + DAY_MS - at) / DAY_MS;
  let projected = spent + todayLeft * profile.expected(todayMs);
  reaches(projected, todayMs);
  let daysLeft = todayLeft;
  for (let d = todayMs + DAY_MS; d < endMs; d += DAY_MS) {
    projected += profile.expected(d);
    daysLeft++;
    reaches(projected, d);
  }
  const half = Z95 * profile.sd * Math.sqrt(daysLeft);
  return {
    month,
    spentUsd: spent,
    projectedUsd: projected,
    low: Math.max(spent, projected - half),
    high: projected + half,
    budgetUsd,
    exceedsOn,
    ...meta(profile),
  };
}

const meta = (p: Profile) => ({ method: p.method, historyDays: p.historyDays });

/** Today's projected end (for daily budgets): today's spend + the rest of the day × its expectation. */
export function forecastDay(daily: ReadonlyMap<string, number>, asOfMs: number): DayForecast {
  const todayMs = Math.floor(asOfMs / DAY_MS) * DAY_MS;
  const profile = profileOf(daily, todayMs);
  const day = dayKey(todayMs);
  const spent = daily.get(day) ?? 0;
  const projected = spent + ((todayMs + DAY_MS - asOfMs) / DAY_MS) * profile.expected(todayMs);
  return { day, spentUsd: spent, projectedUsd: projected, ...meta(profile) };
}
