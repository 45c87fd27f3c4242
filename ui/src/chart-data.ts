/**
 * Pure data shaping for the stacked charts: API responses → one shared time axis, values per series,
 * cumulative stacks and the uPlot bands between them. No DOM, so it is tested in Node.
 */

/** The `/api/v1/costs` response, as far as the charts read it. */
export interface CostReport {
  totalUsd: number;
  series: {
    key: string | null;
    totalUsd: number;
    inputTokens: number;
    outputTokens: number;
    cacheReadTokens?: number;
    cacheWriteTokens?: number;
    calls: number;
    points: [number, number][];
    tokenPoints?: [number, number, number, number, number][];
  }[];
}

/** One named series of [Unix seconds, value] points, before alignment. */
export interface SeriesInput {
  label: string;
  points: readonly (readonly [number, number])[];
}

/** Series on a shared x axis: `values[i][j]` is series i at `xs[j]`. */
export interface AlignedSeries {
  xs: number[];
  labels: string[];
  values: number[][];
}

/** The named ranges the charts accept, in seconds. */
export const RANGES: Record<string, number> = {
  "1h": 3_600,
  "6h": 6 * 3_600,
  "24h": 86_400,
  "7d": 7 * 86_400,
  "30d": 30 * 86_400,
};

/** A range attribute in seconds: a named range or `<n>m|h|d`; anything else falls back to 24 hours. */
export function parseRange(range: string | null | undefined): number {
  if (!range) return RANGES["24h"];
  const named = RANGES[range];
  if (named) return named;
  const m = /^(\d{1,4})([mhd])$/.exec(range.trim());
  if (!m) return RANGES["24h"];
  const n = Number(m[1]);
  const unit = m[2] === "m" ? 60 : m[2] === "h" ? 3_600 : 86_400;
  return n > 0 ? n * unit : RANGES["24h"];
}

/** A readable name of a range for headings and empty states: "last 24 hours". */
export function describeRange(seconds: number): string {
  if (seconds % 86_400 === 0) return seconds === 86_400 ? "last 24 hours" : `last ${seconds / 86_400} days`;
  if (seconds % 3_600 === 0) return seconds === 3_600 ? "last hour" : `last ${seconds / 3_600} hours`;
  return `last ${Math.round(seconds / 60)} minutes`;
}

/**
 * Bucket width for a range: the smallest whole minute giving at most `target` buckets — the server's
 * own default, sent explicitly so that the client knows the grid it aligns points to.
 */
export function stepFor(rangeSeconds: number, target = 200): number {
  const perPoint = Math.ceil(rangeSeconds / target);
  return Math.max(60, Math.ceil(perPoint / 60) * 60);
}

/** Bucket starts covering [from, to): multiples of `step` since the epoch, as the server buckets. */
export function bucketGrid(fromS: number, toS: number, step: number): number[] {
  const xs: number[] = [];
  if (!(toS > fromS) || step <= 0) return xs;
  for (let t = Math.floor(fromS / step) * step; t < toS; t += step) xs.push(t);
  return xs;
}

/**
 * Puts every series on the grid. A bucket without a point is 0 — the API omits buckets without
 * calls, and no calls is no spend — so stacked areas fall to the axis instead of interpolating.
 */
export function alignSeries(series: readonly SeriesInput[], xs: readonly number[]): AlignedSeries {
  const index = new Map<number, number>(xs.map((x, i) => [x, i]));
  const values = series.map((s) => {
    const row = new Array<number>(xs.length).fill(0);
    for (const [t, v] of s.points) {
      const i = index.get(t);
      if (i !== undefined && Number.isFinite(v)) row[i] += v;
    }
    return row;
  });
  return { xs: [...xs], labels: series.map((s) => s.label), values };
}

/**
 * Adds a point at the end of the last bucket repeating its values: a stepped line draws each bucket
 * from its start to the next point, so without it the newest bucket — often the only one with data
 * — has no width.
 */
