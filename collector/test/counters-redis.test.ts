import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type BudgetScope,
  type CounterResult,
  MemoryCounters,
  type SpendIncrement,
} from "../src/governance/counters.ts";
import { RedisCounters } from "../src/governance/counters-redis.ts";
import { ResilientCounters } from "../src/governance/counters-resilient.ts";
import { WINDOW_TTL_SECONDS } from "../src/governance/windows.ts";
import type { Logger } from "../src/log.ts";
import { missingService, type Service, startRedis } from "./support/services.ts";

const T = [0.5, 0.8, 1.0];
const agent = (name: string) => ({ type: "agent" as const, name });
const team = (name: string) => ({ type: "team" as const, name });
const DAY = "2025-03-01";
const dayInc = (usd: number, limitUsd: number | null, scope: BudgetScope = agent("a")): SpendIncrement => ({
  scope,
  window: "day",
  windowKey: DAY,
  usd,
  limitUsd,
});
/**
 * Generous command timeout: these tests are about atomicity and exact replay, and on a busy machine a
 * 200 ms timeout (the default) could send a pre-outage add to the fallback, which is correct behaviour
 * but would make exact expectations about which increments are pending depend on timing.
 */
const SLOW_OK = { commandTimeoutMs: 15_000 };

async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Scripts a Redis has run: ioredis sends a script's first call on a connection as EVAL, later ones as EVALSHA. */
async function scriptsRun(raw: Redis): Promise<number> {
  const stats = await raw.info("commandstats");
  const calls = (cmd: string) => Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
  return calls("eval") + calls("evalsha");
}

function captureLogger() {
  const lines: { level: string; msg: string }[] = [];
  const rec = (level: string) => (msg: string) => lines.push({ level, msg });
  const logger: Logger = { debug: rec("debug"), info: rec("info"), warn: rec("warn"), error: rec("error") };
  return { logger, lines };
}

