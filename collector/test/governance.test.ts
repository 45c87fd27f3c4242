import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Alert } from "../src/alerts/alert.ts";
import { InProcessBus } from "../src/alerts/bus.ts";
import { type BudgetCounters, MemoryCounters } from "../src/governance/counters.ts";
import { Governance } from "../src/governance/engine.ts";
import type { GovernedSpan } from "../src/governance/hook.ts";
import { silentLogger } from "../src/log.ts";
import { parsePolicy } from "../src/policy.ts";
import { AlertStore } from "../src/storage/alerts.ts";
import type { Storage } from "../src/storage/client.ts";
import { openTestStorage } from "./support/storage.ts";

const POLICY = parsePolicy(`
teams:
  cx: { budgets: { daily_usd: 100 } }
agents:
  refund-agent:
    team: cx
    allowed_models: ["gpt-4o*"]
    approved_tools: [lookup_order]
    budgets: { per_run_usd: 0.10 }
`);

let storage: Storage;
let close: () => Promise<void>;
beforeAll(async () => {
  ({ storage, close } = await openTestStorage("governance"));
});
afterAll(async () => {
  await close();
});

let n = 0;
function call(traceId: string, costUsd: number, extra: Partial<GovernedSpan> = {}): GovernedSpan {
  n++;
  return {
    traceId,
    spanId: n.toString(16).padStart(16, "0"),
    timeMs: Date.parse("2026-11-24T12:00:00Z") + n,
    agent: "refund-agent",
    team: "cx",
    modelCall: true,
    costNanos: Math.round(costUsd * 1e9),
    requestModel: "gpt-4o",
    responseModel: "gpt-4o-2024-08-06",
    tool: null,
    ...extra,
  };
}

function setup() {
  const bus = new InProcessBus();
  const seen: Alert[] = [];
  bus.subscribe((a) => {
    seen.push(a);
  });
  const gov = new Governance(POLICY, new MemoryCounters(), bus, new AlertStore(storage), silentLogger);
  return { gov, seen };
}

