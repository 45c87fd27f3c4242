/**
 * Evaluates parsed PromQL over the per-minute counters. Every expression is evaluated at all
 * steps at once: a scalar is one value per step, a vector a set of series with one value (or none)
 * per step.
 *
 * Counter model: a series has a sample at the start of every minute; the sample's value is the sum
 * of the increments of all minutes ≤ it that were read. So `increase(x[r])` at t is exactly the sum
 * of the minutes m with t − r < m ≤ t, `rate` that divided by r, and `irate` the last minute's
 * increment per second. A series exists at t while it had calls within its window (r, or the
 * 5-minute lookback of an instant selector) plus STALE_AFTER, so quiet series read as 0 for a while
 * instead of vanishing, and whether a series exists at t never depends on the query's start.
 * A bare counter's value depends on where reading started (the first step − window − STALE_AFTER):
 * there is no absolute counter; rate/increase/irate are exact.
 */

import { windowStart } from "./budgets.ts";
import { formatValue } from "./format.ts";
import { PromLimits } from "./limits.ts";
import {
  compileRegex,
  isComparison,
  isSetOp,
  type Matcher,
  type Node,
  PromError,
  type SelectorNode,
} from "./promql.ts";
import type { RawSeries } from "./store.ts";

/** Lookback of an instant selector, as in Prometheus. */
export const LOOKBACK = 300;
/** How long a series stays present (as zero increase) after its last call. */
export const STALE_AFTER = 3600;

export type Labels = Record<string, string>;
export interface Series {
  labels: Labels;
  values: (number | null)[];
}
export type Value =
  | { type: "scalar"; values: number[] }
  | { type: "vector"; series: Series[] }
  | { type: "string"; value: string }
  | { type: "matrix"; series: { labels: Labels; points: [number, number][] }[] };

/** Reads the series of one selector in [from, to], within the query's limits; stops when `signal` fires. */
export type Fetch = (
  matchers: Matcher[],
  from: number,
  to: number,
  limits: PromLimits,
  signal: AbortSignal,
) => Promise<RawSeries[]>;

