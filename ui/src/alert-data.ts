/** Alerts from `GET /api/v1/alerts` and its SSE stream, and how the feed orders and words them. Pure. */
import { formatCost } from "./format.ts";

export interface AlertItem {
  id: string;
  kind: string;
  /** ISO time. */
  time: string;
  agent: string;
  team: string;
  traceId: string | null;
  model: string | null;
  tool: string | null;
  scope: { type: string; name: string; window: string } | null;
  /** Percent of the limit (50, 80, 100) for budget alerts. */
  threshold: number | null;
  spendUsd: number | null;
  limitUsd: number | null;
  /** budget.forecast: month- or day-end projection and the day the budget is reached. */
  projectedUsd: number | null;
  exceedsOn: string | null;
  /** spend.anomaly: the usual spend for that hour of the week, over `windowMinutes`. */
  baselineUsd: number | null;
  windowMinutes: number | null;
}

/**
 * The list API gives nulls, the stream gives the bus's alert with optional fields: both become
 * one shape. Returns null for something that is not an alert (no id, kind or time).
 */
export function normalizeAlert(raw: unknown): AlertItem | null {
  if (!raw || typeof raw !== "object") return null;
  const r = raw as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === "string" && v !== "" ? v : null);
  const numOrNull = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : null);
  const id = str(r.id);
  const kind = str(r.kind);
  const time = str(r.time);
  if (!id || !kind || !time || Number.isNaN(Date.parse(time))) return null;
  const s = r.scope as Record<string, unknown> | null | undefined;
  return {
    id,
    kind,
    time,
    agent: str(r.agent) ?? "",
    team: str(r.team) ?? "",
    traceId: str(r.traceId),
    model: str(r.model),
    tool: str(r.tool),
    scope:
      s && typeof s === "object" && str(s.type) && str(s.name)
        ? { type: String(s.type), name: String(s.name), window: str(s.window) ?? "" }
        : null,
    threshold: numOrNull(r.threshold),
    spendUsd: numOrNull(r.spendUsd),
    limitUsd: numOrNull(r.limitUsd),
    projectedUsd: numOrNull(r.projectedUsd),
    exceedsOn: str(r.exceedsOn),
    baselineUsd: numOrNull(r.baselineUsd),
    windowMinutes: numOrNull(r.windowMinutes),
  };
}