describe("governance", () => {
  it("raises 50, 80 and 100 % of a run budget exactly once each, stored and published", async () => {
    const { gov, seen } = setup();
    const trace = "11111111111111111111111111111111";
    // 0.03 per call against 0.10: crosses 50 % at the 2nd call, 80 % at the 3rd, 100 % at the 4th
    const spans = Array.from({ length: 6 }, () => call(trace, 0.03));
    gov.onDurable(spans.slice(0, 3));
    gov.onDurable(spans.slice(3));
    gov.onDurable(spans); // a retried batch: counted once, raises nothing
    await gov.idle();
    const budget = seen.filter((a) => a.kind === "budget.threshold");
    expect(budget.map((a) => a.threshold)).toEqual([50, 80, 100]);
    expect(budget.every((a) => a.scope?.type === "agent" && a.scope.window === "run" && a.limitUsd === 0.1)).toBe(true);
    expect(budget.map((a) => a.spendUsd)).toEqual([0.06, 0.09, 0.12]);
    const rs = await storage.client.query({
      query: "SELECT count() AS n FROM cognive.alerts FINAL WHERE TraceId = {t:String} AND Kind = 'budget.threshold'",
      query_params: { t: trace },
      format: "JSONEachRow",
    });
    expect(Number(((await rs.json()) as { n: string }[])[0].n)).toBe(3);
  });

  it("flags a model outside allowed_models and a tool outside approved_tools", async () => {
    const { gov, seen } = setup();
    const trace = "22222222222222222222222222222222";
    gov.onDurable([
      call(trace, 0.001, { requestModel: "claude-3-opus", responseModel: "claude-3-opus-20240229" }),
      call(trace, 0, { modelCall: false, tool: "issue_refund", requestModel: null, responseModel: null }),
      call(trace, 0, { modelCall: false, tool: "lookup_order", requestModel: null, responseModel: null }),
      call(trace, 0.001),
    ]);
    await gov.idle();
    expect(seen.map((a) => a.kind).sort()).toEqual(["policy.model_not_allowed", "policy.tool_not_approved"]);
    expect(seen.find((a) => a.kind === "policy.model_not_allowed")?.model).toBe("claude-3-opus-20240229");
    expect(seen.find((a) => a.kind === "policy.tool_not_approved")?.tool).toBe("issue_refund");
  });

  it("counts team spend per day and leaves agents without a policy alone", async () => {
    const { gov, seen } = setup();
    gov.onDurable([call("33333333333333333333333333333333", 5, { agent: "unknown-agent", team: "" })]);
    gov.onDurable(
      Array.from({ length: 4 }, (_, i) =>
        call(`4444444444444444444444444444444${i}`, 20, { agent: "other", team: "cx" }),
      ),
    );
    await gov.idle();
    const team = seen.filter((a) => a.scope?.type === "team");
    expect(team.map((a) => [a.scope?.window, a.threshold])).toEqual([
      ["day", 50],
      ["day", 80],
    ]);
    expect(seen.some((a) => a.agent === "unknown-agent")).toBe(false);
  });

  it("counts a batch's spend in one call to the counters, its alerts in span order", async () => {
    const bus = new InProcessBus();
    const seen: Alert[] = [];
    bus.subscribe((a) => {
      seen.push(a);
    });
    const memory = new MemoryCounters();
    let calls = 0;
    const counters: BudgetCounters = {
      add: (k, incs, ts) => memory.add(k, incs, ts),
      addMany: (spends, ts) => {
        calls++;
        return memory.addMany(spends, ts);
      },
      get: (scope, window, key) => memory.get(scope, window, key),
      seed: (totals) => memory.seed(totals),
      close: () => memory.close(),
    };
    const gov = new Governance(POLICY, counters, bus, new AlertStore(storage), silentLogger);
    const trace = "55555555555555555555555555555555";
    gov.onDurable([
      call(trace, 0.001, { requestModel: "claude-3-opus", responseModel: "claude-3-opus-20240229" }),
      call(trace, 0.06), // 50 % of the run's 0.10
      call(trace, 0, { modelCall: false, tool: "issue_refund", requestModel: null, responseModel: null }),
      call(trace, 0.03), // 80 % and 100 %
      ...Array.from({ length: 100 }, () => call(trace, 0.001)),
    ]);
    expect(gov.stats.pendingSpans).toBe(104);
    await gov.idle();
    expect(gov.stats.pendingSpans).toBe(0);
    expect(calls).toBe(1);
    expect(seen.map((a) => a.threshold ?? a.kind)).toEqual([
      "policy.model_not_allowed",
      50,
      "policy.tool_not_approved",
      80,
      100,
    ]);
    expect(await memory.get({ type: "agent", name: "refund-agent" }, "run", trace)).toBeCloseTo(0.191, 9);
  });

  it("keeps a run's counter only for an agent with a per-run budget", async () => {
    const memory = new MemoryCounters();
    const gov = new Governance(POLICY, memory, new InProcessBus(), new AlertStore(storage), silentLogger);
    // 1,000 runs of an agent with no per-run budget, one of one with (refund-agent: 0.10 a run).
    gov.onDurable(
      Array.from({ length: 1_000 }, (_, i) => call(i.toString(16).padStart(32, "a"), 0.001, { agent: "other" })),
    );
    const run = "66666666666666666666666666666666";
    gov.onDurable([call(run, 0.02)]);
    await gov.idle();
    expect(await memory.get({ type: "agent", name: "other" }, "run", (999).toString(16).padStart(32, "a"))).toBe(0);
    expect(await memory.get({ type: "agent", name: "refund-agent" }, "run", run)).toBeCloseTo(0.02, 9);
    // Day and month for each agent and the team, and the one run: not a counter a run of "other".
    expect(memory.size).toBe(7);
    expect(await memory.get({ type: "team", name: "cx" }, "day", "2026-11-24")).toBeCloseTo(1.02, 9);
  });
});
