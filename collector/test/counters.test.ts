import { describe, expect, it } from "vitest";
import { counterId, MemoryCounters, SpanKeySet, type SpendIncrement, usdToMicros } from "../src/governance/counters.ts";
import { counterClientOptions } from "../src/governance/counters-redis.ts";
import { dayKey, monthKey, runKey, WINDOW_TTL_SECONDS, windowKeys } from "../src/governance/windows.ts";

const T = [0.5, 0.8, 1.0];
const agent = (name: string) => ({ type: "agent" as const, name });
const team = (name: string) => ({ type: "team" as const, name });
const inc = (usd: number, limitUsd: number | null = 1, over: Partial<SpendIncrement> = {}): SpendIncrement => ({
  scope: agent("a"),
  window: "day",
  windowKey: "2025-03-01",
  usd,
  limitUsd,
  ...over,
});

describe("windows", () => {
  it("keys a span time by UTC day and month, from epoch ms, Unix nanos or a Date", () => {
    const ms = Date.UTC(2024, 1, 29, 23, 59, 59, 999);
    expect(dayKey(ms)).toBe("2024-02-29");
    expect(monthKey(ms)).toBe("2024-02");
    expect(dayKey(ms + 1)).toBe("2024-03-01");
    expect(monthKey(ms + 1)).toBe("2024-03");
    expect(dayKey(BigInt(ms) * 1_000_000n + 999_999n)).toBe("2024-02-29");
    expect(dayKey(new Date("2025-12-31T23:30:00-02:00"))).toBe("2026-01-01");
    expect(monthKey(Date.UTC(2025, 0, 5))).toBe("2025-01");
  });

  it("uses the trace id as the run key and gives each window its TTL", () => {
    expect(runKey("ABCDEF0123")).toBe("abcdef0123");
    expect(() => runKey("")).toThrow(RangeError);
    expect(() => dayKey(Number.NaN)).toThrow(RangeError);
    expect(windowKeys("0af7651916cd43dd8448eb211c80319c", Date.UTC(2025, 6, 4, 12))).toEqual([
      { window: "run", windowKey: "0af7651916cd43dd8448eb211c80319c", ttlSeconds: 2 * 86_400 },
      { window: "day", windowKey: "2025-07-04", ttlSeconds: 3 * 86_400 },
      { window: "month", windowKey: "2025-07", ttlSeconds: 40 * 86_400 },
    ]);
    expect(WINDOW_TTL_SECONDS).toEqual({ run: 172_800, day: 259_200, month: 3_456_000 });
  });
});

describe("counter helpers", () => {
  it("converts dollars to integer micro-dollars and rejects bad amounts", () => {
    expect(usdToMicros(0.1) + usdToMicros(0.2)).toBe(300_000);
    expect(usdToMicros(1.2345674)).toBe(1_234_567);
    expect(() => usdToMicros(-1)).toThrow(RangeError);
    expect(() => usdToMicros(Number.POSITIVE_INFINITY)).toThrow(RangeError);
  });

  it("escapes ':' and '%' in names so counter ids stay unambiguous", () => {
    expect(counterId(agent("a:b"), "day", "2025-01-01")).toBe("agent:a%3Ab:day:2025-01-01");
    expect(counterId(agent("a%3Ab"), "day", "2025-01-01")).toBe("agent:a%253Ab:day:2025-01-01");
    expect(counterId(team("t"), "run", "x")).not.toBe(counterId(agent("t"), "run", "x"));
  });

  it("configures Redis clients to fail fast rather than queue while Redis is unreachable", () => {
    // The client's own timeout is only a backstop for dead connections; commands are timed by redisTimeout.
    expect(counterClientOptions()).toMatchObject({
      commandTimeout: 5_000,
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
    });
  });

  it("remembers at least capacity/2 and at most capacity span keys", () => {
    const s = new SpanKeySet(4);
    for (const k of ["a", "b", "c", "d", "e"]) expect(s.add(k)).toBe(true);
    expect(s.size).toBeLessThanOrEqual(4);
    expect(s.has("e")).toBe(true);
    expect(s.has("d")).toBe(true);
    expect(s.has("a")).toBe(false); // evicted: the set is bounded
    expect(s.add("e")).toBe(false);
  });
});

