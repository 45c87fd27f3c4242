import { describe, expect, it } from "vitest";
import { bucketQuantile } from "../../src/prometheus/engine.ts";
import { INJECTIONS, type SpanRow, sec, traceId, useFixture } from "../api/fixture.ts";

/** A whole hour, so steps of a minute or more line up. */
const BASE = 1_699_999_200;

// The OTel GenAI semconv bucket bounds, written out here rather than imported from the code under test.
const DURATION_BOUNDS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];
const TOKEN_BOUNDS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];

interface Call {
  /** Seconds since BASE. */
  at: number;
  agent: string;
  model: string;
  durationMs: number;
  input: number;
  output: number;
  root: boolean;
  trace: number;
}

// Deterministic pseudo-random spread over every bucket, +Inf included.
let seed = 42;
const rand = () => {
  seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
  return seed / 2_147_483_648;
};
const calls: Call[] = [];
// Nine calls a minute: 0.95 × a window's count is never a whole number, so the rank never ties with a
// cumulative count exactly, where float rounding of the summed rates would pick the bucket (in
// Prometheus as here) and an empty bucket above would make the answer jump.
for (let i = 0; i < 300; i++) {
  const minute = Math.floor(i / 9);
  const trace = Math.floor(i / 3);
  let durationMs = Math.max(1, Math.floor(Math.exp(rand() * Math.log(150_000))));
  // Some values exactly on a bound: `le` is inclusive.
  if (i % 17 === 0) durationMs = Math.round(DURATION_BOUNDS[i % 14] * 1000);
  calls.push({
    at: minute * 60 + (i % 9) * 5 + 1,
    agent: trace % 2 === 0 ? "x" : "y",
    model: i % 3 === 0 ? "m-b" : "m-a",
    durationMs,
    input: i % 13 === 0 ? TOKEN_BOUNDS[i % 14] : Math.floor(Math.exp(rand() * Math.log(2_000_000))),
    // A call that reports no output tokens is not an observation of output usage.
    output: i % 11 === 0 ? 0 : Math.floor(Math.exp(rand() * Math.log(5000))),
    root: i % 3 === 0,
    trace,
  });
}
// Small hand-checked sets, 40 minutes in, far from the rest.
const HAND_MINUTE = 40;
for (const ms of [15, 15, 30, 50]) {
  calls.push({
    at: HAND_MINUTE * 60 + 10,
    agent: "hand",
    model: "hand",
    durationMs: ms,
    input: 10,
    output: 10,
    root: true,
    trace: 1000 + calls.length,
  });
}
calls.push({
  at: HAND_MINUTE * 60 + 20,
  agent: "slow",
  model: "slow",
  durationMs: 100_000,
  input: 10,
  output: 10,
  root: true,
  trace: 2000,
});

const rows: SpanRow[] = calls.map((c, i) => ({
  TraceId: traceId(c.trace, "f"),
  SpanId: `h${i}`,
  ParentSpanId: c.root ? "" : `root${c.trace}`,
  startNs: sec(BASE + c.at),
  Duration: c.durationMs * 1_000_000,
  SpanName: "chat",
  ServiceName: "svc",
  TeamName: "t1",
  Environment: "prod",
  AgentName: c.agent,
  GenAiOperation: "chat",
  GenAiProvider: "openai",
  GenAiRequestModel: c.model,
  GenAiUsageRole: "model_call",
  InputTokens: c.input,
  OutputTokens: c.output,
  StatusCode: "Ok",
  Priced: 1,
  CostUsd: 0.001,
}));

const minuteOf = (c: Call) => Math.floor(c.at / 60) * 60;
/** Calls whose minute m is in the window (t − r, t], t in seconds since BASE. */
const inWindow = (t: number, r: number, filter: (c: Call) => boolean = () => true) =>
  calls.filter((c) => filter(c) && minuteOf(c) > t - r && minuteOf(c) <= t);

/** Prometheus's quantile over cumulative counts, written from its documentation against raw values. */
function expectedQuantile(q: number, values: number[], bounds: number[]): number {
  const cumulative = bounds.map((b) => values.filter((v) => v <= b).length);
  const total = values.length;
  if (total === 0) return Number.NaN;
  const rank = q * total;
  const i = cumulative.findIndex((n) => n >= rank);
  if (i === -1) return bounds[bounds.length - 1];
  const lower = i === 0 ? 0 : bounds[i - 1];
  const below = i === 0 ? 0 : cumulative[i - 1];
  return lower + (bounds[i] - lower) * ((rank - below) / (cumulative[i] - below));
}

