import { z } from "zod";
import { newKeyBody } from "./admin.ts";
import { chargebackQuery, sessionsQuery } from "./finops-routes.ts";
import {
  agentsQuery,
  alertsQuery,
  auditQuery,
  budgetCheckQuery,
  budgetsQuery,
  costsQuery,
  forecastQuery,
  overviewQuery,
  traceListQuery,
} from "./schemas.ts";

type JsonSchema = Record<string, unknown>;

/** OpenAPI query parameters generated from a strict zod object, so the document follows the validation. */
function queryParameters(schema: z.ZodObject): JsonSchema[] {
  return Object.entries(schema.shape).map(([name, field]) => {
    const {
      $schema: _,
      description,
      ...rest
    } = z.toJSONSchema(field as z.ZodType, {
      io: "input",
      unrepresentable: "any",
    }) as JsonSchema;
    return {
      name,
      in: "query",
      required: !(field as z.ZodType).safeParse(undefined).success,
      ...(description ? { description } : {}),
      schema: rest,
    };
  });
}

const str = { type: "string" };
const nullableStr = { type: ["string", "null"] };
const int = { type: "integer" };
const nullableInt = { type: ["integer", "null"] };
const numType = { type: "number" };
const nsString = { type: "string", pattern: "^\\d+$", description: "nanoseconds, as a decimal string" };
const attrMap = {
  type: "object",
  description:
    "values typed as sent: ints and doubles as numbers (ints beyond 2^53 as decimal strings), arrays and kvlists as JSON",
  additionalProperties: {},
};
const strArray = { type: "array", items: str };

const errorSchema = {
  type: "object",
  required: ["error"],
  properties: {
    error: {
      type: "object",
      required: ["code", "message"],
      properties: { code: str, message: str },
    },
  },
};

const summaryProps = {
  rootName: nullableStr,
  rootService: nullableStr,
  startTimeUnixNano: nsString,
  durationNs: nsString,
  spanCount: int,
  errorCount: int,
  inputTokens: { ...int, description: "sum over model-call spans only" },
  outputTokens: { ...int, description: "sum over model-call spans only" },
  costUsd: { ...numType, description: "sum over model-call spans only" },
  unpricedCalls: {
    ...int,
    description: "model calls that reported usage but have no known price, not counted in costUsd",
  },
};

const spanSchema = {
  type: "object",
  properties: {
    spanId: str,
    parentSpanId: { ...str, description: "empty for a root span" },
    name: str,
    kind: { ...str, description: "Unspecified, Internal, Server, Client, Producer or Consumer" },
    serviceName: str,
    startTimeUnixNano: nsString,
    durationNs: nsString,
    status: {
      type: "object",
      properties: { code: { enum: ["unset", "ok", "error"] }, message: str },
    },
    attributes: attrMap,
    resource: attrMap,
    events: {
      type: "array",
      items: { type: "object", properties: { timeUnixNano: nsString, name: str, attributes: attrMap } },
    },
    logs: {
      type: "array",
      description: "OTLP log records carrying this span's trace and span id, in time order",
      items: {
        type: "object",
        properties: {
          timeUnixNano: nsString,
          severityText: str,
          eventName: { ...str, description: "the record's event_name, else its event.name attribute" },
          body: { ...str, description: "maps and arrays as JSON text" },
          attributes: attrMap,
        },
      },
    },
    messages: {
      type: ["object", "null"],
      description:
        "captured GenAI messages, from the span's gen_ai.input.messages / gen_ai.output.messages / gen_ai.system_instructions attributes and its GenAI log events (current and legacy shapes), as {role, parts[]}",
      properties: {
        input: { type: "array", items: { type: "object" } },
        output: { type: "array", items: { type: "object" } },
        systemInstructions: { type: "array", items: { type: "object" } },
      },
    },
    scores: {
      type: "array",
      description: "gen_ai.evaluation.result events of this span",
      items: {
        type: "object",
        properties: {
          name: str,
          value: { type: ["number", "null"] },
          label: nullableStr,
          explanation: nullableStr,
        },
      },
    },
    genAi: {
      type: "object",
      properties: {
        operation: nullableStr,
        provider: nullableStr,
        requestModel: nullableStr,
        responseModel: nullableStr,
        inputTokens: nullableInt,
        outputTokens: nullableInt,
        cacheReadTokens: nullableInt,
        cacheWriteTokens: nullableInt,
        reasoningTokens: nullableInt,
        agentName: nullableStr,
        toolName: nullableStr,
        conversationId: nullableStr,
        costUsd: { type: ["number", "null"], description: "null when the model has no known price" },
        priced: { type: "boolean" },
        costParts: {
          type: ["object", "null"],
          description: "the cost by token kind (they add up to costUsd); null when unpriced",
          properties: { inputUsd: numType, outputUsd: numType, cacheReadUsd: numType, cacheWriteUsd: numType },
        },
        usageRole: { enum: ["none", "model_call", "aggregate"] },
      },
    },
  },
};

