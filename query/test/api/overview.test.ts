import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { overview, utcDayAndMonthStart } from "../../src/api/overview.ts";
import { ALL_TEAMS, type QueryScope } from "../../src/api/scope.ts";
import { type Fixture, INJECTIONS, openFixture, type SpanRow, sec, traceId } from "./fixture.ts";

/** "Now" for every request: 2025-03-15T12:00:00Z. */
const TO = Date.UTC(2025, 2, 15, 12) / 1000;
const FROM = TO - 86_400;
const DAY = Date.UTC(2025, 2, 15) / 1000;
const MONTH = Date.UTC(2025, 2, 1) / 1000;

interface Run {
  id: string;
  /** Unix seconds of the trace start. */
  t: number;
  durationMs: number;
  error: boolean;
  agent: string;
  model: string;
  team: string;
  cost: number;
  input: number;
  output: number;
}

const runs: Run[] = [];
const rows: SpanRow[] = [];

function seed(r: Run) {
  runs.push(r);
  const start = sec(r.t);
  rows.push({
    TraceId: r.id,
    SpanId: `${r.id.slice(-6)}root`,
    startNs: start,
    Duration: r.durationMs * 1_000_000,
    SpanName: `invoke_agent ${r.agent}`,
    TeamName: r.team,
    AgentName: r.agent,
    GenAiOperation: "invoke_agent",
    GenAiUsageRole: "aggregate",
    InputTokens: r.input,
    OutputTokens: r.output,
    Priced: 1,
    CostUsd: r.cost,
  });
  rows.push({
    TraceId: r.id,
    SpanId: `${r.id.slice(-6)}chat`,
    ParentSpanId: `${r.id.slice(-6)}root`,
    startNs: start + 1_000_000n,
    Duration: 1_000_000,
    SpanName: "chat",
    StatusCode: r.error ? "Error" : "Ok",
    TeamName: r.team,
    AgentName: r.agent,
    GenAiOperation: "chat",
    GenAiRequestModel: r.model,
    GenAiUsageRole: "model_call",
    InputTokens: r.input,
    OutputTokens: r.output,
    Priced: 1,
    CostUsd: r.cost,
  });
}

// Forty runs in the 24 hours before TO, straddling midnight UTC: some today, some yesterday.
for (let i = 0; i < 40; i++) {
  seed({
    id: traceId(i, "e"),
    t: FROM + 60 + i * 2100,
    durationMs: ((i * 17) % 40) * 37 + 37,
    error: i % 4 === 0,
    agent: `agent-${i % 3}`,
    model: ["gpt-4o", "claude-sonnet-4", "gemini-2.5-pro"][i % 5 === 0 ? 2 : i % 2],
    team: i % 2 ? "red" : "blue",
    cost: 0.01 * (i % 3) + 0.001 * i + 0.0005,
    input: 100 + i,
    output: 10 + i,
  });
}
// Earlier this month (month spend only), last month (nothing), and just after TO (nothing).
seed({ ...base(100), t: MONTH + 3600, cost: 0.75 });
seed({ ...base(101), t: MONTH - 30, cost: 5 });
seed({ ...base(102), t: TO + 30, cost: 7 });

function base(n: number): Run {
  return {
    id: traceId(n, "e"),
    t: 0,
    durationMs: 10,
    error: false,
    agent: "agent-9",
    model: "gpt-4o",
    team: "blue",
    cost: 0,
    input: 1,
    output: 1,
  };
}