const fixture = useFixture(rows);

type Sample = { metric: Record<string, string>; value: [number, string] };

async function instant(query: string, t: number): Promise<{ resultType: string; result: Sample[] }> {
  const res = await fixture().app.request(`/api/v1/query?${new URLSearchParams({ query, time: String(t) })}`);
  const body = await res.json();
  expect(res.status, JSON.stringify(body)).toBe(200);
  return body.data;
}

async function range(query: string, start: number, end: number, step: number) {
  const q = new URLSearchParams({ query, start: String(start), end: String(end), step: String(step) });
  const res = await fixture().app.request(`/api/v1/query_range?${q}`);
  const body = await res.json();
  expect(res.status, JSON.stringify(body)).toBe(200);
  return body.data.result as { metric: Record<string, string>; values: [number, string][] }[];
}

const leKey = (le: string) => (le === "+Inf" ? Number.POSITIVE_INFINITY : Number(le));

describe("gen_ai_client_operation_duration_seconds", () => {
  it("_bucket counts are cumulative over the semconv bounds, +Inf included", async () => {
    const t = 1200;
    const data = await instant(
      "sum by (le) (increase(gen_ai_client_operation_duration_seconds_bucket[10m]))",
      BASE + t,
    );
    const got = data.result.map((s) => [leKey(s.metric.le), Number(s.value[1])]).sort((a, b) => a[0] - b[0]);
    const seconds = inWindow(t, 600).map((c) => c.durationMs / 1000);
    expect(got).toEqual([
      ...DURATION_BOUNDS.map((b) => [b, seconds.filter((v) => v <= b).length]),
      [Number.POSITIVE_INFINITY, seconds.length],
    ]);
    // The data is spread: not everything in one bucket.
    expect(new Set(got.map(([, n]) => n)).size).toBeGreaterThan(8);
    expect(seconds.some((v) => v > 81.92)).toBe(true);
  });

  it("_sum is in seconds and _count counts calls, per model", async () => {
    const t = 1800;
    const sums = await instant(
      "sum by (gen_ai_request_model) (increase(gen_ai_client_operation_duration_seconds_sum[30m]))",
      BASE + t,
    );
    const counts = await instant(
      "sum by (gen_ai_request_model) (increase(gen_ai_client_operation_duration_seconds_count[30m]))",
      BASE + t,
    );
    for (const model of ["m-a", "m-b"]) {
      const mine = inWindow(t, 1800, (c) => c.model === model);
      const s = sums.result.find((r) => r.metric.gen_ai_request_model === model);
      const n = counts.result.find((r) => r.metric.gen_ai_request_model === model);
      expect(Number(s?.value[1])).toBeCloseTo(
        mine.reduce((a, c) => a + c.durationMs / 1000, 0),
        6,
      );
      expect(Number(n?.value[1])).toBe(mine.length);
    }
  });

  it("histogram_quantile(0.95, sum by (le) (rate(…[5m]))) matches the raw durations at every step", async () => {
    const result = await range(
      "histogram_quantile(0.95, sum by (le) (rate(gen_ai_client_operation_duration_seconds_bucket[5m])))",
      BASE,
      BASE + 1800,
      60,
    );
    expect(result).toHaveLength(1);
    expect(result[0].metric).toEqual({});
    expect(result[0].values).toHaveLength(31);
    for (const [t, v] of result[0].values) {
      const seconds = inWindow(t - BASE, 300).map((c) => c.durationMs / 1000);
      expect(seconds.length).toBeGreaterThan(0);
      expect(Number(v), `t=${t}`).toBeCloseTo(expectedQuantile(0.95, seconds, DURATION_BOUNDS), 9);
    }
  });

  it("by model, and by every label but le when not aggregated", async () => {
    const t = 900;
    const byModel = await instant(
      "histogram_quantile(0.5, sum by (le, gen_ai_request_model) (rate(gen_ai_client_operation_duration_seconds_bucket[15m])))",
      BASE + t,
    );
    expect(
      byModel.result.map((r) => r.metric).sort((a, b) => a.gen_ai_request_model.localeCompare(b.gen_ai_request_model)),
    ).toEqual([{ gen_ai_request_model: "m-a" }, { gen_ai_request_model: "m-b" }]);
    for (const r of byModel.result) {
      const seconds = inWindow(t, 900, (c) => c.model === r.metric.gen_ai_request_model).map(
        (c) => c.durationMs / 1000,
      );
      expect(Number(r.value[1])).toBeCloseTo(expectedQuantile(0.5, seconds, DURATION_BOUNDS), 9);
    }
    const raw = await instant(
      "histogram_quantile(0.5, rate(gen_ai_client_operation_duration_seconds_bucket[15m]))",
      BASE + t,
    );
    // Series per agent × model; the name and le are gone, the other labels stay.
    expect(raw.result.length).toBe(4);
    for (const r of raw.result) {
      expect(r.metric.__name__).toBeUndefined();
      expect(r.metric.le).toBeUndefined();
      expect(r.metric).toMatchObject({
        team: "t1",
        environment: "prod",
        service_name: "svc",
        gen_ai_provider_name: "openai",
      });
      const seconds = inWindow(
        t,
        900,
        (c) => c.model === r.metric.gen_ai_request_model && c.agent === r.metric.agent,
      ).map((c) => c.durationMs / 1000);
      expect(Number(r.value[1])).toBeCloseTo(expectedQuantile(0.5, seconds, DURATION_BOUNDS), 9);
    }
  });

  it("interpolates within the bucket: hand-computed values", async () => {
    const t = BASE + HAND_MINUTE * 60;
    const q = (phi: number, model: string) =>
      `histogram_quantile(${phi}, sum by (le) (rate(gen_ai_client_operation_duration_seconds_bucket{gen_ai_request_model="${model}"}[5m])))`;
    // 15, 15, 30, 50 ms: le=0.02 holds 2, le=0.04 holds 3, le=0.08 holds 4.
    // φ=0.5: rank 2 is the top of (0.01, 0.02] → 0.02. φ=0.95: rank 3.8 → 0.04 + 0.04 × 0.8 = 0.072.
    expect(Number((await instant(q(0.5, "hand"), t)).result[0].value[1])).toBeCloseTo(0.02, 12);
    expect(Number((await instant(q(0.95, "hand"), t)).result[0].value[1])).toBeCloseTo(0.072, 12);
    // φ=0.25: rank 1 in (0.01, 0.02] holding 2 → 0.015.
    expect(Number((await instant(q(0.25, "hand"), t)).result[0].value[1])).toBeCloseTo(0.015, 12);
    // Only above the last finite bound: the highest finite bound.
    expect((await instant(q(0.5, "slow"), t)).result[0].value[1]).toBe("81.92");
  });
});

