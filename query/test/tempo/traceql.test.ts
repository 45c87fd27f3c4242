import { describe, expect, it } from "vitest";
import { filterSql, Params } from "../../src/tempo/compile.ts";
import { parseLogfmt } from "../../src/tempo/legacy.ts";
import { parseDuration, parseTraceQL, TraceQLError } from "../../src/tempo/traceql.ts";

describe("TraceQL parser", () => {
  it("parses the forms Grafana's builder emits", () => {
    expect(parseTraceQL("{}").spansets).toEqual({ type: "spanset", filter: { type: "true" } });
    expect(parseTraceQL("").spansets).toEqual({ type: "spanset", filter: { type: "true" } });
    expect(parseTraceQL('{resource.service.name="a" && span.http.status_code>=500}').spansets).toEqual({
      type: "spanset",
      filter: {
        type: "and",
        left: {
          type: "cmp",
          field: { kind: "attr", scope: "resource", key: "service.name" },
          op: "=",
          value: { type: "string", value: "a" },
        },
        right: {
          type: "cmp",
          field: { kind: "attr", scope: "span", key: "http.status_code" },
          op: ">=",
          value: { type: "number", value: 500 },
        },
      },
    });
    const multi = parseTraceQL('{ (.a="x" || .a="y") && status=error && duration > 1.5s }');
    expect(multi.spansets.type).toBe("spanset");
    expect(parseTraceQL("{ trace:rootService = `svc` } | select(span.x, .y)").select).toEqual([
      { kind: "attr", scope: "span", key: "x" },
      { kind: "attr", scope: "any", key: "y" },
    ]);
    expect(parseTraceQL('{ span."a b" = 1 }').spansets).toMatchObject({
      filter: { field: { kind: "attr", scope: "span", key: "a b" } },
    });
    expect(parseTraceQL('{ span:kind = client } && { name =~ "a.*" }').spansets.type).toBe("and");
    expect(parseTraceQL('{ .a = "q\\"uote" }').spansets).toMatchObject({
      filter: { value: { type: "string", value: 'q"uote' } },
    });
  });

  it("rejects partial and unsupported input with TraceQLError", () => {
    for (const q of [
      "{",
      "{ .a = ",
      '{ .a = "x',
      "{ foo = 1 }",
      "{ .a = 1 } | count() >",
      "{ .a = 1 } | topk(2)",
      "{ .a = 1 } }",
      "#",
    ]) {
      expect(() => parseTraceQL(q), q).toThrow(TraceQLError);
    }
  });

  it("parses a final metrics stage with its field, quantiles and grouping", () => {
    expect(
      parseTraceQL("{ status = error } | rate() by (resource.service.name, span.gen_ai.request.model)").metrics,
    ).toEqual({
      fn: "rate",
      quantiles: [],
      by: [
        { kind: "attr", scope: "resource", key: "service.name" },
        { kind: "attr", scope: "span", key: "gen_ai.request.model" },
      ],
    });
    expect(parseTraceQL("{} | quantile_over_time(duration, .5, 0.99)").metrics).toEqual({
      fn: "quantile_over_time",
      field: { kind: "intrinsic", name: "duration" },
      quantiles: [0.5, 0.99],
      by: [],
    });
    for (const q of [
      "{} | rate() | select(.a)",
      "{} | rate() by ()",
      "{} | sum_over_time()",
      "{} | count_over_time(x)",
    ]) {
      expect(() => parseTraceQL(q), q).toThrow(TraceQLError);
    }
  });

  it("parses durations", () => {
    expect(parseDuration("100ms")).toBe(100e6);
    expect(parseDuration("1.5s")).toBe(1.5e9);
    expect(parseDuration("2m")).toBe(120e9);
    expect(parseDuration("1m30s")).toBe(90e9);
    expect(parseDuration("5")).toBeUndefined();
  });

  it("compiles values and keys to bound parameters only", () => {
    const p = new Params();
    const q = parseTraceQL('{ span.`x\'] OR 1=1 --` = "a\' OR 1=1 --" && .y =~ "b" }');
    const sql = filterSql(q.spansets.type === "spanset" ? q.spansets.filter : { type: "true" }, p);
    expect(sql).not.toContain("OR 1=1");
    expect(Object.values(p.values)).toEqual(expect.arrayContaining(["x'] OR 1=1 --", "a' OR 1=1 --", "^(?:b)$"]));
  });

  it("parses legacy logfmt tags", () => {
    expect(parseLogfmt('service.name=a name="b c" x=')).toEqual([
      ["service.name", "a"],
      ["name", "b c"],
      ["x", ""],
    ]);
    expect(() => parseLogfmt("x'] OR 1=1")).toThrow(TraceQLError);
  });
});