/** The answer computed independently from the seeded runs. */
function expected(teams: "all" | string[]) {
  const visible = runs.filter((r) => teams === "all" || teams.includes(r.team));
  // Spend counts by the call's minute, as the rollup does; the call starts 1 ms after its run.
  const minute = (r: Run) => Math.floor(r.t / 60) * 60;
  const spendIn = (from: number) =>
    visible.filter((r) => minute(r) >= from && minute(r) < TO).reduce((s, r) => s + r.cost, 0);
  const inRange = visible.filter((r) => r.t >= FROM && r.t <= TO);
  const durations = inRange.map((r) => r.durationMs * 1_000_000).sort((a, b) => a - b);
  const at = (p: number) => durations[Math.min(durations.length - 1, Math.floor(p * durations.length))];
  const tops = (key: "agent" | "model") => {
    const m = new Map<string, { name: string; costUsd: number; calls: number; errors: number }>();
    for (const r of visible.filter((x) => minute(x) >= FROM && minute(x) < TO)) {
      const e = m.get(r[key]) ?? { name: r[key], costUsd: 0, calls: 0, errors: 0 };
      e.costUsd += r.cost;
      e.calls++;
      if (r.error) e.errors++;
      m.set(r[key], e);
    }
    return [...m.values()].sort((a, b) => b.costUsd - a.costUsd);
  };
  const errorRuns = inRange.filter((r) => r.error).length;
  return {
    todayUsd: spendIn(DAY),
    monthUsd: spendIn(MONTH),
    rangeUsd: spendIn(FROM),
    runs: inRange.length,
    errorRuns,
    errorRate: inRange.length === 0 ? null : errorRuns / inRange.length,
    p50Ns: durations.length ? String(at(0.5)) : null,
    p95Ns: durations.length ? String(at(0.95)) : null,
    agents: tops("agent"),
    models: tops("model"),
  };
}

let fx: Fixture;
beforeAll(async () => {
  fx = await openFixture();
  await fx.insert(rows);
}, 60_000);
afterAll(async () => {
  await fx?.close();
});

const close = (a: number, b: number) => expect(a).toBeCloseTo(b, 9);

