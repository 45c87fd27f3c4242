import { type Context, Hono } from "hono";
import { ReadAbortedError, ReadBusyError, ReadLimitError } from "../api/errors.ts";
import { limitsOf } from "../api/reads.ts";
import type { ApiDeps } from "../api/routes.ts";
import { scopeOf } from "../api/scope.ts";
import { Turns } from "../api/turn.ts";
import { BUDGET_HELP, BUDGET_METRIC, budgetLines, fetchBudgets } from "./budgets.ts";
import { evaluate, type Fetch, type Value } from "./engine.ts";
import { formatValue } from "./format.ts";
import {
  allLabelValues,
  fetchAllSeries,
  otlpLabelNames,
  otlpMetadata,
  readAllSeries,
  SOURCE_LABEL,
  SOURCE_OTLP,
  SOURCE_SPANS,
} from "./otlp-metrics.ts";
import { type Matcher, type Node, PromError, parseDuration, parsePromQL, parseSelector, typeOf } from "./promql.ts";
import { ALL_LABEL_NAMES, METRICS, type RawSeries, TOKEN_TYPE_LABEL, TOKEN_TYPES } from "./store.ts";

/** Most points one range query may return per series, as in Prometheus. */
export const MAX_POINTS = 11_000;

/** What `/status/buildinfo` reports: a Prometheus version, no Mimir features. */
export const BUILD_INFO = {
  version: "2.53.0",
  revision: "cognive",
  branch: "cognive",
  buildUser: "cognive",
  buildDate: "20240101-00:00:00",
  goVersion: "go1.22.0",
};

type Params = { get(name: string): string | undefined; all(name: string): string[] };

/** The request's parameters: the URL query and, for POST, the form body (both, like Prometheus). */
async function paramsOf(c: Context): Promise<Params> {
  const url = new URL(c.req.url);
  const form = new URLSearchParams(url.search);
  if (c.req.method === "POST") {
    const type = c.req.header("content-type") ?? "";
    if (type === "" || type.includes("application/x-www-form-urlencoded")) {
      const body = new URLSearchParams(await c.req.text());
      for (const [k, v] of body) form.append(k, v);
    } else if (type.includes("multipart/form-data")) {
      const body = await c.req.formData();
      for (const [k, v] of body) if (typeof v === "string") form.append(k, v);
    }
  }
  return {
    get: (name) => form.get(name) ?? undefined,
    all: (name) => form.getAll(name),
  };
}

/** Times from year 1 to 9999, in Unix seconds. */
const MIN_TIME = -62_135_596_800;
const MAX_TIME = 253_402_300_799;

/** Unix seconds (decimal) or RFC 3339 to seconds. */
function parseTime(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined || text === "") return fallback;
  let t: number | undefined;
  if (/^[+-]?\d+(\.\d+)?$/.test(text)) t = Number(text);
  else if (/^\d{4}-\d{2}-\d{2}T/.test(text)) {
    const ms = Date.parse(text);
    if (!Number.isNaN(ms)) t = ms / 1000;
  }
  if (t === undefined)
    throw new PromError(`invalid parameter "${name}": cannot parse ${JSON.stringify(text)} to a valid timestamp`);
  if (!(t >= MIN_TIME && t <= MAX_TIME))
    throw new PromError(`invalid parameter "${name}": timestamp ${text} is out of range (years 1 to 9999)`);
  return t;
}

function parseStep(text: string | undefined): number {
  if (text === undefined || text === "") throw new PromError('invalid parameter "step": missing');
  const n = /^\d+(\.\d+)?$/.test(text) ? Number(text) : parseDuration(text);
  if (n === undefined || !Number.isFinite(n))
    throw new PromError(`invalid parameter "step": cannot parse ${JSON.stringify(text)} to a valid duration`);
  if (!(n > 0))
    throw new PromError("zero or negative query resolution step widths are not accepted. Try a positive integer");
  return n;
}

function parseQueryParam(p: Params): Node {
  const q = p.get("query");
  if (q === undefined) throw new PromError('invalid parameter "query": missing');
  return parsePromQL(q);
}

const ts = (t: number) => Math.round(t * 1000) / 1000;

/** Sorts items by their label sets, each label set turned into a sort key once. */
function sortByLabels<T>(items: T[], labelsOf: (item: T) => Record<string, string>): T[] {
  const keyed = items.map((item) => ({ item, key: JSON.stringify(Object.entries(labelsOf(item)).sort()) }));
  keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return keyed.map((k) => k.item);
}

