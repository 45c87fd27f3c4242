import { Hono } from "hono";
import type { ApiDeps } from "../api/routes.ts";

/** Grafana's built-in Prometheus data source API (`/api/v1/query`, `/api/v1/query_range`, …). */
export function prometheusRoutes(_deps: ApiDeps): Hono {
  return new Hono();
}
