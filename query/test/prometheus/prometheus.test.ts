import { describe, expect, it } from "vitest";
import { INJECTIONS, type SpanRow, sec, traceId, useFixture } from "../api/fixture.ts";

/** A whole hour, so steps of a minute or more line up. */
const BASE = 1_699_999_200;

interface Call {
  /** Seconds since BASE. */
  at: number;
  model: string;
  provider: string;
  agent: string;
  team: string;
  cost: number;
  input: number;
  output: number;
  error: boolean;
}

const calls: Call[] = [];
for (let k = 0; k < 40; k++) {
  if (k % 2 === 0) {
    calls.push({
      at: k * 60 + 5,
      model: "gpt-4o",
      provider: "openai",
      agent: "a1",
      team: "red",
      cost: 0.01 * (k + 1),
      input: 100 * (k + 1),
      output: 7 * k,
      error: k % 8 === 0,
    });
  }
  if (k % 3 === 0) {
    calls.push({
      at: k * 60 + 30,
      model: "claude-sonnet-4",
      provider: "anthropic",
      agent: "a2",
      team: "blue",
      cost: 0.002 * (k + 1),
      input: 50 * (k + 1),
      output: 3 * k,
      error: false,
    });
    // A second call in the same minute: the rollup sums them.
    calls.push({
      at: k * 60 + 31,
      model: "claude-sonnet-4",
      provider: "anthropic",
      agent: "a2",
      team: "blue",
      cost: 0.001,
      input: 1,
      output: 1,
      error: true,
    });
  }
}

const rows: SpanRow[] = calls.map((c, i) => ({
  TraceId: traceId(i, "e"),
  SpanId: `p${i}`,
  startNs: sec(BASE + c.at),
  Duration: 1000,
  SpanName: "chat",
  ServiceName: "svc",
  TeamName: c.team,
  Environment: "prod",
  AgentName: c.agent,
  GenAiOperation: "chat",
  GenAiProvider: c.provider,
  GenAiRequestModel: c.model,
  GenAiUsageRole: "model_call",
  InputTokens: c.input,
  OutputTokens: c.output,
  StatusCode: c.error ? "Error" : "Ok",
  Priced: 1,
  CostUsd: c.cost,
}));

/** Sum of a call property over calls whose minute m satisfies from < m ≤ to (seconds since BASE). */
function windowSum(
  from: number,
  to: number,
  f: (c: Call) => number,
  filter: (c: Call) => boolean = () => true,
): number {
  return calls
    .filter((c) => filter(c) && Math.floor(c.at / 60) * 60 > from && Math.floor(c.at / 60) * 60 <= to)
    .reduce((a, c) => a + f(c), 0);
}

const fixture = useFixture(rows);

async function post(path: string, form: Record<string, string | string[]>) {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(form)) for (const x of Array.isArray(v) ? v : [v]) body.append(k, x);
  const res = await fixture().app.request(`/api/v1${path}`, { method: "POST", body });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) };
}

async function range(query: string, start: number, end: number, step: string | number) {
  const r = await post("/query_range", { query, start: String(start), end: String(end), step: String(step) });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  expect(r.body.status).toBe("success");
  expect(r.body.data.resultType).toBe("matrix");
  return r.body.data.result as { metric: Record<string, string>; values: [number, string][] }[];
}

async function instant(query: string, time: number) {
  const r = await post("/query", { query, time: String(time) });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.data;
}

describe("probes", () => {
  it("answers Grafana's save & test query 1+1 by POST form and by GET", async () => {
    const expected = { status: "success", data: { resultType: "scalar", result: [4, "2"] } };
    expect(await post("/query", { query: "1+1", time: "4" })).toEqual({ status: 200, body: expected });
    expect(await fixture().get("/api/v1/query?query=1%2B1&time=4")).toEqual({ status: 200, body: expected });
  });

  it("reports a Prometheus version without Mimir features", async () => {
    const r = await fixture().get("/api/v1/status/buildinfo");
    expect(r.status).toBe(200);
    expect(r.body.status).toBe("success");
    expect(r.body.data.version).toBe("2.53.0");
    expect(r.body.data.features ?? {}).toEqual({});
  });

  it("answers exemplars, rules and metadata", async () => {
    expect((await fixture().get("/api/v1/query_exemplars?query=x")).body).toEqual({ status: "success", data: [] });
    expect((await fixture().get("/api/v1/rules")).body).toEqual({ status: "success", data: { groups: [] } });
    const meta = await fixture().get("/api/v1/metadata");
    expect(meta.body.status).toBe("success");
    expect(Object.keys(meta.body.data).sort()).toEqual([
      "cognive_agent_runs_total",
      "cognive_budget_utilization_ratio",
      "cognive_cost_usd_total",
      "cognive_llm_calls_total",
      "cognive_llm_errors_total",
      "cognive_tokens_total",
      "gen_ai_client_operation_duration_seconds",
      "gen_ai_client_token_usage",
    ]);
    expect(meta.body.data.cognive_cost_usd_total[0]).toMatchObject({ type: "counter", unit: "USD" });
  });
});