/** Newest first; equal times by id so the order is stable. */
export function compareAlerts(a: AlertItem, b: AlertItem): number {
  const d = Date.parse(b.time) - Date.parse(a.time);
  if (d !== 0) return d;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * Adds alerts to a feed: one per id (the same alert arrives from the list and the stream, and again
 * after a reconnect), newest first, at most `limit`. Returns a new array.
 */
export function mergeAlerts(current: readonly AlertItem[], incoming: readonly AlertItem[], limit: number): AlertItem[] {
  const byId = new Map<string, AlertItem>();
  for (const a of current) byId.set(a.id, a);
  for (const a of incoming) if (!byId.has(a.id)) byId.set(a.id, a);
  return [...byId.values()].sort(compareAlerts).slice(0, Math.max(0, limit));
}

export type Severity = "critical" | "warning" | "info";

/** Over budget is critical; 80 % and policy violations are warnings; lower thresholds are info. */
export function severityOf(a: AlertItem): Severity {
  if (a.kind === "budget.threshold") {
    const t = a.threshold ?? 0;
    return t >= 100 ? "critical" : t >= 80 ? "warning" : "info";
  }
  if (a.kind.startsWith("policy.") || a.kind === "budget.forecast" || a.kind === "spend.anomaly") return "warning";
  return "info";
}

/** Short badge text for an alert kind. */
export function kindLabel(kind: string): string {
  switch (kind) {
    case "budget.threshold":
      return "budget";
    case "policy.model_not_allowed":
      return "model not allowed";
    case "policy.tool_not_approved":
      return "tool not approved";
    case "budget.forecast":
      return "forecast";
    case "spend.anomaly":
      return "anomaly";
    default:
      return kind;
  }
}

const WINDOW_WORD: Record<string, string> = { day: "daily", month: "monthly", run: "per-run" };

/** One sentence saying what happened. */
export function describeAlert(a: AlertItem): string {
  if (a.kind === "budget.threshold" && a.scope) {
    const win = WINDOW_WORD[a.scope.window] ?? a.scope.window;
    const money =
      a.spendUsd !== null && a.limitUsd !== null ? ` (${formatCost(a.spendUsd)} of ${formatCost(a.limitUsd)})` : "";
    return `${a.scope.type} ${a.scope.name} reached ${a.threshold ?? "?"}% of its ${win} budget${money}`;
  }
  if (a.kind === "policy.model_not_allowed") {
    return `agent ${a.agent || "?"} called model ${a.model ?? "?"}, which its policy does not allow`;
  }
  if (a.kind === "policy.tool_not_approved") {
    return `agent ${a.agent || "?"} used tool ${a.tool ?? "?"}, which its policy does not approve`;
  }
  if (a.kind === "budget.forecast" && a.scope) {
    const win = WINDOW_WORD[a.scope.window] ?? a.scope.window;
    const proj = a.projectedUsd !== null ? `, projected ${formatCost(a.projectedUsd)}` : "";
    const limit = a.limitUsd !== null ? ` of ${formatCost(a.limitUsd)}` : "";
    return `${a.scope.type} ${a.scope.name} is on course to exceed its ${win} budget${limit} on ${a.exceedsOn ?? "?"}${proj}`;
  }
  if (a.kind === "spend.anomaly") {
    const who = a.scope ? `${a.scope.type} ${a.scope.name}` : a.agent || a.team || "unknown";
    const spent = a.spendUsd !== null ? formatCost(a.spendUsd) : "?";
    const base = a.baselineUsd !== null ? ` against a usual ${formatCost(a.baselineUsd)}` : "";
    return `${who} spent ${spent} in ${a.windowMinutes ?? "?"} min${base}`;
  }
  return `${a.kind} for ${a.agent || a.team || "unknown"}`;
}

/** "just now", "42 s ago", "5 min ago", "3 h ago", "2 d ago"; future times read "just now". */
export function relativeTime(iso: string, nowMs: number): string {
  const s = Math.floor((nowMs - Date.parse(iso)) / 1000);
  if (!Number.isFinite(s)) return "";
  if (s < 10) return "just now";
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86_400)} d ago`;
}

/**
 * Wait before reconnect attempt `attempt` (0-based): doubling from 1 s up to 30 s, with up to 20 %
 * jitter (`random` in [0, 1)) so that many open pages do not reconnect in lockstep.
 */
export function backoffMs(attempt: number, random = 0): number {
  const base = Math.min(30_000, 1000 * 2 ** Math.max(0, Math.min(attempt, 15)));
  return Math.round(base * (1 + 0.2 * random));
}

/** Alerts that say the same thing about the same subject, newest first: one row in the feed. */
export interface AlertGroup {
  key: string;
  latest: AlertItem;
  alerts: AlertItem[];
}

/** What makes two alerts repeats of each other: everything but their id, time, trace and running spend. */
export function repeatKey(a: AlertItem): string {
  return JSON.stringify([a.kind, a.agent, a.team, a.model, a.tool, a.scope, a.threshold, a.limitUsd]);
}

/** Groups repeats, keeping the feed's order (a group sits where its newest alert is). */
export function groupAlerts(alerts: readonly AlertItem[]): AlertGroup[] {
  const groups = new Map<string, AlertGroup>();
  for (const a of alerts) {
    const key = repeatKey(a);
    const g = groups.get(key);
    if (g) g.alerts.push(a);
    else groups.set(key, { key, latest: a, alerts: [a] });
  }
  return [...groups.values()];
}

/** The alert kinds the feed filters by (the API's values). */
export const ALERT_KINDS = [
  "budget.threshold",
  "budget.forecast",
  "spend.anomaly",
  "policy.model_not_allowed",
  "policy.tool_not_approved",
] as const;

/** Whether an alert passes the feed's filters (empty ones pass everything). */
export function matchesFilters(a: AlertItem, f: { kind: string; agent: string; team: string }): boolean {
  return (!f.kind || a.kind === f.kind) && (!f.agent || a.agent === f.agent) && (!f.team || a.team === f.team);
}
