import { readFileSync } from "node:fs";
import type { PriceOverride } from "@cognive/semconv";
import { parse } from "yaml";
import { z } from "zod";
import { ConfigError } from "./config.ts";
import { type AnomalySettings, DEFAULT_ANOMALY } from "./governance/anomaly.ts";

/** Alert thresholds used when `alerts.thresholds` is absent: fractions of each budget. */
export const DEFAULT_THRESHOLDS: readonly number[] = [0.5, 0.8, 1.0];

const isoDate = z.string().refine((s) => !Number.isNaN(Date.parse(s)), "must be an ISO date");
const perMtok = z.number().nonnegative();
const name = z.string().min(1, "must not be empty");
const usd = z.number().positive("must be a positive number").finite("must be a finite number");
const httpUrl = z.url({ protocol: /^https?$/, message: "must be an http(s) URL" });

const overrideSchema = z.strictObject({
  match: z
    .string()
    .min(1)
    .refine((s) => {
      try {
        new RegExp(s);
        return true;
      } catch {
        return false;
      }
    }, "must be a valid regular expression"),
  provider: z.string().min(1).optional(),
  input_per_mtok: perMtok,
  output_per_mtok: perMtok,
  cache_read_per_mtok: perMtok.optional(),
  cache_write_per_mtok: perMtok.optional(),
  effective_from: isoDate.optional(),
  effective_to: isoDate.optional(),
});

const budgetsSchema = z.strictObject({
  per_run_usd: usd.optional(),
  daily_usd: usd.optional(),
  monthly_usd: usd.optional(),
});

const teamSchema = z.strictObject({ budgets: budgetsSchema.optional() });

const agentSchema = z.strictObject({
  team: name.optional(),
  allowed_models: z.array(name).optional(),
  approved_tools: z.array(name).optional(),
  budgets: budgetsSchema.optional(),
});

const sinkSchema = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("webhook"), url: httpUrl, secret: z.string().min(1).optional() }),
  z.strictObject({ type: z.literal("slack"), url: httpUrl }),
  z.strictObject({ type: z.literal("email"), to: z.array(z.email("must be an email address")).min(1).max(50) }),
]);

/** Scheduled reports: each team's monthly chargeback, sent on the 1st to the team's sinks (else `sinks`). */
const reportsSchema = z.strictObject({
  chargeback: z
    .strictObject({
      sinks: z.array(sinkSchema).nullish(),
      teams: z.record(name, z.strictObject({ sinks: z.array(sinkSchema) })).nullish(),
    })
    .nullish(),
});

const thresholdsSchema = z
  .array(z.number().gt(0, "must be greater than 0").lte(10, "must be at most 10"))
  .refine((a) => a.every((v, i) => i === 0 || v > a[i - 1]), "must be sorted ascending without duplicates");

const forecastSchema = z.strictObject({
  enabled: z.boolean().optional(),
  min_history_days: z.number().int().min(1).max(28).optional(),
});

const anomalySchema = z.strictObject({
  enabled: z.boolean().optional(),
  window_minutes: z
    .number()
    .int()
    .refine((n) => n > 0 && 60 % n === 0, "must divide an hour (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30 or 60)")
    .optional(),
  baseline_weeks: z.number().int().min(1).max(12).optional(),
  threshold: z.number().positive().max(1000).optional(),
  min_usd: z.number().nonnegative().finite().optional(),
});

