import { describe, expect, it } from "vitest";
import { filterSql, Params } from "../../src/tempo/compile.ts";
import {
  MAX_DEPTH,
  MAX_QUERY_CHARS,
  MAX_TERMS,
  parseTraceQL,
  TraceQLError,
  TraceQLLimitError,
} from "../../src/tempo/traceql.ts";

const error = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    return err as Error;
  }
  return undefined;
};
const compiled = (q: string) => {
  const s = parseTraceQL(q).spansets;
  if (s.type !== "spanset") throw new Error("one spanset expected");
  const p = new Params();
  return { sql: filterSql(s.filter, p), params: p.values };
};

describe("TraceQL parse-time limits", () => {
  it("refuses oversized queries with TraceQLLimitError and a position", () => {
    const cases: [string, RegExp][] = [
      [`{ .k = "${"x".repeat(MAX_QUERY_CHARS)}" }`, /longer than 4096 characters/],
      [`{${"(".repeat(MAX_DEPTH + 1)}.k=1${")".repeat(MAX_DEPTH + 1)}}`, /nested deeper than 64 levels at position 66/],
      [`${"(".repeat(MAX_DEPTH + 1)}{}${")".repeat(MAX_DEPTH + 1)}`, /nested deeper than 64 levels/],
      [Array.from({ length: MAX_TERMS + 1 }, () => "{}").join(" >> "), /more than 100 spanset filters/],
      [`{${Array.from({ length: MAX_TERMS + 1 }, (_, i) => `.k=${i}`).join(" || ")}}`, /more than 100 conditions/],
      [`{ .k > 1${"0".repeat(400)} }`, /number 1000.*… at position 8 is out of range/],
    ];
    for (const [q, message] of cases) {
      const err = error(() => parseTraceQL(q));
      expect(err, q.slice(0, 30)).toBeInstanceOf(TraceQLLimitError);
      expect(err?.message).toMatch(message);
    }
    // At the limits: fine.
    expect(() => parseTraceQL(Array.from({ length: MAX_TERMS }, () => "{}").join(" >> "))).not.toThrow();
    expect(() => parseTraceQL(`{${"(".repeat(MAX_DEPTH)}.k=1${")".repeat(MAX_DEPTH)}}`)).not.toThrow();
  });

  it("reads exponents, and refuses at compile time a number an integer column cannot hold", () => {
    expect(parseTraceQL("{ .k > 1.5e3 }").spansets).toEqual({
      type: "spanset",
      filter: {
        type: "cmp",
        field: { kind: "attr", scope: "any", key: "k" },
        op: ">",
        value: { type: "number", value: 1500 },
      },
    });
    const err = error(() => compiled("{ duration > 1e23 }"));
    expect(err).toBeInstanceOf(TraceQLLimitError);
    expect(err?.message).toBe(
      "number 1e+23 at position 14 is out of range for duration (a 64-bit integer, at most 18446744073709551615)",
    );
    // A syntax error is still an ordinary TraceQLError (search answers those empty while the user types).
    const partial = error(() => parseTraceQL("{ duration > "));
    expect(partial).toBeInstanceOf(TraceQLError);
    expect(partial).not.toBeInstanceOf(TraceQLLimitError);
  });

  it("binds Float64 values as text, so integers beyond 2^53 reach the store intact", () => {
    expect(compiled("{ duration > 10000000000000000 }").params).toEqual({ tq0: "10000000000000000" });
    expect(compiled("{ .k < 1e23 }").params).toEqual({ tq0: "k", tq1: "1e+23" });
  });
});
