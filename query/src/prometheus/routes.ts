import { type Context, Hono } from "hono";
import type { ApiDeps } from "../api/routes.ts";
import { scopeOf } from "../api/scope.ts";
import { BUDGET_HELP, BUDGET_METRIC, budgetLines, fetchBudgets } from "./budgets.ts";
import { evaluate, type Value } from "./engine.ts";
import { formatValue } from "./format.ts";
import { type Matcher, type Node, PromError, parseDuration, parsePromQL, parseSelector } from "./promql.ts";
import {
  ALL_LABEL_NAMES,
  BUCKET_LABEL,
  fetchSeries,
  LABEL_COLUMNS,
  METRICS,
  type RawSeries,
  TOKEN_TYPE_LABEL,
  TOKEN_TYPES,
} from "./store.ts";

/** Most points one range query may return per series, as in Prometheus. */
export const MAX_POINTS = 11_000;
/** Longest query text accepted. */
const MAX_QUERY_CHARS = 4096;

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

/** Unix seconds (decimal) or RFC 3339 to seconds. */
function parseTime(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined || text === "") return fallback;
  if (/^[+-]?\d+(\.\d+)?$/.test(text)) return Number(text);
  if (/^\d{4}-\d{2}-\d{2}T/.test(text)) {
    const ms = Date.parse(text);
    if (!Number.isNaN(ms)) return ms / 1000;
  }
  throw new PromError(`invalid parameter "${name}": cannot parse ${JSON.stringify(text)} to a valid timestamp`);
}

function parseStep(text: string | undefined): number {
  if (text === undefined || text === "") throw new PromError('invalid parameter "step": missing');
  const n = /^\d+(\.\d+)?$/.test(text) ? Number(text) : parseDuration(text);
  if (n === undefined)
    throw new PromError(`invalid parameter "step": cannot parse ${JSON.stringify(text)} to a valid duration`);
  if (!(n > 0))
    throw new PromError("zero or negative query resolution step widths are not accepted. Try a positive integer");
  return n;
}

function parseQueryParam(p: Params): Node {
  const q = p.get("query");
  if (q === undefined) throw new PromError('invalid parameter "query": missing');
  if (q.length > MAX_QUERY_CHARS) throw new PromError(`query longer than ${MAX_QUERY_CHARS} characters`);
  return parsePromQL(q);
}

const ts = (t: number) => Math.round(t * 1000) / 1000;