describe("histogram_quantile edge cases", () => {
  const t = BASE + HAND_MINUTE * 60;
  const over = (
    phi: string,
    selector = 'gen_ai_client_operation_duration_seconds_bucket{gen_ai_request_model="hand"}',
  ) => `histogram_quantile(${phi}, sum by (le) (rate(${selector}[5m])))`;

  it("φ < 0 is -Inf, φ > 1 is +Inf, NaN is NaN", async () => {
    expect((await instant(over("-0.5"), t)).result[0].value[1]).toBe("-Inf");
    expect((await instant(over("1.5"), t)).result[0].value[1]).toBe("+Inf");
    expect((await instant(over("NaN"), t)).result[0].value[1]).toBe("NaN");
  });

  it("no observations in the window is NaN; only a +Inf bucket is NaN", async () => {
    // Ten minutes later the series still exist but saw nothing in the last 5 minutes.
    const empty = await instant(over("0.5"), t + 600);
    expect(empty.result).toHaveLength(1);
    expect(empty.result[0].value[1]).toBe("NaN");
    const onlyInf = await instant(
      over("0.5", 'gen_ai_client_operation_duration_seconds_bucket{gen_ai_request_model="hand",le="+Inf"}'),
      t,
    );
    expect(onlyInf.result[0].value[1]).toBe("NaN");
    // Without the +Inf bucket there is no total: NaN as well.
    const noInf = await instant(
      over("0.5", 'gen_ai_client_operation_duration_seconds_bucket{gen_ai_request_model="hand",le!="+Inf"}'),
      t,
    );
    expect(noInf.result[0].value[1]).toBe("NaN");
  });

  it("series without le are ignored; bad arguments are bad_data", async () => {
    expect((await instant("histogram_quantile(0.5, rate(cognive_llm_calls_total[5m]))", t)).result).toEqual([]);
    for (const query of [
      "histogram_quantile(0.5)",
      "histogram_quantile(cognive_llm_calls_total, rate(gen_ai_client_operation_duration_seconds_bucket[5m]))",
      "histogram_quantile(0.5, gen_ai_client_operation_duration_seconds_bucket[5m])",
    ]) {
      const res = await fixture().app.request(`/api/v1/query?${new URLSearchParams({ query, time: String(t) })}`);
      expect(res.status, query).toBe(400);
      expect((await res.json()).errorType).toBe("bad_data");
    }
  });

  it("bucketQuantile follows Prometheus on unsorted, duplicate and non-monotonic buckets", () => {
    const inf = Number.POSITIVE_INFINITY;
    // Unsorted input, same answer as sorted: rank 15 in (1, 2] holding 10 of 20 → 1.5.
    expect(
      bucketQuantile(0.75, [
        { upper: inf, count: 20 },
        { upper: 1, count: 10 },
        { upper: 2, count: 20 },
      ]),
    ).toBe(1.5);
    // Two series with the same bound add up.
    expect(
      bucketQuantile(0.5, [
        { upper: 1, count: 2 },
        { upper: 1, count: 2 },
        { upper: 2, count: 8 },
        { upper: inf, count: 8 },
      ]),
    ).toBe(1);
    // A count below its predecessor is raised to it.
    expect(
      bucketQuantile(0.5, [
        { upper: 1, count: 4 },
        { upper: 2, count: 3 },
        { upper: 4, count: 8 },
        { upper: inf, count: 8 },
      ]),
    ).toBe(1);
    // A first bound ≤ 0 holding the rank is returned as is.
    expect(
      bucketQuantile(0.1, [
        { upper: -1, count: 5 },
        { upper: inf, count: 5 },
      ]),
    ).toBe(-1);
    expect(
      bucketQuantile(0.5, [
        { upper: 1, count: 0 },
        { upper: inf, count: 0 },
      ]),
    ).toBeNaN();
  });
});

