/** How numbers read in every component: cost, tokens, durations, times. Pure functions. */

/**
 * US dollars. Below $1, four significant digits ($0.014, $0.00125, $0.1235), so a call's cost never
 * reads as a different cent and a trace's parts add up to its total as shown; from $1 up, cents.
 */
export function formatCost(usd: number | null | undefined): string {
  if (usd === null || usd === undefined || !Number.isFinite(usd)) return "—";
  if (usd === 0) return "$0.00";
  const abs = Math.abs(usd);
  const sign = usd < 0 ? "-" : "";
  if (abs < 1) {
    const decimals = Math.min(12, Math.max(2, COST_DIGITS - 1 - Math.floor(Math.log10(abs))));
    const fixed = abs.toFixed(decimals);
    // Keep at least cents: $0.10, not $0.1.
    const trimmed = fixed.replace(/0+$/, "");
    const cents = trimmed.length - trimmed.indexOf(".") - 1 < 2 ? abs.toFixed(2) : trimmed;
    return `${sign}$${cents}`;
  }
  if (abs < 1000) return `${sign}$${abs.toFixed(2)}`;
  return `${sign}$${abs.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
}

/** Significant digits of amounts below a dollar. */
const COST_DIGITS = 4;

/** Token counts: 950, 12.3k, 4.5M. */
export function formatTokens(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "—";
  const abs = Math.abs(n);
  if (abs < 1000) return String(Math.round(n));
  if (abs < 1e6) return `${trimZeros((n / 1e3).toFixed(abs < 1e4 ? 2 : 1))}k`;
  if (abs < 1e9) return `${trimZeros((n / 1e6).toFixed(abs < 1e7 ? 2 : 1))}M`;
  return `${trimZeros((n / 1e9).toFixed(2))}B`;
}

/** Durations from nanoseconds (number, bigint or decimal string): 850 µs, 12.3 ms, 1.25 s, 2m 05s. */
export function formatDuration(ns: number | bigint | string | null | undefined): string {
  if (ns === null || ns === undefined || ns === "") return "—";
  const v = typeof ns === "number" ? ns : Number(ns);
  if (!Number.isFinite(v) || v < 0) return "—";
  if (v < 1e3) return `${Math.round(v)} ns`;
  if (v < 1e6) return `${trimZeros((v / 1e3).toFixed(v < 1e4 ? 1 : 0))} µs`;
  if (v < 1e9) return `${trimZeros((v / 1e6).toFixed(v < 1e7 ? 2 : v < 1e8 ? 1 : 0))} ms`;
  if (v < 60e9) return `${trimZeros((v / 1e9).toFixed(2))} s`;
  const totalS = Math.round(v / 1e9);
  const h = Math.floor(totalS / 3600);
  const m = Math.floor((totalS % 3600) / 60);
  const s = totalS % 60;
  return h > 0 ? `${h}h ${String(m).padStart(2, "0")}m` : `${m}m ${String(s).padStart(2, "0")}s`;
}

/** A ratio 0..1 as a percentage: 0.0412 → "4.1%". */
export function formatPercent(ratio: number | null | undefined): string {
  if (ratio === null || ratio === undefined || !Number.isFinite(ratio)) return "—";
  const p = ratio * 100;
  return `${trimZeros(p.toFixed(p !== 0 && Math.abs(p) < 10 ? 1 : 0))}%`;
}

/** A wall-clock time from Unix nanoseconds (string or bigint) or milliseconds (number), in local time. */
export function formatTime(t: string | bigint | number, now: Date = new Date()): string {
  const ms = typeof t === "number" ? t : Number(BigInt(t) / 1_000_000n);
  const d = new Date(ms);
  const sameDay = d.toDateString() === now.toDateString();
  const time = d.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  return sameDay ? time : `${d.toISOString().slice(0, 10)} ${time}`;
}

/** A local date and time, always with the date: 2026-12-01 14:03:22. */
export function formatDateTime(t: string | bigint | number): string {
  const ms = typeof t === "number" ? t : Number(BigInt(t) / 1_000_000n);
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function trimZeros(s: string): string {
  return s.includes(".") && !s.includes("e") ? s.replace(/\.?0+$/, "") : s;
}
