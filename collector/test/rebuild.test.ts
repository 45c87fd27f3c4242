import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dayAndMonth, spendSoFar } from "../src/governance/rebuild.ts";
import type { Storage } from "../src/storage/client.ts";
import { insertSpanRows, modelCallRow, openTestStorage } from "./support/storage.ts";

let storage: Storage;
let close: () => Promise<void>;
const NOW = new Date("2026-11-24T15:30:00Z");

const span = modelCallRow;

beforeAll(async () => {
  ({ storage, close } = await openTestStorage("rebuild"));
  await insertSpanRows(storage, [
    span("2026-11-24T09:00:00Z", "refund-agent", "cx", 1.25),
    span("2026-11-24T15:29:00Z", "refund-agent", "cx", 0.5),
    span("2026-11-24T10:00:00Z", "triage-agent", "cx", 2),
    span("2026-11-03T10:00:00Z", "refund-agent", "cx", 4), // this month, not today
    span("2026-10-31T23:59:00Z", "refund-agent", "cx", 100), // last month
    span("2026-11-24T16:00:00Z", "refund-agent", "cx", 7), // after "now"
  ]);
});
afterAll(async () => {
  await close();
});

describe("spend rebuilt from storage", () => {
  it("gives today's and this month's spend per agent and per team", async () => {
    const totals = await spendSoFar(storage, NOW);
    const get = (type: string, name: string, window: string) =>
      totals.find((t) => t.scope.type === type && t.scope.name === name && t.window === window);
    expect(get("agent", "refund-agent", "day")).toMatchObject({ windowKey: "2026-11-24" });
    expect(get("agent", "refund-agent", "day")?.usd).toBeCloseTo(1.75, 12);
    expect(get("agent", "refund-agent", "month")).toMatchObject({ windowKey: "2026-11" });
    expect(get("agent", "refund-agent", "month")?.usd).toBeCloseTo(5.75, 12);
    expect(get("agent", "triage-agent", "day")?.usd).toBeCloseTo(2, 12);
    expect(get("team", "cx", "day")?.usd).toBeCloseTo(3.75, 12);
    expect(get("team", "cx", "month")?.usd).toBeCloseTo(7.75, 12);
    expect(totals).toHaveLength(6);
  });

  it("names UTC days and months", () => {
    expect(dayAndMonth(new Date("2026-01-01T00:30:00+02:00"))).toEqual({ day: "2025-12-31", month: "2025-12" });
  });
});
