import { createHash } from "node:crypto";
import { z } from "zod";

/** Alert kinds; each is also the tail of its NATS subject (`cognive.alerts.<kind>`). */
export const ALERT_KINDS = [
  "budget.threshold",
  "budget.forecast",
  "spend.anomaly",
  "policy.model_not_allowed",
  "policy.tool_not_approved",
] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

type ScopeType = "agent" | "team";
/** A budget window, or `rate` for a spend anomaly (the spend of the last minutes, no budget). */
type AlertWindow = "run" | "day" | "month" | "rate";

export interface AlertScope {
  type: ScopeType;
  name: string;
  window: AlertWindow;
}

/**
 * One alert. `threshold` is a percentage of the limit (50, 80, 100), `spendUsd` the spend that crossed
 * it and `limitUsd` the budget. `spanId` (optional) names the span that caused a policy alert.
 * `budget.forecast`: `spendUsd` spent so far, `projectedUsd` the window's projected end, `exceedsOn` the
 * day (`YYYY-MM-DD`) the budget is projected to be reached. `spend.anomaly`: `spendUsd` the spend of the
 * last `windowMinutes`, `baselineUsd` the median of the same hour in past weeks.
 */
export interface Alert {
  id: string;
  kind: AlertKind;
  time: string;
  agent: string;
  team: string;
  traceId?: string;
  spanId?: string;
  model?: string;
  tool?: string;
  scope?: AlertScope;
  threshold?: number;
  spendUsd?: number;
  limitUsd?: number;
  projectedUsd?: number;
  exceedsOn?: string;
  baselineUsd?: number;
  windowMinutes?: number;
}

const isoTime = z.string().refine((s) => !Number.isNaN(Date.parse(s)), "must be an ISO time");

export const alertScopeSchema = z.object({
  type: z.enum(["agent", "team"]),
  name: z.string().min(1),
  window: z.enum(["run", "day", "month", "rate"]),
});

export const alertSchema = z.object({
  id: z.string().min(1),
  kind: z.enum(ALERT_KINDS),
  time: isoTime,
  agent: z.string(),
  team: z.string(),
  traceId: z.string().optional(),
  spanId: z.string().optional(),
  model: z.string().optional(),
  tool: z.string().optional(),
  scope: alertScopeSchema.optional(),
  threshold: z.number().nonnegative().optional(),
  spendUsd: z.number().optional(),
  limitUsd: z.number().optional(),
  projectedUsd: z.number().optional(),
  exceedsOn: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}$/)
    .optional(),
  baselineUsd: z.number().optional(),
  windowMinutes: z.number().int().positive().optional(),
});

// Compile-time check that the schema and the interface agree in both directions.
type SchemaAlert = z.infer<typeof alertSchema>;
const _toSchema = (a: Alert): SchemaAlert => a;
const _fromSchema = (a: SchemaAlert): Alert => a;
void _toSchema;
void _fromSchema;

/** Parses an unknown value (e.g. a decoded NATS payload); throws a ZodError when it is not an alert. */
export function parseAlert(value: unknown): Alert {
  return alertSchema.parse(value);
}

export type AlertIdParts =
  | {
      kind: "budget.threshold";
      scope: AlertScope;
      /** Which window instance: the trace id for "run", "2026-11-24" for "day", "2026-11" for "month". */
      windowKey: string;
      threshold: number;
    }
  | {
      /** Once per scope and window instance. */
      kind: "budget.forecast";
      scope: AlertScope;
      windowKey: string;
    }
  | {
      /** Once per episode: the episode's first anomalous window end (ISO time). */
      kind: "spend.anomaly";
      scope: AlertScope;
      episodeStart: string;
    }
  | {
      kind: "policy.model_not_allowed" | "policy.tool_not_approved";
      traceId: string;
      spanId: string;
    };

/**
 * Deterministic alert id: the SHA-256 hex of the fields that identify the event, so every collector
 * computes the same id for the same event (a retried batch, or two collectors counting the same
 * window, yield one id, which sinks and the deliverer de-duplicate on).
 */
export function alertId(parts: AlertIdParts): string {
  const fields = idFields(parts);
  // JSON array encoding keeps the fields unambiguous (no separator can be forged by a name).
  return createHash("sha256").update(JSON.stringify(fields)).digest("hex");
}

function idFields(parts: AlertIdParts): string[] {
  switch (parts.kind) {
    case "budget.threshold":
      return [
        parts.kind,
        parts.scope.type,
        parts.scope.name,
        parts.scope.window,
        parts.windowKey,
        String(parts.threshold),
      ];
    case "budget.forecast":
      return [parts.kind, parts.scope.type, parts.scope.name, parts.scope.window, parts.windowKey];
    case "spend.anomaly":
      return [parts.kind, parts.scope.type, parts.scope.name, parts.episodeStart];
    default:
      return [parts.kind, parts.traceId, parts.spanId];
  }
}