export function closeLastStep(a: AlignedSeries, step: number): AlignedSeries {
  const last = a.xs.at(-1);
  if (last === undefined) return a;
  return { ...a, xs: [...a.xs, last + step], values: a.values.map((row) => [...row, row.at(-1) ?? 0]) };
}

/**
 * Keeps the `max - 1` largest series (by sum) and folds the rest into one "Other" series, so a
 * chart of 40 models stays readable. Order of the kept series is preserved.
 */
export function foldSmallSeries(series: readonly SeriesInput[], max = 8): SeriesInput[] {
  if (series.length <= max) return [...series];
  const sum = (s: SeriesInput) => s.points.reduce((a, [, v]) => a + v, 0);
  const ranked = series.map((s, i) => ({ s, i, total: sum(s) })).sort((a, b) => b.total - a.total || a.i - b.i);
  const keep = new Set(ranked.slice(0, max - 1).map((r) => r.i));
  const other = new Map<number, number>();
  for (const r of ranked.slice(max - 1)) for (const [t, v] of r.s.points) other.set(t, (other.get(t) ?? 0) + v);
  const kept = series.filter((_, i) => keep.has(i));
  const otherPoints = [...other.entries()].sort((a, b) => a[0] - b[0]);
  return [...kept, { label: `Other (${series.length - kept.length})`, points: otherPoints }];
}

/**
 * Cumulative sums bottom-up: `stacked[i][j]` = sum of visible `values[0..i][j]`. A hidden series adds
 * nothing, so its line sits on the one below and the visible bands close up.
 */
export function stackValues(values: readonly number[][], hidden: readonly boolean[] = []): number[][] {
  const len = values[0]?.length ?? 0;
  const acc = new Array<number>(len).fill(0);
  return values.map((row, i) => {
    if (!hidden[i]) for (let j = 0; j < len; j++) acc[j] += row[j];
    return [...acc];
  });
}

/**
 * uPlot bands, in uPlot series indices (0 is the x axis): each visible series above the lowest one
 * is filled down to the next visible series below it; the lowest fills to the axis by itself.
 */
export function stackBands(count: number, hidden: readonly boolean[] = []): { series: [number, number] }[] {
  const bands: { series: [number, number] }[] = [];
  let below = -1;
  for (let i = 0; i < count; i++) {
    if (hidden[i]) continue;
    if (below >= 0) bands.push({ series: [i + 1, below + 1] });
    below = i;
  }
  return bands;
}

/** Sum of the visible series at each x. */
export function totalsAt(values: readonly number[][], hidden: readonly boolean[] = []): number[] {
  const len = values[0]?.length ?? 0;
  const out = new Array<number>(len).fill(0);
  values.forEach((row, i) => {
    if (!hidden[i]) for (let j = 0; j < len; j++) out[j] += row[j];
  });
  return out;
}

/** The label of a group whose key is null (calls without a model, agent, team…). */
export function groupLabel(key: string | null, groupBy: string): string {
  return key ?? `(no ${groupBy})`;
}

/** Spend per group from a costs report, in the report's order (highest spend first). */
export function costSeries(report: CostReport, groupBy: string): SeriesInput[] {
  return report.series.map((s) => ({ label: groupLabel(s.key, groupBy), points: s.points }));
}

/** Total tokens (input, which includes cached input, plus output) per group. */
export function tokenGroupSeries(report: CostReport, groupBy: string): SeriesInput[] {
  return report.series
    .map((s) => ({
      label: groupLabel(s.key, groupBy),
      points: (s.tokenPoints ?? []).map(([t, input, output]) => [t, input + output] as [number, number]),
    }))
    .sort((a, b) => sumOf(b) - sumOf(a));
}

export const TOKEN_TYPES = ["Input (uncached)", "Cache read", "Cache write", "Output"] as const;

