import { describe, expect, it } from "vitest";
import {
  alignSeries,
  bucketGrid,
  type CostReport,
  closeLastStep,
  costSeries,
  describeRange,
  foldSmallSeries,
  isDarkColor,
  PALETTE_DARK,
  PALETTE_LIGHT,
  parseRange,
  seriesColor,
  stackBands,
  stackValues,
  stepFor,
  tokenGroupSeries,
  tokenTypeSeries,
  totalsAt,
  withAlpha,
} from "../src/chart-data.ts";

describe("ranges and steps", () => {
  it("reads named and <n>m|h|d ranges, falling back to 24 hours", () => {
    expect(parseRange("1h")).toBe(3600);
    expect(parseRange("7d")).toBe(7 * 86_400);
    expect(parseRange("30d")).toBe(30 * 86_400);
    expect(parseRange("90m")).toBe(5400);
    expect(parseRange("3d")).toBe(3 * 86_400);
    expect(parseRange(undefined)).toBe(86_400);
    expect(parseRange("forever")).toBe(86_400);
    expect(parseRange("0h")).toBe(86_400);
  });

  it("describes ranges in words", () => {
    expect(describeRange(3600)).toBe("last hour");
    expect(describeRange(86_400)).toBe("last 24 hours");
    expect(describeRange(7 * 86_400)).toBe("last 7 days");
    expect(describeRange(6 * 3600)).toBe("last 6 hours");
    expect(describeRange(5400)).toBe("last 90 minutes");
  });

  it("picks the server's default step: whole minutes, at most ~200 buckets", () => {
    expect(stepFor(3600)).toBe(60);
    expect(stepFor(86_400)).toBe(480);
    expect(stepFor(30 * 86_400)).toBe(12_960);
    for (const r of [3600, 86_400, 7 * 86_400, 30 * 86_400]) {
      const step = stepFor(r);
      expect(step % 60).toBe(0);
      expect(Math.ceil(r / step)).toBeLessThanOrEqual(200);
    }
  });

  it("lays the grid on multiples of the step covering [from, to)", () => {
    expect(bucketGrid(130, 400, 60)).toEqual([120, 180, 240, 300, 360]);
    expect(bucketGrid(120, 360, 60)).toEqual([120, 180, 240, 300]);
    expect(bucketGrid(100, 100, 60)).toEqual([]);
  });
});

describe("closeLastStep", () => {
  it("gives the newest bucket its width by repeating its values one step later", () => {
    const a = closeLastStep(
      {
        xs: [0, 60],
        labels: ["a", "b"],
        values: [
          [1, 2],
          [0, 5],
        ],
      },
      60,
    );
    expect(a.xs).toEqual([0, 60, 120]);
    expect(a.values).toEqual([
      [1, 2, 2],
      [0, 5, 5],
    ]);
    expect(closeLastStep({ xs: [], labels: [], values: [] }, 60).xs).toEqual([]);
  });
});

describe("alignSeries", () => {
  it("puts every series on the grid with 0 where a bucket has no point", () => {
    const grid = [0, 60, 120, 180];
    const a = alignSeries(
      [
        { label: "a", points: [[60, 1.5]] },
        {
          label: "b",
          points: [
            [0, 2],
            [180, 4],
          ],
        },
      ],
      grid,
    );
    expect(a).toEqual({
      xs: grid,
      labels: ["a", "b"],
      values: [
        [0, 1.5, 0, 0],
        [2, 0, 0, 4],
      ],
    });
  });

  it("drops points off the grid and non-finite values", () => {
    const a = alignSeries(
      [
        {
          label: "a",
          points: [
            [30, 9],
            [60, Number.NaN],
            [600, 1],
            [0, 1],
          ],
        },
      ],
      [0, 60],
    );
    expect(a.values).toEqual([[1, 0]]);
  });
});

describe("stacking", () => {
  const values = [
    [1, 2, 3],
    [10, 20, 30],
    [100, 200, 300],
  ];

  it("accumulates series bottom-up", () => {
    expect(stackValues(values)).toEqual([
      [1, 2, 3],
      [11, 22, 33],
      [111, 222, 333],
    ]);
  });

  it("a hidden series adds nothing and sits on the one below", () => {
    expect(stackValues(values, [false, true, false])).toEqual([
      [1, 2, 3],
      [1, 2, 3],
      [101, 202, 303],
    ]);
    expect(totalsAt(values, [false, true, false])).toEqual([101, 202, 303]);
    expect(totalsAt(values)).toEqual([111, 222, 333]);
  });

  it("does not mutate its input", () => {
    const copy = values.map((r) => [...r]);
    stackValues(values);
    expect(values).toEqual(copy);
  });

  it("bands fill each visible series down to the next visible one (uPlot indices, 0 is x)", () => {
    expect(stackBands(3)).toEqual([{ series: [2, 1] }, { series: [3, 2] }]);
    expect(stackBands(3, [false, true, false])).toEqual([{ series: [3, 1] }]);
    expect(stackBands(3, [true, false, false])).toEqual([{ series: [3, 2] }]);
    expect(stackBands(1)).toEqual([]);
    expect(stackBands(0)).toEqual([]);
  });

  it("stacked top equals the total at every x", () => {
    const stacked = stackValues(values);
    expect(stacked.at(-1)).toEqual(totalsAt(values));
  });
});