describe("gen_ai_client_token_usage", () => {
  it("_bucket by token type counts calls that reported tokens", async () => {
    const t = 1800;
    const data = await instant(
      "sum by (le, gen_ai_token_type) (increase(gen_ai_client_token_usage_bucket[30m]))",
      BASE + t,
    );
    for (const type of ["input", "output"] as const) {
      const values = inWindow(t, 1800)
        .map((c) => c[type])
        .filter((v) => v > 0);
      const got = data.result
        .filter((r) => r.metric.gen_ai_token_type === type)
        .map((r) => [leKey(r.metric.le), Number(r.value[1])])
        .sort((a, b) => a[0] - b[0]);
      expect(got, type).toEqual([
        ...TOKEN_BOUNDS.map((b) => [b, values.filter((v) => v <= b).length]),
        [Number.POSITIVE_INFINITY, values.length],
      ]);
    }
    // Some calls reported no output tokens: fewer output observations than calls.
    expect(inWindow(t, 1800).filter((c) => c.output === 0).length).toBeGreaterThan(0);
  });

  it("_sum and _count, and p95 tokens per type", async () => {
    const t = 1800;
    const sum = await instant("sum by (gen_ai_token_type) (increase(gen_ai_client_token_usage_sum[30m]))", BASE + t);
    const count = await instant(
      'sum by (gen_ai_token_type) (increase(gen_ai_client_token_usage_count{gen_ai_token_type=~"in.*|out.*"}[30m]))',
      BASE + t,
    );
    const p95 = await instant(
      "histogram_quantile(0.95, sum by (le, gen_ai_token_type) (rate(gen_ai_client_token_usage_bucket[30m])))",
      BASE + t,
    );
    for (const type of ["input", "output"] as const) {
      const values = inWindow(t, 1800)
        .map((c) => c[type])
        .filter((v) => v > 0);
      const pick = (d: { result: Sample[] }) =>
        Number(d.result.find((r) => r.metric.gen_ai_token_type === type)?.value[1]);
      expect(pick(sum)).toBe(values.reduce((a, b) => a + b, 0));
      expect(pick(count)).toBe(values.length);
      expect(pick(p95)).toBeCloseTo(expectedQuantile(0.95, values, TOKEN_BOUNDS), 6);
    }
  });
});