/** A series prepared for lookups: prefix sums over its minutes. */
class Counter {
  readonly prefix: number[];
  constructor(readonly raw: RawSeries) {
    let acc = 0;
    this.prefix = raw.increments.map((v) => {
      acc += v;
      return acc;
    });
  }
  /** Number of minutes ≤ t. */
  private count(t: number): number {
    const m = this.raw.minutes;
    let lo = 0;
    let hi = m.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (m[mid] <= t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
  /** An instant value: the counter, or for a budget the share of its window's limit spent by t. */
  value(t: number): number {
    const b = this.raw.budget;
    if (!b) return this.cum(t);
    return (this.cum(t) - this.cum(windowStart(b.window, t) - 1)) / b.limitUsd;
  }
  cum(t: number): number {
    const n = this.count(t);
    return n === 0 ? 0 : this.prefix[n - 1];
  }
  /** Whether the series had calls in (t − window − STALE_AFTER, t]. */
  exists(t: number, window: number): boolean {
    // A declared budget always has a value.
    if (this.raw.budget) return true;
    return this.count(t) > this.count(t - window - STALE_AFTER);
  }
}

function labelKey(l: Labels): string {
  return JSON.stringify(
    Object.keys(l)
      .sort()
      .map((k) => [k, l[k]]),
  );
}

/** Whether a series has a value at some step (one without is absent). */
function hasValue(values: readonly (number | null)[]): boolean {
  return values.some((v) => v !== null);
}

function dropName(l: Labels): Labels {
  const { __name__: _, ...rest } = l;
  return rest;
}

export interface EvalContext {
  steps: number[];
  fetch: Fetch;
  /** Series and samples the query may hold (see PromLimits); unbounded when absent. */
  limits?: { maxSeries: number; maxSamples: number };
}

/** The time window a selector reads for the given steps. */
function window(sel: SelectorNode, steps: number[]): [number, number] {
  const first = steps[0] - sel.offset;
  const last = steps[steps.length - 1] - sel.offset;
  // Minutes m with m > t − w are inside a window ending at t.
  const w = (sel.range ?? LOOKBACK) + STALE_AFTER;
  return [Math.floor((first - w) / 60) * 60 + 60, last];
}

export async function evaluate(node: Node, ctx: EvalContext): Promise<Value> {
  const limits = new PromLimits(
    ctx.limits?.maxSeries ?? Number.POSITIVE_INFINITY,
    ctx.limits?.maxSamples ?? Number.POSITIVE_INFINITY,
  );
  const data = new Map<SelectorNode, Counter[]>();
  const selectors: SelectorNode[] = [];
  collect(node, selectors);
  // The same selector over the same window (`x or x`, `a / ignoring(b) a`) is read once.
  const reads = new Map<string, { selectors: SelectorNode[]; from: number; to: number }>();
  for (const sel of selectors) {
    const [from, to] = window(sel, ctx.steps);
    const key = JSON.stringify([sel.matchers.map((m) => [m.name, m.op, m.value]), from, to]);
    const read = reads.get(key);
    if (read) read.selectors.push(sel);
    else reads.set(key, { selectors: [sel], from, to });
  }
  // One read over a limit ends the query: the others stop waiting.
  const stop = new AbortController();
  try {
    await Promise.all(
      [...reads.values()].map(async (read) => {
        const raw = await ctx.fetch(read.selectors[0].matchers, read.from, read.to, limits, stop.signal);
        const counters = raw.map((r) => new Counter(r));
        for (const sel of read.selectors) data.set(sel, counters);
      }),
    );
  } catch (err) {
    stop.abort();
    throw err;
  }
  return new Evaluator(ctx.steps, data, limits).eval(node);
}

function collect(n: Node, out: SelectorNode[]): void {
  switch (n.kind) {
    case "selector":
      out.push(n);
      return;
    case "call":
      for (const a of n.args) collect(a, out);
      return;
    case "agg":
      if (n.param) collect(n.param, out);
      collect(n.expr, out);
      return;
    case "binary":
      collect(n.lhs, out);
      collect(n.rhs, out);
      return;
    case "unary":
      collect(n.expr, out);
      return;
  }
}

const RANGE_FUNCS = new Set(["rate", "increase", "irate", "delta", "idelta"]);

/** Functions of the samples in a range window, as Prometheus defines them. */
const OVER_TIME: Record<string, (xs: number[], phi: number) => number> = {
  avg_over_time: (xs) => xs.reduce((a, b) => a + b, 0) / xs.length,
  min_over_time: (xs) => xs.reduce((a, b) => (b < a || Number.isNaN(a) ? b : a)),
  max_over_time: (xs) => xs.reduce((a, b) => (b > a || Number.isNaN(a) ? b : a)),
  sum_over_time: (xs) => xs.reduce((a, b) => a + b, 0),
  count_over_time: (xs) => xs.length,
  last_over_time: (xs) => xs[xs.length - 1],
  present_over_time: () => 1,
  stddev_over_time: (xs) => Math.sqrt(variance(xs)),
  stdvar_over_time: (xs) => variance(xs),
  quantile_over_time: (xs, phi) => quantile(phi, xs),
  changes: (xs) =>
    xs.reduce((n, x, i) => n + (i > 0 && x !== xs[i - 1] && !(Number.isNaN(x) && Number.isNaN(xs[i - 1])) ? 1 : 0), 0),
  resets: (xs) => xs.reduce((n, x, i) => n + (i > 0 && x < xs[i - 1] ? 1 : 0), 0),
};

/** Population variance, as stdvar and stddev compute it. */
function variance(xs: number[]): number {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  return xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length;
}

/** The labels `absent()` gives: those of the selector's equality matchers (a label matched twice is left out). */
function absentLabels(n: Node | undefined): Labels {
  if (n?.kind !== "selector") return {};
  const out: Labels = {};
  const seen = new Set<string>();
  for (const m of n.matchers) {
    if (m.name === "__name__") continue;
    if (m.op === "=" && !seen.has(m.name)) {
      seen.add(m.name);
      if (m.value !== "") out[m.name] = m.value;
    } else delete out[m.name];
  }
  return out;
}

/**
 * Go's Regexp.Expand, as label_replace uses it: `$1`, `${1}`, `$name`, `${name}`, `$$`. A name is
 * the longest run of letters, digits and underscores (so `$1x` is the group named "1x"); an unknown
 * group expands to nothing, a malformed reference leaves the `$` as is.
 */
export function expandTemplate(
  template: string,
  group: (i: number) => string | null,
  named: Record<string, number>,
  groups: number,
): string {
  let out = "";
  let i = 0;
  while (i < template.length) {
    const d = template.indexOf("$", i);
    if (d < 0) {
      out += template.slice(i);
      break;
    }
    out += template.slice(i, d);
    i = d + 1;
    if (template[i] === "$") {
      out += "$";
      i++;
      continue;
    }
    const braced = template[i] === "{";
    const m = /^[A-Za-z0-9_]+/.exec(template.slice(braced ? i + 1 : i));
    if (!m || (braced && template[i + 1 + m[0].length] !== "}")) {
      out += "$";
      continue;
    }
    i += m[0].length + (braced ? 2 : 0);
    const idx = /^\d+$/.test(m[0]) ? Number(m[0]) : named[m[0]];
    if (idx !== undefined && idx <= groups) out += group(idx) ?? "";
  }
  return out;
}

/** A float as Go's FormatFloat(f, 'f', -1, 64) writes it (count_values' label): never an exponent. */
export function plainFloat(v: number): string {
  const s = formatValue(v);
  const m = /^(-?)(\d+)(?:\.(\d+))?e([+-]\d+)$/.exec(s);
  if (!m) return s;
  const digits = m[2] + (m[3] ?? "");
  const point = m[2].length + Number(m[4]);
  if (point <= 0) return `${m[1]}0.${"0".repeat(-point)}${digits}`;
  if (point >= digits.length) return m[1] + digits + "0".repeat(point - digits.length);
  return `${m[1]}${digits.slice(0, point)}.${digits.slice(point)}`;
}
const MATH: Record<string, (v: number) => number> = {
  abs: Math.abs,
  ceil: Math.ceil,
  floor: Math.floor,
  sqrt: Math.sqrt,
  exp: Math.exp,
  ln: Math.log,
  log2: Math.log2,
  log10: Math.log10,
  sgn: Math.sign,
};

function arith(op: string, a: number, b: number): number {
  switch (op) {
    case "+":
      return a + b;
    case "-":
      return a - b;
    case "*":
      return a * b;
    case "/":
      return a / b;
    case "%":
      return a % b;
    case "^":
      return a ** b;
    case "atan2":
      return Math.atan2(a, b);
    case "==":
      return a === b ? 1 : 0;
    case "!=":
      return a !== b ? 1 : 0;
    case ">":
      return a > b ? 1 : 0;
    case "<":
      return a < b ? 1 : 0;
    case ">=":
      return a >= b ? 1 : 0;
    case "<=":
      return a <= b ? 1 : 0;
  }
  throw new PromError(`unsupported operator ${op}`);
}

class Evaluator {
  /** Match signatures by labels object, then by the matching clause (see `signature`). */
  private readonly signatures = new WeakMap<Labels, Map<string, string>>();
  constructor(
    private readonly steps: number[],
    private readonly data: Map<SelectorNode, Counter[]>,
    private readonly limits: PromLimits,
  ) {}

  private vector(n: Node, what: string): Series[] {
    const v = this.eval(n);
    if (v.type !== "vector") throw new PromError(`expected instant vector ${what}, got ${v.type}`);
    return v.series;
  }
  private scalar(n: Node, what: string): number[] {
    const v = this.eval(n);
    if (v.type !== "scalar") throw new PromError(`expected scalar ${what}, got ${v.type}`);
    return v.values;
  }

  /** Evaluates a node; every vector it yields is held to the query's series and points limits. */
  eval(n: Node): Value {
    const v = this.evalNode(n);
    if (v.type === "vector") this.limits.points(v.series.length, this.steps.length);
    return v;
  }

  private evalNode(n: Node): Value {
    switch (n.kind) {
      case "number":
        return { type: "scalar", values: this.steps.map(() => n.value) };
      case "string":
        return { type: "string", value: n.value };
      case "selector":
        return n.range === undefined ? this.instant(n) : this.matrix(n);
      case "unary": {
        const v = this.eval(n.expr);
        if (n.op === "+") return v;
        if (v.type === "scalar") return { type: "scalar", values: v.values.map((x) => -x) };
        if (v.type === "vector") {
          return {
            type: "vector",
            series: v.series.map((s) => ({
              labels: dropName(s.labels),
              values: s.values.map((x) => (x === null ? null : -x)),
            })),
          };
        }
        throw new PromError(`unary minus is not defined on ${v.type}`);
      }
      case "call":
        return this.call(n.func, n.args);
      case "agg":
        return this.aggregate(n);
      case "binary":
        return this.binary(n);
    }
  }

  private instant(sel: SelectorNode): Value {
    const counters = this.data.get(sel) ?? [];
    this.limits.points(counters.length, this.steps.length);
    return {
      type: "vector",
      series: counters.map((c) => ({
        labels: c.raw.labels,
        values: this.steps.map((t) => (c.exists(t - sel.offset, LOOKBACK) ? c.value(t - sel.offset) : null)),
      })),
    };
  }

  /** The per-minute samples of a series in the window (t − r, t], t already shifted by the offset. */
  private samples(c: Counter, t: number, r: number): [number, number][] {
    const points: [number, number][] = [];
    for (let m = Math.floor(t / 60) * 60; m > t - r; m -= 60) {
      if (c.exists(m, r)) points.unshift([m, c.value(m)]);
    }
    return points;
  }

  /** A range selector as a query result (instant queries only): the per-minute samples. */
  private matrix(sel: SelectorNode): Value {
    if (this.steps.length !== 1)
      throw new PromError("a range vector cannot be the result of a range query; use rate() or increase()");
    const t = this.steps[0] - sel.offset;
    const r = sel.range as number;
    const counters = this.data.get(sel) ?? [];
    this.limits.points(counters.length, Math.ceil(r / 60));
    const series = [];
    for (const c of counters) {
      const points = this.samples(c, t, r).map(([m, v]): [number, number] => [m + sel.offset, v]);
      if (points.length > 0) series.push({ labels: c.raw.labels, points });
    }
    return { type: "matrix", series };
  }

  /**
   * `*_over_time`, `changes`, `resets` and `absent_over_time`: a function of each series' samples in
   * the window ending at each step. Every step reads up to r/60 samples, counted as points.
   */
  private overTime(func: string, args: Node[]): Value {
    const sel = args[args.length - 1] as SelectorNode;
    const phi = func === "quantile_over_time" ? this.scalar(args[0], "in quantile_over_time()") : undefined;
    const r = sel.range as number;
    const counters = this.data.get(sel) ?? [];
    this.limits.points(counters.length, this.steps.length * Math.ceil(r / 60));
    const window = (c: Counter, i: number) => this.samples(c, this.steps[i] - sel.offset, r);
    if (func === "absent_over_time") {
      const values = this.steps.map((_, i) => (counters.some((c) => window(c, i).length > 0) ? null : 1));
      return { type: "vector", series: hasValue(values) ? [{ labels: absentLabels(sel), values }] : [] };
    }
    const f = OVER_TIME[func];
    return {
      type: "vector",
      series: counters.map((c) => ({
        // As in Prometheus, only last_over_time keeps the metric name.
        labels: func === "last_over_time" ? c.raw.labels : dropName(c.raw.labels),
        values: this.steps.map((_, i) => {
          const w = window(c, i);
          return w.length === 0
            ? null
            : f(
                w.map(([, v]) => v),
                phi?.[i] ?? Number.NaN,
              );
        }),
      })),
    };
  }

  /** Series relabelled per `relabel`; two series ending with the same labels at one step is an error, as in Prometheus. */
  private relabel(series: Series[], relabel: (l: Labels) => Labels): Value {
    const out = new Map<string, Series>();
    for (const s of series) {
      const labels = relabel(s.labels);
      const key = labelKey(labels);
      const prev = out.get(key);
      if (!prev) {
        out.set(key, { labels, values: [...s.values] });
        continue;
      }
      s.values.forEach((v, i) => {
        if (v === null) return;
        if (prev.values[i] !== null) {
          throw new PromError("vector cannot contain metrics with the same labelset", "execution");
        }
        prev.values[i] = v;
      });
    }
    return { type: "vector", series: [...out.values()] };
  }

  private rangeFunc(func: string, args: Node[]): Value {
    const sel = args[0];
    if (args.length !== 1 || sel?.kind !== "selector" || sel.range === undefined) {
      throw new PromError(`${func}() expects one range vector argument, e.g. ${func}(x[5m])`);
    }
    const r = sel.range;
    const counters = this.data.get(sel) ?? [];
    this.limits.points(counters.length, this.steps.length);
    const series = counters.map((c) => ({
      labels: dropName(c.raw.labels),
      values: this.steps.map((step): number | null => {
        const t = step - sel.offset;
        // Rates of the budget gauge are not defined.
        if (c.raw.budget || !c.exists(t, r)) return null;
        if (func === "irate" || func === "idelta") {
          // The last per-minute sample and the one before it (implicitly present a minute earlier).
          const last = Math.floor(t / 60) * 60;
          if (last <= t - r) return null;
          const d = c.cum(last) - c.cum(last - 60);
          return func === "irate" ? d / 60 : d;
        }
        const inc = c.cum(t) - c.cum(t - r);
        return func === "rate" ? inc / r : inc;
      }),
    }));
    return { type: "vector", series };
  }

  private call(func: string, args: Node[]): Value {
    if (RANGE_FUNCS.has(func)) return this.rangeFunc(func, args);
    if (func in OVER_TIME || func === "absent_over_time") return this.overTime(func, args);
    const arity = (n: number, m = n) => {
      if (args.length < n || args.length > m) throw new PromError(`wrong number of arguments for ${func}()`);
    };
    const mapVec = (series: Series[], f: (v: number, i: number) => number): Value => ({
      type: "vector",
      series: series.map((s) => ({
        labels: dropName(s.labels),
        values: s.values.map((v, i) => (v === null ? null : f(v, i))),
      })),
    });
    switch (func) {
      case "vector": {
        arity(1);
        return { type: "vector", series: [{ labels: {}, values: [...this.scalar(args[0], "in vector()")] }] };
      }
      case "scalar": {
        arity(1);
        const series = this.vector(args[0], "in scalar()");
        return {
          type: "scalar",
          values: this.steps.map((_, i) => {
            const present = series.filter((s) => s.values[i] !== null);
            return present.length === 1 ? (present[0].values[i] as number) : Number.NaN;
          }),
        };
      }
      case "time":
        arity(0);
        return { type: "scalar", values: [...this.steps] };
      case "clamp_min":
      case "clamp_max": {
        arity(2);
        const series = this.vector(args[0], `in ${func}()`);
        const bound = this.scalar(args[1], `in ${func}()`);
        return mapVec(series, (v, i) => (func === "clamp_min" ? Math.max(v, bound[i]) : Math.min(v, bound[i])));
      }
      case "clamp": {
        arity(3);
        const series = this.vector(args[0], "in clamp()");
        const lo = this.scalar(args[1], "in clamp()");
        const hi = this.scalar(args[2], "in clamp()");
        return mapVec(series, (v, i) => Math.max(lo[i], Math.min(hi[i], v)));
      }
      case "round": {
        arity(1, 2);
        const series = this.vector(args[0], "in round()");
        const to = args[1] ? this.scalar(args[1], "in round()") : this.steps.map(() => 1);
        return mapVec(series, (v, i) => Math.floor(v / to[i] + 0.5) * to[i]);
      }
      case "sort":
      case "sort_desc": {
        arity(1);
        // Order matters only for an instant query's vector; a range query's series are sorted by labels.
        const series = [...this.vector(args[0], `in ${func}()`)];
        const sign = func === "sort" ? 1 : -1;
        // NaN (and no value) last either way, as in Prometheus.
        series.sort((a, b) => {
          const x = a.values[0] ?? Number.NaN;
          const y = b.values[0] ?? Number.NaN;
          if (Number.isNaN(x) || Number.isNaN(y)) return Number(Number.isNaN(x)) - Number(Number.isNaN(y));
          return sign * (x - y);
        });
        return { type: "vector", series };
      }
      case "timestamp": {
        arity(1);
        const arg = args[0];
        const series = this.vector(arg, "in timestamp()");
        // A selector's samples are at minute starts; any other expression's values are at the step.
        const at = (i: number) =>
          arg.kind === "selector" ? Math.floor((this.steps[i] - arg.offset) / 60) * 60 : this.steps[i];
        return mapVec(series, (_, i) => at(i));
      }
      case "absent": {
        arity(1);
        const series = this.vector(args[0], "in absent()");
        const values = this.steps.map((_, i) => (series.some((s) => s.values[i] !== null) ? null : 1));
        return {
          type: "vector",
          series: hasValue(values) ? [{ labels: absentLabels(args[0]), values }] : [],
        };
      }
      case "label_replace": {
        arity(5);
        const [dst, replacement, src, regex] = args.slice(1).map((a) => (a as { value: string }).value);
        const re = compileRegex(regex, "label_replace()");
        const named = re.namedGroups() as Record<string, number>;
        const groups = re.groupCount();
        return this.relabel(this.vector(args[0], "in label_replace()"), (l) => {
          const m = re.matcher(l[src] ?? "");
          if (!m.matches()) return l;
          const value = expandTemplate(replacement, (i) => m.group(i), named, groups);
          const { [dst]: _, ...rest } = l;
          return value === "" ? rest : { ...rest, [dst]: value };
        });
      }
      case "label_join": {
        const [dst, sep, ...srcs] = args.slice(1).map((a) => (a as { value: string }).value);
        return this.relabel(this.vector(args[0], "in label_join()"), (l) => {
          const value = srcs.map((k) => l[k] ?? "").join(sep);
          const { [dst]: _, ...rest } = l;
          return value === "" ? rest : { ...rest, [dst]: value };
        });
      }
      case "histogram_quantile": {
        arity(2);
        const phi = this.scalar(args[0], "as the quantile of histogram_quantile()");
        return { type: "vector", series: histogramQuantile(phi, this.vector(args[1], "in histogram_quantile()")) };
      }
    }
    const f = MATH[func];
    if (f) {
      arity(1);
      return mapVec(this.vector(args[0], `in ${func}()`), (v) => f(v));
    }
    throw new PromError(`unknown function ${func}()`);
  }

  private aggregate(n: Extract<Node, { kind: "agg" }>): Value {
    const input = this.vector(n.expr, `in ${n.op}()`);
    const param =
      n.param && n.op !== "count_values" ? this.scalar(n.param, `as the parameter of ${n.op}()`) : undefined;
    const groupLabels = (l: Labels): Labels => {
      const out: Labels = {};
      if (n.without) {
        for (const [k, v] of Object.entries(l)) if (k !== "__name__" && !n.grouping.includes(k)) out[k] = v;
      } else {
        for (const k of n.grouping) if (l[k] !== undefined && l[k] !== "") out[k] = l[k];
      }
      return out;
    };
    const groups = new Map<string, { labels: Labels; members: Series[] }>();
    for (const s of input) {
      const labels = groupLabels(s.labels);
      const key = labelKey(labels);
      let g = groups.get(key);
      if (!g) {
        g = { labels, members: [] };
        groups.set(key, g);
      }
      g.members.push(s);
    }

    if (n.op === "count_values") {
      // One series per group and value, counting the members with that value at each step.
      const label = (n.param as { value: string }).value;
      const out = new Map<string, Series>();
      for (const g of groups.values()) {
        for (const s of g.members) {
          s.values.forEach((v, i) => {
            if (v === null) return;
            const labels = { ...g.labels, [label]: plainFloat(v) };
            const key = labelKey(labels);
            let o = out.get(key);
            if (!o) {
              o = { labels, values: this.steps.map(() => null) };
              out.set(key, o);
            }
            o.values[i] = (o.values[i] ?? 0) + 1;
          });
        }
      }
      return { type: "vector", series: [...out.values()] };
    }

    if (n.op === "topk" || n.op === "bottomk") {
      const kept = new Map<Series, (number | null)[]>();
      for (const g of groups.values()) {
        this.steps.forEach((_, i) => {
          const k = Math.floor((param as number[])[i]);
          const present = g.members.filter((s) => s.values[i] !== null && !Number.isNaN(s.values[i]));
          present.sort((a, b) => {
            const d = (a.values[i] as number) - (b.values[i] as number);
            return n.op === "topk" ? -d : d;
          });
          for (const s of present.slice(0, Math.max(0, k))) {
            let vals = kept.get(s);
            if (!vals) {
              vals = this.steps.map(() => null);
              kept.set(s, vals);
            }
            vals[i] = s.values[i];
          }
        });
      }
      const series = [...kept.entries()].map(([s, values]) => ({ labels: s.labels, values }));
      if (this.steps.length === 1) {
        series.sort((a, b) => ((b.values[0] as number) - (a.values[0] as number)) * (n.op === "topk" ? 1 : -1));
      }
      return { type: "vector", series };
    }

    const series: Series[] = [];
    for (const g of groups.values()) {
      const values = this.steps.map((_, i): number | null => {
        const xs = g.members.map((s) => s.values[i]).filter((v): v is number => v !== null);
        if (xs.length === 0) return null;
        switch (n.op) {
          case "sum":
            return xs.reduce((a, b) => a + b, 0);
          case "avg":
            return xs.reduce((a, b) => a + b, 0) / xs.length;
          case "min":
            return Math.min(...xs);
          case "max":
            return Math.max(...xs);
          case "count":
            return xs.length;
          case "group":
            return 1;
          case "stddev":
          case "stdvar": {
            const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
            const v = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length;
            return n.op === "stddev" ? Math.sqrt(v) : v;
          }
          case "quantile":
            return quantile((param as number[])[i], xs);
        }
        throw new PromError(`unsupported aggregation ${n.op}`);
      });
      series.push({ labels: g.labels, values });
    }
    return { type: "vector", series };
  }

  private binary(n: Extract<Node, { kind: "binary" }>): Value {
    const l = this.eval(n.lhs);
    const r = this.eval(n.rhs);
    const cmp = isComparison(n.op);
    if (isSetOp(n.op)) {
      if (l.type !== "vector" || r.type !== "vector")
        throw new PromError(`set operator ${n.op} needs instant vectors on both sides`);
      return this.setOp(n.op, l.series, r.series, n.matching);
    }
    if (l.type === "scalar" && r.type === "scalar") {
      if (cmp && !n.bool) throw new PromError("comparisons between scalars must use the bool modifier");
      return { type: "scalar", values: l.values.map((a, i) => arith(n.op, a, r.values[i])) };
    }
    if (l.type === "vector" && r.type === "scalar") return this.vecScalar(n, l.series, r.values, false);
    if (l.type === "scalar" && r.type === "vector") return this.vecScalar(n, r.series, l.values, true);
    if (l.type === "vector" && r.type === "vector") return this.vecVec(n, l.series, r.series);
    throw new PromError(`operator ${n.op} is not defined between ${l.type} and ${r.type}`);
  }

  private vecScalar(n: Extract<Node, { kind: "binary" }>, series: Series[], s: number[], scalarLeft: boolean): Value {
    const cmp = isComparison(n.op);
    return {
      type: "vector",
      series: series.map((x) => ({
        labels: cmp && !n.bool ? x.labels : dropName(x.labels),
        values: x.values.map((v, i) => {
          if (v === null) return null;
          const res = scalarLeft ? arith(n.op, s[i], v) : arith(n.op, v, s[i]);
          if (cmp && !n.bool) return res === 1 ? v : null;
          return res;
        }),
      })),
    };
  }

  /**
   * The labels a binary operation matches on, as a key. Cached per labels object: a chain of set
   * operations (`a or b or c …`) passes the same label objects through every step.
   */
  private signature(l: Labels, matching?: { on: boolean; labels: string[] }): string {
    const mkey = matching === undefined ? "" : `${matching.on ? "on" : "ignoring"}(${matching.labels.join(",")})`;
    let cached = this.signatures.get(l);
    if (cached === undefined) {
      cached = new Map();
      this.signatures.set(l, cached);
    }
    const hit = cached.get(mkey);
    if (hit !== undefined) return hit;
    const out: Labels = {};
    for (const [k, v] of Object.entries(l)) {
      if (k === "__name__") continue;
      if (matching?.on ? matching.labels.includes(k) : !matching?.labels.includes(k)) out[k] = v;
    }
    const sig = labelKey(out);
    cached.set(mkey, sig);
    return sig;
  }

  private vecVec(n: Extract<Node, { kind: "binary" }>, lhs: Series[], rhs: Series[]): Value {
    const cmp = isComparison(n.op);
    const right = new Map<string, Series[]>();
    for (const s of rhs) {
      const sig = this.signature(s.labels, n.matching);
      const group = right.get(sig);
      if (group) group.push(s);
      else right.set(sig, [s]);
    }
    const out = new Map<string, Series>();
    for (const a of lhs) {
      const partners = right.get(this.signature(a.labels, n.matching));
      if (!partners) continue;
      let labels: Labels = cmp && !n.bool ? { ...a.labels } : dropName(a.labels);
      if (n.matching) {
        const m = n.matching;
        labels = Object.fromEntries(
          Object.entries(labels).filter(([k]) =>
            m.on ? m.labels.includes(k) || (k === "__name__" && cmp && !n.bool) : !m.labels.includes(k),
          ),
        );
      }
      const key = labelKey(labels);
      let res = out.get(key);
      if (!res) {
        res = { labels, values: this.steps.map(() => null) };
        out.set(key, res);
      }
      for (let i = 0; i < this.steps.length; i++) {
        const av = a.values[i];
        if (av === null) continue;
        const b = partners.find((p) => p.values[i] !== null);
        if (!b) continue;
        const v = arith(n.op, av, b.values[i] as number);
        if (cmp && !n.bool) {
          if (v === 1) res.values[i] = av;
        } else res.values[i] = v;
      }
    }
    return { type: "vector", series: [...out.values()] };
  }

  private setOp(op: string, lhs: Series[], rhs: Series[], matching?: { on: boolean; labels: string[] }): Value {
    const rightSigs = rhs.map((s) => this.signature(s.labels, matching));
    const leftSigs = lhs.map((s) => this.signature(s.labels, matching));
    const presentAt = (sigs: string[], series: Series[], i: number) => {
      const set = new Set<string>();
      series.forEach((s, j) => {
        if (s.values[i] !== null) set.add(sigs[j]);
      });
      return set;
    };
    // `or` asks what the left side has at a step, `and`/`unless` what the right side has.
    const rightAt = op === "or" ? [] : this.steps.map((_, i) => presentAt(rightSigs, rhs, i));
    const leftAt = op === "or" ? this.steps.map((_, i) => presentAt(leftSigs, lhs, i)) : [];
    const keepLeft = (s: Series, j: number): Series => ({
      labels: s.labels,
      values: s.values.map((v, i) => {
        if (v === null) return null;
        const inRight = rightAt[i].has(leftSigs[j]);
        return op === "and" ? (inRight ? v : null) : inRight ? null : v;
      }),
    });
    // `or` keeps the left side as it is; a series left with no value at any step is absent, so it
    // is not carried into the next operation (`x or x or …` would otherwise grow by |x| each time).
    const series = op === "or" ? [...lhs] : lhs.map(keepLeft).filter((x) => hasValue(x.values));
    if (op === "or") {
      rhs.forEach((s, j) => {
        const kept: Series = {
          labels: s.labels,
          values: s.values.map((v, i) => (v !== null && !leftAt[i].has(rightSigs[j]) ? v : null)),
        };
        if (hasValue(kept.values)) series.push(kept);
      });
    }
    return { type: "vector", series };
  }
}

function quantile(q: number, xs: number[]): number {
  if (Number.isNaN(q)) return Number.NaN;
  if (q < 0) return Number.NEGATIVE_INFINITY;
  if (q > 1) return Number.POSITIVE_INFINITY;
  const sorted = [...xs].sort((a, b) => a - b);
  const rank = q * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.min(lo + 1, sorted.length - 1);
  const w = rank - lo;
  return sorted[lo] * (1 - w) + sorted[hi] * w;
}

/**
 * `histogram_quantile(φ, buckets)` as Prometheus computes it: series are grouped by all labels but
 * `le` (and the metric name); per group and step, the quantile is interpolated linearly within the
 * bucket where the rank φ × count falls. A rank in the +Inf bucket gives the highest finite bound;
 * no +Inf bucket, fewer than two buckets or no observations give NaN; φ < 0 gives −Inf, φ > 1 +Inf.
 * Series whose `le` is missing or not a number are ignored.
 */
export function histogramQuantile(phi: number[], input: Series[]): Series[] {
  const groups = new Map<string, { labels: Labels; members: { le: number; s: Series }[] }>();
  for (const s of input) {
    const text = s.labels.le;
    const le = text === undefined ? Number.NaN : parseBound(text);
    if (Number.isNaN(le)) continue;
    const { le: _, __name__: __, ...labels } = s.labels;
    const key = labelKey(labels);
    let g = groups.get(key);
    if (!g) {
      g = { labels, members: [] };
      groups.set(key, g);
    }
    g.members.push({ le, s });
  }
  return [...groups.values()].map((g) => ({
    labels: g.labels,
    values: phi.map((q, i) => {
      const buckets = g.members
        .filter((m) => m.s.values[i] !== null)
        .map((m) => ({ upper: m.le, count: m.s.values[i] as number }));
      return buckets.length === 0 ? null : bucketQuantile(q, buckets);
    }),
  }));
}

/** An `le` value: a float, or ±Inf in Prometheus's spellings. */
function parseBound(text: string): number {
  const t = text.trim().toLowerCase();
  if (t === "+inf" || t === "inf") return Number.POSITIVE_INFINITY;
  if (t === "-inf") return Number.NEGATIVE_INFINITY;
  return t === "" ? Number.NaN : Number(t);
}

/** Prometheus's bucketQuantile over cumulative bucket counts. */
export function bucketQuantile(q: number, input: { upper: number; count: number }[]): number {
  if (Number.isNaN(q)) return Number.NaN;
  if (q < 0) return Number.NEGATIVE_INFINITY;
  if (q > 1) return Number.POSITIVE_INFINITY;
  const sorted = [...input].sort((a, b) => a.upper - b.upper);
  if (sorted.length === 0 || sorted[sorted.length - 1].upper !== Number.POSITIVE_INFINITY) return Number.NaN;
  // Buckets with the same bound (e.g. "1" and "1.0" after a relabel) are one bucket.
  const buckets: { upper: number; count: number }[] = [];
  for (const b of sorted) {
    const last = buckets[buckets.length - 1];
    if (last && last.upper === b.upper) last.count += b.count;
    else buckets.push({ ...b });
  }
  // Cumulative counts must not decrease; rates over counters that reset can make them, as in Prometheus.
  for (let i = 1; i < buckets.length; i++) buckets[i].count = Math.max(buckets[i].count, buckets[i - 1].count);
  if (buckets.length < 2) return Number.NaN;
  const observations = buckets[buckets.length - 1].count;
  if (!(observations > 0)) return Number.NaN;
  let rank = q * observations;
  // The first finite bucket holding the rank; length − 1 when only +Inf does.
  let b = 0;
  while (b < buckets.length - 1 && buckets[b].count < rank) b++;
  if (b === buckets.length - 1) return buckets[buckets.length - 2].upper;
  if (b === 0 && buckets[0].upper <= 0) return buckets[0].upper;
  let start = 0;
  let count = buckets[b].count;
  if (b > 0) {
    start = buckets[b - 1].upper;
    count -= buckets[b - 1].count;
    rank -= buckets[b - 1].count;
  }
  return start + (buckets[b].upper - start) * (rank / count);
}
