import { describe, expect, it } from "vitest";
import { formatCost, formatDuration, formatPercent, formatTokens } from "../src/format.ts";

describe("formatCost", () => {
  it("keeps four significant digits below a dollar and cents above", () => {
    expect(formatCost(0)).toBe("$0.00");
    expect(formatCost(0.000426)).toBe("$0.000426");
    expect(formatCost(0.00042649)).toBe("$0.0004265");
    expect(formatCost(0.0031)).toBe("$0.0031");
    expect(formatCost(0.01)).toBe("$0.01");
    expect(formatCost(0.1)).toBe("$0.10");
    // The examples: a 1.4-cent call is not "$0.01", and parts add up to the total shown.
    expect(formatCost(0.014)).toBe("$0.014");
    expect(formatCost(0.0055 + 0.00125)).toBe("$0.00675");
    expect(formatCost(0.123456)).toBe("$0.1235");
    expect(formatCost(1.2e-9)).toBe("$0.0000000012");
    expect(formatCost(1.006)).toBe("$1.01");
    expect(formatCost(12.345)).toBe("$12.35");
    expect(formatCost(123456.7)).toBe("$123,456.70");
    expect(formatCost(-0.5)).toBe("-$0.50");
  });
  it("shows a dash for unpriced or missing values", () => {
    expect(formatCost(null)).toBe("—");
    expect(formatCost(undefined)).toBe("—");
    expect(formatCost(Number.NaN)).toBe("—");
  });
});

describe("formatTokens", () => {
  it("abbreviates thousands and millions", () => {
    expect(formatTokens(0)).toBe("0");
    expect(formatTokens(950)).toBe("950");
    expect(formatTokens(1234)).toBe("1.23k");
    expect(formatTokens(12_345)).toBe("12.3k");
    expect(formatTokens(1_000_000)).toBe("1M");
    expect(formatTokens(4_560_000)).toBe("4.56M");
    expect(formatTokens(2_500_000_000)).toBe("2.5B");
    expect(formatTokens(null)).toBe("—");
  });
});

describe("formatDuration", () => {
  it("picks the unit from nanoseconds given as number, bigint or string", () => {
    expect(formatDuration(500)).toBe("500 ns");
    expect(formatDuration(1500)).toBe("1.5 µs");
    expect(formatDuration(850_000)).toBe("850 µs");
    expect(formatDuration(1_234_567)).toBe("1.23 ms");
    expect(formatDuration("12345678")).toBe("12.3 ms");
    expect(formatDuration(250_000_000n)).toBe("250 ms");
    expect(formatDuration(1_250_000_000)).toBe("1.25 s");
    expect(formatDuration(125e9)).toBe("2m 05s");
    expect(formatDuration(3 * 3600e9 + 7 * 60e9)).toBe("3h 07m");
  });
  it("shows a dash for missing or negative durations", () => {
    expect(formatDuration(null)).toBe("—");
    expect(formatDuration("")).toBe("—");
    expect(formatDuration(-1)).toBe("—");
  });
});

describe("formatPercent", () => {
  it("keeps one decimal below 10 %", () => {
    expect(formatPercent(0)).toBe("0%");
    expect(formatPercent(0.0412)).toBe("4.1%");
    expect(formatPercent(0.5)).toBe("50%");
    expect(formatPercent(1.234)).toBe("123%");
    expect(formatPercent(undefined)).toBe("—");
  });
});
