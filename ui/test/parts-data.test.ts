import { describe, expect, it } from "vitest";
import { type AgentEntry, ariaSort, globMatch, nextSort, sortAgents } from "../src/agent-table-data.ts";
import {
  backoffMs,
  describeAlert,
  kindLabel,
  mergeAlerts,
  normalizeAlert,
  relativeTime,
  severityOf,
} from "../src/alert-data.ts";
import {
  type BudgetLine,
  gaugeFill,
  gaugeLevel,
  gaugeText,
  gaugeValueText,
  noBudgetMessage,
  parseScope,
  selectBudgets,
} from "../src/budget-data.ts";
import { budgetAlert } from "./alerts.ts";

function agent(name: string, over: Partial<AgentEntry> = {}): AgentEntry {
  return {
    name,
    team: null,
    declared: false,
    policy: null,
    firstSeen: null,
    lastSeen: null,
    models: [],
    tools: [],
    calls: 0,
    errorRate: null,
    spendTodayUsd: 0,
    spendUsd: 0,
    violations: 0,
    ...over,
  };
}

const budgets = (daily: number | null) => ({
  allowedModels: null,
  approvedTools: null,
  budgets: { perRunUsd: null, dailyUsd: daily, monthlyUsd: null },
});

describe("agent table sorting", () => {
  const agents = [
    agent("beta", { team: "cx", spendUsd: 2, calls: 10, errorRate: 0.1, violations: 1, policy: budgets(30) }),
    agent("Alpha", { team: null, spendUsd: 5, calls: 3, errorRate: null }),
    agent("gamma", { team: "Finance", spendUsd: 2, calls: 7, errorRate: 0, policy: budgets(4) }),
  ];
  const names = (list: AgentEntry[]) => list.map((a) => a.name);

  it("sorts numbers both ways, ties by name", () => {
    expect(names(sortAgents(agents, "spendUsd", "desc"))).toEqual(["Alpha", "beta", "gamma"]);
    expect(names(sortAgents(agents, "spendUsd", "asc"))).toEqual(["beta", "gamma", "Alpha"]);
    expect(names(sortAgents(agents, "calls", "asc"))).toEqual(["Alpha", "gamma", "beta"]);
  });

  it("sorts text case-insensitively", () => {
    expect(names(sortAgents(agents, "name", "asc"))).toEqual(["Alpha", "beta", "gamma"]);
    expect(names(sortAgents(agents, "name", "desc"))).toEqual(["gamma", "beta", "Alpha"]);
  });

  it("puts missing values last in either direction", () => {
    expect(names(sortAgents(agents, "errorRate", "desc"))).toEqual(["beta", "gamma", "Alpha"]);
    expect(names(sortAgents(agents, "errorRate", "asc"))).toEqual(["gamma", "beta", "Alpha"]);
    expect(names(sortAgents(agents, "team", "asc"))).toEqual(["beta", "gamma", "Alpha"]);
    expect(names(sortAgents(agents, "policy", "asc"))).toEqual(["gamma", "beta", "Alpha"]);
    expect(names(sortAgents(agents, "policy", "desc"))).toEqual(["beta", "gamma", "Alpha"]);
  });

  it("does not reorder its input", () => {
    const before = names(agents);
    sortAgents(agents, "name", "desc");
    expect(names(agents)).toEqual(before);
  });

  it("flips the sorted column, starts others in their natural direction", () => {
    expect(nextSort({ key: "spendUsd", dir: "desc" }, "spendUsd")).toEqual({ key: "spendUsd", dir: "asc" });
    expect(nextSort({ key: "spendUsd", dir: "asc" }, "spendUsd")).toEqual({ key: "spendUsd", dir: "desc" });
    expect(nextSort({ key: "spendUsd", dir: "desc" }, "name")).toEqual({ key: "name", dir: "asc" });
    expect(nextSort({ key: "name", dir: "asc" }, "calls")).toEqual({ key: "calls", dir: "desc" });
  });

  it("reports aria-sort for each header", () => {
    expect(ariaSort({ key: "calls", dir: "asc" }, "calls")).toBe("ascending");
    expect(ariaSort({ key: "calls", dir: "desc" }, "calls")).toBe("descending");
    expect(ariaSort({ key: "calls", dir: "desc" }, "name")).toBe("none");
  });

  it("matches allowed_models globs like the server", () => {
    expect(globMatch("gpt-4o*", "gpt-4o-2024-08-06")).toBe(true);
    expect(globMatch("gpt-4o*", "gpt-4.1")).toBe(false);
    expect(globMatch("gpt-4.1", "gpt-4x1")).toBe(false);
    expect(globMatch("o?-mini", "o3-mini")).toBe(true);
    expect(globMatch("claude-3-5-haiku*", "Claude-3-5-haiku")).toBe(false);
    expect(globMatch("a(b)+", "a(b)+")).toBe(true);
  });
});

