import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { costReport } from "../../src/api/costs.ts";
import { ALL_TEAMS, type QueryScope, teamCondition } from "../../src/api/scope.ts";
import { getTrace } from "../../src/api/trace-detail.ts";
import { listTraces } from "../../src/api/trace-list.ts";
import { type Fixture, INJECTIONS, openFixture, sec, traceId } from "./fixture.ts";

const BASE = 1_740_000_000;
const RED = traceId(1, "b");
const BLUE = traceId(2, "b");
const range = { fromNs: sec(BASE - 60), toNs: sec(BASE + 3600) };

let fx: Fixture;
beforeAll(async () => {
  fx = await openFixture();
  const call = (id: string, team: string, cost: number) => ({
    TraceId: id,
    SpanId: `${team}-call`,
    startNs: sec(BASE + 30),
    SpanName: "chat",
    TeamName: team,
    GenAiUsageRole: "model_call" as const,
    GenAiRequestModel: "gpt-4o",
    InputTokens: 10,
    Priced: 1,
    CostUsd: cost,
  });
  await fx.insert([call(RED, "red", 0.25), call(BLUE, "blue", 0.5)]);
}, 60_000);
afterAll(async () => {
  await fx?.close();
});

const scopes: [string, QueryScope, string[]][] = [
  ["all teams", ALL_TEAMS, ["blue", "red"]],
  ["red only", { teams: ["red"] }, ["red"]],
  ["red and blue", { teams: ["red", "blue"] }, ["blue", "red"]],
  ["no team", { teams: [] }, []],
  ["a team named like SQL", { teams: INJECTIONS }, []],
];

describe("query scope", () => {
  it("binds team names as a parameter, never as SQL text", () => {
    expect(teamCondition(ALL_TEAMS, { column: "TeamName" })).toEqual({ sql: "1", params: {} });
    expect(teamCondition({ teams: [] }, { column: "TeamName" })).toEqual({ sql: "0", params: {} });
    const c = teamCondition({ teams: ["x' OR 1=1 --"] }, { array: "Teams" });
    expect(c.sql).toBe("hasAny(Teams, {scope_teams:Array(String)})");
    expect(c.params).toEqual({ scope_teams: ["x' OR 1=1 --"] });
  });

  it.each(scopes)("restricts the trace list to %s", async (_, scope, teams) => {
    const list = await listTraces(fx.storage, scope, { ...range, limit: 100 });
    expect(list.traces.flatMap((t) => t.teams).sort()).toEqual(teams);
  });

  it.each(scopes)("restricts trace detail to %s", async (_, scope, teams) => {
    const red = await getTrace(fx.storage, scope, RED);
    const blue = await getTrace(fx.storage, scope, BLUE);
    expect(red !== undefined).toBe(teams.includes("red"));
    expect(blue !== undefined).toBe(teams.includes("blue"));
  });

  it.each(scopes)("restricts costs to %s", async (_, scope, teams) => {
    const report = await costReport(fx.storage, scope, { ...range, step: 60, groupBy: "team" });
    expect(report.series.map((s) => s.key).sort()).toEqual(teams);
    const expected = (teams.includes("red") ? 0.25 : 0) + (teams.includes("blue") ? 0.5 : 0);
    expect(report.totalUsd).toBe(expected);
  });
});
