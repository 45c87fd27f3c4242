import { describe, expect, it } from "vitest";
import { exceedText, type ForecastLine, forecastFor, formatDay, projectionText } from "../src/budget-data.ts";

const line = (over: Partial<ForecastLine> = {}): ForecastLine => ({
  key: "cx",
  spentUsd: 92,
  projectedUsd: 263.5,
  low: 255.72,
  high: 271.28,
  budgetUsd: 200,
  exceedsOn: "2026-03-24",
  method: "weekday",
  historyDays: 14,
  ...over,
});

describe("budget forecast text", () => {
  it("says the projection with its interval, or why there is none", () => {
    expect(projectionText(line())).toBe("Projected $263.50 by month end ($255.72–$271.28)");
    expect(projectionText(line({ low: 263.5, high: 263.5 }))).toBe("Projected $263.50 by month end");
    expect(projectionText(line({ method: "none" }))).toMatch(/^No projection yet/);
  });

  it("says when the budget is (or was) reached, as a UTC calendar day", () => {
    expect(formatDay("2026-03-24")).toBe("24 Mar 2026");
    expect(formatDay("not a day")).toBe("not a day");
    expect(exceedText(line(), "2026-03-11")).toBe("Reaches the budget on 24 Mar 2026");
    expect(exceedText(line({ spentUsd: 210, exceedsOn: "2026-03-10" }), "2026-03-11")).toBe(
      "Reached the budget on 10 Mar 2026",
    );
    expect(exceedText(line({ exceedsOn: null }), "2026-03-11")).toBe("Projected to stay under the budget");
  });

  it("finds the scope's series by name", () => {
    expect(forecastFor([line(), line({ key: "other" })], { type: "team", name: "other" })?.key).toBe("other");
    expect(forecastFor([line()], { type: "team", name: "nope" })).toBeNull();
  });
});
