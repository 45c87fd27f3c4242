import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StorageBudgetReader } from "../src/governance/reader.ts";
import { spendSoFar } from "../src/governance/rebuild.ts";
import type { Storage } from "../src/storage/client.ts";
import { insertSpanRows, modelCallRow, openTestStorage } from "./support/storage.ts";

let storage: Storage;
let close: () => Promise<void>;
const RUN = "0af7651916cd43dd8448eb211c80319c";
const OTHER_RUN = "1bf7651916cd43dd8448eb211c80319d";

const span = (at: string, agent: string, team: string, cost: number, traceId = RUN) =>
  modelCallRow(at, agent, team, cost, traceId);

const insert = (values: ReturnType<typeof modelCallRow>[]) => insertSpanRows(storage, values);

beforeAll(async () => {
  ({ storage, close } = await openTestStorage("budget-reader"));
  await insert([
    span("2026-11-24T09:00:00Z", "refund-agent", "cx", 1.25),
    span("2026-11-24T23:59:59Z", "refund-agent", "cx", 0.5),
    span("2026-11-24T10:00:00Z", "triage-agent", "cx", 2, OTHER_RUN),
    span("2026-11-03T10:00:00Z", "refund-agent", "cx", 4, OTHER_RUN),
    span("2026-10-31T23:59:00Z", "refund-agent", "cx", 100, OTHER_RUN), // last month
    span("2026-11-25T00:00:00Z", "refund-agent", "cx", 7, OTHER_RUN), // the next day
  ]);
});
afterAll(async () => {
  await close();
});

describe("budgets read from storage", () => {
  const reader = () => new StorageBudgetReader(storage);
  const agent = (name: string) => ({ type: "agent" as const, name });
  const team = { type: "team" as const, name: "cx" };

  it("sums a day, a month and a run as the collectors' windows name them", async () => {
    expect(await reader().get(agent("refund-agent"), "day", "2026-11-24")).toBeCloseTo(1.75, 9);
    expect(await reader().get(agent("refund-agent"), "day", "2026-11-25")).toBeCloseTo(7, 9);
    expect(await reader().get(agent("refund-agent"), "month", "2026-11")).toBeCloseTo(12.75, 9);
    expect(await reader().get(agent("refund-agent"), "month", "2026-10")).toBeCloseTo(100, 9);
    expect(await reader().get(team, "day", "2026-11-24")).toBeCloseTo(3.75, 9);
    expect(await reader().get(team, "month", "2026-11")).toBeCloseTo(14.75, 9);
    expect(await reader().get(agent("refund-agent"), "run", RUN)).toBeCloseTo(1.75, 9);
    expect(await reader().get(agent("refund-agent"), "run", RUN.toUpperCase())).toBeCloseTo(1.75, 9);
    expect(await reader().get(agent("triage-agent"), "run", RUN)).toBe(0);
  });

  it("agrees with the start-up rebuild of the counters", async () => {
    const now = new Date("2026-11-25T00:00:00.500Z"); // after every span of the month
    expect((await spendSoFar(storage, now)).length).toBe(5);
    for (const t of await spendSoFar(storage, now)) {
      expect(await reader().get(t.scope, t.window, t.windowKey), JSON.stringify(t)).toBeCloseTo(t.usd, 9);
    }
  });

  it("is live: spend written after the reader was made is read", async () => {
    const r = reader();
    const before = await r.get(agent("late-agent"), "day", "2026-11-24");
    await insert([span("2026-11-24T12:00:00Z", "late-agent", "cx", 0.25)]);
    expect(before).toBe(0);
    expect(await r.get(agent("late-agent"), "day", "2026-11-24")).toBeCloseTo(0.25, 9);
  });

  it("answers 0 for keys that are no window, and binds hostile names", async () => {
    for (const key of ["2026-11-24' OR 1=1 --", "", "2026-1-1", "2026-11-24T00", "x".repeat(10_000)]) {
      expect(await reader().get(agent("refund-agent"), "day", key), key.slice(0, 20)).toBe(0);
      expect(await reader().get(agent("refund-agent"), "month", key), key.slice(0, 20)).toBe(0);
    }
    expect(await reader().get(agent("x' OR '1'='1"), "month", "2026-11")).toBe(0);
    expect(await reader().get(agent("refund-agent"), "run", "' OR 1=1 --")).toBe(0);
    expect(await reader().get(team, "run", RUN)).toBe(0);
  });
});
