import { describe, expect, it } from "vitest";
import {
  matches,
  type Node,
  PromError,
  parseDuration,
  parsePromQL,
  parseSelector,
} from "../../src/prometheus/promql.ts";

describe("durations", () => {
  it.each([
    ["5m", 300],
    ["1m0s", 60],
    ["1h30m", 5400],
    ["500ms", 0.5],
    ["2d", 172800],
    ["1w", 604800],
  ])("%s is %d seconds", (text, seconds) => {
    expect(parseDuration(text)).toBe(seconds);
  });
  it("rejects non-durations", () => {
    for (const t of ["", "5", "m", "1.5m", "5x"]) expect(parseDuration(t)).toBeUndefined();
  });
});

describe("parser", () => {
  it("parses selectors with every matcher operator, a trailing comma and __name__", () => {
    const n = parseSelector('x{a="1", b!="2", c=~"3.*", d!~\'4\',}');
    expect(n.matchers.map((m) => [m.name, m.op, m.value])).toEqual([
      ["__name__", "=", "x"],
      ["a", "=", "1"],
      ["b", "!=", "2"],
      ["c", "=~", "3.*"],
      ["d", "!~", "4"],
    ]);
    expect(parseSelector('{__name__="x"}').matchers).toEqual([{ name: "__name__", op: "=", value: "x" }]);
  });

  it("anchors regexes and accepts a leading (?i)", () => {
    const [m] = parseSelector('{a=~"gpt.*"}').matchers;
    expect(matches(m, "gpt-4o")).toBe(true);
    expect(matches(m, "my-gpt")).toBe(false);
    const [i] = parseSelector('{a=~"(?i)GPT.*"}').matchers;
    expect(matches(i, "gpt-4o")).toBe(true);
  });

  it("parses ranges, offsets and grouping before or after the aggregated expression", () => {
    const a = parsePromQL("sum by (model) (rate(x[5m] offset 1h))");
    const b = parsePromQL("sum(rate(x[5m] offset 1h)) by (model)");
    expect(a).toEqual(b);
    const call = (a as Extract<Node, { kind: "agg" }>).expr as Extract<Node, { kind: "call" }>;
    expect(call.args[0]).toMatchObject({ kind: "selector", range: 300, offset: 3600 });
  });

  it("respects precedence and associativity", () => {
    // A scalar on either side of a set operator is an error, so the left side is a vector.
    const n = parsePromQL("x + 2 * 3 ^ 2 ^ 0.5 or vector(0)") as Extract<Node, { kind: "binary" }>;
    expect(n.op).toBe("or");
    const sum = n.lhs as Extract<Node, { kind: "binary" }>;
    expect(sum.op).toBe("+");
    const prod = sum.rhs as Extract<Node, { kind: "binary" }>;
    expect(prod.op).toBe("*");
    const pow = prod.rhs as Extract<Node, { kind: "binary" }>;
    expect(pow).toMatchObject({ op: "^", lhs: { value: 3 }, rhs: { op: "^" } });
    expect(parsePromQL("-2 ^ 2")).toMatchObject({ kind: "unary", expr: { op: "^" } });
  });

  it("parses topk, bool and on()", () => {
    expect(parsePromQL("topk(5, sum by (a) (x))")).toMatchObject({ kind: "agg", op: "topk", param: { value: 5 } });
    expect(parsePromQL("x > bool on (a) y")).toMatchObject({ bool: true, matching: { on: true, labels: ["a"] } });
  });

  it.each([
    "",
    "sum(",
    "x{a=}",
    'x{a~"b"}',
    "{}",
    '{a=""}',
    "x[5]",
    "x[5m:1m]",
    "x @ 100",
    "rate(x[5m]) offset",
    "1 +",
    '"unterminated',
    'x{a=~"(?=y)"}',
    'x{a=~"["}',
    "sum(x) (y)",
  ])("rejects %j", (q) => {
    expect(() => parsePromQL(q)).toThrow(PromError);
  });
});