describe("GET /api/v1/overview", () => {
  it("answers spend today and this month, runs, error rate, latency percentiles and the top agents and models", async () => {
    const res = await fx.get(`/api/v1/overview?from=${FROM}&to=${TO}`);
    expect(res.status).toBe(200);
    const e = expected("all");
    const b = res.body;
    // The seed really spreads over the windows, so each figure is tested against a different set.
    expect(e.todayUsd).toBeGreaterThan(0);
    expect(e.rangeUsd).toBeGreaterThan(e.todayUsd);
    expect(e.monthUsd).toBeGreaterThan(e.rangeUsd);
    close(b.spend.todayUsd, e.todayUsd);
    close(b.spend.monthUsd, e.monthUsd);
    close(b.spend.rangeUsd, e.rangeUsd);
    expect(b.runs).toBe(40);
    expect(b.errorRuns).toBe(10);
    expect(b.errorRate).toBe(0.25);
    expect(b.latency).toEqual({ p50Ns: e.p50Ns, p95Ns: e.p95Ns });
    expect(b.llm).toEqual({
      calls: 40,
      errors: 10,
      inputTokens: runs.slice(0, 40).reduce((s, r) => s + r.input, 0),
      outputTokens: runs.slice(0, 40).reduce((s, r) => s + r.output, 0),
    });
    expect(b.topAgents.map((a: any) => a.name)).toEqual(e.agents.map((a) => a.name));
    for (const [i, a] of e.agents.entries()) {
      close(b.topAgents[i].costUsd, a.costUsd);
      expect(b.topAgents[i].calls).toBe(a.calls);
      expect(b.topAgents[i].errors).toBe(a.errors);
    }
    expect(b.topModels.map((m: any) => m.name)).toEqual(e.models.map((m) => m.name));
    expect(b.range).toEqual({ fromNs: String(sec(FROM)), toNs: String(sec(TO)) });
  });

  it("lists as many agents and models as asked", async () => {
    const res = await fx.get(`/api/v1/overview?from=${FROM}&to=${TO}&top=1`);
    expect(res.status).toBe(200);
    expect(res.body.topAgents).toHaveLength(1);
    expect(res.body.topAgents[0].name).toBe(expected("all").agents[0]?.name);
    expect(res.body.topModels).toHaveLength(1);
  });

  it("answers zeros and nulls, not errors, for a range without data", async () => {
    const res = await fx.get(`/api/v1/overview?from=${FROM - 40 * 86_400}&to=${FROM - 39 * 86_400}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      runs: 0,
      errorRuns: 0,
      errorRate: null,
      latency: { p50Ns: null, p95Ns: null },
      topAgents: [],
      topModels: [],
      llm: { calls: 0, errors: 0, inputTokens: 0, outputTokens: 0 },
    });
  });

  it.each([
    ["top=0", "top"],
    ["top=51", "top"],
    ["top=x", "top"],
    ["from=abc", "from"],
    ["agent=x", "agent"],
  ])("rejects %s with a 400 that names the parameter", async (qs, name) => {
    const res = await fx.get(`/api/v1/overview?${qs}`);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("bad_request");
    expect(res.body.error.message).toContain(`'${name}'`);
  });

  it("rejects a range that ends before it starts", async () => {
    const res = await fx.get(`/api/v1/overview?from=${TO}&to=${FROM}`);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("bad_request");
  });
});

describe("overview scope", () => {
  const q = { fromNs: sec(FROM), toNs: sec(TO), top: 5 };
  const cases: [string, QueryScope, "all" | string[]][] = [
    ["all teams", ALL_TEAMS, "all"],
    ["red only", { teams: ["red"] }, ["red"]],
    ["no team", { teams: [] }, []],
    ["teams named like SQL", { teams: INJECTIONS }, []],
  ];
  it.each(cases)("counts only what %s may read", async (_, scope, teams) => {
    const o = await overview(fx.storage, scope, q);
    const e = expected(teams);
    close(o.spend.todayUsd, e.todayUsd);
    close(o.spend.monthUsd, e.monthUsd);
    expect(o.runs).toBe(e.runs);
    expect(o.errorRuns).toBe(e.errorRuns);
    expect(o.latency).toEqual({ p50Ns: e.p50Ns, p95Ns: e.p95Ns });
    expect(o.topAgents.map((a) => a.name)).toEqual(e.agents.map((a) => a.name));
  });
});

describe("overview runs of traces written in parts", () => {
  // Sixty days after the other runs: out of every range above.
  const W = TO + 60 * 86_400;
  const span = (t: string, id: string, at: number, durationS: number, team: string): SpanRow => ({
    TraceId: t,
    SpanId: id,
    startNs: sec(at),
    Duration: durationS * 1e9,
    SpanName: "step",
    TeamName: team,
  });
  it("times a run over all its inserts, and counts only runs that start in the range", async () => {
    const x = traceId(900, "f");
    const y = traceId(901, "f");
    // Each trace in two inserts (two summary rows): x starts in the range, y an hour before it.
    await fx.insert([span(x, "0000000000000x01", W + 10, 1, "red"), span(y, "0000000000000y01", W - 3600, 1, "blue")]);
    await fx.insert([span(x, "0000000000000x02", W + 20, 5, "blue"), span(y, "0000000000000y02", W + 30, 1, "blue")]);
    const q = { fromNs: sec(W), toNs: sec(W + 3600), top: 5 };
    const all = await overview(fx.storage, ALL_TEAMS, q);
    expect(all.runs).toBe(1);
    expect(all.latency).toEqual({ p50Ns: String(15e9), p95Ns: String(15e9) });
    // A scope sees a run when any of its spans names one of its teams.
    expect((await overview(fx.storage, { teams: ["red"] }, q)).runs).toBe(1);
    expect((await overview(fx.storage, { teams: ["green"] }, q)).runs).toBe(0);
  });
});

describe("utcDayAndMonthStart", () => {
  it("finds the UTC day and month around an instant, across a month boundary", () => {
    const ns = (ms: number) => BigInt(ms) * 1_000_000n;
    expect(utcDayAndMonthStart(ns(Date.UTC(2025, 2, 15, 12, 30)))).toEqual({
      dayNs: ns(Date.UTC(2025, 2, 15)),
      monthNs: ns(Date.UTC(2025, 2, 1)),
    });
    expect(utcDayAndMonthStart(ns(Date.UTC(2025, 0, 1)))).toEqual({
      dayNs: ns(Date.UTC(2025, 0, 1)),
      monthNs: ns(Date.UTC(2025, 0, 1)),
    });
  });
});
