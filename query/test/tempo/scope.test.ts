import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ALL_TEAMS, type QueryScope } from "../../src/api/scope.ts";
import { searchTraces } from "../../src/tempo/search.ts";
import { tagNames, tagValues } from "../../src/tempo/tags.ts";
import { getTempoTrace } from "../../src/tempo/trace.ts";
import { parseTraceQL } from "../../src/tempo/traceql.ts";
import { type Fixture, INJECTIONS, openFixture, sec, traceId } from "../api/fixture.ts";

const BASE = 1_740_000_000;
const RED = traceId(1, "c");
const BLUE = traceId(2, "c");
const range = { fromS: BASE - 60, toS: BASE + 3600 };

let fx: Fixture;
beforeAll(async () => {
  fx = await openFixture();
  const span = (id: string, team: string) => ({
    TraceId: id,
    SpanId: `${team}-root`,
    startNs: sec(BASE + 30),
    SpanName: `chat ${team}`,
    ServiceName: `${team}-svc`,
    SpanAttributes: { [`${team}.key`]: team },
    TeamName: team,
  });
  await fx.insert([span(RED, "red"), span(BLUE, "blue")]);
}, 60_000);
afterAll(async () => {
  await fx?.close();
});

const scopes: [string, QueryScope, string[]][] = [
  ["all teams", ALL_TEAMS, ["blue", "red"]],
  ["red only", { teams: ["red"] }, ["red"]],
  ["no team", { teams: [] }, []],
  ["a team named like SQL", { teams: INJECTIONS }, []],
];

describe.each(scopes)("Tempo reads through the query scope: %s", (_name, scope, teams) => {
  it("search, trace by id, tag names and tag values see only the scope's teams", async () => {
    const found = await searchTraces(fx.storage, scope, parseTraceQL("{}"), { ...range, limit: 20, spss: 3 });
    expect(found.traces.map((t) => t.rootServiceName).sort()).toEqual(teams.map((t) => `${t}-svc`));
    expect((await getTempoTrace(fx.storage, scope, RED)) !== undefined).toBe(teams.includes("red"));
    const names = await tagNames(fx.storage, scope, { ...range, limit: 100 });
    expect(names.span.sort()).toEqual(teams.map((t) => `${t}.key`));
    const values = await tagValues(fx.storage, scope, { kind: "intrinsic", name: "name" }, undefined, {
      ...range,
      limit: 100,
    });
    expect(values.map((v) => v.value)).toEqual(teams.map((t) => `chat ${t}`));
  });
});
