import type { Context } from "hono";
import { Hono } from "hono";
import { badRequest, notFound } from "../api/errors.ts";
import type { ApiDeps } from "../api/routes.ts";
import { scopeMiddleware, scopeOf } from "../api/scope.ts";
import { getTrace } from "../api/trace-detail.ts";
import { encodeTrace, encodeTraceByIdResponse, resourceSpansJson } from "./otlp.ts";

/** The Tempo version reported to Grafana; ≥ 2.7.0 turns on the v2 trace-by-id and tag APIs. */
export const TEMPO_VERSION = "2.7.0-cognive";

/** A Tempo trace id: up to 32 hex digits, left-padded with zeros; undefined when not hex. */
export function normalizeTraceId(raw: string): string | undefined {
  if (!/^[0-9a-fA-F]{1,32}$/.test(raw)) return undefined;
  return raw.toLowerCase().padStart(32, "0");
}

const wantsProtobuf = (c: Context): boolean => /application\/(x-)?protobuf/i.test(c.req.header("accept") ?? "");

/** Grafana's built-in Tempo data source API (`/api/echo`, `/api/traces/…`, `/api/search…`). */
export function tempoRoutes({ storage }: ApiDeps): Hono {
  const tempo = new Hono();
  tempo.use("/api/*", scopeMiddleware);

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
    const trace = await getTrace(storage, scopeOf(c), id);
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

  return tempo;
}