describe("range queries", () => {
  const start = BASE;
  const end = BASE + 3600;
  const stepsOf = (step: number) =>
    Array.from({ length: Math.floor((end - start) / step) + 1 }, (_, k) => start + k * step);

  it("sum(increase(cost[5m])) equals the seeded minutes in each window", async () => {
    const result = await range("sum(increase(cognive_cost_usd_total[5m]))", start, end, 60);
    expect(result).toHaveLength(1);
    expect(result[0].metric).toEqual({});
    const got = new Map(result[0].values.map(([t, v]) => [t, Number(v)]));
    for (const t of stepsOf(60)) {
      expect(got.get(t), `t=${t}`).toBeCloseTo(
        windowSum(t - BASE - 300, t - BASE, (c) => c.cost),
        9,
      );
    }
    for (const [, v] of result[0].values) expect(typeof v).toBe("string");
  });

  it("sum by model of rate(calls[5m]), step given as a compound duration", async () => {
    const result = await range("sum by (gen_ai_request_model) (rate(cognive_llm_calls_total[5m]))", start, end, "1m0s");
    expect(result.map((s) => s.metric)).toEqual([
      { gen_ai_request_model: "claude-sonnet-4" },
      { gen_ai_request_model: "gpt-4o" },
    ]);
    for (const s of result) {
      for (const [t, v] of s.values) {
        const expected =
          windowSum(
            t - BASE - 300,
            t - BASE,
            () => 1,
            (c) => c.model === s.metric.gen_ai_request_model,
          ) / 300;
        expect(Number(v), `${s.metric.gen_ai_request_model} t=${t}`).toBeCloseTo(expected, 9);
      }
    }
  });

  it("tokens by type and errors, filtered by label matchers with a trailing comma", async () => {
    const result = await range(
      'sum(increase(cognive_tokens_total{gen_ai_token_type="input", agent=~"a.*",}[10m]))',
      start,
      end,
      300,
    );
    for (const [t, v] of result[0].values) {
      expect(Number(v)).toBe(windowSum(t - BASE - 600, t - BASE, (c) => c.input));
    }
    const errors = await range(
      'sum(increase({__name__="cognive_llm_errors_total", team!="red"}[15m]))',
      start,
      end,
      900,
    );
    for (const [t, v] of errors[0].values) {
      expect(Number(v)).toBe(
        windowSum(
          t - BASE - 900,
          t - BASE,
          (c) => (c.error ? 1 : 0),
          (c) => c.team !== "red",
        ),
      );
    }
  });

  it("regex matchers are anchored and honour (?i) in the store", async () => {
    const t = BASE + 1800;
    const ci = await instant('sum(increase(cognive_llm_calls_total{agent=~"(?i)A1"}[30m]))', t);
    expect(Number(ci.result[0].value[1])).toBe(
      windowSum(
        0,
        1800,
        () => 1,
        (c) => c.agent === "a1",
      ),
    );
    expect((await instant('cognive_llm_calls_total{agent=~"1"}', t)).result).toEqual([]);
    const neg = await instant('sum(increase(cognive_llm_calls_total{gen_ai_request_model!~"gpt.*"}[30m]))', t);
    expect(Number(neg.result[0].value[1])).toBe(
      windowSum(
        0,
        1800,
        () => 1,
        (c) => !c.model.startsWith("gpt"),
      ),
    );
  });

  it("offset shifts the window back", async () => {
    const result = await range("sum(increase(cognive_cost_usd_total[5m] offset 10m))", start + 900, end, 60);
    for (const [t, v] of result[0].values) {
      expect(Number(v)).toBeCloseTo(
        windowSum(t - BASE - 900, t - BASE - 600, (c) => c.cost),
        9,
      );
    }
  });

  it("or vector(0) fills an empty selection with zeros at every step", async () => {
    const result = await range(
      'sum(increase(cognive_cost_usd_total{agent="nobody"}[5m])) or vector(0)',
      start,
      end,
      600,
    );
    expect(result).toEqual([{ metric: {}, values: stepsOf(600).map((t) => [t, "0"]) }]);
  });

  it("scalar arithmetic and clamp_min", async () => {
    const result = await range("clamp_min(sum(increase(cognive_llm_calls_total[5m])) * 2 - 3, 0)", start, end, 300);
    for (const [t, v] of result[0].values) {
      expect(Number(v)).toBe(Math.max(0, windowSum(t - BASE - 300, t - BASE, () => 1) * 2 - 3));
    }
  });

  it("gives the same points for a shifted range when start and end are aligned to the step", async () => {
    const q = "sum by (agent) (increase(cognive_llm_calls_total[5m]))";
    const a = await range(q, start, end, 300);
    const b = await range(q, start + 600, end + 600, 300);
    for (const s of a) {
      const other = b.find((x) => x.metric.agent === s.metric.agent);
      const overlap = s.values.filter(([t]) => t >= start + 600);
      expect(other?.values.filter(([t]) => t <= end)).toEqual(overlap);
    }
  });

  it("irate is the last minute's increment per second", async () => {
    const t = BASE + 12 * 60 + 30;
    const data = await instant('irate(cognive_llm_calls_total{agent="a1"}[5m])', t);
    expect(data.resultType).toBe("vector");
    expect(Number(data.result[0].value[1])).toBeCloseTo(1 / 60, 12);
  });
});

