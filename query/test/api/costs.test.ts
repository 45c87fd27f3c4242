import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Fixture, INJECTIONS, openFixture, type SpanRow, sec, traceId } from "./fixture.ts";

/** A whole hour, so hour-wide steps line up with the seeded range. */
const BASE = 1_699_999_200;
const FROM = BASE;
const TO = BASE + 3 * 3600;

interface Call {
  t: number;
  model: string | null;
  agent: string | null;
  team: string;
  provider: string;
  environment: string;
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
  cost: number;
}

const MODELS = ["gpt-4o", "claude-sonnet-4", "gemini-2.5-pro", "gpt-4o-2024-08-06", ""];
const calls: Call[] = [];
const rows: SpanRow[] = [];
for (let i = 0; i < 80; i++) {
  // Spread over the range, with a few calls just outside it on either side.
  const t = BASE - 200 + i * 139 + (i % 7);
  const model = MODELS[i % 5];
  const c: Call = {
    t,
    model: model === "" ? null : model,
    agent: i % 3 === 2 ? null : `agent-${i % 3}`,
    team: ["red", "blue", "green"][i % 3 === 0 ? 0 : i % 4 === 0 ? 1 : 2],
    provider: ["openai", "anthropic", "google"][i % 5 < 3 ? i % 5 : 0],
    environment: i % 2 ? "prod" : "staging",
    input: 100 * i + 1,
    output: 10 * i + 3,
    cacheRead: i % 4 === 0 ? 0 : 50 * i,
    cacheWrite: i % 6 === 1 ? 7 * i : 0,
    cost: (i + 1) * 0.001 + (i % 3) * 0.0003,
  };
  seed(c, i, i % 5 === 3 ? model : "", i % 5 === 3 ? "gpt-4o" : model);
}

/** A call exactly on a minute boundary, just past the main range: where `to` cuts off. */
const EDGE = BASE + 4 * 3600;
seed(
  {
    t: EDGE,
    model: "edge-model",
    agent: "agent-0",
    team: "red",
    provider: "openai",
    environment: "prod",
    input: 1,
    output: 1,
    cacheRead: 0,
    cacheWrite: 0,
    cost: 0.5,
  },
  99,
  "",
  "edge-model",
);

function seed(c: Call, i: number, responseModel: string, requestModel: string) {
  const t = c.t;
  calls.push(c);
  rows.push({
    TraceId: traceId(i, "d"),
    SpanId: `m${i}`,
    startNs: sec(t) + 123_456n,
    Duration: 1000,
    SpanName: "chat",
    ServiceName: "svc",
    TeamName: c.team,
    Environment: c.environment,
    AgentName: c.agent ?? "",
    GenAiOperation: "chat",
    GenAiProvider: c.provider,
    // A response model, when present, names the call; the request model otherwise.
    GenAiRequestModel: requestModel,
    GenAiResponseModel: responseModel,
    GenAiUsageRole: "model_call",
    InputTokens: c.input,
    OutputTokens: c.output,
    CacheReadTokens: c.cacheRead,
    CacheWriteTokens: c.cacheWrite,
    Priced: 1,
    CostUsd: c.cost,
  });
  // The agent's aggregate over the same call: must never reach the cost rollup.
  rows.push({
    TraceId: traceId(i, "d"),
    SpanId: `r${i}`,
    startNs: sec(t),
    Duration: 5000,
    SpanName: "invoke_agent",
    ServiceName: "svc",
    TeamName: c.team,
    AgentName: c.agent ?? "",
    GenAiOperation: "invoke_agent",
    GenAiUsageRole: "aggregate",
    InputTokens: c.input,
    OutputTokens: c.output,
    Priced: 1,
    CostUsd: c.cost,
  });
}

type Dim = "model" | "agent" | "team" | "provider" | "environment";
const DIMS: Dim[] = ["model", "agent", "team", "provider", "environment"];

interface Expected {
  totalUsd: number;
  series: Map<
    string | null,
    {
      totalUsd: number;
      inputTokens: number;
      outputTokens: number;
      cacheReadTokens: number;
      cacheWriteTokens: number;
      calls: number;
      points: Map<number, number>;
      tokens: Map<number, number[]>;
    }
  >;
}

/** Money adds up as nano-dollars (Decimal in storage): exact, so reports are compared with toBe. */
const plus = (a: number, b: number) => (Math.round(a * 1e9) + Math.round(b * 1e9)) / 1e9;