/**
 * Tokens by type over all groups. Stored input tokens include cached ones (OTel's rule), so the
 * stack is uncached input + cache read + cache write + output and its top is input + output.
 * Cache series with no tokens at all are left out.
 */
export function tokenTypeSeries(report: CostReport): SeriesInput[] {
  const byType = TOKEN_TYPES.map(() => new Map<number, number>());
  for (const s of report.series) {
    for (const [t, input, output, cacheRead, cacheWrite] of s.tokenPoints ?? []) {
      const parts = [Math.max(0, input - cacheRead - cacheWrite), cacheRead, cacheWrite, output];
      parts.forEach((v, i) => {
        byType[i].set(t, (byType[i].get(t) ?? 0) + v);
      });
    }
  }
  const series = TOKEN_TYPES.map((label, i) => ({
    label,
    points: [...byType[i].entries()].sort((a, b) => a[0] - b[0]),
  }));
  return series.filter((s, i) => i === 0 || i === 3 || s.points.some(([, v]) => v > 0));
}

function sumOf(s: SeriesInput): number {
  return s.points.reduce((a, [, v]) => a + v, 0);
}

/** Default series colours (colour-blind-safe, Okabe–Ito based); dark mode gets lighter tones. */
export const PALETTE_LIGHT = ["#5b4bdb", "#e69f00", "#009e73", "#d55e00", "#0072b2", "#cc79a7", "#8a8a00", "#56b4e9"];
export const PALETTE_DARK = ["#8c7ff0", "#f0b43c", "#2fc99a", "#ff8a4c", "#4aa3e8", "#e59cc4", "#c9c94a", "#8fd0f5"];

/**
 * Colour slots by series key, first come first served: every chart on a page shares one, so a key
 * (an agent, a model) keeps its colour across charts and tables whatever order each sorts by.
 */
export class KeyColors {
  private readonly slots = new Map<string, number>();
  index(key: string): number {
    let i = this.slots.get(key);
    if (i === undefined) {
      i = this.slots.size;
      this.slots.set(key, i);
    }
    return i;
  }
}

/** The page's shared colour slots. */
export const pageColors = new KeyColors();

/** The colour of series `i`: an override when the page set one, else the palette, cycling. */
export function seriesColor(i: number, dark: boolean, override?: string): string {
  const o = override?.trim();
  if (o) return o;
  const p = dark ? PALETTE_DARK : PALETTE_LIGHT;
  return p[i % p.length];
}

/**
 * A colour with an alpha, from the forms a canvas or getComputedStyle normalises colours to
 * (`#rgb`, `#rrggbb`, `rgb(…)`, `rgba(…)`); other forms are returned unchanged (opaque).
 */
export function withAlpha(color: string, alpha: number): string {
  const c = color.trim();
  let m = /^#([0-9a-f]{3})$/i.exec(c);
  if (m) {
    const [r, g, b] = [...m[1]].map((h) => Number.parseInt(h + h, 16));
    return `rgba(${r}, ${g}, ${b}, ${alpha})`;
  }
  m = /^#([0-9a-f]{6})([0-9a-f]{2})?$/i.exec(c);
  if (m) {
    const n = Number.parseInt(m[1], 16);
    return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
  }
  m = /^rgba?\(\s*([\d.]+)[\s,]+([\d.]+)[\s,]+([\d.]+)/i.exec(c);
  if (m) return `rgba(${m[1]}, ${m[2]}, ${m[3]}, ${alpha})`;
  return c;
}

/** Whether a colour (`#rgb`, `#rrggbb`, `rgb()`/`rgba()`) is dark: luma below one half. */
export function isDarkColor(color: string): boolean {
  const m = /^rgba?\(\s*([\d.]+)[\s,]+([\d.]+)[\s,]+([\d.]+)/.exec(withAlpha(color, 1));
  if (!m) return false;
  const [r, g, b] = [m[1], m[2], m[3]].map(Number);
  return 0.2126 * r + 0.7152 * g + 0.0722 * b < 128;
}
