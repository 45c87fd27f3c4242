import type { Role } from "@cognive/collector";

/**
 * Who may call what: every route of the query app, declared once, here. A route that is not listed
 * is refused to everyone (fail closed), and a test enumerates the app's route table against this list.
 *
 * - `open`: probes, process metrics and static files, no tenant data; no key needed.
 * - `identified`: any valid key (who am I).
 * - `budget`: budget-check, for agents (ingest keys) as well as viewers.
 * - `read`: tenant data, scoped to the key's teams.
 * - `admin`: keys and the audit log.
 */
export type Permission = "open" | "identified" | "budget" | "read" | "admin";

const READ_ROUTES = [
  // native API
  "GET /api/v1/traces",
  "GET /api/v1/traces/:traceId",
  "GET /api/v1/costs",
  "GET /api/v1/overview",
  "GET /api/v1/alerts",
  "GET /api/v1/alerts/stream",
  "GET /api/v1/agents",
  "GET /api/v1/budgets",
  "GET /api/v1/forecast",
  "GET /api/v1/sessions",
  "GET /api/v1/sessions/:id",
  "GET /api/v1/reports/chargeback",
  // Tempo API
  "GET /api/v2/traces/:traceId",
  "GET /api/traces/:traceId",
  "GET /api/search",
  "GET /api/search/tags",
  "GET /api/v2/search/tags",
  "GET /api/search/tag/:tag/values",
  "GET /api/v2/search/tag/:tag/values",
  "GET /api/metrics/query_range",
  "GET /api/metrics/query",
  // Prometheus API
  "GET /api/v1/query",
  "POST /api/v1/query",
  "GET /api/v1/query_range",
  "POST /api/v1/query_range",
  "GET /api/v1/labels",
  "POST /api/v1/labels",
  "GET /api/v1/label/:name/values",
  "POST /api/v1/label/:name/values",
  "GET /api/v1/series",
  "POST /api/v1/series",
  "GET /api/v1/metadata",
  "GET /api/v1/query_exemplars",
  "POST /api/v1/query_exemplars",
  "GET /api/v1/rules",
];

export const ROUTE_PERMISSIONS: Readonly<Record<string, Permission>> = Object.freeze({
  "GET /healthz": "open",
  "GET /readyz": "open",
  "GET /metrics": "open",
  "GET /": "open",
  "GET /ui/cognive-ui.js": "open",
  "GET /api/v1/openapi.json": "open",
  "GET /api/echo": "open",
  "GET /api/status/buildinfo": "open",
  "GET /api/v1/status/buildinfo": "open",
  "GET /api/v1/whoami": "identified",
  "GET /api/v1/budget-check": "budget",
  ...Object.fromEntries(READ_ROUTES.map((r) => [r, "read" as const])),
  "GET /api/v1/keys": "admin",
  "POST /api/v1/keys": "admin",
  "DELETE /api/v1/keys/:id": "admin",
  "GET /api/v1/audit": "admin",
  "GET /api/v1/audit/verify": "admin",
});

/**
 * Tempo's streaming gRPC methods (served on the query port) and the route each is answered by: the
 * route's permission, team scope and limits apply to the call unchanged.
 */
export const GRPC_ROUTES: Readonly<Record<string, string>> = Object.freeze({
  "/tempopb.StreamingQuerier/Search": "GET /api/search",
  "/tempopb.StreamingQuerier/SearchTags": "GET /api/search/tags",
  "/tempopb.StreamingQuerier/SearchTagsV2": "GET /api/v2/search/tags",
  "/tempopb.StreamingQuerier/SearchTagValues": "GET /api/search/tag/:tag/values",
  "/tempopb.StreamingQuerier/SearchTagValuesV2": "GET /api/v2/search/tag/:tag/values",
  "/tempopb.StreamingQuerier/MetricsQueryRange": "GET /api/metrics/query_range",
  // One step over the whole range (Tempo's instant query is the same).
  "/tempopb.StreamingQuerier/MetricsQueryInstant": "GET /api/metrics/query",
});

const GRANTS: Readonly<Record<Role, ReadonlySet<Permission>>> = {
  ingest: new Set(["identified", "budget"]),
  viewer: new Set(["identified", "budget", "read"]),
  admin: new Set(["identified", "budget", "read", "admin"]),
};

/** Whether a role holds a permission (`open` needs no role). */
export function allows(role: Role, permission: Permission): boolean {
  return permission === "open" || GRANTS[role].has(permission);
}
