import { describe, expect, it } from "vitest";
import { alertText } from "../src/alerts/sinks.ts";
import { judgeSpend, median } from "../src/governance/anomaly.ts";
import { forecastDay, forecastMonth, historyRange, monthBounds } from "../src/governance/forecast.ts";

const days = (entries: [string, number][]) => new Map(entries);

describe("forecastMonth", () => {
  it("projects nothing beyond the spend without a full day of history", () => {
    const f = forecastMonth("2026-06", days([["2026-06-01", 3]]), Date.parse("2026-06-01T12:00:00Z"), 10);
    expect(f).toMatchObject({ spentUsd: 3, projectedUsd: 3, low: 3, high: 3, exceedsOn: null, method: "none" });
  });

  it("uses the flat mean of the days since the first spend, with its spread as the interval", () => {
    // History: May 30 $2, May 31 $4 (nothing before: the scope starts on May 30). Mean 3, s = √2.
    const f = forecastMonth(
      "2026-06",
      days([
        ["2026-05-30", 2],
        ["2026-05-31", 4],
        ["2026-06-01", 1],
      ]),
      Date.parse("2026-06-01T18:00:00Z"),
      null,
    );
    // 1 + ¼ × 3 + 29 × 3 = 88.75; 29.25 days left.
    expect(f.method).toBe("flat");
    expect(f.historyDays).toBe(2);
    expect(f.projectedUsd).toBeCloseTo(88.75, 9);
    expect(f.high - f.projectedUsd).toBeCloseTo(1.96 * Math.SQRT2 * Math.sqrt(29.25), 9);
    expect(f.exceedsOn).toBeNull();
  });

  it("names the day an already exceeded budget was reached", () => {
    const f = forecastMonth(
      "2026-06",
      days([
        ["2026-06-01", 6],
        ["2026-06-02", 6],
      ]),
      Date.parse("2026-06-03T00:00:00Z"),
      10,
    );
    expect(f.exceedsOn).toBe("2026-06-02");
  });

  it("is the spend alone once the month is over", () => {
    const f = forecastMonth("2026-05", days([["2026-05-31", 4]]), Date.parse("2026-06-15T00:00:00Z"), 3);
    expect(f).toMatchObject({ spentUsd: 4, projectedUsd: 4, low: 4, high: 4, exceedsOn: "2026-05-31" });
  });

  it("reads 28 days of look-back before the month or today, whichever is earlier", () => {
    expect(historyRange("2026-06", Date.parse("2026-06-20T00:00:00Z")).fromMs).toBe(Date.parse("2026-05-23T00:00:00Z"));
    expect(historyRange("2026-06", Date.parse("2026-06-02T00:00:00Z")).fromMs).toBe(Date.parse("2026-05-05T00:00:00Z"));
    expect(monthBounds("0001-12")).toEqual({
      startMs: Date.parse("0001-12-01T00:00:00Z"),
      endMs: Date.parse("0002-01-01T00:00:00Z"),
    });
    expect(() => monthBounds("2026-13")).toThrow(RangeError);
    expect(() => monthBounds("x")).toThrow(RangeError);
  });

  it("projects today's end for a daily budget", () => {
    const f = forecastDay(
      days([
        ["2026-06-01", 8],
        ["2026-06-02", 8],
      ]),
      Date.parse("2026-06-02T06:00:00Z"),
    );
    // 8 so far today + ¾ × 8 (the one history day).
    expect(f).toMatchObject({ day: "2026-06-02", spentUsd: 8, projectedUsd: 14, historyDays: 1 });
  });
});

describe("judgeSpend", () => {
  const settings = { windowMinutes: 15, baselineWeeks: 4, threshold: 6, minUsd: 1 };

  it("median and MAD resist one past spike", () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    const baseline = [1, 1, 1.2, 0.8, 1, 50, 1, 1.1];
    // median 1, MAD 0.05 → 1.4826 × 0.05 ≈ 0.074 < 10 % of 1 → scale 0.1; limit 1 + 6 × 0.1 = 1.6.
    expect(judgeSpend(1.5, baseline, settings).anomalous).toBe(false);
    expect(judgeSpend(1.7, baseline, settings)).toMatchObject({ anomalous: true, medianUsd: 1, scaleUsd: 0.1 });
  });

  it("needs a baseline with some spend, and the minimum spend", () => {
    expect(judgeSpend(100, [0, 0, 0], settings).anomalous).toBe(false);
    expect(judgeSpend(0.9, [0, 0, 0.01], settings).anomalous).toBe(false);
    expect(judgeSpend(1, [0, 0, 0.01], settings)).toMatchObject({ anomalous: true, medianUsd: 0 });
  });
});

describe("alert text", () => {
  it("says the projected day and the usual spend", () => {
    const base = { id: "x", time: "2026-12-01T12:00:00Z", agent: "hot", team: "cx" };
    expect(
      alertText({
        ...base,
        kind: "budget.forecast",
        scope: { type: "agent", name: "hot", window: "month" },
        spendUsd: 5,
        limitUsd: 100,
        projectedUsd: 157.5,
        exceedsOn: "2026-12-20",
      }),
    ).toBe(
      ":crystal_ball: hot (team cx) is projected to reach its monthly budget of $100.00 on 2026-12-20: $5.00 spent, $157.50 projected",
    );
    expect(
      alertText({
        ...base,
        agent: "",
        kind: "spend.anomaly",
        scope: { type: "team", name: "cx", window: "rate" },
        spendUsd: 20,
        baselineUsd: 1.1,
        windowMinutes: 15,
      }),
    ).toBe(
      ":chart_with_upwards_trend: team cx spent $20.00 in the last 15 minutes, against a usual $1.10 at this hour of the week",
    );
  });
});
