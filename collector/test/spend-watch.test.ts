import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Alert } from "../src/alerts/alert.ts";
import { InProcessBus } from "../src/alerts/bus.ts";
import { MemoryCounters } from "../src/governance/counters.ts";
import { Governance } from "../src/governance/engine.ts";
import type { GovernedSpan } from "../src/governance/hook.ts";
import { SpendWatch } from "../src/governance/spend-watch.ts";
import { silentLogger } from "../src/log.ts";
import { type Policy, parsePolicy } from "../src/policy.ts";
import { AlertStore } from "../src/storage/alerts.ts";
import type { Storage } from "../src/storage/client.ts";
import { insertSpanRows, modelCallRow, openTestStorage } from "./support/storage.ts";

let storage: Storage;
let close: () => Promise<void>;
beforeAll(async () => {
  ({ storage, close } = await openTestStorage("spend-watch"));
});
afterAll(async () => {
  await close();
});

const DAY = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();
const insert = (values: ReturnType<typeof modelCallRow>[]) => insertSpanRows(storage, values);

function watching(policy: Policy) {
  const bus = new InProcessBus();
  const seen: Alert[] = [];
  bus.subscribe((a) => {
    seen.push(a);
  });
  const store = new AlertStore(storage);
  const watch = () => new SpendWatch(storage, policy, bus, store, silentLogger);
  return { bus, seen, store, watch };
}

describe("budget.forecast", () => {
  const POLICY = parsePolicy(`
teams:
  cx: {}
agents:
  hot: { team: cx, budgets: { monthly_usd: 100 } }
  cool: { team: cx, budgets: { monthly_usd: 200 } }
  daily: { team: cx, budgets: { daily_usd: 20 } }
alerts:
  anomaly: { enabled: false }
`);

  it("fires once, days before the first threshold alert, never for a projection under budget, and not again after a restart", async () => {
    // Three weeks of $5 a day before December for hot and cool.
    const history: ReturnType<typeof modelCallRow>[] = [];
    for (let d = Date.parse("2026-11-10T10:00:00Z"); d < Date.parse("2026-12-01T00:00:00Z"); d += DAY) {
      history.push(modelCallRow(iso(d), "hot", "cx", 5), modelCallRow(iso(d), "cool", "cx", 5));
    }
    await insert(history);
    const { bus, seen, store, watch } = watching(POLICY);
    const gov = new Governance(POLICY, new MemoryCounters(), bus, store, silentLogger);
    const w = watch();
    let n = 0;
    for (let day = Date.parse("2026-12-01T00:00:00Z"); day < Date.parse("2026-12-26T00:00:00Z"); day += DAY) {
      // Each December day: $5 each at 10:00, stored and then governed, as ingest does.
      const spans = ["hot", "cool"].map(
        (agent): GovernedSpan => ({
          traceId: `${String(++n).padStart(31, "0")}a`,
          spanId: n.toString(16).padStart(16, "0"),
          timeMs: day + 10 * 3_600_000,
          agent,
          team: "cx",
          modelCall: true,
          costNanos: 5_000_000_000,
          requestModel: "gpt-4o",
          responseModel: "gpt-4o",
          tool: null,
        }),
      );
      await insert(spans.map((s) => modelCallRow(iso(s.timeMs), s.agent, "cx", 5, s.traceId)));
      gov.onDurable(spans);
      await gov.idle();
      await w.evaluate(day + 12 * 3_600_000);
      if (day === Date.parse("2026-12-02T00:00:00Z")) {
        // A restarted collector (a new watch on the same store) does not raise it again.
        expect(await watch().evaluate(day + 13 * 3_600_000)).toEqual([]);
      }
    }
    const forecasts = seen.filter((a) => a.kind === "budget.forecast");
    // Dec 1 at 12:00: $5 spent + ½ × $5 + 30 × $5 = $157.50 ≥ $100; $7.50 by the end of the 1st, then
    // $5 a day: $102.50 on the 20th.
    expect(forecasts).toHaveLength(1);
    expect(forecasts[0]).toMatchObject({
      time: "2026-12-01T12:00:00.000Z",
      agent: "hot",
      team: "cx",
      scope: { type: "agent", name: "hot", window: "month" },
      spendUsd: 5,
      limitUsd: 100,
      projectedUsd: 157.5,
      exceedsOn: "2026-12-20",
    });
    const thresholds = seen.filter((a) => a.kind === "budget.threshold" && a.agent === "hot");
    expect(thresholds.map((a) => a.threshold)).toEqual([50, 80, 100]);
    // The first threshold (50 % = $50) is crossed on the 10th: nine days after the forecast.
    expect(thresholds[0].time).toBe("2026-12-10T10:00:00.000Z");
    expect(seen.indexOf(forecasts[0])).toBeLessThan(seen.indexOf(thresholds[0]));
    // cool spends the same against $200: $157.50 projected, never a forecast alert (its 50 % threshold
    // is crossed on the 20th all the same).
    expect(forecasts.some((a) => a.agent === "cool")).toBe(false);
    expect(seen.some((a) => a.kind === "budget.threshold" && a.agent === "cool")).toBe(true);
    const rs = await storage.client.query({
      query: `SELECT ExceedsOn, ProjectedUsd FROM cognive.alerts FINAL WHERE Kind = 'budget.forecast' AND Agent = 'hot'`,
      format: "JSONEachRow",
    });
    expect(await rs.json()).toEqual([{ ExceedsOn: "2026-12-20", ProjectedUsd: 157.5 }]);
  }, 120_000);

  it("projects today's end against a daily budget, only with enough history", async () => {
    const rows: ReturnType<typeof modelCallRow>[] = [];
    // $12 a day from Dec 1 to Dec 10 (10 days of history), then $15 by noon on the 11th.
    for (let d = Date.parse("2026-12-01T06:00:00Z"); d < Date.parse("2026-12-11T00:00:00Z"); d += DAY) {
      rows.push(modelCallRow(iso(d), "daily", "cx", 12));
    }
    rows.push(modelCallRow("2026-12-11T09:00:00Z", "daily", "cx", 15));
    await insert(rows);
    const { seen, watch } = watching(POLICY);
    // At 06:00 on the 11th nothing is spent yet: 0 + ¾ × 12 = 9 < 20.
    await watch().evaluate(Date.parse("2026-12-11T06:00:00Z"));
    expect(seen.filter((a) => a.agent === "daily")).toEqual([]);
    // At noon: 15 + ½ × 12 = 21 ≥ 20.
    await watch().evaluate(Date.parse("2026-12-11T12:00:00Z"));
    expect(seen.filter((a) => a.agent === "daily")).toMatchObject([
      {
        kind: "budget.forecast",
        scope: { type: "agent", name: "daily", window: "day" },
        spendUsd: 15,
        projectedUsd: 21,
        limitUsd: 20,
        exceedsOn: "2026-12-11",
      },
    ]);
    // With a policy asking for more history than the 10 days there are, the same day is quiet.
    const strict = watching(
      parsePolicy(`
agents:
  daily: { budgets: { daily_usd: 20 } }
alerts:
  forecast: { min_history_days: 14 }
  anomaly: { enabled: false }
`),
    );
    await strict.watch().evaluate(Date.parse("2026-12-11T12:30:00Z"));
    expect(strict.seen).toEqual([]);
  }, 60_000);
});

