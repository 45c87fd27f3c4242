import { Hono } from "hono";
import type { ApiDeps } from "../api/routes.ts";

/** Grafana's built-in Tempo data source API (`/api/echo`, `/api/traces/…`, `/api/search…`). */
export function tempoRoutes(_deps: ApiDeps): Hono {
  return new Hono();
}