describe.skipIf(missingService("redis-server"))("RedisCounters on a real Redis", () => {
  let svc: Service;
  let raw: Redis;
  let n = 0;
  const prefix = () => `t${++n}:spend`;

  beforeAll(async () => {
    svc = await startRedis();
    raw = new Redis(svc.url);
  });
  afterAll(async () => {
    raw?.disconnect();
    await svc?.stop();
  });

  it("two instances, 2,000 concurrent adds: the same exact total, each threshold reported once", async () => {
    const keyPrefix = prefix();
    const a = await RedisCounters.connect(svc.url, { keyPrefix, ...SLOW_OK });
    const b = await RedisCounters.connect(svc.url, { keyPrefix, ...SLOW_OK });
    try {
      const cents = Array.from({ length: 2000 }, () => 1 + Math.floor(Math.random() * 100));
      const expectedMicros = cents.reduce((s, c) => s + c * 10_000, 0);
      // a limit the total exceeds, so every threshold is crossed somewhere in the middle
      const limitUsd = Math.floor(expectedMicros / 1.25) / 1e6;
      const limit = Math.round(limitUsd * 1e6);
      const results = await Promise.all(
        cents.map((c, i) =>
          (i % 2 === 0 ? a : b).add(`span-${i}`, [dayInc(c / 100, limitUsd), dayInc(c / 100, limitUsd, team("t"))], T),
        ),
      );
      expect(Math.round((await a.get(agent("a"), "day", DAY)) * 1e6)).toBe(expectedMicros);
      expect(Math.round((await b.get(agent("a"), "day", DAY)) * 1e6)).toBe(expectedMicros);
      expect(await a.getMicros(team("t"), "day", DAY)).toBe(expectedMicros);
      expect(await b.getMicros(team("t"), "day", DAY)).toBe(expectedMicros);
      expect(Number(await raw.get(`${keyPrefix}:agent:a:day:${DAY}`))).toBe(expectedMicros);

      for (const scopeIdx of [0, 1]) {
        const crossings = results.flatMap((r, i) => r[scopeIdx].crossed.map((t) => ({ t, i, r: r[scopeIdx] })));
        expect(crossings.map((c) => c.t).sort()).toEqual(T);
        for (const { t, i, r } of crossings) {
          // reported by the very increment that crossed it
          expect(r.totalMicros).toBeGreaterThanOrEqual(t * limit);
          expect(r.totalMicros - cents[i] * 10_000).toBeLessThan(t * limit);
        }
      }
      // every result saw a consistent running total: all distinct, the largest is the final one
      const totals = results.map((r) => r[0].totalMicros);
      expect(new Set(totals).size).toBe(2000);
      expect(Math.max(...totals)).toBe(expectedMicros);
    } finally {
      await a.close();
      await b.close();
    }
  }, 60_000);

  it("the same span key added concurrently through both instances counts once and crosses nothing the second time", async () => {
    const keyPrefix = prefix();
    const a = await RedisCounters.connect(svc.url, { keyPrefix, ...SLOW_OK });
    const b = await RedisCounters.connect(svc.url, { keyPrefix, ...SLOW_OK });
    try {
      for (let round = 0; round < 20; round++) {
        const key = `trace:${round}`;
        const scope = agent(`r${round}`);
        const [ra, rb] = await Promise.all([
          a.addOutcome(key, [dayInc(1.5, 1, scope)], T),
          b.addOutcome(key, [dayInc(1.5, 1, scope)], T),
        ]);
        expect([ra.applied, rb.applied].sort()).toEqual([false, true]);
        const [won, lost] = ra.applied ? [ra, rb] : [rb, ra];
        expect(won.results[0]).toEqual({ totalUsd: 1.5, totalMicros: 1_500_000, crossed: T });
        expect(lost.results[0].crossed).toEqual([]);
        expect(await a.getMicros(scope, "day", DAY)).toBe(1_500_000);
        // a later retry changes nothing either
        expect((await b.add(key, [dayInc(1.5, 1, scope)], T))[0]).toEqual({
          totalUsd: 1.5,
          totalMicros: 1_500_000,
          crossed: [],
        });
      }
    } finally {
      await a.close();
      await b.close();
    }
  }, 60_000);

  it("counts a batch of 600 spans in three scripts, with the totals, crossings and keys of one add a span", async () => {
    const one = await RedisCounters.connect(svc.url, { keyPrefix: prefix(), ...SLOW_OK });
    const many = await RedisCounters.connect(svc.url, { keyPrefix: prefix(), ...SLOW_OK });
    try {
      const spends = Array.from({ length: 600 }, (_, i) => ({
        // Every 7th span repeats an earlier one: counted once, in a batch as across batches.
        spanKey: `s${i % 7 === 6 ? i - 3 : i}`,
        increments: [
          { scope: agent("a"), window: "run" as const, windowKey: `r${i % 40}`, usd: 0.01, limitUsd: 0.1 },
          dayInc(0.002, 1),
          dayInc(0.003, null, team("t")),
        ],
      }));
      const expected: CounterResult[][] = [];
      for (const s of spends) expected.push(await one.add(s.spanKey, s.increments, T));
      // The in-memory counters, written apart, agree span by span.
      const memory = new MemoryCounters();
      expect(spends.map((s) => memory.addNow(s.spanKey, s.increments, T).results)).toEqual(expected);
      const before = await scriptsRun(raw);
      expect(await many.addMany(spends, T)).toEqual(expected);
      expect((await scriptsRun(raw)) - before).toBe(3);
      expect(expected.flat().some((r) => r.crossed.length > 0)).toBe(true);
      const layout = async (c: RedisCounters) => {
        const keys = (await raw.keys(`${c.counterKey(agent("x"), "day", "x").split(":")[0]}:*`)).sort();
        const strip = (k: string) => k.slice(k.indexOf(":"));
        return Promise.all(keys.map(async (k) => [strip(k), await raw.get(k), (await raw.ttl(k)) > 0]));
      };
      expect(await layout(many)).toEqual(await layout(one));
    } finally {
      await one.close();
      await many.close();
    }
  });

  it("keeps run/day/month and agent/team apart, sets expiries, and lays keys out as documented", async () => {
    const keyPrefix = prefix();
    const c = await RedisCounters.connect(svc.url, { keyPrefix, ...SLOW_OK });
    try {
      const incs: SpendIncrement[] = [
        { scope: agent("bot:1"), window: "run", windowKey: "abc", usd: 0.1, limitUsd: 0.1 },
        { scope: agent("bot:1"), window: "day", windowKey: DAY, usd: 0.2, limitUsd: null },
        { scope: agent("bot:1"), window: "month", windowKey: "2025-03", usd: 0.3, limitUsd: null },
        { scope: team("bot:1"), window: "day", windowKey: DAY, usd: 0.4, limitUsd: null },
      ];
      await c.add("s1", incs, T);
      await c.add("s2", incs, T);
      expect(await c.get(agent("bot:1"), "run", "abc")).toBe(0.2);
      expect(await c.get(agent("bot:1"), "day", DAY)).toBe(0.4);
      expect(await c.get(agent("bot:1"), "month", "2025-03")).toBe(0.6);
      expect(await c.get(team("bot:1"), "day", DAY)).toBe(0.8);
      expect(await c.get(team("bot:1"), "month", "2025-03")).toBe(0);

      const key = `${keyPrefix}:agent:bot%3A1:day:${DAY}`;
      expect(c.counterKey(agent("bot:1"), "day", DAY)).toBe(key);
      expect(await raw.get(key)).toBe("400000");
      const ttls: [string, number][] = [
        [`${keyPrefix}:agent:bot%3A1:run:abc`, WINDOW_TTL_SECONDS.run],
        [key, WINDOW_TTL_SECONDS.day],
        [`${keyPrefix}:agent:bot%3A1:month:2025-03`, WINDOW_TTL_SECONDS.month],
        [`${keyPrefix}:team:bot%3A1:day:${DAY}`, WINDOW_TTL_SECONDS.day],
        [`${keyPrefix}:fired:agent:bot%3A1:run:abc:1`, WINDOW_TTL_SECONDS.run],
        [`${keyPrefix}:span:s1`, 3 * 86_400],
      ];
      for (const [k, max] of ttls) {
        const ttl = await raw.ttl(k);
        expect(ttl, k).toBeGreaterThan(0);
        expect(ttl, k).toBeLessThanOrEqual(max);
      }
      // only the run counter had a limit: its thresholds are marked, nothing else is
      expect((await raw.keys(`${keyPrefix}:fired:*`)).sort()).toEqual(
        T.map((t) => `${keyPrefix}:fired:agent:bot%3A1:run:abc:${t}`).sort(),
      );
    } finally {
      await c.close();
    }
  });

  it("times Redis, not a blocked event loop: a reply that arrived while the loop was busy is not a timeout", async () => {
    const c = await RedisCounters.connect(svc.url, { keyPrefix: `loop${Date.now()}`, commandTimeoutMs: 100 });
    try {
      const pending = c.add("s-busy", [dayInc(1, null)], T);
      // Redis answers within a millisecond; this process is busy far past the timeout meanwhile.
      const until = Date.now() + 600;
      while (Date.now() < until) {
        /* busy */
      }
      const [r] = await pending;
      expect(r.totalMicros).toBe(1_000_000);
    } finally {
      await c.close();
    }
  });

  it("still times out a Redis that does not answer", async () => {
    const c = await RedisCounters.connect(svc.url, { keyPrefix: `stall${Date.now()}`, commandTimeoutMs: 100 });
    const stalled = new Redis(svc.url);
    try {
      // A script that keeps Redis busy for ~1 s: nothing else is answered meanwhile.
      const busy = stalled.eval(
        "local t = redis.call('TIME'); while true do local n = redis.call('TIME'); if (n[1] - t[1]) * 1000000 + (n[2] - t[2]) > 1000000 then break end end return 1",
        0,
      );
      await new Promise((r) => setTimeout(r, 50));
      await expect(c.add("s-stalled", [dayInc(1, null)], T)).rejects.toThrow(/did not answer within 100 ms/);
      await busy;
    } finally {
      stalled.disconnect();
      await c.close();
    }
  });

  it("seeds by raising counters only and marks seeded thresholds as fired", async () => {
    const keyPrefix = prefix();
    const c = await RedisCounters.connect(svc.url, { keyPrefix, ...SLOW_OK });
    try {
      await c.add("s1", [dayInc(0.3, null)], T);
      await c.seed([
        { scope: agent("a"), window: "day", windowKey: DAY, usd: 0.1 }, // lower: ignored
        { scope: team("t"), window: "day", windowKey: DAY, usd: 0.6, fired: [0.5] },
      ]);
      expect(await c.get(agent("a"), "day", DAY)).toBe(0.3);
      expect(await c.get(team("t"), "day", DAY)).toBe(0.6);
      expect(await raw.ttl(c.counterKey(team("t"), "day", DAY))).toBeGreaterThan(0);
      const [r] = await c.add("s2", [dayInc(0.25, 1, team("t"))], T);
      expect(r).toEqual({ totalUsd: 0.85, totalMicros: 850_000, crossed: [0.8] });
    } finally {
      await c.close();
    }
  });
});