describe("foldSmallSeries", () => {
  const mk = (label: string, v: number) => ({
    label,
    points: [
      [0, v],
      [60, v],
    ] as [number, number][],
  });

  it("keeps series as they are up to the limit", () => {
    const s = [mk("a", 1), mk("b", 2)];
    expect(foldSmallSeries(s, 2)).toEqual(s);
  });

  it("folds the smallest into one Other series, keeping the order of the rest", () => {
    const s = [mk("a", 5), mk("b", 1), mk("c", 9), mk("d", 2), mk("e", 0.5)];
    const out = foldSmallSeries(s, 3);
    expect(out.map((x) => x.label)).toEqual(["a", "c", "Other (3)"]);
    expect(out[2].points).toEqual([
      [0, 3.5],
      [60, 3.5],
    ]);
  });
});

const report: CostReport = {
  totalUsd: 3,
  series: [
    {
      key: "gpt-4o",
      totalUsd: 2,
      inputTokens: 1000,
      outputTokens: 100,
      calls: 2,
      points: [
        [0, 0.5],
        [60, 1.5],
      ],
      tokenPoints: [
        [0, 400, 40, 100, 0],
        [60, 600, 60, 0, 50],
      ],
    },
    {
      key: null,
      totalUsd: 1,
      inputTokens: 5000,
      outputTokens: 10,
      calls: 1,
      points: [[60, 1]],
      tokenPoints: [[60, 5000, 10, 0, 0]],
    },
  ],
};

describe("API response shaping", () => {
  it("cost series per group, naming the null group", () => {
    expect(costSeries(report, "model")).toEqual([
      { label: "gpt-4o", points: report.series[0].points },
      { label: "(no model)", points: [[60, 1]] },
    ]);
  });

  it("token series per group are input + output, largest first", () => {
    expect(tokenGroupSeries(report, "agent")).toEqual([
      { label: "(no agent)", points: [[60, 5010]] },
      {
        label: "gpt-4o",
        points: [
          [0, 440],
          [60, 660],
        ],
      },
    ]);
  });

  it("token types split cache-inclusive input so the stack sums to input + output", () => {
    const s = tokenTypeSeries(report);
    expect(s.map((x) => x.label)).toEqual(["Input (uncached)", "Cache read", "Cache write", "Output"]);
    const byLabel = Object.fromEntries(s.map((x) => [x.label, Object.fromEntries(x.points)]));
    expect(byLabel["Input (uncached)"]).toEqual({ 0: 300, 60: 5550 });
    expect(byLabel["Cache read"]).toEqual({ 0: 100, 60: 0 });
    expect(byLabel["Cache write"]).toEqual({ 0: 0, 60: 50 });
    expect(byLabel.Output).toEqual({ 0: 40, 60: 70 });
    const aligned = alignSeries(s, [0, 60]);
    expect(totalsAt(aligned.values)).toEqual([440, 5670]);
  });

  it("leaves out cache series without tokens, and copes with reports lacking tokenPoints", () => {
    const noCache: CostReport = {
      totalUsd: 0,
      series: [{ ...report.series[1] }, { ...report.series[0], tokenPoints: undefined }],
    };
    expect(tokenTypeSeries(noCache).map((x) => x.label)).toEqual(["Input (uncached)", "Output"]);
    expect(tokenTypeSeries({ totalUsd: 0, series: [] }).every((x) => x.points.length === 0)).toBe(true);
  });
});

describe("colours", () => {
  it("uses the page's override, else the palette for the scheme, cycling", () => {
    expect(seriesColor(0, false)).toBe(PALETTE_LIGHT[0]);
    expect(seriesColor(0, true)).toBe(PALETTE_DARK[0]);
    expect(seriesColor(PALETTE_LIGHT.length + 1, false)).toBe(PALETTE_LIGHT[1]);
    expect(seriesColor(3, true, "  tomato ")).toBe("tomato");
    expect(seriesColor(3, true, "  ")).toBe(PALETTE_DARK[3]);
  });

  it("adds alpha to hex and rgb colours", () => {
    expect(withAlpha("#5b4bdb", 0.5)).toBe("rgba(91, 75, 219, 0.5)");
    expect(withAlpha("#fff", 0.2)).toBe("rgba(255, 255, 255, 0.2)");
    expect(withAlpha("rgb(1, 2, 3)", 0.4)).toBe("rgba(1, 2, 3, 0.4)");
    expect(withAlpha("rgba(1, 2, 3, 0.9)", 0.4)).toBe("rgba(1, 2, 3, 0.4)");
    expect(withAlpha("tomato", 0.4)).toBe("tomato");
  });

  it("tells dark backgrounds from light ones", () => {
    expect(isDarkColor("#0d1117")).toBe(true);
    expect(isDarkColor("#ffffff")).toBe(false);
    expect(isDarkColor("rgb(240, 240, 240)")).toBe(false);
    expect(isDarkColor("rgb(30, 30, 30)")).toBe(true);
  });
});