describe("instant queries", () => {
  const t = BASE + 1800;

  it("an instant selector is the counter: the sum of all minutes read up to t", async () => {
    const data = await instant('cognive_tokens_total{gen_ai_token_type="output",agent="a2"}', t);
    expect(data.resultType).toBe("vector");
    expect(data.result).toHaveLength(1);
    expect(data.result[0].metric).toEqual({
      __name__: "cognive_tokens_total",
      gen_ai_token_type: "output",
      agent: "a2",
      team: "blue",
      gen_ai_request_model: "claude-sonnet-4",
      gen_ai_provider_name: "anthropic",
      environment: "prod",
      service_name: "svc",
      cognive_source: "spans",
    });
    // The counter accumulates from where reading starts: the 5-minute lookback plus the hour a quiet series stays.
    expect(Number(data.result[0].value[1])).toBe(
      windowSum(
        1800 - 300 - 3600,
        1800,
        (c) => c.output,
        (c) => c.agent === "a2",
      ),
    );
    expect(data.result[0].value[0]).toBe(t);
  });

  it("a quiet series reads as zero for an hour after its last call, then vanishes", async () => {
    const last = Math.max(...calls.filter((c) => c.agent === "a1").map((c) => Math.floor(c.at / 60) * 60));
    const q = 'increase(cognive_llm_calls_total{agent="a1"}[5m])';
    const stillThere = await instant(q, BASE + last + 300 + 3600 - 1);
    expect(stillThere.result).toHaveLength(1);
    expect(stillThere.result[0].value[1]).toBe("0");
    expect((await instant(q, BASE + last + 300 + 3600)).result).toEqual([]);
    // The same in a range query, whatever its start.
    for (const start of [BASE, BASE + last + 3600]) {
      const r = await range(q, start, BASE + last + 7200, 300);
      const lastPoint = r[0].values[r[0].values.length - 1][0];
      expect(lastPoint).toBeLessThan(BASE + last + 3900);
      expect(lastPoint).toBeGreaterThanOrEqual(BASE + last + 3600);
    }
  });

  it("topk and bottomk pick by value", async () => {
    const q = "sum by (agent) (increase(cognive_cost_usd_total[30m]))";
    const totals = ["a1", "a2"].map(
      (a) =>
        [
          a,
          windowSum(
            0,
            1800,
            (c) => c.cost,
            (c) => c.agent === a,
          ),
        ] as const,
    );
    const top = totals.reduce((x, y) => (y[1] > x[1] ? y : x))[0];
    const bottom = totals.reduce((x, y) => (y[1] < x[1] ? y : x))[0];
    const tk = await instant(`topk(1, ${q})`, t);
    expect(tk.result.map((r: { metric: { agent: string } }) => r.metric.agent)).toEqual([top]);
    const bk = await instant(`bottomk(1, ${q})`, t);
    expect(bk.result.map((r: { metric: { agent: string } }) => r.metric.agent)).toEqual([bottom]);
  });

  it("sort and sort_desc order an instant vector", async () => {
    const q = "sum by (agent) (increase(cognive_llm_calls_total[30m]))";
    const asc = (await instant(`sort(${q})`, t)).result.map((r: { value: [number, string] }) => Number(r.value[1]));
    const desc = (await instant(`sort_desc(${q})`, t)).result.map((r: { value: [number, string] }) =>
      Number(r.value[1]),
    );
    expect(asc).toEqual([...asc].sort((a, b) => a - b));
    expect(desc).toEqual([...asc].reverse());
  });

  it("aggregations without, count, avg, max", async () => {
    const count = await instant("count(cognive_tokens_total)", t);
    expect(count.result[0].value[1]).toBe("10");
    const without = await instant("sum without (gen_ai_token_type) (cognive_tokens_total)", t);
    expect(without.result).toHaveLength(2);
    expect(without.result[0].metric.__name__).toBeUndefined();
    expect(without.result[0].metric.gen_ai_token_type).toBeUndefined();
    const mx = await instant("max(increase(cognive_llm_calls_total[30m]))", t);
    const calls1 = windowSum(
      0,
      1800,
      () => 1,
      (c) => c.agent === "a1",
    );
    const calls2 = windowSum(
      0,
      1800,
      () => 1,
      (c) => c.agent === "a2",
    );
    expect(Number(mx.result[0].value[1])).toBe(Math.max(calls1, calls2));
    const avg = await instant("avg(increase(cognive_llm_calls_total[30m]))", t);
    expect(Number(avg.result[0].value[1])).toBe((calls1 + calls2) / 2);
  });

  it("vector / vector matches on labels; comparisons filter", async () => {
    const ratio = await instant(
      "sum by (agent) (increase(cognive_llm_errors_total[30m])) / sum by (agent) (increase(cognive_llm_calls_total[30m]))",
      t,
    );
    for (const r of ratio.result) {
      const a = r.metric.agent;
      const expected =
        windowSum(
          0,
          1800,
          (c) => (c.error ? 1 : 0),
          (c) => c.agent === a,
        ) /
        windowSum(
          0,
          1800,
          () => 1,
          (c) => c.agent === a,
        );
      expect(Number(r.value[1])).toBeCloseTo(expected, 12);
    }
    const filtered = await instant("sum by (agent) (increase(cognive_llm_calls_total[30m])) > 15", t);
    const above = ["a1", "a2"].filter(
      (a) =>
        windowSum(
          0,
          1800,
          () => 1,
          (c) => c.agent === a,
        ) > 15,
    );
    expect(above).toHaveLength(1);
    expect(filtered.result.map((r: { metric: { agent: string } }) => r.metric.agent)).toEqual(above);
    const asBool = await instant("sum by (agent) (increase(cognive_llm_calls_total[30m])) > bool 15", t);
    expect(asBool.result).toHaveLength(2);
  });

  it("a range selector alone answers a matrix of per-minute samples", async () => {
    const data = await instant('cognive_llm_calls_total{agent="a1"}[3m]', BASE + 600);
    expect(data.resultType).toBe("matrix");
    expect(data.result[0].values.map(([ts]: [number]) => ts)).toEqual([BASE + 480, BASE + 540, BASE + 600]);
  });
});