describe.skipIf(missingService("redis-server"))("ResilientCounters when Redis goes away", () => {
  /** Spend of `count` spans, 1..count cents, keyed `${tag}-i`. */
  async function spend(c: ResilientCounters, tag: string, count: number, limitUsd: number | null) {
    const out: CounterResult[][] = [];
    let micros = 0;
    for (let i = 1; i <= count; i++) {
      out.push(await c.add(`${tag}-${i}`, [dayInc(i / 100, limitUsd)], T));
      micros += i * 10_000;
    }
    return { out, micros };
  }

  it("counts locally while Redis is down, warns once, and replays exactly once on the next add after it is back", async () => {
    const svc = await startRedis();
    const raw = new Redis(svc.url, { lazyConnect: true });
    raw.on("error", () => {});
    const { logger, lines } = captureLogger();
    const c = await ResilientCounters.connect(svc.url, { logger, retryIntervalMs: 0, ...SLOW_OK });
    try {
      const limit = 3; // $3: the 50 % threshold is crossed during the outage
      const before = await spend(c, "pre", 10, limit); // 0.55 $
      expect(c.fallbacks).toBe(0);
      expect(await c.get(agent("a"), "day", DAY)).toBe(0.55);

      await svc.stop();
      const during = await spend(c, "out", 20, limit); // 2.10 $ → local view 2.65 $
      expect(c.fallbacks).toBe(20);
      expect(c.inOutage).toBe(true);
      expect(c.pendingCount).toBe(20);
      expect(await c.get(agent("a"), "day", DAY)).toBe(2.65);
      // thresholds judged on the local view (shared total seen before the outage + local spend)
      expect(during.out.flatMap((r) => r[0].crossed)).toEqual([0.5, 0.8]);
      // retries during the outage, of a span counted locally or in Redis before, count nothing
      expect((await c.add("out-3", [dayInc(0.03, limit)], T))[0].totalMicros).toBe(2_650_000);
      expect((await c.add("pre-3", [dayInc(0.03, limit)], T))[0].totalMicros).toBe(2_650_000);
      expect(c.pendingCount).toBe(20);
      expect(await c.reconcile()).toBe(false);
      expect(lines.filter((l) => l.level === "warn")).toHaveLength(1);

      await svc.start(); // a fresh, empty Redis
      let afterMicros = 0;
      let k = 0;
      // "the next add": adds go on (locally while the client reconnects) until one finds Redis back
      await until(async () => {
        k++;
        await c.add(`new-${k}`, [dayInc(0.01, limit)], T);
        afterMicros += 10_000;
        return !c.inOutage;
      }, "an add to reach Redis again");
      await until(() => c.reconcile(), "reconcile"); // whatever a busy machine timed out on since
      expect(c.pendingCount).toBe(0);
      expect(c.replayed).toBeGreaterThanOrEqual(20);

      // retried after recovery: the replayed span key is known to Redis
      await c.add("out-5", [dayInc(0.05, limit)], T);
      await raw.connect();
      const key = c.redis.counterKey(agent("a"), "day", DAY);
      expect(Number(await raw.get(key))).toBe(during.micros + afterMicros);
      expect(await c.get(agent("a"), "day", DAY)).toBe((during.micros + afterMicros) / 1e6);
      expect(await raw.ttl(key)).toBeGreaterThan(0);
      expect(lines.some((l) => l.level === "info" && /reachable again/.test(l.msg))).toBe(true);
      expect(before.micros).toBe(550_000);
    } finally {
      raw.disconnect();
      await c.close();
      await svc.stop();
    }
  }, 90_000);

  it("replays an outage's 300 spans in two scripts, once", async () => {
    const svc = await startRedis();
    await svc.stop();
    const c = await ResilientCounters.connect(svc.url, SLOW_OK);
    const raw = new Redis(svc.url, { lazyConnect: true });
    raw.on("error", () => {});
    try {
      const spends = Array.from({ length: 300 }, (_, i) => ({ spanKey: `o${i}`, increments: [dayInc(0.01, null)] }));
      await c.addMany(spends, T);
      expect([c.inOutage, c.pendingCount]).toEqual([true, 300]);
      await svc.start();
      await until(() => c.reconcile(), "reconcile after start");
      await raw.connect();
      expect(await scriptsRun(raw)).toBe(2);
      expect(await raw.get(c.redis.counterKey(agent("a"), "day", DAY))).toBe("3000000");
      expect(await c.reconcile()).toBe(true);
      expect(c.replayed).toBe(300);
    } finally {
      raw.disconnect();
      await c.close();
      await svc.stop();
    }
  });

  it("starts without Redis, and an explicit reconcile() replays everything once; a second outage warns again", async () => {
    const svc = await startRedis();
    await svc.stop();
    const { logger, lines } = captureLogger();
    const c = await ResilientCounters.connect(svc.url, { logger, ...SLOW_OK });
    const raw = new Redis(svc.url, { lazyConnect: true });
    raw.on("error", () => {});
    try {
      expect(c.inOutage).toBe(true);
      const first = await spend(c, "a", 15, null);
      expect(c.fallbacks).toBe(15);
      expect(await c.get(agent("a"), "day", DAY)).toBe(first.micros / 1e6);

      await svc.start();
      await until(() => c.reconcile(), "reconcile after start");
      await raw.connect();
      const key = c.redis.counterKey(agent("a"), "day", DAY);
      expect(Number(await raw.get(key))).toBe(first.micros);
      // replaying again (e.g. after a timeout) would change nothing: span keys are in Redis
      expect(await c.reconcile()).toBe(true);
      const second = await spend(c, "b", 5, null);
      expect(Number(await raw.get(key))).toBe(first.micros + second.micros);

      raw.disconnect();
      await svc.stop();
      const third = await spend(c, "c", 5, null);
      expect(c.fallbacks).toBe(20);
      expect(lines.filter((l) => l.level === "warn")).toHaveLength(2);
      await svc.start();
      await until(() => c.reconcile(), "reconcile after restart");
      await raw.connect();
      expect(Number(await raw.get(key))).toBe(third.micros); // the restarted Redis was empty
    } finally {
      raw.disconnect();
      await c.close();
      await svc.stop();
    }
  }, 90_000);
});
