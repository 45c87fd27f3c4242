import { ALERT_KINDS } from "@cognive/collector";
import { z } from "zod";
import { COST_GROUPS, type CostGroup, MIN_STEP } from "./costs.ts";
import { decimalParam, intParam, textParam, timeRangeShape, unixSeconds } from "./params.ts";

/** A trace id: 32 hex digits, either case. */
export const traceIdParam = z
  .string()
  .regex(/^[0-9a-fA-F]{32}$/, "expected 32 hexadecimal digits")
  .transform((s) => s.toLowerCase());

/** Query parameters of `GET /api/v1/traces`. Unknown parameters are rejected. */
export const traceListQuery = z.strictObject({
  ...timeRangeShape,
  service: textParam("only traces with a span of this service").optional(),
  agent: textParam("only traces with a span of this agent").optional(),
  team: textParam("only traces with a span of this team").optional(),
  model: textParam("only traces with a model call to this model (response model, else request model)").optional(),
  user: textParam("only traces with a span of this end user (user.id, enduser.id, …)").optional(),
  status: z.enum(["ok", "error"]).describe("error: at least one error span; ok: none").optional(),
  minDurationMs: decimalParam("only traces lasting at least this many milliseconds").optional(),
  maxDurationMs: decimalParam("only traces lasting at most this many milliseconds").optional(),
  minCostUsd: decimalParam("only traces whose model calls cost at least this many USD").optional(),
  limit: intParam(1, 1000, "traces per page, default 50").optional(),
  cursor: z.string().max(256).describe("nextCursor of the previous page").optional(),
});

/** Query parameters of `GET /api/v1/costs`. */
export const costsQuery = z.strictObject({
  ...timeRangeShape,
  step: intParam(MIN_STEP, 366 * 86_400, "bucket width in seconds, a multiple of 60")
    .refine((n) => n % MIN_STEP === 0, "must be a multiple of 60")
    .optional(),
  groupBy: z
    .enum(Object.keys(COST_GROUPS) as [CostGroup, ...CostGroup[]])
    .describe("dimension of the series, default model")
    .optional(),
});

/** Query parameters of `GET /api/v1/alerts`. */
export const alertsQuery = z.strictObject({
  ...timeRangeShape,
  kind: z.enum(ALERT_KINDS).describe("only alerts of this kind").optional(),
  agent: textParam("only alerts about this agent").optional(),
  team: textParam("only alerts about this team").optional(),
  traceId: traceIdParam.describe("only alerts raised by this trace (run)").optional(),
  limit: intParam(1, 1000, "alerts to return, default 100").optional(),
});

/** Query parameters of `GET /api/v1/forecast`. */
export const forecastQuery = z.strictObject({
  groupBy: z.enum(["team", "agent"]).describe("one series per team or per agent, default team").optional(),
  month: z
    .string()
    .regex(/^\d{4}-(0[1-9]|1[0-2])$/, "expected a month as YYYY-MM")
    .describe("the UTC month to forecast, default the current one")
    .optional(),
  at: unixSeconds.describe("the forecast as it stood at this time (Unix seconds), default now").optional(),
});

/** Query parameters of `GET /api/v1/agents` (range defaults to the last 30 days). */
export const agentsQuery = z.strictObject({ ...timeRangeShape });

/** Query parameters of `GET /api/v1/overview` (range defaults to the last 24 hours). */
export const overviewQuery = z.strictObject({
  ...timeRangeShape,
  top: intParam(1, 50, "agents and models to list, default 5").optional(),
});

/** Query parameters of `GET /api/v1/budget-check`. */
export const budgetCheckQuery = z.strictObject({
  agent: textParam("the agent about to spend"),
  traceId: z
    .string()
    .regex(/^[0-9a-fA-F]{32}$/, "expected 32 hexadecimal digits")
    .transform((s) => s.toLowerCase())
    .describe("the run (trace) about to spend, for per-run budgets")
    .optional(),
});

/** Query parameters of `GET /api/v1/budgets`. */
export const budgetsQuery = z.strictObject({
  traceId: budgetCheckQuery.shape.traceId,
});

/** Endpoints without query parameters still reject unknown ones. */
export const emptyQuery = z.strictObject({});

/** Query parameters of `GET /api/v1/audit`. */
export const auditQuery = z.strictObject({
  ...timeRangeShape,
  limit: intParam(1, 10_000, "entries to return, default 1000").optional(),
});