describe("errors", () => {
  it.each([
    ["sum(", "/query"],
    ["rate(cognive_llm_calls_total)", "/query"],
    ["{}", "/query"],
    ['x{a=~"("}', "/query"],
    ["unknown_fn(x)", "/query"],
    ["1 > 2", "/query"],
  ])("%s is bad_data with 400", async (query, path) => {
    const r = await post(path, { query, time: "100" });
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ status: "error", errorType: "bad_data" });
    expect(typeof r.body.error).toBe("string");
  });

  it("a regex the store's RE2 rejects is bad_data, not a failure", async () => {
    const r = await post("/query", { query: 'cognive_llm_calls_total{agent=~"a{2,2000}"}', time: String(BASE + 600) });
    expect(r.status, JSON.stringify(r.body)).toBe(400);
    expect(r.body.errorType).toBe("bad_data");
  });

  it("rejects bad range parameters", async () => {
    const forms: Record<string, string>[] = [
      { query: "1", start: "10", end: "5", step: "1" },
      { query: "1", start: "10", end: "20", step: "0" },
      { query: "1", start: "10", end: "20", step: "abc" },
      { query: "1", start: "x", end: "20", step: "1" },
      { query: "1", start: "0", end: "100000", step: "1" },
      { start: "0", end: "10", step: "1" },
    ];
    for (const form of forms) {
      const r = await post("/query_range", form);
      expect(r.status, JSON.stringify(form)).toBe(400);
      expect(r.body.errorType).toBe("bad_data");
    }
  });
});

