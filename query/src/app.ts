import { type AuthRuntime, answersWithin, type GovernanceView, type Logger, type Storage } from "@cognive/collector";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import { matchedRoutes } from "hono/route";
import { Counter, Registry } from "prom-client";
import { adminRoutes } from "./api/admin.ts";
import { authMiddleware } from "./api/auth.ts";
import { ApiError, errorBody, ReadAbortedError, ReadBusyError, ReadLimitError } from "./api/errors.ts";
import { readsOf, withReadContext } from "./api/reads.ts";
import { apiRoutes } from "./api/routes.ts";
import { scopeMiddleware } from "./api/scope.ts";
import { type ReadLimits, readLimits } from "./limits.ts";
import { prometheusRoutes } from "./prometheus/routes.ts";
import { tempoRoutes } from "./tempo/routes.ts";
import { uiRoutes } from "./ui.ts";

export interface QueryAppDeps {
  storage: Storage;
  log: Logger;
  /** Policy, a read-only budget reader and the alerts to stream; without them the governance endpoints answer 404. */
  governance?: GovernanceView;
  /** Limits of every read; by default from the environment (`COGNIVE_QUERY_*`, `COGNIVE_TRACEQL_*`). */
  limits?: ReadLimits;
  /** Keys, roles and rate limits; without it every caller may read every team (tests, tools). */
  auth?: AuthRuntime;
  /** Origins whose pages may call the API from a browser (`COGNIVE_CORS_ORIGINS`); none by default. */
  corsOrigins?: readonly string[];
  /** The process's Prometheus registry, served on `GET /metrics`; by default one of this app's own. */
  metrics?: Registry;
}

/** Largest request body the read API accepts; its endpoints take none. */
export const MAX_BODY_BYTES = 64 * 1024;
/** Longest request URL (path and query string) the read API accepts. */
export const MAX_URL_CHARS = 8 * 1024;

/** How long `/readyz` waits for storage before answering 503. */
export const READY_TIMEOUT_MS = 2_000;

/**
 * The query process's HTTP app: the native API under `/api/v1`. Every failure answers
 * `{ "error": { "code", "message" } }`; unexpected errors are logged and answered without detail.
 */
export function createQueryApp(deps: QueryAppDeps): Hono {
  const { log } = deps;
  // A bad limit in the environment stops start-up here, naming its variable.
  const limits = deps.limits ?? readLimits();
  readsOf(deps.storage, limits);
  const app = new Hono();
  const registry = deps.metrics ?? new Registry();
  const requests = new Counter({
    name: "cognive_query_requests_total",
    help: "Query port requests (native, Tempo, Prometheus APIs and UI) by route pattern and HTTP status",
    labelNames: ["method", "route", "status"],
    registers: [registry],
  });
  // Counted by route pattern, never by raw path, so a scan of odd URLs cannot grow the series.
  app.use("*", async (c, next) => {
    await next();
    const route =
      matchedRoutes(c)
        .filter((r) => r.method !== "ALL")
        .at(-1)?.path ?? "unmatched";
    requests.inc({ method: route === "unmatched" ? "other" : c.req.method, route, status: String(c.res.status) });
  });

  // Reads of this request run within this app's limits and stop waiting when its caller goes away.
  app.use("*", (c, next) => withReadContext({ signal: c.req.raw.signal, limits }, next));
  app.use("*", async (c, next) => {
    if (c.req.url.length > MAX_URL_CHARS) {
      return c.json(errorBody("uri_too_long", `request URL longer than ${MAX_URL_CHARS} characters`), 414);
    }
    await next();
  });
  app.use(
    "*",
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: (c) => c.json(errorBody("payload_too_large", `request body larger than ${MAX_BODY_BYTES} bytes`), 413),
    }),
  );
  // Embeddable parts on other origins call the API with a bearer token, never with cookies, and only
  // from the origins configured: no wildcard, so a page a developer happens to open cannot read it.
  const origins = new Set(deps.corsOrigins ?? []);
  if (origins.size > 0) {
    app.use(
      "/api/*",
      cors({
        origin: (origin) => (origins.has(origin) ? origin : null),
        allowMethods: ["GET", "POST", "DELETE"],
        allowHeaders: ["Authorization", "Content-Type"],
        maxAge: 600,
      }),
    );
  }
  app.use("*", authMiddleware(deps.auth ?? null));
  app.use("/api/v1/*", scopeMiddleware);

  app.get("/healthz", (c) => c.json({ status: "ok" }));
  // On the store's probe path, never behind reads (nor their chDB parameter queue), and bounded.
  app.get("/readyz", async (c) => {
    const ready = await answersWithin(deps.storage.ping(), READY_TIMEOUT_MS);
    return ready
      ? c.json({ status: "ready" })
      : c.json(errorBody("storage_unavailable", "storage does not answer"), 503);
  });

  // Public like the probes (and like `/metrics` on the OTLP port): process figures and counts per
  // route, no tenant data, and Prometheus scrapes without a key.
  app.get("/metrics", async (c) => c.body(await registry.metrics(), 200, { "content-type": registry.contentType }));

  app.route("/api/v1", apiRoutes(deps));
  app.route("/api/v1", adminRoutes({ storage: deps.storage, auth: deps.auth ?? null }));
  app.route("/api/v1", prometheusRoutes(deps));
  app.route("/", tempoRoutes(deps));
  app.route("/", uiRoutes(log));

  app.notFound((c) => {
    const path = c.req.path.length > 200 ? `${c.req.path.slice(0, 200)}…` : c.req.path;
    return c.json(errorBody("not_found", `no route for ${c.req.method} ${path}`), 404);
  });
  app.onError((err, c) => {
    if (err instanceof ApiError) return c.json(errorBody(err.code, err.message), err.status);
    if (err instanceof ReadLimitError) return c.json(errorBody("query_too_large", err.message), 422);
    if (err instanceof ReadBusyError) {
      c.header("Retry-After", String(err.retryAfterSeconds));
      return c.json(errorBody("overloaded", err.message), 503);
    }
    if (err instanceof ReadAbortedError) return c.json(errorBody("overloaded", err.message), 503);
    log.error("query API: request failed", { err, method: c.req.method, path: c.req.path });
    return c.json(errorBody("internal", "internal error"), 500);
  });
  return app;
}
