import { parsePolicy, StorageBudgetReader, silentLogger } from "@cognive/collector";
import type { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { forecastReport } from "../../src/api/forecast.ts";
import { createQueryApp } from "../../src/app.ts";
import { type Fixture, INJECTIONS, openFixture, type SpanRow, traceId } from "./fixture.ts";

/**
 * A constructed history, by hand (see the README's worked example). Team cx: from Wed 2026-02-25,
 * weekdays $10 in the first week and $12 in the second, weekend days $2; on Wed 2026-03-11 $6 by 12:00.
 * Team other: $1 every day of the look-back. The forecast is made at 2026-03-11T12:00:00Z.
 */
const AT = Date.parse("2026-03-11T12:00:00Z");
const DAY = 86_400_000;
let n = 0;
function spend(atMs: number, team: string, agent: string, usd: number): SpanRow {
  n++;
  return {
    TraceId: traceId(n, "f"),
    SpanId: n.toString(16).padStart(16, "0"),
    startNs: BigInt(atMs) * 1_000_000n,
    TeamName: team,
    AgentName: agent,
    GenAiUsageRole: "model_call",
    Priced: 1,
    CostUsd: usd,
  };
}

function history(): SpanRow[] {
  const rows: SpanRow[] = [];
  const first = Date.parse("2026-02-25T10:00:00Z");
  for (let d = first; d < Date.parse("2026-03-11T00:00:00Z"); d += DAY) {
    const weekday = new Date(d).getUTCDay();
    const weekend = weekday === 0 || weekday === 6;
    const usd = weekend ? 2 : d < Date.parse("2026-03-04T00:00:00Z") ? 10 : 12;
    // Two calls a day, one for each agent, so agents and teams group differently.
    rows.push(spend(d, "cx", "triage", usd / 2), spend(d + 3_600_000, "cx", "refund", usd / 2));
  }
  rows.push(spend(Date.parse("2026-03-11T08:00:00Z"), "cx", "triage", 6));
  // After the forecast's time: never counted in it.
  rows.push(spend(Date.parse("2026-03-11T13:00:00Z"), "cx", "triage", 100));
  for (let d = Date.parse("2026-02-11T09:00:00Z"); d < AT; d += DAY) rows.push(spend(d, "other", "bot", 1));
  return rows;
}

const POLICY = parsePolicy(`
teams:
  cx: { budgets: { monthly_usd: 200 } }
  other: { budgets: { monthly_usd: 1000 } }
  idle: { budgets: { monthly_usd: 50 } }
`);

let fx: Fixture;
let app: Hono;
beforeAll(async () => {
  fx = await openFixture();
  await fx.insert(history());
  app = createQueryApp({
    storage: fx.storage,
    log: silentLogger,
    governance: { policy: POLICY, budgets: new StorageBudgetReader(fx.storage), alerts: { subscribe: () => () => {} } },
  });
}, 60_000);
afterAll(async () => {
  await fx?.close();
});

async function get(path: string) {
  const res = await app.request(path);
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

const at = `at=${AT / 1000}`;

describe("GET /api/v1/forecast", () => {
  it("projects a team's month with the weekday profile, as computed by hand", async () => {
    const { status, body } = await get(`/api/v1/forecast?groupBy=team&month=2026-03&${at}`);
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body.month).toBe("2026-03");
    expect(body.asOf).toBe("2026-03-11T12:00:00.000Z");
    const cx = body.series.find((s: { key: string }) => s.key === "cx");
    // Spent: Mar 1 $2, Mar 2-3 2×$10, Mar 4-6 3×$12, Mar 7-8 2×$2, Mar 9-10 2×$12, Mar 11 $6 = $92.
    expect(cx.spentUsd).toBeCloseTo(92, 9);
    expect(cx.method).toBe("weekday");
    expect(cx.historyDays).toBe(14);
    // Profile: weekdays (10+12)/2 = $11, weekends $2. Rest of today ½ × 11 = 5.5; Mar 12-31 has
    // 14 weekdays and 6 weekend days: 154 + 12 = 166. 92 + 5.5 + 166 = 263.5.
    expect(cx.projectedUsd).toBeCloseTo(263.5, 9);
    // Residuals ±1 on the 10 weekdays, 0 on weekends: s = √(10/13); 20.5 days left.
    const half = 1.96 * Math.sqrt(10 / 13) * Math.sqrt(20.5);
    expect(cx.low).toBeCloseTo(263.5 - half, 6);
    expect(cx.high).toBeCloseTo(263.5 + half, 6);
    // Running total: 97.5 at the end of today, then +11/+2 a day: 193.5 on the 23rd, 204.5 on the 24th.
    expect(cx.budgetUsd).toBe(200);
    expect(cx.exceedsOn).toBe("2026-03-24");
  });

  it("uses the flat mean without two weeks of history, and lists budgets that spent nothing", async () => {
    const { body } = await get(
      `/api/v1/forecast?groupBy=team&month=2026-03&at=${Date.parse("2026-03-01T06:00:00Z") / 1000}`,
    );
    const cx = body.series.find((s: { key: string }) => s.key === "cx");
    // Feb 25 - Feb 28: 10, 10, 10, 2 → mean 8; March 1 so far $0; 0.75 × 8 + 30 × 8 = 246.
    expect(cx.method).toBe("flat");
    expect(cx.historyDays).toBe(4);
    expect(cx.spentUsd).toBe(0);
    expect(cx.projectedUsd).toBeCloseTo(246, 9);
    const idle = body.series.find((s: { key: string }) => s.key === "idle");
    expect(idle).toMatchObject({ spentUsd: 0, projectedUsd: 0, budgetUsd: 50, exceedsOn: null, method: "none" });
    const other = body.series.find((s: { key: string }) => s.key === "other");
    expect(other).toMatchObject({ projectedUsd: 0.75 + 30, low: 0.75 + 30, high: 0.75 + 30, exceedsOn: null });
  });

  it("groups by agent and answers a past month with its spend alone", async () => {
    const { body } = await get(`/api/v1/forecast?groupBy=agent&month=2026-02&${at}`);
    const triage = body.series.find((s: { key: string }) => s.key === "triage");
    // Feb 25-27 $5 each, Feb 28 $1.
    expect(triage).toMatchObject({ spentUsd: 16, projectedUsd: 16, low: 16, high: 16, budgetUsd: null });
    expect(body.series.map((s: { key: string }) => s.key).sort()).toEqual(["bot", "refund", "triage"]);
  });

  it("shows a team-scoped reader its own teams only", async () => {
    const report = await forecastReport(
      fx.storage,
      POLICY,
      { teams: ["other"] },
      {
        groupBy: "team",
        month: "2026-03",
        atMs: AT,
      },
    );
    expect(report.series.map((s) => s.key)).toEqual(["other"]);
    const agents = await forecastReport(
      fx.storage,
      POLICY,
      { teams: ["other"] },
      {
        groupBy: "agent",
        month: "2026-03",
        atMs: AT,
      },
    );
    expect(agents.series.map((s) => s.key)).toEqual(["bot"]);
  });

  it("refuses malformed, wrongly typed, oversized and injected parameters with a clear 400", async () => {
    const bad = [
      "groupBy=model",
      "groupBy=team&groupBy=agent",
      "month=2026-13",
      "month=2026-3",
      "month=26-03",
      `month=${"9".repeat(5000)}`,
      "at=yesterday",
      "at=-5",
      "at=1e12",
      "limit=3",
      ...INJECTIONS.map((s) => `month=${encodeURIComponent(s)}`),
      ...INJECTIONS.map((s) => `groupBy=${encodeURIComponent(s)}`),
    ];
    for (const q of bad) {
      const { status, body } = await get(`/api/v1/forecast?${q}`);
      expect(status, q).toBe(400);
      expect(body.error.code, q).toBeTypeOf("string");
      expect(body.error.message, q).toMatch(/query parameter/);
    }
    const later = await get("/api/v1/forecast?at=9000000000");
    expect(later.status).toBe(400);
    expect(later.body.error.message).toBe("query parameter 'at' must not be in the future");
    // Before storage time begins: nothing spent, nothing projected.
    const old = await get("/api/v1/forecast?month=0001-01");
    expect(old.status, JSON.stringify(old.body)).toBe(200);
    expect(old.body.series.every((s: { spentUsd: number }) => s.spentUsd === 0)).toBe(true);
    const future = await get(`/api/v1/forecast?month=2026-04&${at}`);
    expect(future.status).toBe(400);
    expect(future.body.error.message).toMatch(/after the time of the forecast/);
    // Still intact after the injections.
    expect(await fx.count("otel_traces")).toBe(history().length);
  });
});