describe("labels, values, series", () => {
  it("lists label names", async () => {
    const r = await fixture().get(`/api/v1/labels?start=${BASE}&end=${BASE + 3600}&limit=40000`);
    expect(r.body.status).toBe("success");
    expect(r.body.data).toContain("__name__");
    expect(r.body.data).toContain("gen_ai_request_model");
    expect(r.body.data).toContain("gen_ai_token_type");
  });

  it("lists label values from the rollup and metric names for __name__", async () => {
    const models = await fixture().get(`/api/v1/label/gen_ai_request_model/values?start=${BASE}&end=${BASE + 3600}`);
    expect(models.body).toEqual({ status: "success", data: ["claude-sonnet-4", "gpt-4o"] });
    const names = await fixture().get("/api/v1/label/__name__/values");
    expect(names.body.data).toContain("cognive_cost_usd_total");
    const filtered = await post("/label/agent/values", { "match[]": 'cognive_llm_calls_total{team="red"}' });
    expect(filtered.body.data).toEqual(["a1"]);
    expect((await fixture().get("/api/v1/label/nope/values")).body).toEqual({ status: "success", data: [] });
  });

  it('lists series; {__name__!=""} means all', async () => {
    const all = await fixture().get(
      `/api/v1/series?${new URLSearchParams({ "match[]": '{__name__!=""}', start: String(BASE), end: String(BASE + 3600) })}`,
    );
    expect(all.body.status).toBe("success");
    // 2 label sets × (3 counters + 5 token types + a histogram of 14 finite buckets, +Inf, _sum and
    // _count for the duration and for input and output tokens), and every span is a root: 2 run
    // label sets.
    expect(all.body.data).toHaveLength(2 * (3 + 5 + 3 * 17) + 2);
    const some = await post("/series", {
      "match[]": ['cognive_cost_usd_total{agent="a1"}', "cognive_llm_calls_total"],
    });
    expect(some.body.data).toHaveLength(3);
  });
});

describe("injection", () => {
  it("label values and regexes carrying SQL match nothing and leave the tables intact", async () => {
    const before = await fixture().count("llm_rollup_1m");
    for (const s of INJECTIONS) {
      for (const op of ["=", "=~"]) {
        const value = JSON.stringify(s);
        for (const query of [
          `cognive_llm_calls_total{agent${op}${value}}`,
          `sum(rate(cognive_cost_usd_total{gen_ai_request_model${op}${value}}[5m]))`,
        ]) {
          const r = await post("/query", { query, time: String(BASE + 600) });
          expect([200, 400], query).toContain(r.status);
          if (r.status === 200) expect(r.body.data.result, query).toEqual([]);
        }
      }
      const v = await fixture().get(
        `/api/v1/series?${new URLSearchParams({ "match[]": `{team=${JSON.stringify(s)}}` })}`,
      );
      expect(v.status).toBe(200);
      expect(v.body.data).toEqual([]);
    }
    expect(await fixture().count("llm_rollup_1m")).toBe(before);
    expect(await fixture().count("otel_traces")).toBe(rows.length);
  });
});

