import { describe, expect, it } from "vitest";
import { evaluate, expandTemplate, type Fetch, plainFloat, type Value } from "../../src/prometheus/engine.ts";
import { matches, PromError, parsePromQL } from "../../src/prometheus/promql.ts";
import type { RawSeries } from "../../src/prometheus/store.ts";

/** A whole hour. */
const BASE = 1_699_999_200;
/** A UTC midnight, for the budget gauge that restarts there. */
const MIDNIGHT = 1_700_006_400;

// Counters: a series' value at a minute is the sum of its increments up to that minute.
// m at BASE+240: A = 1+2+0+3+0 = 6 (samples 1, 3, 3, 6, 6), B = 6, C = 2.
const SERIES: RawSeries[] = [
  {
    labels: { __name__: "m", job: "api", instance: "host-1:9090" },
    minutes: [0, 60, 120, 180, 240].map((d) => BASE + d),
    increments: [1, 2, 0, 3, 0],
  },
  { labels: { __name__: "m", job: "api", instance: "host-2:9090" }, minutes: [BASE, BASE + 60], increments: [6, 0] },
  { labels: { __name__: "m", job: "db", instance: "host-3:9090" }, minutes: [BASE + 120], increments: [2] },
  // A day budget of 10: 0.2 and 0.4 before midnight, 0.1 and 0.2 after it.
  {
    labels: { __name__: "budget", agent: "a" },
    minutes: [-120, -60, 0, 60].map((d) => MIDNIGHT + d),
    increments: [2, 2, 1, 1],
    budget: { window: "day", limitUsd: 10 },
  },
];

const fetch: Fetch = async (matchers, from, to) =>
  SERIES.filter((s) => matchers.every((m) => matches(m, s.labels[m.name] ?? ""))).map((s) => {
    const keep = s.minutes.map((m) => m >= from && m <= to);
    return { ...s, minutes: s.minutes.filter((_, i) => keep[i]), increments: s.increments.filter((_, i) => keep[i]) };
  });

async function at(query: string, t: number): Promise<Value> {
  return evaluate(parsePromQL(query), { steps: [t], fetch });
}

/** An instant vector as `labels => value`, in the engine's order, absent values left out. */
async function vec(query: string, t = BASE + 240): Promise<string[]> {
  const v = await at(query, t);
  if (v.type !== "vector") throw new Error(`expected a vector, got ${v.type}`);
  return v.series
    .filter((s) => s.values[0] !== null)
    .map((s) => {
      const labels = Object.entries(s.labels)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, x]) => `${k}=${x}`)
        .join(",");
      return `{${labels}} ${s.values[0]}`;
    });
}

const one = async (query: string, t = BASE + 240): Promise<number> => {
  const v = await vec(query, t);
  expect(v, query).toHaveLength(1);
  return Number(v[0].split(" ")[1]);
};

const host1 = 'm{instance="host-1:9090"}';

