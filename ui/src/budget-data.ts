/** Budget lines from `GET /api/v1/budgets` and how a gauge reads them. Pure. */
import { formatCost, formatPercent } from "./format.ts";

export type BudgetWindow = "run" | "day" | "month";

export interface BudgetLine {
  scope: { type: "agent" | "team"; name: string };
  window: BudgetWindow;
  windowKey: string;
  spendUsd: number;
  limitUsd: number;
  utilization: number;
}

export interface BudgetScope {
  type: "agent" | "team";
  name: string;
}

/** `agent:NAME` or `team:NAME` (the name may itself contain colons); null when malformed. */
export function parseScope(scope: string | null | undefined): BudgetScope | null {
  const m = /^(agent|team):(.+)$/s.exec(scope?.trim() ?? "");
  return m ? { type: m[1] as "agent" | "team", name: m[2] } : null;
}

const WINDOW_ORDER: BudgetWindow[] = ["run", "day", "month"];

/** The scope's budgets, in one window when asked, else all of them (run, day, month). */
export function selectBudgets(lines: readonly BudgetLine[], scope: BudgetScope, window?: string | null): BudgetLine[] {
  return lines
    .filter((l) => l.scope.type === scope.type && l.scope.name === scope.name && (!window || l.window === window))
    .sort((a, b) => WINDOW_ORDER.indexOf(a.window) - WINDOW_ORDER.indexOf(b.window));
}

/** Gauge colour levels at the default alert thresholds: 50 %, 80 % and 100 % of the limit. */
export type GaugeLevel = "ok" | "notice" | "warn" | "over";

export function gaugeLevel(utilization: number): GaugeLevel {
  if (!Number.isFinite(utilization) || utilization >= 1) return "over";
  if (utilization >= 0.8) return "warn";
  if (utilization >= 0.5) return "notice";
  return "ok";
}

/** The filled fraction of the bar, 0..1 (spend past the limit fills it). */
export function gaugeFill(spendUsd: number, limitUsd: number): number {
  if (!(limitUsd > 0)) return spendUsd > 0 ? 1 : 0;
  return Math.min(1, Math.max(0, spendUsd / limitUsd));
}

export function windowPhrase(window: BudgetWindow): string {
  return window === "day" ? "today" : window === "month" ? "this month" : "this run";
}

/** "$3.20 of $30.00 today". */
export function gaugeText(line: BudgetLine): string {
  return `${formatCost(line.spendUsd)} of ${formatCost(line.limitUsd)} ${windowPhrase(line.window)}`;
}

/** What a screen reader hears for the meter: the text plus the percentage. */
export function gaugeValueText(line: BudgetLine): string {
  return `${gaugeText(line)} (${formatPercent(line.utilization)})`;
}

/** The empty state when a scope has no budget in the policy (in the asked window). */
export function noBudgetMessage(scope: BudgetScope, window?: string | null): string {
  const kind = window === "day" ? "daily " : window === "month" ? "monthly " : window === "run" ? "per-run " : "";
  return `No ${kind}budget set for ${scope.type} ${scope.name} — add one in the policy file (COGNIVE_POLICY).`;
}

/** One series of `GET /api/v1/forecast`: the month's spend, its projected end and interval. */
export interface ForecastLine {
  key: string;
  spentUsd: number;
  projectedUsd: number;
  low: number;
  high: number;
  budgetUsd: number | null;
  exceedsOn: string | null;
  method: "weekday" | "flat" | "none";
  historyDays: number;
}

export function forecastFor(series: readonly ForecastLine[], scope: BudgetScope): ForecastLine | null {
  return series.find((s) => s.key === scope.name) ?? null;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** `2026-03-24` → `24 Mar 2026` (a UTC calendar day, the budget calendar; no time zone shift). */
export function formatDay(day: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  if (!m) return day;
  return `${Number(m[3])} ${MONTHS[Number(m[2]) - 1] ?? m[2]} ${m[1]}`;
}

/** "Projected $263.50 by month end ($255.72–$271.28)", or why there is no projection yet. */
export function projectionText(f: ForecastLine): string {
  if (f.method === "none") return "No projection yet: it needs a full day of spend history.";
  const range = f.high > f.low ? ` (${formatCost(f.low)}–${formatCost(f.high)})` : "";
  return `Projected ${formatCost(f.projectedUsd)} by month end${range}`;
}

/** "Reaches the budget on 24 Mar 2026" / "Reached the budget on …" / "Stays under the budget". */
export function exceedText(f: ForecastLine, today: string): string {
  if (f.exceedsOn === null) return "Projected to stay under the budget";
  const verb = f.exceedsOn <= today && f.spentUsd >= (f.budgetUsd ?? Number.POSITIVE_INFINITY) ? "Reached" : "Reaches";
  return `${verb} the budget on ${formatDay(f.exceedsOn)}`;
}