describe("the provisioned dashboard", () => {
  it("answers every panel query and variable query with Grafana's substitutions", async () => {
    const { readFileSync } = await import("node:fs");
    const dashboard = JSON.parse(
      readFileSync(new URL("../../../deploy/grafana/dashboards/cognive-llm-cost.json", import.meta.url), "utf8"),
    );
    const exprs: string[] = [];
    const walk = (x: unknown): void => {
      if (Array.isArray(x)) x.forEach(walk);
      else if (x && typeof x === "object") {
        for (const [k, v] of Object.entries(x)) {
          if (k === "expr" && typeof v === "string") exprs.push(v);
          else walk(v);
        }
      }
    };
    walk(dashboard.panels);
    expect(exprs.length).toBeGreaterThan(0);
    // With a policy that declares budgets, so the budget panel has series too.
    const { parsePolicy } = await import("@cognive/collector");
    const { createQueryApp } = await import("../../src/app.ts");
    const policy = parsePolicy(
      "teams:\n  red: { budgets: { monthly_usd: 10 } }\nagents:\n  a1: { team: red, budgets: { daily_usd: 1 } }\n",
    );
    const log = { error() {}, warn() {}, info() {}, debug() {} };
    const app = createQueryApp({ storage: fixture().storage, log: log as any, governance: { policy } as any });
    for (const expr of exprs) {
      const query = expr
        .replaceAll("$team", "red|blue")
        .replaceAll("$agent", ".*")
        .replaceAll("$__range", "3600s")
        .replaceAll("$__rate_interval", "1m0s");
      const q = new URLSearchParams({ query, start: String(BASE), end: String(BASE + 3600), step: "60" });
      const res = await app.request("/api/v1/query_range", { method: "POST", body: q });
      const body = await res.json();
      expect(res.status, `${query}: ${JSON.stringify(body)}`).toBe(200);
      const result = body.data.result as { values: [number, string][] }[];
      expect(result.length, query).toBeGreaterThan(0);
      // Some step of every panel has a number (not only NaN).
      expect(
        result.some((s) => s.values.some(([, v]) => Number.isFinite(Number(v)))),
        query,
      ).toBe(true);
    }
    // label_values(cognive_cost_usd_total{team=~"$team"}, agent)
    const agents = await fixture().get(
      `/api/v1/label/agent/values?${new URLSearchParams({ "match[]": 'cognive_cost_usd_total{team=~"red|blue"}', start: String(BASE), end: String(BASE + 3600) })}`,
    );
    expect(agents.body.data).toEqual(["a1", "a2"]);
  });

  it("range queries also work by GET", async () => {
    const q = new URLSearchParams({
      query: "sum(increase(cognive_cost_usd_total[1h]))",
      start: String(BASE + 3600),
      end: String(BASE + 3600),
      step: "15",
    });
    const r = await fixture().get(`/api/v1/query_range?${q}`);
    expect(r.status).toBe(200);
    expect(Number(r.body.data.result[0].values[0][1])).toBeCloseTo(
      windowSum(0, 3600, (c) => c.cost),
      9,
    );
  });
});

describe("operation duration", () => {
  it("serves the histogram's _sum (seconds) and _count", async () => {
    const t = BASE + 1800;
    const s = await instant("sum(increase(gen_ai_client_operation_duration_seconds_sum[30m]))", t);
    const n = await instant("sum(increase(gen_ai_client_operation_duration_seconds_count[30m]))", t);
    const count = windowSum(0, 1800, () => 1);
    expect(Number(n.result[0].value[1])).toBe(count);
    // Every seeded span lasts 1000 ns.
    expect(Number(s.result[0].value[1])).toBeCloseTo(count * 1e-6, 12);
    const meta = await fixture().get("/api/v1/metadata?metric=gen_ai_client_operation_duration_seconds");
    expect(meta.body.data).toEqual({
      gen_ai_client_operation_duration_seconds: [expect.objectContaining({ type: "histogram", unit: "seconds" })],
    });
  });
});

describe("autocomplete leniency", () => {
  it("skips an unparsable match[] instead of failing", async () => {
    for (const path of ["/labels", "/label/agent/values", "/series"]) {
      const r = await post(path, { "match[]": 'cognive_llm_calls_total{agent="' });
      expect(r.status, path).toBe(200);
      expect(r.body.status).toBe("success");
    }
  });
});

