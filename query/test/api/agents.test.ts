import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listAgents } from "../../src/api/agents.ts";
import { ALL_TEAMS } from "../../src/api/scope.ts";
import { type Fixture, openFixture, traceId } from "./fixture.ts";

/** Two calls by one agent: at 10:00:00.200 and at 10:00:59; the rollup holds both in minute 10:00. */
const MINUTE_MS = Date.parse("2026-03-11T10:00:00Z");
const ms = (t: number) => BigInt(t) * 1_000_000n;

let fx: Fixture;
beforeAll(async () => {
  fx = await openFixture();
  await fx.insert(
    [200, 59_000].map((offset, i) => ({
      TraceId: traceId(i + 1, "a"),
      SpanId: (i + 1).toString(16).padStart(16, "0"),
      startNs: ms(MINUTE_MS + offset),
      TeamName: "cx",
      AgentName: "refund-agent",
      GenAiUsageRole: "model_call",
      Priced: 1,
      CostUsd: 0.5,
    })),
  );
}, 60_000);
afterAll(async () => {
  await fx?.close();
});

describe("listAgents", () => {
  it("counts the minute a range ends in, even within its first second", async () => {
    // A range ending half a second into the minute of the first call holds that minute's rollup row.
    const { agents } = await listAgents(fx.storage, ALL_TEAMS, undefined, {
      fromNs: ms(MINUTE_MS - 3_600_000),
      toNs: ms(MINUTE_MS + 500),
    });
    expect(agents.find((a) => a.name === "refund-agent")).toMatchObject({ calls: 2, spendUsd: 1 });
  });

  it("leaves out minutes that start at or after the end of the range", async () => {
    const { agents } = await listAgents(fx.storage, ALL_TEAMS, undefined, {
      fromNs: ms(MINUTE_MS - 3_600_000),
      toNs: ms(MINUTE_MS),
    });
    expect(agents.find((a) => a.name === "refund-agent")).toBeUndefined();
  });
});
