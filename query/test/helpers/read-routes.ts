/**
 * An example request of every read route of the query app (HTTP and Tempo's streaming gRPC), for the
 * tests that must call them all: team isolation, and reads on a cluster. A test checks the list
 * against the route table, so a new read route cannot be left out.
 */

const now = () => Math.floor(Date.now() / 1000);
const month = () => new Date().toISOString().slice(0, 7);

/** Ids the examples read: a stored trace, and a session and a user of it. */
export interface ReadExample {
  traceId: string;
  sessionId: string;
  userId: string;
}

export interface ReadRequest {
  paths: string[];
  /** Form-encoded body of a POST. */
  body?: string;
  carries: boolean;
}

/** The fetch options of one of a route's example paths: its method, and its form body if it has one. */
export function requestInit(route: string, ex: ReadRequest): RequestInit {
  const [method] = route.split(" ");
  return ex.body === undefined
    ? { method }
    : { method, body: ex.body, headers: { "content-type": "application/x-www-form-urlencoded" } };
}

export interface GrpcReadRequest {
  requests: Record<string, unknown>[];
  carries: boolean;
}

/** Example requests of every route that reads tenant data; `carries`: whether it names services, agents or teams at all. */
export function readRequests(about: ReadExample): Record<string, ReadRequest> {
  const range = `start=${now() - 3600}&end=${now() + 60}`;
  const q = (s: string) => encodeURIComponent(s);
  const prom = {
    query: `query=${q("sum by (service_name, team, agent, gen_ai_request_model) (cognive_llm_calls_total)")}`,
    range: `query=${q("sum by (service_name, team, agent) (rate(cognive_cost_usd_total[5m]))")}&${range}&step=60`,
    series: `match[]=${q("cognive_llm_calls_total")}&match[]=${q("example_requests_total")}&${range}`,
    otlp: `query=${q("sum by (service_name, team, team_marker) (example_requests_total)")}`,
  };
  return {
    "GET /api/v1/traces": { paths: ["/api/v1/traces", `/api/v1/traces?from=${now() - 3600}`], carries: true },
    "GET /api/v1/traces/:traceId": { paths: [`/api/v1/traces/${about.traceId}`], carries: false },
    "GET /api/v1/costs": {
      paths: ["team", "agent", "model"].map((g) => `/api/v1/costs?groupBy=${g}&from=${now() - 3600}`),
      carries: true,
    },
    "GET /api/v1/overview": { paths: [`/api/v1/overview?from=${now() - 3600}`], carries: true },
    "GET /api/v1/alerts": {
      // Asking for the other team's alerts by name still shows only the caller's.
      paths: [`/api/v1/alerts?from=${now() - 3600}`, `/api/v1/alerts?from=${now() - 3600}&team=bravo`],
      carries: true,
    },
    "GET /api/v1/alerts/stream": { paths: [], carries: true },
    "GET /api/v1/agents": { paths: ["/api/v1/agents"], carries: true },
    "GET /api/v1/budgets": { paths: ["/api/v1/budgets"], carries: true },
    "GET /api/v1/forecast": {
      paths: ["/api/v1/forecast?groupBy=team", "/api/v1/forecast?groupBy=agent"],
      carries: true,
    },
    "GET /api/v1/sessions": {
      paths: [`/api/v1/sessions?from=${now() - 3600}`, `/api/v1/sessions?user=${about.userId}&from=${now() - 3600}`],
      carries: true,
    },
    "GET /api/v1/sessions/:id": { paths: [`/api/v1/sessions/${about.sessionId}`], carries: true },
    "GET /api/v1/reports/chargeback": {
      paths: ["json", "csv", "html"].map((f) => `/api/v1/reports/chargeback?month=${month()}&format=${f}`),
      carries: true,
    },
    "GET /api/v2/traces/:traceId": { paths: [`/api/v2/traces/${about.traceId}`], carries: false },
    "GET /api/traces/:traceId": { paths: [`/api/traces/${about.traceId}`], carries: false },
    "GET /api/search": {
      paths: [`/api/search?q=${q("{}")}&${range}&limit=50`, `/api/search?${range}&limit=50`],
      carries: true,
    },
    "GET /api/search/tags": { paths: [`/api/search/tags?${range}`], carries: false },
    "GET /api/v2/search/tags": { paths: [`/api/v2/search/tags?${range}`], carries: false },
    "GET /api/search/tag/:tag/values": {
      paths: ["service.name", "gen_ai.agent.name"].map((t) => `/api/search/tag/${t}/values?${range}`),
      carries: true,
    },
    "GET /api/v2/search/tag/:tag/values": {
      paths: ["resource.service.name", "span.gen_ai.request.model"].map(
        (t) => `/api/v2/search/tag/${t}/values?${range}`,
      ),
      carries: true,
    },
    "GET /api/metrics/query_range": {
      paths: [`/api/metrics/query_range?q=${q("{} | count_over_time() by (resource.service.name)")}&${range}&step=60`],
      carries: true,
    },
    "GET /api/metrics/query": {
      paths: [`/api/metrics/query?query=${q("{} | count_over_time() by (resource.service.name)")}&${range}`],
      carries: true,
    },
    "GET /api/v1/query": {
      paths: [`/api/v1/query?${prom.query}`, `/api/v1/query?${prom.otlp}`],
      carries: true,
    },
    "POST /api/v1/query": { paths: ["/api/v1/query"], body: prom.query, carries: true },
    "GET /api/v1/query_range": { paths: [`/api/v1/query_range?${prom.range}`], carries: true },
    "POST /api/v1/query_range": { paths: ["/api/v1/query_range"], body: prom.range, carries: true },
    "GET /api/v1/labels": { paths: ["/api/v1/labels"], carries: false },
    "POST /api/v1/labels": { paths: ["/api/v1/labels"], body: "", carries: false },
    "GET /api/v1/label/:name/values": {
      paths: ["service_name", "agent", "team", "gen_ai_request_model", "team_marker"].map(
        (l) => `/api/v1/label/${l}/values?${range}`,
      ),
      carries: true,
    },
    "POST /api/v1/label/:name/values": { paths: ["/api/v1/label/team/values"], body: range, carries: true },
    "GET /api/v1/series": { paths: [`/api/v1/series?${prom.series}`], carries: true },
    "POST /api/v1/series": { paths: ["/api/v1/series"], body: prom.series, carries: true },
    "GET /api/v1/metadata": { paths: ["/api/v1/metadata"], carries: false },
    "GET /api/v1/query_exemplars": { paths: [`/api/v1/query_exemplars?${prom.query}&${range}`], carries: false },
    "POST /api/v1/query_exemplars": { paths: ["/api/v1/query_exemplars"], body: prom.query, carries: false },
    "GET /api/v1/rules": { paths: ["/api/v1/rules"], carries: false },
  };
}

/** Example calls of every streaming gRPC method (Tempo's, on the query port), as `readRequests`. */
export function grpcReadRequests(): Record<string, GrpcReadRequest> {
  const range = { start: now() - 3600, end: now() + 60 };
  const ns = { start: String(BigInt(range.start) * 1_000_000_000n), end: String(BigInt(range.end) * 1_000_000_000n) };
  const metrics = "{} | count_over_time() by (resource.service.name)";
  return {
    Search: {
      requests: [
        { Query: "{}", ...range, Limit: 50 },
        { ...range, Limit: 50 },
      ],
      carries: true,
    },
    SearchTags: { requests: [range], carries: false },
    SearchTagsV2: { requests: [range], carries: false },
    SearchTagValues: {
      requests: ["service.name", "gen_ai.agent.name"].map((tagName) => ({ tagName, ...range })),
      carries: true,
    },
    SearchTagValuesV2: {
      requests: ["resource.service.name", "span.gen_ai.request.model"].map((tagName) => ({ tagName, ...range })),
      carries: true,
    },
    MetricsQueryRange: { requests: [{ query: metrics, ...ns, step: String(60_000_000_000n) }], carries: true },
    MetricsQueryInstant: { requests: [{ query: metrics, ...ns }], carries: true },
  };
}
