import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKey, loadEnvConfig, loadPolicy, silentLogger, startAuth } from "@cognive/collector";
import type { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { missingService, type Service, startNats, startRedis } from "../../../collector/test/support/services.ts";
import { createQueryApp } from "../../src/app.ts";
import { queryGovernance, startCognive } from "../../src/server.ts";
import { agentRunBody } from "../helpers/agent-run.ts";
import { postRaw } from "../helpers/http.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { TWO_TEAMS_POLICY } from "../helpers/two-teams.ts";
import { startWebhookReceiver } from "../helpers/webhook.ts";

/**
 * Governance as a separate `cognive query` process sees it: beside a collector (here the in-process
 * server, sharing Redis, NATS and storage), a query app on `queryGovernance` reads budgets from
 * Redis or storage, hears alerts over NATS, stays within the key's teams, and delivers nothing.
 */
const skip = missingService("redis-server") ?? missingService("nats-server");
const ADMIN = generateKey().key;

describe.skipIf(skip)("the query process's view of governance", () => {
  const dir = mkdtempSync(join(tmpdir(), "cognive-query-gov-"));
  let redis: Service;
  let nats: Service;
  let hook: Awaited<ReturnType<typeof startWebhookReceiver>>;
  let server: TestServer;
  const keys: Record<string, string> = {};
  const views: { app: Hono; close(): Promise<void> }[] = [];
  let fromRedis: Hono;
  let fromStorage: Hono;

  const env = () => ({
    COGNIVE_AUTH: "required",
    COGNIVE_ADMIN_KEY: ADMIN,
    COGNIVE_POLICY: join(dir, "policy.yaml"),
    REDIS_URL: redis.url,
    NATS_URL: nats.url,
  });

  /** A query app as `cognive query` builds it, on the collector's storage. */
  async function queryApp(overrides: Record<string, string | undefined>): Promise<Hono> {
    const config = loadEnvConfig({ COGNIVE_DATA_DIR: server.dataDir, ...env(), ...overrides });
    const storage = server.running.storage;
    const governance = await queryGovernance(storage, loadPolicy(config.COGNIVE_POLICY), config, silentLogger);
    const auth = await startAuth({ storage, config, log: silentLogger });
    const app = createQueryApp({ storage, log: silentLogger, governance, auth });
    views.push({
      app,
      close: async () => {
        await governance.close();
        await auth.close();
      },
    });
    return app;
  }

  const get = (app: Hono, path: string, key: string, signal?: AbortSignal) =>
    app.request(path, { headers: { authorization: `Bearer ${key}` }, signal });

  async function send(key: string, agent: string, model: string, team: string): Promise<string> {
    const traceId = randomBytes(16).toString("hex");
    const res = await postRaw(
      `${server.otlpUrl}/v1/traces`,
      agentRunBody({ traceId, service: `svc-${team}`, agent, model, claimedTeam: team }),
      { "content-type": "application/json", authorization: `Bearer ${key}` },
    );
    expect(res.status).toBe(200);
    const gov = server.running.governance;
    if (!gov) throw new Error("the collector runs no governance");
    await gov.governance.idle();
    return traceId;
  }

  beforeAll(async () => {
    [redis, nats] = await Promise.all([startRedis(), startNats()]);
    hook = await startWebhookReceiver();
    writeFileSync(
      join(dir, "policy.yaml"),
      `${TWO_TEAMS_POLICY}alerts:
  sinks:
    - { type: webhook, url: "${hook.url}" }
`,
    );
    server = await startTestServer(env(), mkdtempSync(join(dir, "data-")));
    for (const [name, role, teams] of [
      ["ingest-alpha", "ingest", ["alpha"]],
      ["ingest-bravo", "ingest", ["bravo"]],
      ["viewer-alpha", "viewer", ["alpha"]],
      ["viewer-all", "viewer", "all"],
    ] as const) {
      const res = await fetch(`${server.queryUrl}/api/v1/keys`, {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
        body: JSON.stringify({ name, role, teams }),
      });
      expect(res.status).toBe(201);
      keys[name] = (await res.json()).key;
    }
    fromRedis = await queryApp({});
    fromStorage = await queryApp({ REDIS_URL: undefined, NATS_URL: undefined });
  }, 120_000);

  afterAll(async () => {
    for (const v of views) await v.close();
    await server?.stop();
    await hook?.close();
    await Promise.all([redis?.stop(), nats?.stop()]);
    rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
  });

  type Line = { scope: { type: string; name: string }; window: string; spendUsd: number };
  const budgets = async (app: Hono, key: string): Promise<Line[]> => {
    const res = await get(app, "/api/v1/budgets", key);
    expect(res.status).toBe(200);
    return (await res.json()).budgets;
  };
  const spend = (lines: Line[], type: string, name: string, window: string) =>
    lines.find((l) => l.scope.type === type && l.scope.name === name && l.window === window)?.spendUsd;

  it("serves live budgets, from Redis or from storage, equal to what the collector counted", async () => {
    const before = spend(await budgets(fromStorage, keys["viewer-all"]), "agent", "alpha-agent", "day");
    expect(before).toBe(0);
    await send(keys["ingest-alpha"], "alpha-agent", "gpt-4o", "alpha");
    await send(keys["ingest-bravo"], "bravo-agent", "gpt-4o", "bravo");
    const collector = await budgets(fromRedis, keys["viewer-all"]);
    const counted = spend(await budgets(fromRedis, keys["viewer-all"]), "agent", "alpha-agent", "day") ?? 0;
    expect(counted).toBeGreaterThan(0);
    const direct = await server.running.governance?.counters.get(
      { type: "agent", name: "alpha-agent" },
      "day",
      new Date().toISOString().slice(0, 10),
    );
    expect(counted).toBe(direct);
    // Without Redis the same figures come from storage: the spans written since the view was made count.
    const stored = await budgets(fromStorage, keys["viewer-all"]);
    expect(stored.length).toBe(collector.length);
    for (const l of collector) {
      expect(spend(stored, l.scope.type, l.scope.name, l.window), JSON.stringify(l)).toBeCloseTo(l.spendUsd, 5);
    }
    expect(spend(stored, "team", "bravo", "month")).toBeGreaterThan(0);
    // The agent registry's "today" is the budgets' day (one calendar, UTC).
    const agents = (await (await get(fromStorage, "/api/v1/agents", keys["viewer-all"])).json()).agents;
    const alpha = agents.find((a: { name: string }) => a.name === "alpha-agent");
    expect(alpha.spendTodayUsd).toBeCloseTo(spend(stored, "agent", "alpha-agent", "day") ?? -1, 6);
  });

  it("shows a team-alpha viewer only team alpha's budgets, and another team's agent as unknown", async () => {
    for (const app of [fromRedis, fromStorage]) {
      const mine = await budgets(app, keys["viewer-alpha"]);
      expect(mine.length).toBeGreaterThan(0);
      expect(JSON.stringify(mine)).not.toContain("bravo");
      expect(JSON.stringify(await budgets(app, keys["viewer-all"]))).toContain("bravo");
      expect((await get(app, "/api/v1/budget-check?agent=bravo-agent", keys["viewer-alpha"])).status).toBe(404);
      expect((await get(app, "/api/v1/budget-check?agent=bravo-agent", keys["ingest-alpha"])).status).toBe(404);
      expect((await get(app, "/api/v1/budget-check?agent=bravo-agent", keys["ingest-bravo"])).status).toBe(200);
      const own = await get(app, "/api/v1/budget-check?agent=alpha-agent", keys["ingest-alpha"]);
      expect(await own.json()).toMatchObject({ allowed: true });
    }
  });

  it("streams the collector's alerts heard over NATS within the key's teams, delivered once by the collector", async () => {
    const read = async (key: string, signal: AbortSignal, seen: (text: string) => boolean) => {
      const res = await get(fromRedis, "/api/v1/alerts/stream", key, signal);
      expect(res.status).toBe(200);
      let text = "";
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      // In process, aborting the request does not end the body: stop reading it ourselves.
      signal.addEventListener("abort", () => void reader.cancel().catch(() => undefined));
      try {
        while (!seen(text)) {
          const { value, done } = await reader.read();
          if (done) break;
          text += Buffer.from(value).toString();
        }
      } catch {
        /* aborted */
      }
      await reader.cancel().catch(() => undefined);
      return text;
    };
    const stop = new AbortController();
    const all = read(keys["viewer-all"], stop.signal, (t) => t.includes("event: alert"));
    const alpha = read(keys["viewer-alpha"], stop.signal, () => false);
    await new Promise((r) => setTimeout(r, 300)); // both subscribed (NATS subscription made)
    // bravo-agent may only call gpt-4o: a policy alert of team bravo, raised by the collector.
    const trace = await send(keys["ingest-bravo"], "bravo-agent", "gpt-4o-mini", "bravo");
    const allText = await all;
    stop.abort();
    const alphaText = await alpha;
    expect(allText).toContain(trace);
    expect(alphaText).toContain("event: ready");
    expect(alphaText).not.toContain(trace);
    expect(alphaText).not.toContain("bravo");
    await server.running.governance?.deliverer.idle();
    await new Promise((r) => setTimeout(r, 300)); // anything more would be a duplicate
    expect(hook.hits.filter((h) => h.body.includes(trace))).toHaveLength(1);
  }, 30_000);
});

describe("a separate collector without Redis", () => {
  const dir = mkdtempSync(join(tmpdir(), "cognive-collector-redis-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const start = (policy: string, env: Record<string, string> = {}) => {
    writeFileSync(join(dir, "policy.yaml"), policy);
    // Nothing listens on port 9: the check comes before storage is touched.
    const config = loadEnvConfig({
      CLICKHOUSE_URL: "http://127.0.0.1:9",
      COGNIVE_POLICY: join(dir, "policy.yaml"),
      COGNIVE_DATA_DIR: dir,
      ...env,
    });
    return startCognive(config, silentLogger, "collector");
  };

  it("refuses to start when the policy declares budgets, naming REDIS_URL", async () => {
    await expect(start(TWO_TEAMS_POLICY)).rejects.toThrow(/REDIS_URL/);
    await expect(start("teams:\n  alpha: { budgets: { monthly_usd: 5 } }\n")).rejects.toThrow(/REDIS_URL/);
  });

  it("starts past the check when nothing is budgeted (and fails later on the unreachable store)", async () => {
    const err = await start("agents:\n  a: { allowed_models: [gpt-4o] }\n").then(
      () => null,
      (e: Error) => e,
    );
    expect(err?.message ?? "").not.toMatch(/REDIS_URL/);
  }, 30_000);
});