/** The report computed independently from the seeded calls. */
function expected(dim: Dim, from: number, to: number, step: number): Expected {
  const out: Expected = { totalUsd: 0, series: new Map() };
  for (const c of calls) {
    const minute = Math.floor(c.t / 60) * 60;
    if (minute < from || minute >= to) continue;
    const key = c[dim];
    let s = out.series.get(key);
    if (!s) {
      s = {
        totalUsd: 0,
        inputTokens: 0,
        outputTokens: 0,
        cacheReadTokens: 0,
        cacheWriteTokens: 0,
        calls: 0,
        points: new Map(),
        tokens: new Map(),
      };
      out.series.set(key, s);
    }
    const bucket = Math.floor(minute / step) * step;
    s.totalUsd = plus(s.totalUsd, c.cost);
    s.inputTokens += c.input;
    s.outputTokens += c.output;
    s.cacheReadTokens += c.cacheRead;
    s.cacheWriteTokens += c.cacheWrite;
    s.calls++;
    s.points.set(bucket, plus(s.points.get(bucket) ?? 0, c.cost));
    const t = s.tokens.get(bucket) ?? [0, 0, 0, 0];
    s.tokens.set(bucket, [t[0] + c.input, t[1] + c.output, t[2] + c.cacheRead, t[3] + c.cacheWrite]);
    out.totalUsd = plus(out.totalUsd, c.cost);
  }
  return out;
}

function expectReport(body: any, exp: Expected) {
  expect(body.totalUsd).toBe(exp.totalUsd);
  expect(body.series.map((s: any) => s.key).sort()).toEqual([...exp.series.keys()].sort());
  for (const s of body.series) {
    const e = exp.series.get(s.key)!;
    expect(s.totalUsd, String(s.key)).toBe(e.totalUsd);
    expect(s.inputTokens, String(s.key)).toBe(e.inputTokens);
    expect(s.outputTokens, String(s.key)).toBe(e.outputTokens);
    expect(s.cacheReadTokens, String(s.key)).toBe(e.cacheReadTokens);
    expect(s.cacheWriteTokens, String(s.key)).toBe(e.cacheWriteTokens);
    expect(s.calls, String(s.key)).toBe(e.calls);
    const buckets = [...e.points.keys()].sort((a, b) => a - b);
    expect(
      s.points.map((p: number[]) => p[0]),
      String(s.key),
    ).toEqual(buckets);
    s.points.forEach((p: number[], i: number) => {
      expect(p[1]).toBe(e.points.get(buckets[i]));
    });
    // Token points share the cost points' buckets: one chart can stack either.
    expect(s.tokenPoints, String(s.key)).toEqual(buckets.map((b) => [b, ...e.tokens.get(b)!]));
  }
  const totals = body.series.map((s: any) => s.totalUsd);
  expect(totals).toEqual([...totals].sort((a: number, b: number) => b - a));
}

let fx: Fixture;
beforeAll(async () => {
  fx = await openFixture();
  await fx.insert(rows.slice(0, 70));
  await fx.insert(rows.slice(70));
  const now = Math.floor(Date.now() / 1000);
  await fx.insert([
    {
      TraceId: traceId(1, "f"),
      SpanId: "recent",
      startNs: sec(now - 600),
      GenAiUsageRole: "model_call",
      GenAiRequestModel: "recent-model",
      InputTokens: 5,
      CostUsd: 1.5,
      Priced: 1,
    },
    {
      TraceId: traceId(2, "f"),
      SpanId: "old",
      startNs: sec(now - 2 * 86_400),
      GenAiUsageRole: "model_call",
      GenAiRequestModel: "old-model",
      CostUsd: 7,
      Priced: 1,
    },
  ]);
}, 60_000);
afterAll(async () => {
  await fx?.close();
});

