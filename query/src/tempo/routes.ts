import type { Logger } from "@cognive/collector";
import type { Context } from "hono";
import { Hono } from "hono";
import { badRequest, notFound } from "../api/errors.ts";
import { limitsOf } from "../api/reads.ts";
import type { ApiDeps } from "../api/routes.ts";
import { scopeMiddleware, scopeOf } from "../api/scope.ts";
import { legacyQuery } from "./legacy.ts";
import { metricsBounds, metricsQueryInstant, metricsQueryRange, parseStep } from "./metrics.ts";
import { encodeTrace, encodeTraceByIdResponse, resourceSpansJson } from "./otlp.ts";
import { searchTraces } from "./search.ts";
import { decodeTag, INTRINSIC_TAGS, tagField, tagNames, tagValues } from "./tags.ts";
import { getTempoTrace } from "./trace.ts";
import { parseTraceQL, TraceQLError, TraceQLLimitError, type TraceQuery } from "./traceql.ts";

/** The Tempo version reported to Grafana; ≥ 2.7.0 turns on the v2 trace-by-id and tag APIs. */
export const TEMPO_VERSION = "2.7.0-cognive";

/** A Tempo trace id: up to 32 hex digits, left-padded with zeros; undefined when not hex. */
export function normalizeTraceId(raw: string): string | undefined {
  if (!/^[0-9a-fA-F]{1,32}$/.test(raw)) return undefined;
  return raw.toLowerCase().padStart(32, "0");
}

const wantsProtobuf = (c: Context): boolean => /application\/(x-)?protobuf/i.test(c.req.header("accept") ?? "");

/** Grafana's built-in Tempo data source API (`/api/echo`, `/api/traces/…`, `/api/search…`). */
/** A query parameter as an integer within [min, max], or the fallback when absent or unusable. */
export function intParam(raw: string | undefined, fallback: number, min: number, max: number): number {
  const n = raw === undefined || raw === "" ? Number.NaN : Math.floor(Number(raw));
  return Number.isFinite(n) ? Math.min(max, Math.max(min, n)) : fallback;
}

/** `start`/`end` in Unix seconds; the last hour when absent. */
export function timeRange(c: Context): { fromS: number; toS: number } {
  const now = Math.floor(Date.now() / 1000);
  const toS = intParam(c.req.query("end"), now, 0, 4_294_967_295);
  const fromS = intParam(c.req.query("start"), toS - 3600, 0, toS);
  return { fromS, toS };
}