/** Points formatted between two turns of the event loop. */
const POINTS_PER_TURN = 20_000;

async function instantResult(v: Value, t: number) {
  switch (v.type) {
    case "scalar":
      return { resultType: "scalar", result: [ts(t), formatValue(v.values[0])] };
    case "string":
      return { resultType: "string", result: [ts(t), v.value] };
    case "matrix": {
      const turns = new Turns(POINTS_PER_TURN);
      const result = [];
      for (const s of sortByLabels(v.series, (x) => x.labels)) {
        result.push({ metric: s.labels, values: s.points.map(([pt, pv]) => [ts(pt), formatValue(pv)]) });
        await turns.add(s.points.length);
      }
      return { resultType: "matrix", result };
    }
    case "vector": {
      const present = v.series.filter((s) => s.values[0] !== null);
      return {
        resultType: "vector",
        result: present.map((s) => ({ metric: s.labels, value: [ts(t), formatValue(s.values[0] as number)] })),
      };
    }
  }
}

async function rangeResult(v: Value, steps: number[]) {
  if (v.type === "string") throw new PromError("range queries cannot return a string");
  if (v.type === "matrix") throw new PromError("a range vector cannot be the result of a range query");
  if (v.type === "scalar") {
    return {
      resultType: "matrix",
      result: [{ metric: {}, values: steps.map((t, i) => [ts(t), formatValue(v.values[i])]) }],
    };
  }
  const turns = new Turns(POINTS_PER_TURN);
  const result = [];
  for (const s of v.series) {
    const values = steps.flatMap((t, i) => (s.values[i] === null ? [] : [[ts(t), formatValue(s.values[i] as number)]]));
    if (values.length > 0) result.push({ metric: s.labels, values });
    await turns.add(steps.length);
  }
  return { resultType: "matrix", result: sortByLabels(result, (x) => x.metric) };
}

function limitOf(p: Params): number {
  const text = p.get("limit");
  if (text === undefined || text === "") return 0;
  if (!/^\d+$/.test(text)) throw new PromError(`invalid parameter "limit": ${JSON.stringify(text)}`);
  return Number(text);
}