async function costs(query: string): Promise<any> {
  const res = await fx.get(`/api/v1/costs?${query}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

describe("GET /api/v1/costs", () => {
  it("seeds calls on both sides of the range and in every group", () => {
    const inside = calls.filter((c) => c.t >= FROM && c.t < TO).length;
    expect(inside).toBeGreaterThan(60);
    expect(inside).toBeLessThan(calls.length);
  });

  it.each(DIMS)("groups by %s with totals, tokens, calls and 10-minute points", async (dim) => {
    const body = await costs(`from=${FROM}&to=${TO}&step=600&groupBy=${dim}`);
    expectReport(body, expected(dim, FROM, TO, 600));
  });

  it("groups by model by default, names calls by their response model, and gives null for none", async () => {
    const body = await costs(`from=${FROM}&to=${TO}&step=3600`);
    expectReport(body, expected("model", FROM, TO, 3600));
    const keys = body.series.map((s: any) => s.key);
    expect(keys).toContain("gpt-4o-2024-08-06");
    expect(keys).toContain(null);
    expect(body.series.every((s: any) => s.points.length <= 3)).toBe(true);
  });

  it("picks a whole-minute step giving at most about 200 points when none is given", async () => {
    const threeHours = await costs(`from=${FROM}&to=${TO}&groupBy=team`);
    expectReport(threeHours, expected("team", FROM, TO, 60));
    const thirtyDays = await costs(`from=${TO - 30 * 86_400}&to=${TO}&groupBy=team`);
    // 30 days / 200 = 3 h 36 min = 12,960 s, already a multiple of 60.
    expectReport(thirtyDays, expected("team", TO - 30 * 86_400, TO, 12_960));
    for (const s of thirtyDays.series) for (const [t] of s.points) expect(t % 12_960).toBe(0);
  });

  it("counts a minute when it starts in [from, to)", async () => {
    const from = BASE + 3600;
    const to = BASE + 7200;
    const body = await costs(`from=${from}&to=${to}&step=60&groupBy=provider`);
    expectReport(body, expected("provider", from, to, 60));
    // A decimal 'from' inside a minute leaves that minute out.
    const body2 = await costs(`from=${from + 0.5}&to=${to}&step=60&groupBy=provider`);
    expectReport(body2, expected("provider", from + 0.5, to, 60));
  });

  it("includes the minute starting at 'from' and excludes the one starting at 'to'", async () => {
    const keys = async (q: string) => (await costs(`${q}&step=60`)).series.map((s: any) => s.key);
    expect(await keys(`from=${EDGE - 3600}&to=${EDGE}`)).not.toContain("edge-model");
    expect(await keys(`from=${EDGE - 3600}&to=${EDGE + 0.001}`)).toContain("edge-model");
    expect(await keys(`from=${EDGE}&to=${EDGE + 60}`)).toEqual(["edge-model"]);
    expect(await keys(`from=${EDGE + 0.001}&to=${EDGE + 60}`)).toEqual([]);
  });

  it("defaults to the last 24 hours", async () => {
    const body = await costs("");
    expect(body.series.map((s: any) => s.key)).toEqual(["recent-model"]);
    expect(body.totalUsd).toBe(1.5);
    expect(body.series[0]).toMatchObject({ calls: 1, inputTokens: 5, outputTokens: 0 });
  });

  it("returns an empty report for a range without calls", async () => {
    expect(await costs(`from=1000000000&to=1000086400`)).toEqual({ totalUsd: 0, series: [] });
  });

  it.each([
    ["groupBy=service", "groupBy"],
    ["groupBy=", "groupBy"],
    ["groupBy=model&groupBy=team", "groupBy"],
    ["step=90", "step"],
    ["step=30", "step"],
    ["step=0", "step"],
    ["step=-60", "step"],
    ["step=6e1", "step"],
    ["step=abc", "step"],
    [`from=${FROM - 366 * 86_400}&to=${TO}&step=60`, "step"],
    ["from=yesterday", "from"],
    ["to=1.2.3", "to"],
    [`from=${TO}&to=${FROM}`, "from"],
    ["from=99999999999", "from"],
    ["team=red", "team"],
  ])("answers 400 naming the parameter for %s", async (query, param) => {
    const res = await fx.get(`/api/v1/costs?${query}`);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("bad_request");
    expect(res.body.error.message).toContain(`'${param}'`);
  });

  it("rejects SQL in groupBy, and the tables stay intact", async () => {
    const before = await fx.count("llm_rollup_1m");
    for (const bad of [...INJECTIONS, "Model) --", "TeamName"]) {
      const res = await fx.get(`/api/v1/costs?groupBy=${encodeURIComponent(bad)}`);
      expect(res.status, bad).toBe(400);
    }
    expect(await fx.count("llm_rollup_1m")).toBe(before);
    expectReport(await costs(`from=${FROM}&to=${TO}&step=600`), expected("model", FROM, TO, 600));
  });
});