const ERROR_DESCRIPTIONS: Record<number, string> = {
  401: "unauthorized: no key, or a key that is unknown, revoked or expired (the same answer for each)",
  403: "forbidden: this key's role may not call this endpoint",
  429: "rate_limited: this key's request rate limit; retry after the Retry-After header's seconds",
  422: "query_too_large: a read limit stopped the query (time, memory, rows read, result size); narrow the range, add filters or lower the limit",
  503: "overloaded: too many reads running and waiting; retry after the Retry-After header's seconds",
};

/** A request body's JSON Schema from its zod schema. */
function bodySchema(schema: z.ZodType): JsonSchema {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as JsonSchema;
  return rest;
}

const teamsSchema = { oneOf: [{ const: "all" }, { type: "array", items: str }] };
const keySchema = {
  type: "object",
  properties: {
    id: str,
    name: str,
    role: { enum: ["ingest", "viewer", "admin"] },
    teams: teamsSchema,
    expiresAt: nullableStr,
    rateLimit: {
      type: "object",
      properties: { requestsPerSecond: { type: ["number", "null"] }, spansPerSecond: { type: ["number", "null"] } },
    },
    createdAt: str,
    revokedAt: nullableStr,
    lastUsedAt: nullableStr,
  },
};
const whoAmISchema = {
  type: "object",
  required: ["id", "name", "role", "teams", "authRequired"],
  properties: { id: str, name: str, role: str, teams: teamsSchema, authRequired: { type: "boolean" } },
};

const errors = (...codes: number[]) =>
  Object.fromEntries(
    codes.map((code) => [
      String(code),
      {
        description: ERROR_DESCRIPTIONS[code] ?? "error",
        content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
      },
    ]),
  );

const ok = (schema: JsonSchema) => ({
  description: "OK",
  content: { "application/json": { schema } },
});