describe("*_over_time over the samples in the window", () => {
  it.each([
    ["avg_over_time", 3.8],
    ["min_over_time", 1],
    ["max_over_time", 6],
    ["sum_over_time", 19],
    ["count_over_time", 5],
    ["last_over_time", 6],
    ["present_over_time", 1],
    ["stdvar_over_time", 3.76],
    ["stddev_over_time", Math.sqrt(3.76)],
    ["changes", 2],
    ["resets", 0],
  ])("%s(A[5m]) over samples 1, 3, 3, 6, 6 is %d", async (func, expected) => {
    expect(await one(`${func}(${host1}[5m])`)).toBeCloseTo(expected, 12);
  });

  it("quantile_over_time interpolates between ranks like quantile", async () => {
    expect(await one(`quantile_over_time(0.5, ${host1}[5m])`)).toBe(3);
    // rank 0.1 × 4 = 0.4 between 1 and 3
    expect(await one(`quantile_over_time(0.1, ${host1}[5m])`)).toBeCloseTo(1.8, 12);
    expect(await one(`quantile_over_time(2, ${host1}[5m])`)).toBe(Number.POSITIVE_INFINITY);
    expect(await one(`quantile_over_time(-1, ${host1}[5m])`)).toBe(Number.NEGATIVE_INFINITY);
  });

  it("a shorter window sees fewer samples; only last_over_time keeps the metric name", async () => {
    // (BASE+120, BASE+240]: samples 6, 6
    expect(await one(`avg_over_time(${host1}[2m])`)).toBe(6);
    expect(await one(`changes(${host1}[2m])`)).toBe(0);
    expect((await vec(`last_over_time(${host1}[2m])`))[0]).toMatch(/__name__=m/);
    expect((await vec(`max_over_time(${host1}[2m])`))[0]).not.toMatch(/__name__/);
  });

  it("resets and changes of the budget gauge, which restarts at UTC midnight", async () => {
    // Samples 0, 0.2, 0.4, 0.1, 0.2: one decrease, four changes.
    expect(await one("resets(budget[5m])", MIDNIGHT + 60)).toBe(1);
    expect(await one("changes(budget[5m])", MIDNIGHT + 60)).toBe(4);
    expect(await one("min_over_time(budget[5m])", MIDNIGHT + 60)).toBe(0);
    expect(await one("max_over_time(budget[5m])", MIDNIGHT + 60)).toBeCloseTo(0.4, 12);
  });
});

describe("absent and absent_over_time", () => {
  it("give nothing when the selector has series", async () => {
    expect(await vec('absent(m{job="api"})')).toEqual([]);
    expect(await vec('absent_over_time(m{job="api"}[5m])')).toEqual([]);
  });

  it("give 1 labelled by the selector's equality matchers when it has none", async () => {
    expect(await vec('absent(nope{job="x", instance=~"a.*", env!="p"})')).toEqual(["{job=x} 1"]);
    expect(await vec('absent_over_time(nope{job="x"}[5m])')).toEqual(["{job=x} 1"]);
    // A label matched twice is left out, as Prometheus does.
    expect(await vec('absent(nope{job="a", job="b", env="p"})')).toEqual(["{env=p} 1"]);
    expect(await vec("absent(sum(nope))")).toEqual(["{} 1"]);
  });

  it("absent_over_time looks at the whole window, absent at the lookback only", async () => {
    // C's only call was at BASE+120: two hours later a 1m window has no sample of it; right after, a 5m window has.
    expect(await vec('absent_over_time(m{job="db"}[1m])', BASE + 7200)).toEqual(["{job=db} 1"]);
    expect(await vec('absent_over_time(m{job="db"}[5m])', BASE + 240)).toEqual([]);
  });
});

describe("label_replace and label_join", () => {
  it("replaces with $1, $-braces and named groups, anchored, keeping the metric name", async () => {
    expect(await vec(`label_replace(${host1}, "host", "$1", "instance", "(.*):.*")`)).toEqual([
      "{__name__=m,host=host-1,instance=host-1:9090,job=api} 6",
    ]);
    expect(await vec(`label_replace(${host1}, "host", "\${1}x", "instance", "(.*):(.*)")`)).toEqual([
      "{__name__=m,host=host-1x,instance=host-1:9090,job=api} 6",
    ]);
    expect(await vec(`label_replace(${host1}, "host", "$h", "instance", "(?P<h>[a-z]+)-\\\\d+:.*")`)).toEqual([
      "{__name__=m,host=host,instance=host-1:9090,job=api} 6",
    ]);
  });

  it("leaves series whose source does not match (the whole value) as they are", async () => {
    const unchanged = ["{__name__=m,instance=host-1:9090,job=api} 6"];
    expect(await vec(`label_replace(${host1}, "host", "$1", "instance", "host")`)).toEqual(unchanged);
    expect(await vec(`label_replace(${host1}, "host", "$1", "nope", "(.+)")`)).toEqual(unchanged);
  });

  it("an empty result removes the label; $1x names group 1x, which is empty", async () => {
    expect(await vec(`label_replace(${host1}, "job", "", "job", ".*")`)).toEqual([
      "{__name__=m,instance=host-1:9090} 6",
    ]);
    expect(await vec(`label_replace(${host1}, "job", "$1x", "instance", "(.*)")`)).toEqual([
      "{__name__=m,instance=host-1:9090} 6",
    ]);
    // The usual idiom for a constant label: an empty source matched by an empty regex.
    expect(await vec('label_replace(vector(1), "foo", "bar", "", "")')).toEqual(["{foo=bar} 1"]);
  });

  it("refuses to make two series with the same labels", async () => {
    await expect(at('label_replace(m{job="api"}, "instance", "x", "job", ".*")', BASE + 240)).rejects.toThrow(
      /same labelset/,
    );
  });

  it("label_join joins the sources (missing ones empty) and removes an empty result", async () => {
    expect(await vec(`label_join(${host1}, "id", "/", "job", "instance", "nope")`)).toEqual([
      "{__name__=m,id=api/host-1:9090/,instance=host-1:9090,job=api} 6",
    ]);
    expect(await vec(`label_join(${host1}, "job", ",")`)).toEqual(["{__name__=m,instance=host-1:9090} 6"]);
  });

  it("expands templates as Go's Regexp.Expand does", () => {
    const groups = ["all", "one", ""];
    const g = (i: number) => groups[i] ?? null;
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Go's template syntax, not JavaScript's
    expect(expandTemplate("$1-${1}-$$-$-${x", g, {}, 2)).toBe("one-one-$-$-${x");
    expect(expandTemplate("<$2><$9><$name>", g, { name: 1 }, 2)).toBe("<><><one>");
  });
});