describe("budget gauge", () => {
  const line = (type: "agent" | "team", name: string, window: "run" | "day" | "month", spend: number, limit: number) =>
    ({
      scope: { type, name },
      window,
      windowKey: "k",
      spendUsd: spend,
      limitUsd: limit,
      utilization: spend / limit,
    }) satisfies BudgetLine;
  const lines = [
    line("agent", "refund-agent", "month", 40, 500),
    line("agent", "refund-agent", "day", 12, 30),
    line("team", "refund-agent", "day", 1, 40),
    line("agent", "triage-agent", "day", 1, 5),
  ];

  it("parses scope attributes", () => {
    expect(parseScope("agent:refund-agent")).toEqual({ type: "agent", name: "refund-agent" });
    expect(parseScope(" team:cx ")).toEqual({ type: "team", name: "cx" });
    expect(parseScope("agent:ns:name")).toEqual({ type: "agent", name: "ns:name" });
    expect(parseScope("agent:")).toBeNull();
    expect(parseScope("refund-agent")).toBeNull();
    expect(parseScope("user:x")).toBeNull();
    expect(parseScope(undefined)).toBeNull();
  });

  it("selects the scope's budgets, one window or all in run-day-month order", () => {
    const agentScope = { type: "agent", name: "refund-agent" } as const;
    expect(selectBudgets(lines, agentScope).map((l) => l.window)).toEqual(["day", "month"]);
    expect(selectBudgets(lines, agentScope, "month").map((l) => l.spendUsd)).toEqual([40]);
    expect(selectBudgets(lines, agentScope, "run")).toEqual([]);
    expect(selectBudgets(lines, { type: "team", name: "refund-agent" }).map((l) => l.limitUsd)).toEqual([40]);
  });

  it("changes colour level at 50, 80 and 100 %", () => {
    expect(gaugeLevel(0)).toBe("ok");
    expect(gaugeLevel(0.499)).toBe("ok");
    expect(gaugeLevel(0.5)).toBe("notice");
    expect(gaugeLevel(0.799)).toBe("notice");
    expect(gaugeLevel(0.8)).toBe("warn");
    expect(gaugeLevel(0.999)).toBe("warn");
    expect(gaugeLevel(1)).toBe("over");
    expect(gaugeLevel(3.2)).toBe("over");
    expect(gaugeLevel(Number.POSITIVE_INFINITY)).toBe("over");
  });

  it("fills the bar up to the limit and no further", () => {
    expect(gaugeFill(12, 30)).toBeCloseTo(0.4);
    expect(gaugeFill(45, 30)).toBe(1);
    expect(gaugeFill(0, 30)).toBe(0);
    expect(gaugeFill(1, 0)).toBe(1);
    expect(gaugeFill(0, 0)).toBe(0);
  });

  it("says spend of limit per window", () => {
    expect(gaugeText(lines[1])).toBe("$12.00 of $30.00 today");
    expect(gaugeText(lines[0])).toBe("$40.00 of $500.00 this month");
    expect(gaugeText(line("agent", "a", "run", 0.25, 0.5))).toBe("$0.25 of $0.50 this run");
    expect(gaugeValueText(lines[1])).toBe("$12.00 of $30.00 today (40%)");
  });

  it("explains a missing budget and where to add one", () => {
    expect(noBudgetMessage({ type: "agent", name: "x" })).toBe(
      "No budget set for agent x — add one in the policy file (COGNIVE_POLICY).",
    );
    expect(noBudgetMessage({ type: "team", name: "cx" }, "month")).toBe(
      "No monthly budget set for team cx — add one in the policy file (COGNIVE_POLICY).",
    );
  });
});

const alert = budgetAlert;