/** The OpenAPI 3.1 description of the native read API. */
export function openApiDocument(): JsonSchema {
  return {
    openapi: "3.1.0",
    info: {
      title: "Cognive query API",
      version: "1",
      description: "Traces of AI agents and what their LLM calls cost.",
    },
    servers: [{ url: "/api/v1" }],
    paths: {
      "/traces": {
        get: {
          operationId: "listTraces",
          summary: "Trace summaries, newest first, with keyset pagination",
          parameters: queryParameters(traceListQuery),
          responses: {
            "200": ok({
              type: "object",
              required: ["traces", "nextCursor"],
              properties: {
                traces: {
                  type: "array",
                  items: {
                    type: "object",
                    properties: {
                      traceId: str,
                      ...summaryProps,
                      services: strArray,
                      agents: strArray,
                      teams: strArray,
                      models: strArray,
                      inputPreview: {
                        ...nullableStr,
                        description: "the first model call's last user message, shortened",
                      },
                      users: strArray,
                    },
                  },
                },
                nextCursor: { ...nullableStr, description: "pass as cursor for the next page; null on the last" },
              },
            }),
            ...errors(400, 422, 500, 503),
          },
        },
      },
      "/traces/{traceId}": {
        get: {
          operationId: "getTrace",
          summary: "One trace: its spans in start order with GenAI facts and cost, and a summary",
          parameters: [
            {
              name: "traceId",
              in: "path",
              required: true,
              schema: { type: "string", pattern: "^[0-9a-fA-F]{32}$" },
            },
          ],
          responses: {
            "200": ok({
              type: "object",
              required: ["traceId", "spans", "summary"],
              properties: {
                traceId: str,
                spans: { type: "array", items: { $ref: "#/components/schemas/Span" } },
                summary: { type: "object", properties: summaryProps },
              },
            }),
            ...errors(400, 404, 422, 500, 503),
          },
        },
      },
      "/costs": {
        get: {
          operationId: "getCosts",
          summary: "LLM spend over time, one series per model, agent, team, provider or environment",
          parameters: queryParameters(costsQuery),
          responses: {
            "200": ok({
              type: "object",
              required: ["totalUsd", "series"],
              properties: {
                totalUsd: numType,
                series: {
                  type: "array",
                  description: "sorted by totalUsd, highest first",
                  items: {
                    type: "object",
                    properties: {
                      key: nullableStr,
                      totalUsd: numType,
                      inputTokens: int,
                      outputTokens: int,
                      cacheReadTokens: int,
                      cacheWriteTokens: int,
                      calls: int,
                      points: {
                        type: "array",
                        description: "[bucket start in Unix seconds, cost in USD], only buckets with calls",
                        items: { type: "array", prefixItems: [int, numType], minItems: 2, maxItems: 2 },
                      },
                      tokenPoints: {
                        type: "array",
                        description:
                          "[bucket start in Unix seconds, input, output, cache-read, cache-write tokens], the buckets of points",
                        items: { type: "array", prefixItems: [int, int, int, int, int], minItems: 5, maxItems: 5 },
                      },
                    },
                  },
                },
              },
            }),
            ...errors(400, 422, 500, 503),
          },
        },
      },
      "/overview": {
        get: {
          operationId: "getOverview",
          summary: "Spend today and this month, runs, error rate, latency percentiles, top agents and models",
          parameters: queryParameters(overviewQuery),
          responses: {
            "200": ok({
              type: "object",
              required: [
                "range",
                "spend",
                "runs",
                "errorRuns",
                "errorRate",
                "latency",
                "llm",
                "topAgents",
                "topModels",
              ],
              properties: {
                range: { type: "object", properties: { fromNs: nsString, toNs: nsString } },
                spend: {
                  type: "object",
                  description: "USD in the UTC day and month containing `to` (up to `to`) and in the range",
                  properties: { todayUsd: numType, monthUsd: numType, rangeUsd: numType },
                },
                runs: { ...int, description: "traces started in the range (one agent run is one trace)" },
                errorRuns: { ...int, description: "of those, traces with at least one error span" },
                errorRate: { type: ["number", "null"], description: "errorRuns / runs; null without runs" },
                latency: {
                  type: "object",
                  description: "trace durations in the range; null without runs",
                  properties: {
                    p50Ns: { ...nsString, type: ["string", "null"] },
                    p95Ns: { ...nsString, type: ["string", "null"] },
                  },
                },
                llm: {
                  type: "object",
                  description: "model calls in the range",
                  properties: { calls: int, errors: int, inputTokens: int, outputTokens: int },
                },
                topAgents: { type: "array", items: { $ref: "#/components/schemas/OverviewTop" } },
                topModels: { type: "array", items: { $ref: "#/components/schemas/OverviewTop" } },
              },
            }),
            ...errors(400, 422, 500, 503),
          },
        },
      },
      "/alerts": {
        get: {
          operationId: "listAlerts",
          summary: "Budget-threshold, forecast, anomaly and policy alerts, newest first, one per alert id",
          parameters: queryParameters(alertsQuery),
          responses: {
            "200": ok({
              type: "object",
              required: ["alerts"],
              properties: {
                alerts: {
                  type: "array",
                  items: {
                    type: "object",
                    properties: {
                      id: str,
                      kind: str,
                      time: { type: "string", format: "date-time" },
                      agent: str,
                      team: str,
                      traceId: nullableStr,
                      model: nullableStr,
                      tool: nullableStr,
                      scope: {
                        type: ["object", "null"],
                        properties: { type: str, name: str, window: str },
                      },
                      threshold: { type: ["number", "null"] },
                      spendUsd: { type: ["number", "null"] },
                      limitUsd: { type: ["number", "null"] },
                      projectedUsd: { type: ["number", "null"] },
                      exceedsOn: { type: ["string", "null"], format: "date" },
                      baselineUsd: { type: ["number", "null"] },
                      windowMinutes: { type: ["integer", "null"] },
                    },
                  },
                },
              },
            }),
            ...errors(400, 422, 500, 503),
          },
        },
      },
      "/agents": {
        get: {
          operationId: "listAgents",
          summary:
            "The agent registry: declared policy and observed models, tools, calls, error rate, spend, violations",
          parameters: queryParameters(agentsQuery),
          responses: { "200": ok({ type: "object", required: ["agents"] }), ...errors(400, 422, 500, 503) },
        },
      },
      "/budgets": {
        get: {
          operationId: "listBudgets",
          summary: "Every declared budget with its current spend and utilization (run windows with traceId)",
          parameters: queryParameters(budgetsQuery),
          responses: { "200": ok({ type: "object", required: ["budgets"] }), ...errors(400, 404, 500) },
        },
      },
      "/forecast": {
        get: {
          operationId: "forecastSpend",
          summary:
            "Month-end spend projection per team or agent, with a 95 % interval and the day a monthly budget is reached",
          parameters: queryParameters(forecastQuery),
          responses: {
            "200": ok({
              type: "object",
              required: ["month", "asOf", "series"],
              properties: {
                month: str,
                asOf: { type: "string", format: "date-time" },
                series: {
                  type: "array",
                  items: {
                    type: "object",
                    properties: {
                      key: str,
                      spentUsd: { type: "number" },
                      projectedUsd: { type: "number" },
                      low: { type: "number" },
                      high: { type: "number" },
                      budgetUsd: { type: ["number", "null"] },
                      exceedsOn: { type: ["string", "null"], format: "date" },
                      method: { type: "string", enum: ["weekday", "flat", "none"] },
                      historyDays: int,
                    },
                  },
                },
              },
            }),
            ...errors(400, 422, 500, 503),
          },
        },
      },
      "/sessions": {
        get: {
          operationId: "listSessions",
          summary:
            "Sessions (conversations) with activity in the range, most recent first: traces, spans, cost, tokens, users, agents, errors",
          parameters: queryParameters(sessionsQuery),
          responses: {
            "200": ok({
              type: "object",
              required: ["sessions", "nextCursor"],
              properties: {
                sessions: {
                  type: "array",
                  items: {
                    type: "object",
                    properties: {
                      conversationId: str,
                      traces: int,
                      spans: int,
                      costUsd: numType,
                      inputTokens: int,
                      outputTokens: int,
                      users: strArray,
                      agents: strArray,
                      firstSeen: nsString,
                      lastSeen: nsString,
                      errors: int,
                    },
                  },
                },
                nextCursor: { ...nullableStr, description: "pass as cursor for the next page; null on the last" },
              },
            }),
            ...errors(400, 422, 500, 503),
          },
        },
      },
      "/sessions/{id}": {
        get: {
          operationId: "getSession",
          summary: "One session: its traces in order as turns (messages, cost, users), and cost per user",
          parameters: [{ name: "id", in: "path", required: true, schema: { type: "string", maxLength: 512 } }],
          responses: { "200": ok({ type: "object", required: ["conversationId", "turns"] }), ...errors(400, 404, 500) },
        },
      },
      "/reports/chargeback": {
        get: {
          operationId: "chargebackReport",
          summary:
            "Monthly chargeback, one row per team × agent × model (JSON, CSV, or a printable HTML report per team)",
          parameters: queryParameters(chargebackQuery),
          responses: {
            "200": {
              description: "OK",
              content: {
                "application/json": { schema: { type: "object", required: ["month", "rows", "totalUsd"] } },
                "text/csv": { schema: str },
                "text/html": { schema: str },
              },
            },
            ...errors(400, 422, 500, 503),
          },
        },
      },
      "/budget-check": {
        get: {
          operationId: "checkBudget",
          summary: "Whether an agent (and its run) may keep spending: { allowed, remainingUsd, reasons }",
          parameters: queryParameters(budgetCheckQuery),
          responses: {
            "200": ok({
              type: "object",
              required: ["allowed", "remainingUsd", "reasons"],
              properties: {
                allowed: { type: "boolean" },
                remainingUsd: { type: ["number", "null"] },
                reasons: strArray,
              },
            }),
            ...errors(400, 404, 500),
          },
        },
      },
      "/alerts/stream": {
        get: {
          operationId: "streamAlerts",
          summary: "Server-Sent Events: one `alert` event per alert as it is raised",
          responses: { "200": { description: "text/event-stream" }, ...errors(404) },
        },
      },
      "/whoami": {
        get: {
          operationId: "whoAmI",
          summary: "The calling key: id, name, role, teams, and whether the server requires keys",
          responses: { "200": ok(whoAmISchema), ...errors(401, 429) },
        },
      },
      "/keys": {
        get: {
          operationId: "listKeys",
          summary: "Every key (admin): never the key itself",
          responses: {
            "200": ok({
              type: "object",
              required: ["keys"],
              properties: { keys: { type: "array", items: keySchema } },
            }),
            ...errors(401, 403, 429),
          },
        },
        post: {
          operationId: "createKey",
          summary: "Creates a key (admin); the answer is the only time the key itself is shown",
          requestBody: {
            required: true,
            content: { "application/json": { schema: bodySchema(newKeyBody) } },
          },
          responses: {
            "201": {
              description: "Created",
              content: {
                "application/json": {
                  schema: { allOf: [keySchema, { type: "object", required: ["key"], properties: { key: str } }] },
                },
              },
            },
            ...errors(400, 401, 403, 415, 429),
          },
        },
      },
      "/keys/{id}": {
        delete: {
          operationId: "revokeKey",
          summary: "Revokes a key at once in every process (admin)",
          parameters: [{ name: "id", in: "path", required: true, schema: str }],
          responses: { "204": { description: "Revoked" }, ...errors(401, 403, 404, 429) },
        },
      },
      "/audit": {
        get: {
          operationId: "listAudit",
          summary: "Audit log entries in a time range, oldest first (admin)",
          parameters: queryParameters(auditQuery),
          responses: { "200": ok({ type: "object", required: ["entries"] }), ...errors(400, 401, 403, 429) },
        },
      },
      "/audit/verify": {
        get: {
          operationId: "verifyAudit",
          summary: "Checks the audit log's hash chains: { ok, chains, entries, broken? } (admin)",
          responses: { "200": ok({ type: "object", required: ["ok", "chains", "entries"] }), ...errors(401, 403, 429) },
        },
      },
      "/openapi.json": {
        get: {
          operationId: "getOpenApi",
          summary: "This document",
          security: [],
          responses: { "200": ok({ type: "object" }) },
        },
      },
    },
    // Keys are required when the server says so (COGNIVE_AUTH): as a bearer token, or as the Basic password.
    security: [{ bearer: [] }, { basic: [] }],
    components: {
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", description: "an API key (cgv_…)" },
        basic: { type: "http", scheme: "basic", description: "any user name, the API key as the password" },
      },
      schemas: {
        Error: errorSchema,
        Span: spanSchema,
        OverviewTop: {
          type: "object",
          description: "an agent or model by spend in the range",
          properties: { name: str, costUsd: numType, calls: int, errors: int },
        },
      },
    },
  };
}