describe("count_values, sort, timestamp, time", () => {
  it("count_values counts the series per value, per group", async () => {
    expect((await vec('count_values("v", m)')).sort()).toEqual(["{v=2} 1", "{v=6} 2"]);
    expect((await vec('count_values by (job) ("v", m)')).sort()).toEqual(["{job=api,v=6} 2", "{job=db,v=2} 1"]);
  });

  it("count_values writes values without exponents, as Go's 'f' format", () => {
    expect(plainFloat(1e21)).toBe("1000000000000000000000");
    expect(plainFloat(1.5e-7)).toBe("0.00000015");
    expect(plainFloat(-2.5e22)).toBe("-25000000000000000000000");
    expect(plainFloat(0.25)).toBe("0.25");
    expect(plainFloat(Number.NaN)).toBe("NaN");
  });

  it("sort and sort_desc order by value with NaN last either way", async () => {
    const values = async (q: string) => (await vec(q)).map((s) => s.split(" ")[1]);
    expect(await values("sort(m)")).toEqual(["2", "6", "6"]);
    expect(await values("sort_desc(m)")).toEqual(["6", "6", "2"]);
    // A and B: 0/0; C: -4/-4.
    expect(await values("sort((m - 6) / (m - 6))")).toEqual(["1", "NaN", "NaN"]);
    expect(await values("sort_desc((m - 6) / (m - 6))")).toEqual(["1", "NaN", "NaN"]);
  });

  it("timestamp gives a selector's sample time (minute starts, offset applied) and else the step", async () => {
    expect(await one(`timestamp(${host1})`, BASE + 250)).toBe(BASE + 240);
    expect(await one(`timestamp(${host1} offset 1m)`, BASE + 250)).toBe(BASE + 180);
    expect(await one("timestamp(sum(m))", BASE + 250)).toBe(BASE + 250);
    expect((await vec(`timestamp(${host1})`))[0]).not.toMatch(/__name__/);
    const time = await at("time()", BASE + 7);
    expect(time).toEqual({ type: "scalar", values: [BASE + 7] });
  });
});