/** Grafana's Prometheus data source: the parts of the HTTP API it calls. */
export function prometheusRoutes({ storage, log, governance }: ApiDeps): Hono {
  const app = new Hono();
  const policy = governance?.policy;

  const limits = () => limitsOf(storage);

  /** The rollup's counters and the budget gauge a selector matches, read within the query's limits. */
  const fetchAll =
    (c: Context): Fetch =>
    async (m, from, to, queryLimits, signal) => {
      const [counters, budgets] = await Promise.all([
        fetchAllSeries(storage, scopeOf(c), m, { from, to }, { limits: queryLimits, signal }),
        fetchBudgets(storage, scopeOf(c), policy, m, from, to),
      ]);
      return [...counters, ...budgets];
    };

  // Grafana shows only 400, 422 and 503 error bodies; anything unexpected is logged and answered 503.
  const fail = (c: Context, err: unknown) => {
    if (err instanceof PromError) {
      return c.json(
        { status: "error", errorType: err.errorType, error: err.message },
        err.errorType === "execution" ? 422 : 400,
      );
    }
    // A limit stops the query as an execution error, as Prometheus answers one (422).
    if (err instanceof ReadLimitError) {
      return c.json({ status: "error", errorType: "execution", error: err.message }, 422);
    }
    if (err instanceof ReadBusyError) {
      c.header("Retry-After", String(err.retryAfterSeconds));
      return c.json({ status: "error", errorType: "unavailable", error: err.message }, 503);
    }
    if (err instanceof ReadAbortedError) {
      return c.json({ status: "error", errorType: "canceled", error: err.message }, 503);
    }
    log.error("prometheus API: request failed", { err, method: c.req.method, path: c.req.path });
    return c.json(
      { status: "error", errorType: "unavailable", error: "query failed; see the query process's log" },
      503,
    );
  };
  const ok = (c: Context, data: unknown, warnings: string[] = []) =>
    c.json(warnings.length > 0 ? { status: "success", data, warnings } : { status: "success", data });

  /** The `match[]` selectors; Grafana sends them as the user types: an unparsable one is skipped, not an error. */
  const selectorsOf = (p: Params): { given: number; selectors: Matcher[][] } => {
    const given = p.all("match[]");
    const selectors = given.flatMap((s) => {
      try {
        return [parseSelector(s).matchers];
      } catch {
        return [];
      }
    });
    return { given: given.length, selectors };
  };

  /** The `start`/`end` window of a metadata request (all time without them), on minute bounds. */
  const windowOf = (p: Params): { from?: number; to?: number } => {
    const start = p.get("start") ? parseTime("start", p.get("start"), 0) : undefined;
    const end = p.get("end") ? parseTime("end", p.get("end"), 0) : undefined;
    if (start !== undefined && end !== undefined && end < start)
      throw new PromError('invalid parameter "end": end timestamp must not be before start time');
    return { from: start === undefined ? undefined : Math.floor(start / 60) * 60, to: end };
  };

  /** How many results a metadata request may return: its `limit`, never more than COGNIVE_QUERY_MAX_VALUES. */
  const capOf = (p: Params): number => {
    const limit = limitOf(p);
    const max = limits().maxValues;
    return limit > 0 ? Math.min(limit, max) : max;
  };

  const truncation = (cap: number) =>
    `results truncated to ${cap} (the request's limit, at most COGNIVE_QUERY_MAX_VALUES); narrow them with match[], start and end`;

  /** Series matching any of the `match[]` selectors in the window, or all of them; at most `cap`. */
  const seriesFor = async (
    c: Context,
    p: Params,
    cap: number,
  ): Promise<{ series: RawSeries[]; truncated: boolean }> => {
    const { given, selectors } = selectorsOf(p);
    if (given > 0 && selectors.length === 0) return { series: [], truncated: false };
    const range = windowOf(p);
    const lists = await Promise.all(
      (selectors.length > 0 ? selectors : [[] as Matcher[]]).map((m) =>
        readAllSeries(storage, scopeOf(c), m, range, false, { cap }),
      ),
    );
    const budgets = (selectors.length > 0 ? selectors : [[] as Matcher[]]).flatMap((m) =>
      budgetLines(policy, scopeOf(c), m).map((l) => ({ labels: l.labels, minutes: [], increments: [] })),
    );
    const seen = new Map<string, RawSeries>();
    for (const s of [...lists.flatMap((l) => l.series), ...budgets]) {
      seen.set(JSON.stringify(Object.entries(s.labels).sort()), s);
    }
    const series = [...seen.values()];
    return { series, truncated: lists.some((l) => l.truncated) || series.length > cap };
  };

  const query = async (c: Context) => {
    try {
      const p = await paramsOf(c);
      const node = parseQueryParam(p);
      const t = parseTime("time", p.get("time"), Date.now() / 1000);
      const v = await evaluate(node, { steps: [t], fetch: fetchAll(c), limits: limits() });
      return ok(c, await instantResult(v, t));
    } catch (err) {
      return fail(c, err);
    }
  };

  const queryRange = async (c: Context) => {
    try {
      const p = await paramsOf(c);
      const node = parseQueryParam(p);
      const type = typeOf(node);
      if (type !== "scalar" && type !== "vector") {
        throw new PromError(
          `invalid expression type "${type === "matrix" ? "range vector" : "string"}" for range query, must be Scalar or instant Vector`,
        );
      }
      const start = parseTime("start", p.get("start"), Number.NaN);
      const end = parseTime("end", p.get("end"), Number.NaN);
      if (Number.isNaN(start)) throw new PromError('invalid parameter "start": missing');
      if (Number.isNaN(end)) throw new PromError('invalid parameter "end": missing');
      if (end < start) throw new PromError('invalid parameter "end": end timestamp must not be before start time');
      const step = parseStep(p.get("step"));
      if ((end - start) / step > MAX_POINTS) {
        throw new PromError(
          "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        );
      }
      const steps: number[] = [];
      for (let k = 0; start + k * step <= end + 1e-9; k++) steps.push(start + k * step);
      const v = await evaluate(node, { steps, fetch: fetchAll(c), limits: limits() });
      return ok(c, await rangeResult(v, steps));
    } catch (err) {
      return fail(c, err);
    }
  };

  app.on(["GET", "POST"], "/query", query);
  app.on(["GET", "POST"], "/query_range", queryRange);

  app.on(["GET", "POST"], "/labels", async (c) => {
    try {
      const p = await paramsOf(c);
      const cap = capOf(p);
      const otlpNames = await otlpLabelNames(storage, scopeOf(c), windowOf(p), limits().maxValues);
      let names = [...new Set([...ALL_LABEL_NAMES, SOURCE_LABEL, ...otlpNames])].sort();
      const warnings: string[] = [];
      if (p.all("match[]").length > 0) {
        const { series, truncated } = await seriesFor(c, p, limits().maxValues);
        const present = new Set<string>();
        for (const s of series) for (const k of Object.keys(s.labels)) present.add(k);
        names = [...present].sort();
        if (truncated) warnings.push(truncation(limits().maxValues));
      }
      if (names.length > cap) warnings.push(truncation(cap));
      return ok(c, names.slice(0, cap), warnings);
    } catch (err) {
      return fail(c, err);
    }
  });

  app.on(["GET", "POST"], "/label/:name/values", async (c) => {
    try {
      const p = await paramsOf(c);
      const cap = capOf(p);
      const name = c.req.param("name");
      const { given, selectors } = selectorsOf(p);
      let values: string[];
      let truncated = false;
      if (name === "__name__" && given === 0) {
        const stored = await allLabelValues(storage, scopeOf(c), name, [], windowOf(p), cap);
        values = [...new Set([...METRICS.map((m) => m.name), BUDGET_METRIC, ...stored.values])];
        truncated = stored.truncated;
      } else if (name === SOURCE_LABEL && given === 0) values = [SOURCE_OTLP, SOURCE_SPANS];
      else if (name === "window" && given === 0) values = ["day", "month"];
      else if (name === TOKEN_TYPE_LABEL && given === 0) values = [...TOKEN_TYPES];
      else if (given > 0 && selectors.length === 0) values = [];
      else {
        // Distinct values from the store (never whole series), and those of the declared budgets.
        const found = await allLabelValues(storage, scopeOf(c), name, selectors, windowOf(p), cap);
        truncated = found.truncated;
        const set = new Set(found.values);
        for (const m of selectors.length > 0 ? selectors : [[] as Matcher[]]) {
          for (const l of budgetLines(policy, scopeOf(c), m)) {
            const v = (l.labels as Record<string, string | undefined>)[name];
            if (v) set.add(v);
          }
        }
        values = [...set];
      }
      values.sort();
      if (truncated || values.length > cap) return ok(c, values.slice(0, cap), [truncation(cap)]);
      return ok(c, values);
    } catch (err) {
      return fail(c, err);
    }
  });

  app.on(["GET", "POST"], "/series", async (c) => {
    try {
      const p = await paramsOf(c);
      if (p.all("match[]").length === 0) throw new PromError("no match[] parameter provided");
      const cap = capOf(p);
      const { series, truncated } = await seriesFor(c, p, cap);
      const labels = sortByLabels(
        series.map((s) => s.labels),
        (x) => x,
      );
      return ok(c, labels.slice(0, cap), truncated ? [truncation(cap)] : []);
    } catch (err) {
      return fail(c, err);
    }
  });

  app.get("/metadata", async (c) => {
    try {
      const url = new URL(c.req.url);
      const only = url.searchParams.get("metric");
      const limit = limitOf({
        get: (n) => url.searchParams.get(n) ?? undefined,
        all: (n) => url.searchParams.getAll(n),
      });
      const data: Record<string, { type: string; help: string; unit: string }[]> = {};
      for (const m of METRICS) {
        const family = m.family ?? m.name;
        if ((only && family !== only) || family in data) continue;
        if (limit > 0 && Object.keys(data).length >= limit) break;
        data[family] = [{ type: m.type ?? "counter", help: m.help, unit: m.unit }];
      }
      if ((!only || only === BUDGET_METRIC) && !(limit > 0 && Object.keys(data).length >= limit)) {
        data[BUDGET_METRIC] = [{ type: "gauge", help: BUDGET_HELP, unit: "ratio" }];
      }
      // Stored OTLP metrics; a family also served from spans keeps the span-derived description.
      for (const [family, meta] of Object.entries(await otlpMetadata(storage, scopeOf(c)))) {
        if ((only && family !== only) || family in data) continue;
        if (limit > 0 && Object.keys(data).length >= limit) break;
        data[family] = [meta];
      }
      return ok(c, data);
    } catch (err) {
      return fail(c, err);
    }
  });

  app.get("/status/buildinfo", (c) => ok(c, BUILD_INFO));
  app.on(["GET", "POST"], "/query_exemplars", (c) => ok(c, []));
  app.get("/rules", (c) => ok(c, { groups: [] }));

  return app;
}
