import { describe, expect, it } from "vitest";
import { MAX_DEPTH, MAX_QUERY_CHARS, MAX_TERMS, parsePromQL } from "../../src/prometheus/promql.ts";

const refused = (q: string) => {
  try {
    parsePromQL(q);
  } catch (err) {
    return (err as Error).message;
  }
  return undefined;
};

describe("PromQL parse-time limits", () => {
  it("takes nesting up to the limit and refuses one level more, with the position", () => {
    expect(refused(`${"(".repeat(MAX_DEPTH - 1)}1${")".repeat(MAX_DEPTH - 1)}`)).toBeUndefined();
    expect(refused(`${"(".repeat(MAX_DEPTH)}1${")".repeat(MAX_DEPTH)}`)).toMatch(
      /^parse error at position 65: expression nested deeper than 64 levels$/,
    );
    expect(refused(`sum(${"abs(".repeat(70)}x${")".repeat(70)})`)).toMatch(/nested deeper than 64 levels/);
    expect(refused(`${"-".repeat(MAX_DEPTH + 1)}1`)).toMatch(/nested deeper than 64 levels/);
  });

  it("takes 100 binary operations and selectors, and refuses more", () => {
    expect(
      refused(
        Array(MAX_TERMS + 1)
          .fill("1")
          .join(" + "),
      ),
    ).toBeUndefined();
    expect(
      refused(
        Array(MAX_TERMS + 2)
          .fill("1")
          .join(" + "),
      ),
    ).toMatch(/more than 100 binary operations/);
    expect(refused(Array(MAX_TERMS).fill("x").join(" or "))).toBeUndefined();
    expect(
      refused(
        `vector(1) + ${Array(MAX_TERMS + 1)
          .fill("x")
          .join(" or ")}`,
      ),
    ).toMatch(/more than 100 (binary operations|series selectors)/);
  });

  it("refuses long queries, numbers that are not finite and durations beyond int64 nanoseconds", () => {
    expect(refused(`x${" ".repeat(MAX_QUERY_CHARS)}`)).toMatch(/longer than 4096 characters/);
    expect(refused(`1${"0".repeat(400)}`)).toMatch(/^parse error at position 1: number 1000.*… is out of range/);
    expect(refused("x > 1e400")).toMatch(/position 5: number 1e400 is out of range/);
    expect(refused("rate(x[300y])")).toMatch(/position 8: duration 300y is out of range/);
    // Finite numbers of any size, Inf and NaN are fine, as in Prometheus.
    expect(refused("x > 1e23")).toBeUndefined();
    expect(refused("x > Inf or x < -Inf")).toBeUndefined();
    expect(refused("rate(x[290y])")).toBeUndefined();
  });
});