describe("types and names are checked while parsing", () => {
  it.each([
    ["foo(m)", /position 1: unknown function with name "foo"/],
    ["rate(m)", /expected type range vector in call to function "rate", got instant vector/],
    ["sum_over_time(m)", /expected type range vector in call to function "sum_over_time"/],
    ["abs(m[5m])", /expected type instant vector in call to function "abs", got range vector/],
    ['vector("a")', /expected type scalar in call to function "vector", got string/],
    ["absent(m[5m])", /expected type instant vector in call to function "absent"/],
    ["absent_over_time(m)", /expected type range vector in call to function "absent_over_time"/],
    ['quantile_over_time("a", m[5m])', /expected type scalar in call to function "quantile_over_time", got string/],
    ["quantile_over_time(m[5m])", /expected 2 argument\(s\) in call to "quantile_over_time", got 1/],
    ['label_replace(m, "a", "b", "c")', /expected 5 argument\(s\) in call to "label_replace", got 4/],
    ['label_replace(m, "1a", "", "c", "")', /invalid destination label name in label_replace\(\): "1a"/],
    ['label_replace(m, "a", "", "c", "(")', /invalid regular expression in label_replace\(\)/],
    ['label_replace(m, "a", "", "c", "(?=x)")', /invalid regular expression in label_replace\(\)/],
    ['label_replace(m, "a", "", "c", "a{1,5000}")', /invalid regular expression in label_replace\(\)/],
    ['label_join(m, "a")', /expected at least 3 argument\(s\) in call to "label_join", got 2/],
    ['label_join(m, "a", "-", "b-c")', /invalid source label name in label_join\(\): "b-c"/],
    ["round(m, 1, 2)", /expected at most 2 argument\(s\) in call to "round", got 3/],
    ["time(1)", /expected 0 argument\(s\) in call to "time", got 1/],
    ["count_values(1, m)", /expected type string in aggregation parameter, got scalar/],
    ['count_values("1a", m)', /invalid label name "1a" in count_values/],
    ['topk("a", m)', /expected type scalar in aggregation parameter, got string/],
    ["sum(m[5m])", /expected type instant vector in aggregation expression, got range vector/],
    ["m[5m] + 1", /binary expression must contain only scalar and instant vector types/],
    ["1 and m", /set operator "and" not allowed in binary scalar expression/],
    ["1 + on(a) m", /vector matching only allowed between instant vectors/],
    ["-m[5m]", /unary expression only allowed on expressions of type scalar or instant vector/],
    ["1 > 2", /comparisons between scalars must use BOOL modifier/],
    ['m{a=~"a{1,5000}"}', /invalid regular expression in the matcher on a/],
  ])("%s", (q, message) => {
    expect(() => parsePromQL(q)).toThrow(PromError);
    expect(() => parsePromQL(q)).toThrow(message);
  });

  it("accepts what Prometheus accepts", () => {
    for (const q of [
      'label_join(m, "a", "-")',
      "round(m)",
      "round(m, 0.5)",
      "1 > bool 2",
      'count_values by (job) ("v", m)',
      "quantile_over_time(0.9, m[5m] offset 1m)",
      'label_replace(vector(1), "foo", "bar", "", "")',
      'm{a=~"(?i)GPT.*"}',
    ]) {
      expect(() => parsePromQL(q), q).not.toThrow();
    }
  });
});

describe("set operations", () => {
  /** The series the engine hands on (absent ones included), as `labels => values`. */
  async function series(query: string, steps: number[]): Promise<string[]> {
    const v = await evaluate(parsePromQL(query), { steps, fetch });
    if (v.type !== "vector") throw new Error(`expected a vector, got ${v.type}`);
    return v.series.map((s) => `${s.labels.instance ?? ""} ${JSON.stringify(s.values)}`).sort();
  }
  const steps = [BASE + 60, BASE + 240];

  it("`x or x …` keeps each series once: the right side adds only what the left lacks", async () => {
    const once = await series("m", steps);
    expect(once).toHaveLength(3);
    expect(await series("m or m or m or m", steps)).toEqual(once);
    // host-3 has no sample before BASE+120: the right side fills that step, the left keeps its own.
    expect(await series('m{instance!="host-3:9090"} or m{job="db"}', steps)).toEqual(once);
  });

  it("and / unless drop a series left with no value at any step", async () => {
    expect(await series('m and m{job="db"}', steps)).toEqual(await series('m{job="db"}', steps));
    expect(await series('m unless m{job="api"}', steps)).toEqual(await series('m{job="db"}', steps));
    expect(await series('m{job="db"} unless m', steps)).toEqual([]);
  });
});