describe("cognive_agent_runs_total", () => {
  it("counts traces at their root span, per agent, without model labels", async () => {
    const t = 1800;
    // 31 minutes: every seeded minute, so no trace straddles the window's edge.
    const data = await instant("sum by (agent) (increase(cognive_agent_runs_total[31m]))", BASE + t);
    const got = Object.fromEntries(data.result.map((r) => [r.metric.agent, Number(r.value[1])]));
    const roots = inWindow(t, 1860, (c) => c.root);
    expect(got).toEqual({
      x: roots.filter((c) => c.agent === "x").length,
      y: roots.filter((c) => c.agent === "y").length,
    });
    expect(got.x + got.y).toBe(new Set(inWindow(t, 1860).map((c) => c.trace)).size);
    const one = await instant('cognive_agent_runs_total{agent="x"}', BASE + t);
    expect(one.result[0].metric).toEqual({
      __name__: "cognive_agent_runs_total",
      agent: "x",
      team: "t1",
      environment: "prod",
      service_name: "svc",
      cognive_source: "spans",
    });
    // A run has no model: a matcher that needs one matches no run.
    expect((await instant('cognive_agent_runs_total{gen_ai_request_model="m-a"}', BASE + t)).result).toEqual([]);
    expect((await instant('cognive_agent_runs_total{gen_ai_request_model=""}', BASE + t)).result).toHaveLength(2);
  });
});

describe("discovery", () => {
  it("labels, le values, series and metadata include the histograms and runs", async () => {
    const labels = await fixture().get("/api/v1/labels");
    expect(labels.body.data).toContain("le");
    const le = await fixture().get(
      `/api/v1/label/le/values?${new URLSearchParams({ "match[]": "gen_ai_client_operation_duration_seconds_bucket" })}`,
    );
    expect(le.body.data.map(leKey).sort((a: number, b: number) => a - b)).toEqual([
      ...DURATION_BOUNDS,
      Number.POSITIVE_INFINITY,
    ]);
    const names = await fixture().get("/api/v1/label/__name__/values");
    for (const n of [
      "gen_ai_client_token_usage_bucket",
      "gen_ai_client_token_usage_sum",
      "gen_ai_client_token_usage_count",
      "gen_ai_client_operation_duration_seconds_bucket",
      "cognive_agent_runs_total",
    ])
      expect(names.body.data).toContain(n);
    const series = await fixture().get(
      `/api/v1/series?${new URLSearchParams({ "match[]": 'gen_ai_client_token_usage_bucket{agent="hand",gen_ai_token_type="input"}' })}`,
    );
    expect(series.body.data).toHaveLength(15);
    expect(series.body.data[0]).toMatchObject({
      __name__: "gen_ai_client_token_usage_bucket",
      gen_ai_token_type: "input",
    });
    const meta = await fixture().get("/api/v1/metadata");
    expect(meta.body.data.gen_ai_client_token_usage[0]).toMatchObject({ type: "histogram", unit: "tokens" });
    expect(meta.body.data.gen_ai_client_operation_duration_seconds[0]).toMatchObject({ type: "histogram" });
    expect(meta.body.data.cognive_agent_runs_total[0]).toMatchObject({ type: "counter" });
  });

  it("or vector(0) and 1+1 still answer", async () => {
    const r = await instant(
      'sum(rate(gen_ai_client_operation_duration_seconds_count{agent="nobody"}[5m])) or vector(0)',
      BASE + 600,
    );
    expect(r.result).toEqual([{ metric: {}, value: [BASE + 600, "0"] }]);
    expect(await instant("1+1", 4)).toEqual({ resultType: "scalar", result: [4, "2"] });
  });
});

describe("injection", () => {
  it("hostile label values on histogram selectors match nothing and leave the tables intact", async () => {
    const before = await fixture().count("llm_histogram_1m");
    for (const s of INJECTIONS) {
      const value = JSON.stringify(s);
      for (const op of ["=", "=~", "!~"]) {
        for (const query of [
          `histogram_quantile(0.9, sum by (le) (rate(gen_ai_client_operation_duration_seconds_bucket{agent${op}${value}}[5m])))`,
          `gen_ai_client_token_usage_bucket{le${op}${value}}`,
          `cognive_agent_runs_total{team${op}${value}}`,
        ]) {
          const res = await fixture().app.request(
            `/api/v1/query?${new URLSearchParams({ query, time: String(BASE + 600) })}`,
          );
          expect([200, 400], query).toContain(res.status);
          const body = await res.json();
          if (res.status === 200 && op !== "!~") expect(body.data.result, query).toEqual([]);
        }
      }
    }
    expect(await fixture().count("llm_histogram_1m")).toBe(before);
    expect(await fixture().count("otel_traces")).toBe(rows.length);
  });
});