describe("MemoryCounters", () => {
  it("counts a span key once: a retried span adds nothing and crosses nothing", async () => {
    const c = new MemoryCounters();
    const [first] = await c.add("trace1:span1", [inc(0.6)], T);
    expect(first).toEqual({ totalUsd: 0.6, totalMicros: 600_000, crossed: [0.5] });
    const [again] = await c.add("trace1:span1", [inc(0.6)], T);
    expect(again).toEqual({ totalUsd: 0.6, totalMicros: 600_000, crossed: [] });
    expect(await c.get(agent("a"), "day", "2025-03-01")).toBe(0.6);
  });

  it("reports each threshold once, by the increment that crosses it, and none without a limit", async () => {
    const c = new MemoryCounters();
    const crossed: (readonly number[])[] = [];
    for (const [i, usd] of [0.3, 0.3, 0.25, 0.1, 0.1, 0.5, 2].entries()) {
      crossed.push((await c.add(`s${i}`, [inc(usd)], T))[0].crossed);
    }
    expect(crossed).toEqual([[], [0.5], [0.8], [], [1], [], []]);
    // one big increment crosses all at once
    const [big] = await c.add("big", [inc(5, 2, { windowKey: "2025-03-02" })], [1, 0.5, 0.8, 0.5]);
    expect(big.crossed).toEqual([0.5, 0.8, 1]);
    const [none] = await c.add("nolimit", [inc(100, null, { windowKey: "2025-03-03" })], T);
    expect(none).toEqual({ totalUsd: 100, totalMicros: 100_000_000, crossed: [] });
  });

  it("keeps run, day and month, agent and team as separate counters; sums exactly in micro-dollars", async () => {
    const c = new MemoryCounters();
    const span = (key: string, usd: number) =>
      c.add(
        key,
        [
          inc(usd, null, { window: "run", windowKey: "t1" }),
          inc(usd * 2, null, { window: "day" }),
          inc(usd * 3, null, { window: "month", windowKey: "2025-03" }),
          inc(usd * 4, null, { scope: team("a"), window: "day" }),
        ],
        T,
      );
    for (let i = 0; i < 10; i++) await span(`k${i}`, 0.1);
    expect(await c.get(agent("a"), "run", "t1")).toBe(1);
    expect(await c.get(agent("a"), "day", "2025-03-01")).toBe(2);
    expect(await c.get(agent("a"), "month", "2025-03")).toBe(3);
    expect(await c.get(team("a"), "day", "2025-03-01")).toBe(4);
    expect(await c.get(team("a"), "run", "t1")).toBe(0);
  });

  it("seeds totals (replacing them) and does not report thresholds marked as fired", async () => {
    const c = new MemoryCounters();
    await c.add("s0", [{ ...inc(5), scope: agent("other") }], T);
    await c.seed([
      { scope: agent("a"), window: "day", windowKey: "2025-03-01", usd: 0.7, fired: [0.5] },
      { scope: team("x"), window: "month", windowKey: "2025-03", usd: 12.5 },
      { scope: agent("other"), window: "day", windowKey: "2025-03-01", usd: 0.7 },
    ]);
    expect(await c.get(agent("a"), "day", "2025-03-01")).toBe(0.7);
    expect(await c.get(team("x"), "month", "2025-03")).toBe(12.5);
    expect(await c.get(agent("other"), "day", "2025-03-01")).toBe(0.7);
    const [r] = await c.add("s1", [inc(0.15)], T);
    expect(r.totalMicros).toBe(850_000);
    expect(r.crossed).toEqual([0.8]); // 0.5 was already reported before the seed
    // Thresholds this process reported before a seed stay reported: a seed never re-fires an alert.
    const [o] = await c.add("s2", [{ ...inc(0.5), scope: agent("other") }], T);
    expect(o.totalMicros).toBe(1_200_000);
    expect(o.crossed).toEqual([]);
  });

  it("expires a window after its TTL since the last add", async () => {
    let now = Date.UTC(2025, 2, 1);
    const c = new MemoryCounters({ now: () => now });
    expect((await c.add("s0", [inc(0.6)], T))[0].crossed).toEqual([0.5]);
    now += WINDOW_TTL_SECONDS.day * 1000 - 1;
    expect(await c.get(agent("a"), "day", "2025-03-01")).toBe(0.6);
    await c.add("s1", [inc(0.1)], T); // refreshes the expiry
    now += WINDOW_TTL_SECONDS.day * 1000 - 1;
    expect(await c.get(agent("a"), "day", "2025-03-01")).toBe(0.7);
    now += 1;
    expect(await c.get(agent("a"), "day", "2025-03-01")).toBe(0);
    expect(c.size).toBe(0);
  });

  it("drops expired counters on its own, after as many adds as it holds, and counts what it holds", async () => {
    let now = Date.UTC(2025, 2, 1);
    const c = new MemoryCounters({ now: () => now });
    for (let i = 0; i < 2_000; i++)
      await c.add(`s${i}`, [inc(0.01, null, { window: "run", windowKey: `t${i % 500}` })], T);
    expect(c.size).toBe(500);
    now += WINDOW_TTL_SECONDS.run * 1000;
    // No read of the 500 expired runs: only the sweep can drop them.
    for (let i = 0; i < 1_100; i++) await c.add(`d${i}`, [inc(0.01, null, { scope: team("cx") })], T);
    expect(c.size).toBe(1);
    expect(await c.get(team("cx"), "day", "2025-03-01")).toBe(11);
    // A run seen again after it expired starts from nothing, its thresholds unreported.
    const [again] = await c.add("s-late", [inc(0.6, 1, { window: "run", windowKey: "t1" })], T);
    expect(again).toEqual({ totalUsd: 0.6, totalMicros: 600_000, crossed: [0.5] });
    expect(c.size).toBe(2);
    // Reading counters no one added creates none.
    for (let i = 0; i < 2_000; i++) expect(await c.get(agent(`nobody-${i}`), "run", `t${i}`)).toBe(0);
    expect((c as unknown as { scopes: { agent: Map<string, unknown> } }).scopes.agent.size).toBe(1);
  });

  it("bounds span-key memory and rejects a bad amount without remembering its span key", async () => {
    const c = new MemoryCounters({ dedupCapacity: 10 });
    for (let i = 0; i < 100; i++) await c.add(`s${i}`, [inc(0.01, null)], T);
    await c.add("s99", [inc(0.01, null)], T); // recent: still de-duplicated
    expect(await c.get(agent("a"), "day", "2025-03-01")).toBe(1);
    await c.add("s0", [inc(0.01, null)], T); // long forgotten: the memory is bounded
    expect(await c.get(agent("a"), "day", "2025-03-01")).toBe(1.01);
    await expect(c.add("bad", [inc(-1)], T)).rejects.toThrow(RangeError);
    await c.add("bad", [inc(0.01, null)], T);
    expect(await c.get(agent("a"), "day", "2025-03-01")).toBe(1.02);
  });
});