function compareLabels(a: Record<string, string>, b: Record<string, string>): number {
  const ka = JSON.stringify(Object.entries(a).sort());
  const kb = JSON.stringify(Object.entries(b).sort());
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

function instantResult(v: Value, t: number) {
  switch (v.type) {
    case "scalar":
      return { resultType: "scalar", result: [ts(t), formatValue(v.values[0])] };
    case "string":
      return { resultType: "string", result: [ts(t), v.value] };
    case "matrix":
      return {
        resultType: "matrix",
        result: v.series
          .sort((a, b) => compareLabels(a.labels, b.labels))
          .map((s) => ({ metric: s.labels, values: s.points.map(([pt, pv]) => [ts(pt), formatValue(pv)]) })),
      };
    case "vector": {
      const present = v.series.filter((s) => s.values[0] !== null);
      return {
        resultType: "vector",
        result: present.map((s) => ({ metric: s.labels, value: [ts(t), formatValue(s.values[0] as number)] })),
      };
    }
  }
}

function rangeResult(v: Value, steps: number[]) {
  if (v.type === "string") throw new PromError("range queries cannot return a string");
  if (v.type === "matrix") throw new PromError("a range vector cannot be the result of a range query");
  if (v.type === "scalar") {
    return {
      resultType: "matrix",
      result: [{ metric: {}, values: steps.map((t, i) => [ts(t), formatValue(v.values[i])]) }],
    };
  }
  const result = v.series
    .map((s) => ({
      metric: s.labels,
      values: steps.flatMap((t, i) => (s.values[i] === null ? [] : [[ts(t), formatValue(s.values[i] as number)]])),
    }))
    .filter((s) => s.values.length > 0)
    .sort((a, b) => compareLabels(a.metric, b.metric));
  return { resultType: "matrix", result };
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

  /** The rollup's counters and the budget gauge a selector matches. */
  const fetchAll = async (c: Context, m: Matcher[], from: number, to: number): Promise<RawSeries[]> => {
    const [counters, budgets] = await Promise.all([
      fetchSeries(storage, scopeOf(c), m, { from, to }),
      fetchBudgets(storage, scopeOf(c), policy, m, from, to),
    ]);
    return [...counters, ...budgets];
  };

  // Grafana shows only 400, 422 and 503 error bodies; anything unexpected is logged and answered 503.
  const fail = (c: Context, err: unknown) => {
    if (err instanceof PromError) {
      return c.json({ status: "error", errorType: err.errorType, error: err.message }, 400);
    }
    log.error("prometheus API: request failed", { err, method: c.req.method, path: c.req.path });
    return c.json(
      { status: "error", errorType: "unavailable", error: "query failed; see the query process's log" },
      503,
    );
  };
  const ok = (c: Context, data: unknown) => c.json({ status: "success", data });

  /** Series matching any of the `match[]` selectors in the window, or all of them. */
  const seriesFor = async (c: Context, p: Params): Promise<RawSeries[]> => {
    // Grafana sends selectors as the user types them: an unparsable one is skipped, not an error.
    const given = p.all("match[]");
    const selectors = given.flatMap((s) => {
      try {
        return [parseSelector(s).matchers];
      } catch {
        return [];
      }
    });
    if (given.length > 0 && selectors.length === 0) return [];
    const start = p.get("start") ? parseTime("start", p.get("start"), 0) : undefined;
    const end = p.get("end") ? parseTime("end", p.get("end"), 0) : undefined;
    if (start !== undefined && end !== undefined && end < start)
      throw new PromError('invalid parameter "end": end timestamp must not be before start time');
    const range = { from: start === undefined ? undefined : Math.floor(start / 60) * 60, to: end };
    const lists = await Promise.all(
      (selectors.length > 0 ? selectors : [[] as Matcher[]]).map((m) =>
        fetchSeries(storage, scopeOf(c), m, range, false),
      ),
    );
    const budgets = (selectors.length > 0 ? selectors : [[] as Matcher[]]).flatMap((m) =>
      budgetLines(policy, scopeOf(c), m).map((l) => ({ labels: l.labels, minutes: [], increments: [] })),
    );
    const seen = new Map<string, RawSeries>();
    for (const s of [...lists.flat(), ...budgets]) seen.set(JSON.stringify(Object.entries(s.labels).sort()), s);
    return [...seen.values()];
  };

  const query = async (c: Context) => {
    try {
      const p = await paramsOf(c);
      const node = parseQueryParam(p);
      const t = parseTime("time", p.get("time"), Date.now() / 1000);
      const v = await evaluate(node, {
        steps: [t],
        fetch: (m, from, to) => fetchAll(c, m, from, to),
      });
      return ok(c, instantResult(v, t));
    } catch (err) {
      return fail(c, err);
    }
  };

  const queryRange = async (c: Context) => {
    try {
      const p = await paramsOf(c);
      const node = parseQueryParam(p);
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
      const v = await evaluate(node, {
        steps,
        fetch: (m, from, to) => fetchAll(c, m, from, to),
      });
      return ok(c, rangeResult(v, steps));
    } catch (err) {
      return fail(c, err);
    }
  };

  app.on(["GET", "POST"], "/query", query);
  app.on(["GET", "POST"], "/query_range", queryRange);

  app.on(["GET", "POST"], "/labels", async (c) => {
    try {
      const p = await paramsOf(c);
      const limit = limitOf(p);
      let names = ALL_LABEL_NAMES;
      if (p.all("match[]").length > 0) {
        const present = new Set<string>();
        for (const s of await seriesFor(c, p)) for (const k of Object.keys(s.labels)) present.add(k);
        names = [...present].sort();
      }
      return ok(c, limit > 0 ? names.slice(0, limit) : names);
    } catch (err) {
      return fail(c, err);
    }
  });

  app.on(["GET", "POST"], "/label/:name/values", async (c) => {
    try {
      const p = await paramsOf(c);
      const limit = limitOf(p);
      const name = c.req.param("name");
      let values: string[];
      if (name === "__name__" && p.all("match[]").length === 0) values = [...METRICS.map((m) => m.name), BUDGET_METRIC];
      else if (name === "window" && p.all("match[]").length === 0) values = ["day", "month"];
      else if (name === TOKEN_TYPE_LABEL && p.all("match[]").length === 0) values = [...TOKEN_TYPES];
      else if (
        name === "__name__" ||
        name === TOKEN_TYPE_LABEL ||
        name === BUCKET_LABEL ||
        name === "window" ||
        name in LABEL_COLUMNS
      ) {
        const set = new Set<string>();
        for (const s of await seriesFor(c, p)) {
          const v = s.labels[name];
          if (v !== undefined && v !== "") set.add(v);
        }
        values = [...set];
      } else values = [];
      values.sort();
      return ok(c, limit > 0 ? values.slice(0, limit) : values);
    } catch (err) {
      return fail(c, err);
    }
  });

  app.on(["GET", "POST"], "/series", async (c) => {
    try {
      const p = await paramsOf(c);
      if (p.all("match[]").length === 0) throw new PromError("no match[] parameter provided");
      const limit = limitOf(p);
      const labels = (await seriesFor(c, p)).map((s) => s.labels).sort(compareLabels);
      return ok(c, limit > 0 ? labels.slice(0, limit) : labels);
    } catch (err) {
      return fail(c, err);
    }
  });

  app.get("/metadata", (c) => {
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
