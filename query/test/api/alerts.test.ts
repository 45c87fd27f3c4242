import { AlertStore, type StoredAlert } from "@cognive/collector";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Fixture, INJECTIONS, openFixture } from "./fixture.ts";

let fx: Fixture;
const logged: unknown[] = [];
const now = Date.now();
const iso = (msAgo: number) => new Date(now - msAgo).toISOString();

const ALERTS: StoredAlert[] = [
  {
    id: "a1",
    kind: "budget.threshold",
    time: iso(60_000),
    agent: "refund-agent",
    team: "cx",
    traceId: "0af7651916cd43dd8448eb211c80319c",
    scope: { type: "agent", name: "refund-agent", window: "run" },
    threshold: 0.8,
    spendUsd: 0.041,
    limitUsd: 0.05,
  },
  {
    id: "a2",
    kind: "policy.model_not_allowed",
    time: iso(30_000),
    agent: "refund-agent",
    team: "cx",
    model: "gpt-3.5",
  },
  {
    id: "a3",
    kind: "policy.tool_not_approved",
    time: iso(10_000),
    agent: "invoice-agent",
    team: "finance",
    tool: "rm",
  },
  { id: "old", kind: "budget.threshold", time: iso(3 * 86_400_000), agent: "refund-agent", team: "cx" },
];

beforeAll(async () => {
  fx = await openFixture({
    debug() {},
    info() {},
    warn() {},
    error: (m, f) => logged.push([m, String((f as any)?.err)]),
  });
  const store = new AlertStore(fx.storage);
  await store.save(ALERTS);
  await store.save([ALERTS[0]]); // a second collector stores the same alert
}, 60_000);
afterAll(async () => {
  await fx?.close();
});

describe("GET /api/v1/alerts", () => {
  it("lists the last day's alerts newest first, once per id, with their fields", async () => {
    const { status, body } = await fx.get("/api/v1/alerts");
    expect(status, JSON.stringify(logged)).toBe(200);
    expect(body.alerts.map((a: any) => a.id)).toEqual(["a3", "a2", "a1"]);
    const budget = body.alerts[2];
    expect(budget).toEqual({
      id: "a1",
      kind: "budget.threshold",
      time: ALERTS[0].time,
      agent: "refund-agent",
      team: "cx",
      traceId: "0af7651916cd43dd8448eb211c80319c",
      model: null,
      tool: null,
      scope: { type: "agent", name: "refund-agent", window: "run" },
      threshold: 0.8,
      spendUsd: 0.041,
      limitUsd: 0.05,
      projectedUsd: null,
      exceedsOn: null,
      baselineUsd: null,
      windowMinutes: null,
    });
    expect(body.alerts[1]).toMatchObject({ kind: "policy.model_not_allowed", model: "gpt-3.5", scope: null });
  });

  it("filters by kind, agent and time range", async () => {
    const byKind = await fx.get("/api/v1/alerts?kind=policy.tool_not_approved");
    expect(byKind.body.alerts.map((a: any) => a.id)).toEqual(["a3"]);
    const byAgent = await fx.get("/api/v1/alerts?agent=refund-agent");
    expect(byAgent.body.alerts.map((a: any) => a.id)).toEqual(["a2", "a1"]);
    const from = Math.floor((now - 4 * 86_400_000) / 1000);
    const to = Math.floor((now - 2 * 86_400_000) / 1000);
    const old = await fx.get(`/api/v1/alerts?from=${from}&to=${to}`);
    expect(old.body.alerts.map((a: any) => a.id)).toEqual(["old"]);
    const byTeam = await fx.get("/api/v1/alerts?team=finance");
    expect(byTeam.body.alerts.map((a: any) => a.id)).toEqual(["a3"]);
    // A trace's own alerts, whatever case its id is written in.
    const byTrace = await fx.get("/api/v1/alerts?traceId=0AF7651916CD43DD8448EB211C80319C");
    expect(byTrace.body.alerts.map((a: any) => a.id)).toEqual(["a1"]);
    const otherTrace = await fx.get(`/api/v1/alerts?traceId=${"1".repeat(32)}`);
    expect(otherTrace.body.alerts).toEqual([]);
    const limited = await fx.get("/api/v1/alerts?limit=1");
    expect(limited.body.alerts.map((a: any) => a.id)).toEqual(["a3"]);
  });

  it("rejects bad parameters with a message naming them", async () => {
    for (const [q, name] of [
      ["kind=budget", "kind"],
      ["limit=0", "limit"],
      ["limit=abc", "limit"],
      ["from=yesterday", "from"],
      ["colour=red", "colour"],
      ["traceId=xyz", "traceId"],
      [`traceId=${"a".repeat(33)}`, "traceId"],
      [`traceId=${encodeURIComponent("' OR 1=1 --")}`, "traceId"],
      [`team=${"t".repeat(5000)}`, "team"],
    ]) {
      const r = await fx.get(`/api/v1/alerts?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.body.error.message, q).toContain(name);
    }
  });

  it("binds hostile agent names instead of running them", async () => {
    for (const bad of INJECTIONS) {
      const r = await fx.get(`/api/v1/alerts?agent=${encodeURIComponent(bad)}`);
      expect(r.status).toBe(200);
      expect(r.body.alerts).toEqual([]);
      const t = await fx.get(`/api/v1/alerts?team=${encodeURIComponent(bad)}`);
      expect(t.status).toBe(200);
      expect(t.body.alerts).toEqual([]);
    }
    expect(await fx.count("alerts")).toBe(ALERTS.length + 1);
  });
});
