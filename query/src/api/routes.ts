import { type GovernanceView, type Logger, monthKey, type Storage } from "@cognive/collector";
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { listAgents } from "./agents.ts";
import { listAlerts } from "./alerts.ts";
import { costReport, defaultStep } from "./costs.ts";
import { decodeCursor } from "./cursor.ts";
import { badRequest, notFound } from "./errors.ts";
import { mountFinopsRoutes } from "./finops-routes.ts";
import { forecastReport } from "./forecast.ts";
import { budgetCheck, budgetLines } from "./governance.ts";
import { openApiDocument } from "./openapi.ts";
import { overview } from "./overview.ts";
import { DAY_NS, parseQuery, resolveRange } from "./params.ts";
import {
  agentsQuery,
  alertsQuery,
  budgetCheckQuery,
  budgetsQuery,
  costsQuery,
  emptyQuery,
  forecastQuery,
  overviewQuery,
  traceIdParam,
  traceListQuery,
} from "./schemas.ts";
import { scopeAllows, scopeOf } from "./scope.ts";
import { getTrace } from "./trace-detail.ts";
import { listTraces } from "./trace-list.ts";

export interface ApiDeps {
  storage: Storage;
  log: Logger;
  governance?: GovernanceView;
}

/** Most buckets one cost query may span; a finer step over a longer range is a caller error. */
export const MAX_COST_BUCKETS = 50_000;

/** The native read API, mounted under `/api/v1`. Every handler reads through the request's scope. */
export function apiRoutes({ storage, governance, log }: ApiDeps): Hono {
  const api = new Hono();

  api.get("/openapi.json", (c) => c.json(openApiDocument()));

  api.get("/traces", async (c) => {
    const q = parseQuery(c, traceListQuery);
    const range = resolveRange(q);
    const cursor = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
    const list = await listTraces(storage, scopeOf(c), {
      ...range,
      service: q.service,
      agent: q.agent,
      team: q.team,
      model: q.model,
      user: q.user,
      status: q.status,
      minDurationMs: q.minDurationMs,
      maxDurationMs: q.maxDurationMs,
      minCostUsd: q.minCostUsd,
      limit: q.limit ?? 50,
      cursor,
    });
    return c.json(list);
  });

  api.get("/traces/:traceId", async (c) => {
    parseQuery(c, emptyQuery);
    const id = traceIdParam.safeParse(c.req.param("traceId"));
    if (!id.success) throw badRequest("invalid path parameter 'traceId': expected 32 hexadecimal digits");
    const trace = await getTrace(storage, scopeOf(c), id.data);
    if (!trace) throw notFound(`trace ${id.data} not found`);
    return c.json(trace);
  });

  api.get("/costs", async (c) => {
    const q = parseQuery(c, costsQuery);
    const range = resolveRange(q);
    const step = q.step ?? defaultStep(range);
    const buckets = (range.toNs - range.fromNs) / (BigInt(step) * 1_000_000_000n);
    if (buckets > BigInt(MAX_COST_BUCKETS)) {
      throw badRequest(`query parameter 'step' is too small for the range: at most ${MAX_COST_BUCKETS} buckets`);
    }
    return c.json(await costReport(storage, scopeOf(c), { ...range, step, groupBy: q.groupBy ?? "model" }));
  });

  mountFinopsRoutes(api, storage);

  api.get("/overview", async (c) => {
    const q = parseQuery(c, overviewQuery);
    return c.json(await overview(storage, scopeOf(c), { ...resolveRange(q), top: q.top ?? 5 }));
  });

  api.get("/alerts", async (c) => {
    const q = parseQuery(c, alertsQuery);
    const range = resolveRange(q);
    return c.json(
      await listAlerts(storage, scopeOf(c), {
        ...range,
        kind: q.kind,
        agent: q.agent,
        team: q.team,
        traceId: q.traceId,
        limit: q.limit ?? 100,
      }),
    );
  });

  const gov = () => {
    if (!governance) throw notFound("governance is not enabled in this process");
    return governance;
  };

  api.get("/agents", async (c) => {
    const q = parseQuery(c, agentsQuery);
    const to = q.to ?? BigInt(Date.now()) * 1_000_000n;
    const fromNs = q.from ?? to - 30n * DAY_NS;
    if (fromNs > to) throw badRequest("query parameter 'from' is after 'to'");
    return c.json(await listAgents(storage, scopeOf(c), governance, { fromNs, toNs: to }));
  });

  api.get("/budgets", async (c) => {
    const q = parseQuery(c, budgetsQuery);
    return c.json({ budgets: await budgetLines(gov(), new Date(), q.traceId, scopeOf(c)) });
  });

  api.get("/forecast", async (c) => {
    const q = parseQuery(c, forecastQuery);
    const nowMs = Date.now();
    const atMs = q.at === undefined ? nowMs : Number(q.at / 1_000_000n);
    // A forecast is made from what is stored: a time after now has nothing more to read.
    if (atMs > nowMs) throw badRequest("query parameter 'at' must not be in the future");
    const month = q.month ?? monthKey(atMs);
    return c.json(
      await forecastReport(storage, governance?.policy, scopeOf(c), { groupBy: q.groupBy ?? "team", month, atMs }),
    );
  });

  api.get("/budget-check", async (c) => {
    const q = parseQuery(c, budgetCheckQuery);
    const check = await budgetCheck(gov(), q.agent, q.traceId, new Date(), scopeOf(c));
    if (check === null) throw notFound(`no agent ${JSON.stringify(q.agent)}`);
    return c.json(check);
  });

  api.get("/alerts/stream", (c) => {
    parseQuery(c, emptyQuery);
    const bus = gov().alerts;
    const scope = scopeOf(c);
    return streamSSE(c, async (stream) => {
      const unsubscribe = bus.subscribe((alert) => {
        if (!scopeAllows(scope, alert.team)) return;
        stream.writeSSE({ event: "alert", id: alert.id, data: JSON.stringify(alert) }).catch(() => unsubscribe());
      });
      stream.onAbort(() => unsubscribe());
      await stream.writeSSE({ event: "ready", data: "{}" });
      while (!stream.aborted && !stream.closed) {
        await stream.sleep(15_000);
        if (!stream.aborted) await stream.write(": keep-alive\n\n").catch(() => undefined);
      }
      unsubscribe();
      log.debug("alert stream closed");
    });
  });

  return api;
}
