/** The app's hash routes. Pure, so the routing rules are tested without a browser. */

/** The app's views, in nav order; each lives at `#/<id>`. */
export const VIEWS = [
  { id: "overview", label: "Overview" },
  { id: "agents", label: "Agents" },
  { id: "traces", label: "Traces" },
  { id: "sessions", label: "Sessions" },
  { id: "costs", label: "Costs" },
  { id: "budgets", label: "Budgets" },
  { id: "alerts", label: "Alerts" },
] as const;
export type ViewId = (typeof VIEWS)[number]["id"];

export interface Route {
  view: ViewId;
  /** The trace of `#/traces/<traceId>`. */
  traceId?: string;
  /** The conversation of `#/sessions/<id>`. */
  sessionId?: string;
  /** Options after `?` in the hash, e.g. `#/costs?groupBy=agent&range=7d`. */
  params: URLSearchParams;
}

/** Reads a location hash; anything unknown is the overview, so an old or mistyped link still lands somewhere. */
export function parseRoute(hash: string): Route {
  const raw = hash.replace(/^#\/?/, "");
  const q = raw.indexOf("?");
  const path = q < 0 ? raw : raw.slice(0, q);
  const params = new URLSearchParams(q < 0 ? "" : raw.slice(q + 1));
  const [first = "", second] = path.split("/").map((p) => decodeURIComponent(p));
  const view = VIEWS.find((v) => v.id === first)?.id ?? "overview";
  if (view === "traces" && second && /^[0-9a-fA-F]{32}$/.test(second)) {
    return { view, traceId: second.toLowerCase(), params };
  }
  if (view === "sessions" && second) return { view, sessionId: second, params };
  return { view, params };
}