describe("storage failures", () => {
  it("answer 503 in the Prometheus error envelope and are logged", async () => {
    const { Hono } = await import("hono");
    const { scopeMiddleware } = await import("../../src/api/scope.ts");
    const { prometheusRoutes } = await import("../../src/prometheus/routes.ts");
    const logged: string[] = [];
    const log = { error: (msg: string) => logged.push(msg), warn() {}, info() {}, debug() {} };
    const storage = {
      ...fixture().storage,
      database: "cognive",
      client: {
        query: async () => {
          throw new Error("connection refused");
        },
      },
    };
    const app = new Hono();
    app.use("*", scopeMiddleware);
    app.route("/api/v1", prometheusRoutes({ storage: storage as any, log: log as any }));
    const res = await app.request("/api/v1/query?query=cognive_llm_calls_total&time=100");
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ status: "error", errorType: "unavailable" });
    expect(logged).toHaveLength(1);
    const ok = await app.request("/api/v1/query?query=1%2B1&time=4");
    expect(ok.status).toBe(200);
  });
});

describe("budget utilization", () => {
  it("is the window's spend over the declared limit, resetting at UTC midnight", async () => {
    const { parsePolicy } = await import("@cognive/collector");
    const { createQueryApp } = await import("../../src/app.ts");
    const policy = parsePolicy(
      [
        "teams:",
        "  red: { budgets: { monthly_usd: 10 } }",
        "  blue: { budgets: { daily_usd: 2 } }",
        "agents:",
        "  a1: { team: red, budgets: { daily_usd: 1 } }",
      ].join("\n"),
    );
    const log = { error() {}, warn() {}, info() {}, debug() {} };
    // Only the policy of the governance runtime is read here.
    const app = createQueryApp({ storage: fixture().storage, log: log as any, governance: { policy } as any });
    const at = async (query: string, t: number) => {
      const res = await app.request(`/api/v1/query?${new URLSearchParams({ query, time: String(t) })}`);
      expect(res.status).toBe(200);
      const body = await res.json();
      return body.data.result as { metric: Record<string, string>; value: [number, string] }[];
    };
    const t = BASE + 1800;
    const all = await at("cognive_budget_utilization_ratio", t);
    const byKey = Object.fromEntries(
      all.map((r) => [`${r.metric.agent ?? r.metric.team}/${r.metric.window}`, Number(r.value[1])]),
    );
    expect(Object.keys(byKey).sort()).toEqual(["a1/day", "blue/day", "red/month"]);
    expect(byKey["a1/day"]).toBeCloseTo(
      windowSum(
        -BASE,
        1800,
        (c) => c.cost,
        (c) => c.agent === "a1",
      ) / 1,
      9,
    );
    expect(byKey["blue/day"]).toBeCloseTo(
      windowSum(
        -BASE,
        1800,
        (c) => c.cost,
        (c) => c.team === "blue",
      ) / 2,
      9,
    );
    expect(byKey["red/month"]).toBeCloseTo(
      windowSum(
        -BASE,
        1800,
        (c) => c.cost,
        (c) => c.team === "red",
      ) / 10,
      9,
    );

    // BASE is 22:00 UTC: two hours later a new day starts, the month goes on.
    const next = await at('cognive_budget_utilization_ratio{team=~"red|blue"}', BASE + 7200);
    const after = Object.fromEntries(next.map((r) => [`${r.metric.team}/${r.metric.window}`, Number(r.value[1])]));
    expect(after["blue/day"]).toBe(0);
    expect(after["red/month"]).toBeCloseTo(
      windowSum(
        -BASE,
        7200,
        (c) => c.cost,
        (c) => c.team === "red",
      ) / 10,
      9,
    );

    const meta = await (await app.request("/api/v1/metadata?metric=cognive_budget_utilization_ratio")).json();
    expect(meta.data.cognive_budget_utilization_ratio[0].type).toBe("gauge");
    const series = await (
      await app.request(`/api/v1/series?${new URLSearchParams({ "match[]": "cognive_budget_utilization_ratio" })}`)
    ).json();
    expect(series.data).toHaveLength(3);
  });

  it("is absent without a governance runtime", async () => {
    expect((await instant("cognive_budget_utilization_ratio", BASE + 1800)).result).toEqual([]);
  });
});