describe("alert feed", () => {
  it("normalises list items and stream events to one shape", () => {
    const fromStream = normalizeAlert({
      id: "a1",
      kind: "policy.model_not_allowed",
      time: "2026-11-24T10:00:00.000Z",
      agent: "refund-agent",
      team: "cx",
      model: "gpt-5",
    });
    expect(fromStream).toEqual({
      id: "a1",
      kind: "policy.model_not_allowed",
      time: "2026-11-24T10:00:00.000Z",
      agent: "refund-agent",
      team: "cx",
      traceId: null,
      model: "gpt-5",
      tool: null,
      scope: null,
      threshold: null,
      spendUsd: null,
      limitUsd: null,
      projectedUsd: null,
      exceedsOn: null,
      baselineUsd: null,
      windowMinutes: null,
    });
    const fromList = alert("a2", "2026-11-24T10:00:00Z");
    expect(normalizeAlert(fromList)).toEqual(fromList);
  });

  it("rejects what is not an alert", () => {
    expect(normalizeAlert(null)).toBeNull();
    expect(normalizeAlert("x")).toBeNull();
    expect(normalizeAlert({ id: "a", kind: "k" })).toBeNull();
    expect(normalizeAlert({ id: "a", kind: "k", time: "yesterday" })).toBeNull();
  });

  it("merges newest first, one per id, keeping the first copy, capped at the limit", () => {
    const a = alert("a", "2026-11-24T10:00:00Z");
    const b = alert("b", "2026-11-24T10:05:00Z");
    const c = alert("c", "2026-11-24T09:00:00Z");
    const feed = mergeAlerts([a], [b, c], 10);
    expect(feed.map((x) => x.id)).toEqual(["b", "a", "c"]);
    const again = mergeAlerts(feed, [{ ...b, threshold: 100 }, a], 10);
    expect(again.map((x) => x.id)).toEqual(["b", "a", "c"]);
    expect(again[0].threshold).toBe(80);
    expect(mergeAlerts(feed, [alert("d", "2026-11-24T11:00:00Z")], 2).map((x) => x.id)).toEqual(["d", "b"]);
  });

  it("orders equal times by id, whichever arrives first", () => {
    const x = alert("x", "2026-11-24T10:00:00Z");
    const y = alert("y", "2026-11-24T10:00:00Z");
    expect(mergeAlerts([y], [x], 5).map((a) => a.id)).toEqual(["x", "y"]);
    expect(mergeAlerts([x], [y], 5).map((a) => a.id)).toEqual(["x", "y"]);
  });

  it("grades severity by threshold and kind", () => {
    expect(severityOf(alert("a", "2026-11-24T10:00:00Z", { threshold: 100 }))).toBe("critical");
    expect(severityOf(alert("a", "2026-11-24T10:00:00Z", { threshold: 80 }))).toBe("warning");
    expect(severityOf(alert("a", "2026-11-24T10:00:00Z", { threshold: 50 }))).toBe("info");
    expect(severityOf(alert("a", "2026-11-24T10:00:00Z", { kind: "policy.tool_not_approved" }))).toBe("warning");
    expect(kindLabel("policy.model_not_allowed")).toBe("model not allowed");
    expect(kindLabel("something.new")).toBe("something.new");
  });

  it("describes what happened", () => {
    expect(describeAlert(alert("a", "2026-11-24T10:00:00Z"))).toBe(
      "agent refund-agent reached 80% of its daily budget ($24.00 of $30.00)",
    );
    expect(
      describeAlert(alert("a", "2026-11-24T10:00:00Z", { kind: "policy.tool_not_approved", scope: null, tool: "rm" })),
    ).toBe("agent refund-agent used tool rm, which its policy does not approve");
    const forecast = alert("f", "2026-11-24T10:00:00Z", {
      kind: "budget.forecast",
      scope: { type: "team", name: "cx", window: "month" },
      threshold: null,
      limitUsd: 200,
      projectedUsd: 263.5,
      exceedsOn: "2026-11-27",
    });
    expect(describeAlert(forecast)).toBe(
      "team cx is on course to exceed its monthly budget of $200.00 on 2026-11-27, projected $263.50",
    );
    expect(kindLabel(forecast.kind)).toBe("forecast");
    expect(severityOf(forecast)).toBe("warning");
    const anomaly = alert("s", "2026-11-24T10:00:00Z", {
      kind: "spend.anomaly",
      scope: { type: "agent", name: "refund-agent", window: "rate" },
      threshold: null,
      spendUsd: 20,
      baselineUsd: 0.5,
      windowMinutes: 15,
    });
    expect(describeAlert(anomaly)).toBe("agent refund-agent spent $20.00 in 15 min against a usual $0.50");
  });

  it("writes relative times", () => {
    const now = Date.parse("2026-11-24T12:00:00Z");
    expect(relativeTime("2026-11-24T11:59:55Z", now)).toBe("just now");
    expect(relativeTime("2026-11-24T12:00:30Z", now)).toBe("just now");
    expect(relativeTime("2026-11-24T11:59:18Z", now)).toBe("42 s ago");
    expect(relativeTime("2026-11-24T11:55:00Z", now)).toBe("5 min ago");
    expect(relativeTime("2026-11-24T09:00:00Z", now)).toBe("3 h ago");
    expect(relativeTime("2026-11-22T12:00:00Z", now)).toBe("2 d ago");
  });

  it("backs off doubling from 1 s to 30 s, with bounded jitter", () => {
    expect([0, 1, 2, 3, 4, 5, 6, 40].map((n) => backoffMs(n))).toEqual([
      1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000,
    ]);
    expect(backoffMs(0, 0.999)).toBeLessThanOrEqual(1200);
    expect(backoffMs(10, 0.5)).toBe(33_000);
  });
});