describe("spend.anomaly", () => {
  const POLICY = parsePolicy(`
agents:
  spiky: { team: cx }
  ramp: { team: growth }
teams:
  cx: {}
  growth: {}
alerts:
  forecast: { enabled: false }
  anomaly: { window_minutes: 15, baseline_weeks: 4, threshold: 6, min_usd: 1 }
`);
  // Wednesday 2027-01-13 14:10: the window is 13:55-14:10, its baseline the 13:00 hour of the four
  // Wednesdays before, in 15-minute buckets.
  const NOW = Date.parse("2027-01-13T14:10:00Z");
  const WEEK = 7 * DAY;

  it("fires once per episode on an injected spike and never on a steady ramp", async () => {
    const rows: ReturnType<typeof modelCallRow>[] = [];
    for (let w = 1; w <= 4; w++) {
      const hour = Date.parse("2027-01-13T13:00:00Z") - w * WEEK;
      for (let b = 0; b < 4; b++) {
        const at = hour + b * 15 * 60_000 + 60_000;
        // spiky usually spends about $1 per 15 minutes at this hour.
        rows.push(modelCallRow(iso(at), "spiky", "cx", 1 + 0.1 * ((w + b) % 3)));
        // ramp grows 10 % a week: $4 now, $4/1.1^w w weeks ago.
        rows.push(modelCallRow(iso(at), "ramp", "growth", 4 / 1.1 ** w));
        // The next hour, spiky's usual is $0.50.
        rows.push(modelCallRow(iso(at + 3_600_000), "spiky", "cx", 0.5));
      }
    }
    // newbie has no history at all: its $50 is not judged.
    rows.push(modelCallRow("2027-01-13T14:01:00Z", "newbie", "cx", 50));
    // The current window: spiky spends $20, ramp its $4 (in two calls). Team cx's baseline is spiky's.
    rows.push(modelCallRow("2027-01-13T14:00:00Z", "spiky", "cx", 20));
    rows.push(modelCallRow("2027-01-13T13:58:00Z", "ramp", "growth", 2));
    rows.push(modelCallRow("2027-01-13T14:05:00Z", "ramp", "growth", 2));
    await insert(rows);

    const { seen, watch } = watching(POLICY);
    const w = watch();
    await w.evaluate(NOW);
    expect(seen.map((a) => [a.kind, a.scope?.type, a.scope?.name]).sort()).toEqual([
      ["spend.anomaly", "agent", "spiky"],
      ["spend.anomaly", "team", "cx"],
    ]);
    const agent = seen.find((a) => a.scope?.type === "agent");
    // Baseline buckets: 1.0, 1.1 and 1.2 over 16 samples; median $1.10.
    expect(agent).toMatchObject({ agent: "spiky", team: "cx", spendUsd: 20, windowMinutes: 15 });
    expect(agent?.baselineUsd).toBeCloseTo(1.1, 9);
    // Still anomalous a minute later: the same episode, nothing new.
    await w.evaluate(NOW + 60_000);
    // A restarted collector during the episode does not raise it again either.
    await watch().evaluate(NOW + 2 * 60_000);
    expect(seen).toHaveLength(2);
    // The spike has left the window: the episode ends...
    await w.evaluate(NOW + 30 * 60_000);
    expect(seen).toHaveLength(2);
    // ...and a later spike is a new episode with its own alert.
    await insert([modelCallRow("2027-01-13T14:50:00Z", "spiky", "cx", 20)]);
    const again = await w.evaluate(Date.parse("2027-01-13T14:55:00Z"));
    expect(again.filter((a) => a.scope?.type === "agent").map((a) => a.agent)).toEqual(["spiky"]);
    expect(new Set(seen.map((a) => a.id)).size).toBe(seen.length);
    expect(seen.some((a) => a.agent === "ramp" || a.team === "growth" || a.agent === "newbie")).toBe(false);
  }, 60_000);
});