/** The policy file as written (snake_case keys). Every object is strict: an unknown key is an error. */
export const policySchema = z
  .strictObject({
    teams: z.record(name, teamSchema.nullable()).nullish(),
    agents: z.record(name, agentSchema.nullable()).nullish(),
    alerts: z
      .strictObject({
        thresholds: thresholdsSchema.optional(),
        sinks: z.array(sinkSchema).nullish(),
        forecast: forecastSchema.nullish(),
        anomaly: anomalySchema.nullish(),
      })
      .nullish(),
    pricing: z.strictObject({ overrides: z.array(overrideSchema).nullish() }).nullish(),
    reports: reportsSchema.nullish(),
  })
  .superRefine((doc, ctx) => {
    const teams = doc.teams ?? {};
    for (const [agent, spec] of Object.entries(doc.agents ?? {})) {
      if (spec?.team !== undefined && !Object.hasOwn(teams, spec.team)) {
        ctx.addIssue({
          code: "custom",
          path: ["agents", agent, "team"],
          message: `team ${JSON.stringify(spec.team)} is not declared under teams`,
        });
      }
    }
  });

export type PolicyFile = z.infer<typeof policySchema>;

/** Budget limits in USD; null = no limit in that window. */
export interface Budgets {
  perRunUsd: number | null;
  dailyUsd: number | null;
  monthlyUsd: number | null;
}

/** A compiled `allowed_models` glob. */
export interface Glob {
  pattern: string;
  re: RegExp;
}

export interface TeamPolicy {
  budgets: Budgets;
}

export interface AgentPolicy {
  /** The declared team, or null. */
  team: string | null;
  /** null when `allowed_models` is not declared (every model allowed); [] allows none. */
  allowedModels: Glob[] | null;
  /** null when `approved_tools` is not declared (every tool approved); an empty set approves none. */
  approvedTools: Set<string> | null;
  budgets: Budgets;
}

export type Sink =
  | { type: "webhook"; url: string; secret: string | null }
  | { type: "slack"; url: string }
  | { type: "email"; to: string[] };

/** Where each team's monthly chargeback goes: the team's own sinks, else the default ones. */
export interface ChargebackDelivery {
  sinks: Sink[];
  teams: Map<string, Sink[]>;
}

export interface Policy {
  priceOverrides: PriceOverride[];
  teams: Map<string, TeamPolicy>;
  agents: Map<string, AgentPolicy>;
  alerts: { thresholds: number[]; sinks: Sink[]; forecast: ForecastPolicy; anomaly: AnomalyPolicy };
  /** Scheduled monthly chargeback delivery; absent when the policy declares none. */
  reports?: { chargeback: ChargebackDelivery | null };
}

/** `budget.forecast`: a budget projected to be reached before its window ends. */
export interface ForecastPolicy {
  enabled: boolean;
  /** Full days of spend history a scope needs before its forecast may alert. */
  minHistoryDays: number;
}

/** `spend.anomaly`: spend of the last N minutes far above the same hour of past weeks. */
export interface AnomalyPolicy extends AnomalySettings {
  enabled: boolean;
}

export const DEFAULT_FORECAST: Readonly<ForecastPolicy> = Object.freeze({ enabled: true, minHistoryDays: 7 });

/**
 * Compiles a glob (`*` = any run of characters, `?` = one character) to an anchored, case-sensitive
 * RegExp; every other character is literal.
 */
export function compileGlob(pattern: string): RegExp {
  let src = "";
  for (const ch of pattern) {
    if (ch === "*") src += ".*";
    else if (ch === "?") src += ".";
    else src += ch.replace(/[\\^$.*+?()[\]{}|/]/g, "\\$&");
  }
  return new RegExp(`^${src}$`, "su");
}

export function emptyPolicy(): Policy {
  return {
    priceOverrides: [],
    teams: new Map(),
    agents: new Map(),
    alerts: {
      thresholds: [...DEFAULT_THRESHOLDS],
      sinks: [],
      forecast: { ...DEFAULT_FORECAST },
      anomaly: { enabled: true, ...DEFAULT_ANOMALY },
    },
  };
}

function toBudgets(b: z.infer<typeof budgetsSchema> | undefined): Budgets {
  return { perRunUsd: b?.per_run_usd ?? null, dailyUsd: b?.daily_usd ?? null, monthlyUsd: b?.monthly_usd ?? null };
}