export function tempoRoutes({ storage, log }: ApiDeps): Hono {
  const tempo = new Hono();
  // Only on this API's own paths: the app mounts it at "/", next to the native API's `/api/v1`.
  for (const path of [
    "/api/traces/*",
    "/api/v2/traces/*",
    "/api/search",
    "/api/search/*",
    "/api/v2/search/*",
    "/api/metrics/*",
  ]) {
    tempo.use(path, scopeMiddleware);
  }

  tempo.get("/api/echo", (c) => c.text("echo"));

  tempo.get("/api/status/buildinfo", (c) =>
    c.json({
      version: TEMPO_VERSION,
      revision: "cognive",
      branch: "main",
      buildDate: "",
      buildUser: "cognive",
      goVersion: "n/a",
    }),
  );

  const traceById = (v2: boolean) => async (c: Context) => {
    const id = normalizeTraceId(c.req.param("traceId") ?? "");
    if (!id) throw badRequest("invalid trace id: expected up to 32 hexadecimal digits");
    const trace = await getTempoTrace(storage, scopeOf(c), id);
    if (!trace) throw notFound(`trace ${id} not found`);
    if (wantsProtobuf(c)) {
      const bytes = v2 ? encodeTraceByIdResponse(trace) : encodeTrace(trace);
      return c.body(bytes as Uint8Array<ArrayBuffer>, 200, { "content-type": "application/protobuf" });
    }
    const resourceSpans = resourceSpansJson(trace);
    return c.json(v2 ? { trace: { resourceSpans } } : { resourceSpans });
  };

  tempo.get("/api/v2/traces/:traceId", traceById(true));
  tempo.get("/api/traces/:traceId", traceById(false));

  tempo.get("/api/search", async (c) => {
    const q = c.req.query("q");
    let query: TraceQuery;
    try {
      query =
        q !== undefined && q.trim() !== ""
          ? parseTraceQL(q)
          : legacyQuery(c.req.query("tags") ?? "", c.req.query("minDuration"), c.req.query("maxDuration"));
    } catch (err) {
      // The user sees why: a positioned message, as Tempo answers. (Autocomplete stays lenient below.)
      if (err instanceof TraceQLError) throw badRequest(`invalid TraceQL query: ${err.message}`);
      throw err;
    }
    const opts = {
      ...timeRange(c),
      limit: intParam(c.req.query("limit"), 20, 1, 1000),
      spss: intParam(c.req.query("spss"), 3, 1, 1000),
    };
    try {
      return c.json(await searchTraces(storage, scopeOf(c), query, opts));
    } catch (err) {
      if (err instanceof TraceQLError) throw badRequest(`invalid TraceQL query: ${err.message}`);
      if (err instanceof Error && QUERY_TEXT_ERROR.test(err.message)) {
        throw badRequest(
          "invalid TraceQL query: a regular expression the store cannot run (RE2 syntax: no lookaround, no backreferences)",
        );
      }
      throw err;
    }
  });

  /** Tag listings look back a day unless told otherwise, so autocomplete works on quiet systems. */
  const tagRange = (c: Context) => {
    const range =
      c.req.query("start") === undefined ? { ...timeRange(c), fromS: timeRange(c).toS - 86_400 } : timeRange(c);
    const max = limitsOf(storage).maxValues;
    return {
      ...range,
      fromS: Math.max(0, range.fromS),
      limit: intParam(c.req.query("limit"), Math.min(1000, max), 1, max),
    };
  };
  const noTags = { resource: [] as string[], span: [] as string[] };

  tempo.get("/api/search/tags", async (c) => {
    const t = await lenient(log, "tag names", () => tagNames(storage, scopeOf(c), tagRange(c)), noTags);
    return c.json({ tagNames: [...new Set([...t.resource, ...t.span])].sort() });
  });

  tempo.get("/api/v2/search/tags", async (c) => {
    const t = await lenient(log, "tag names", () => tagNames(storage, scopeOf(c), tagRange(c)), noTags);
    const scope = c.req.query("scope");
    const scopes = [
      { name: "resource", tags: t.resource },
      { name: "span", tags: t.span },
      { name: "intrinsic", tags: INTRINSIC_TAGS },
    ];
    return c.json({ scopes: scope && scope !== "all" ? scopes.filter((s) => s.name === scope) : scopes });
  });

  const values = async (c: Context) => {
    const field = tagField(decodeTag(c.req.param("tag") ?? ""));
    if (!field) return [];
    const q = c.req.query("q");
    return lenient(log, "tag values", () => tagValues(storage, scopeOf(c), field, q, tagRange(c)), []);
  };

  tempo.get("/api/search/tag/:tag/values", async (c) =>
    c.json({ tagValues: [...new Set((await values(c)).map((v) => v.value))] }),
  );
  tempo.get("/api/v2/search/tag/:tag/values", async (c) => c.json({ tagValues: await values(c) }));

  // TraceQL metrics (`{…} | rate() by (…)`): unlike search, a query error is the user's to see.
  // The query comes as `q` or (as Grafana sends it) `query`, `q` winning, as Tempo reads them.
  const metricsRequest = (c: Context) => {
    const query = parseTraceQL(c.req.query("q") ?? c.req.query("query") ?? "");
    const bounds = metricsBounds({ start: c.req.query("start"), end: c.req.query("end"), since: c.req.query("since") });
    return { query, ...bounds };
  };
  const metricsError = (err: unknown) => {
    if (err instanceof TraceQLError) return badRequest(`invalid TraceQL metrics query: ${err.message}`);
    if (err instanceof Error && QUERY_TEXT_ERROR.test(err.message)) {
      return badRequest(
        "invalid TraceQL metrics query: a regular expression the store cannot run (RE2 syntax: no lookaround, no backreferences)",
      );
    }
    return err;
  };

  tempo.get("/api/metrics/query_range", async (c) => {
    try {
      const { query, startNs, endNs } = metricsRequest(c);
      const stepNs = parseStep(c.req.query("step"), startNs, endNs);
      return c.json(await metricsQueryRange(storage, scopeOf(c), query, { startNs, endNs, stepNs }));
    } catch (err) {
      throw metricsError(err);
    }
  });

  // Instant TraceQL metrics: one value per series over [start, end).
  tempo.get("/api/metrics/query", async (c) => {
    try {
      const { query, startNs, endNs } = metricsRequest(c);
      return c.json(await metricsQueryInstant(storage, scopeOf(c), query, { startNs, endNs }));
    } catch (err) {
      throw metricsError(err);
    }
  });

  return tempo;
}

/** A store error caused by the query's own text (a regex that re2 rejects but JavaScript accepts). */
const QUERY_TEXT_ERROR = /re2|regular expression/i;

/**
 * Runs a read whose query-caused failure should leave Grafana's editor working: an unsupported query
 * or a regex the store rejects answers the empty result (the latter logged). Any other failure — the
 * store being down, say — propagates and answers 500.
 */
async function lenient<T>(log: Logger, what: string, run: () => Promise<T>, empty: T): Promise<T> {
  try {
    return await run();
  } catch (err) {
    // Refused for its size (or a number out of range): the user must see why, not an empty answer.
    if (err instanceof TraceQLLimitError) throw badRequest(`invalid TraceQL query: ${err.message}`);
    if (err instanceof TraceQLError) return empty;
    if (!(err instanceof Error) || !QUERY_TEXT_ERROR.test(err.message)) throw err;
    log.warn(`tempo ${what}: query rejected by the store`, { err });
    return empty;
  }
}