function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return "(root)";
  return path.map((p) => (p === "" ? '""' : String(p))).join(".");
}

function formatIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((k) => `${formatPath([...issue.path, k])}: unknown key`).join("; ");
  }
  return `${formatPath(issue.path)}: ${issue.message}`;
}

function toSink(s: z.infer<typeof sinkSchema>): Sink {
  if (s.type === "webhook") return { type: "webhook", url: s.url, secret: s.secret ?? null };
  if (s.type === "slack") return { type: "slack", url: s.url };
  return { type: "email", to: [...s.to] };
}

/** Turns a validated policy document into the typed Policy. */
export function buildPolicy(doc: PolicyFile): Policy {
  const teams = new Map<string, TeamPolicy>();
  for (const [team, spec] of Object.entries(doc.teams ?? {})) {
    teams.set(team, { budgets: toBudgets(spec?.budgets) });
  }
  const agents = new Map<string, AgentPolicy>();
  for (const [agent, spec] of Object.entries(doc.agents ?? {})) {
    agents.set(agent, {
      team: spec?.team ?? null,
      allowedModels: spec?.allowed_models ? spec.allowed_models.map((p) => ({ pattern: p, re: compileGlob(p) })) : null,
      approvedTools: spec?.approved_tools ? new Set(spec.approved_tools) : null,
      budgets: toBudgets(spec?.budgets),
    });
  }
  const sinks: Sink[] = (doc.alerts?.sinks ?? []).map(toSink);
  const chargeback = doc.reports?.chargeback;
  return {
    priceOverrides: doc.pricing?.overrides ?? [],
    teams,
    agents,
    alerts: {
      thresholds: doc.alerts?.thresholds ?? [...DEFAULT_THRESHOLDS],
      sinks,
      forecast: {
        enabled: doc.alerts?.forecast?.enabled ?? DEFAULT_FORECAST.enabled,
        minHistoryDays: doc.alerts?.forecast?.min_history_days ?? DEFAULT_FORECAST.minHistoryDays,
      },
      anomaly: {
        enabled: doc.alerts?.anomaly?.enabled ?? true,
        windowMinutes: doc.alerts?.anomaly?.window_minutes ?? DEFAULT_ANOMALY.windowMinutes,
        baselineWeeks: doc.alerts?.anomaly?.baseline_weeks ?? DEFAULT_ANOMALY.baselineWeeks,
        threshold: doc.alerts?.anomaly?.threshold ?? DEFAULT_ANOMALY.threshold,
        minUsd: doc.alerts?.anomaly?.min_usd ?? DEFAULT_ANOMALY.minUsd,
      },
    },
    ...(chargeback
      ? {
          reports: {
            chargeback: {
              sinks: (chargeback.sinks ?? []).map(toSink),
              teams: new Map(Object.entries(chargeback.teams ?? {}).map(([t, v]) => [t, v.sinks.map(toSink)])),
            },
          },
        }
      : {}),
  };
}

/** Parses and validates a policy file; any mistake throws ConfigError naming `source` and the key path. */
export function parsePolicy(text: string, source = "policy"): Policy {
  let doc: unknown;
  try {
    doc = parse(text) ?? {};
  } catch (err) {
    throw new ConfigError(`${source}: not valid YAML: ${(err as Error).message}`);
  }
  const parsed = policySchema.safeParse(doc);
  if (!parsed.success) {
    throw new ConfigError(`${source}: ${parsed.error.issues.map(formatIssue).join("; ")}`);
  }
  return buildPolicy(parsed.data);
}

/** Reads the policy file at `path` (COGNIVE_POLICY); no path = the empty policy. */
export function loadPolicy(path: string | undefined): Policy {
  if (!path) return emptyPolicy();
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(`COGNIVE_POLICY: cannot read ${path}: ${(err as Error).message}`);
  }
  return parsePolicy(text, path);
}
