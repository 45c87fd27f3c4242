import type { ChildProcess } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ClickHouseClient, createClient } from "@clickhouse/client";
import { generateKey, migrations } from "@cognive/collector";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { missingService, type Service, startNats, startRedis } from "../../../collector/test/support/services.ts";
import { type ChdbHttp, startChdbHttp } from "../helpers/chdb-http.ts";
import { postRaw } from "../helpers/http.ts";
import { modelCallBodies } from "../helpers/otlp-json.ts";
import { freePort, runCognive, spawnCognive, stopProcess } from "../helpers/process.ts";
import { until } from "../helpers/until.ts";
import { startWebhookReceiver } from "../helpers/webhook.ts";

/**
 * The scaled topology as deployed: `cognive migrate`, two `cognive collector` processes and one
 * `cognive query` process, real Redis and NATS on loopback, one store reached over ClickHouse's
 * HTTP interface (CLICKHOUSE_URL). No ClickHouse server installs on these machines, so the store is
 * embedded chDB behind a test-only HTTP front (helpers/chdb-http.ts) speaking the subset of the
 * HTTP interface @clickhouse/client uses; against a real server see clickhouse-containers.test.ts.
 */
const skip = missingService("redis-server") ?? missingService("nats-server");
const SECRET = "topology-hmac";
const ADMIN = generateKey().key;
const DB = "cognive";

describe.skipIf(skip)("two collectors and one query process on one store over HTTP", () => {
  const dir = mkdtempSync(join(tmpdir(), "cognive-topology-"));
  const password = randomBytes(12).toString("hex");
  let front: ChdbHttp;
  let store: ClickHouseClient;
  let redis: Service;
  let nats: Service;
  let hook: Awaited<ReturnType<typeof startWebhookReceiver>>;
  let migrateRuns: { code: number | null; stdout: string; stderr: string }[] = [];
  const collectors: { proc: ChildProcess; otlp: string }[] = [];
  let query: { proc: ChildProcess; api: string };
  let ingestKey: { id: string; key: string };
  let viewerKey: { id: string; key: string };

  const api = async (path: string, key: string, init: RequestInit = {}) =>
    fetch(`${query.api}${path}`, { ...init, headers: { authorization: `Bearer ${key}`, ...init.headers } });
  const createKey = async (body: object) => {
    const res = await api("/api/v1/keys", ADMIN, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(201);
    return (await res.json()) as { id: string; key: string };
  };
  const exportTo = (otlp: string, body: Buffer, key: string) =>
    postRaw(`${otlp}/v1/traces`, body, { "content-type": "application/json", authorization: `Bearer ${key}` });

  beforeAll(async () => {
    front = await startChdbHttp({ dataDir: join(dir, "store"), user: "cognive", password });
    store = createClient({ url: front.url });
    [redis, nats] = await Promise.all([startRedis(), startNats()]);
    hook = await startWebhookReceiver();
    const policy = join(dir, "policy.yaml");
    writeFileSync(
      policy,
      `teams:
  alpha: { budgets: { daily_usd: 100 } }
agents:
  refund-agent:
    team: alpha
    budgets: { per_run_usd: 0.1 }
alerts:
  sinks:
    - { type: webhook, url: "${hook.url}", secret: "${SECRET}" }
`,
    );
    const shared = {
      CLICKHOUSE_URL: front.url,
      COGNIVE_DATABASE: DB,
      REDIS_URL: redis.url,
      NATS_URL: nats.url,
      COGNIVE_POLICY: policy,
      COGNIVE_AUTH: "required",
      COGNIVE_ADMIN_KEY: ADMIN,
    };
    // Two migration runs at once, as two deploy jobs might: the lock lets one apply, the other wait.
    migrateRuns = await Promise.all([runCognive(["migrate"], shared), runCognive(["migrate"], shared)]);
    for (let i = 0; i < 2; i++) {
      const env = { ...shared, COGNIVE_OTLP_PORT: String(await freePort()), COGNIVE_DATA_DIR: join(dir, `c${i}`) };
      collectors.push({
        proc: await spawnCognive(env, [], "collector"),
        otlp: `http://127.0.0.1:${env.COGNIVE_OTLP_PORT}`,
      });
    }
    const env = { ...shared, COGNIVE_PORT: String(await freePort()), COGNIVE_DATA_DIR: join(dir, "q") };
    query = { proc: await spawnCognive(env, [], "query"), api: `http://127.0.0.1:${env.COGNIVE_PORT}` };
    ingestKey = await createKey({ name: "agents", role: "ingest", teams: ["alpha"] });
    viewerKey = await createKey({ name: "portal", role: "viewer", teams: ["alpha"] });
  }, 180_000);

  afterAll(async () => {
    await Promise.all([...collectors, ...(query ? [query] : [])].map((p) => stopProcess(p.proc)));
    await store?.close();
    await front?.close();
    await Promise.all([redis?.stop(), nats?.stop()]);
    await hook?.close();
    rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
  });

  it("ran the migrations once, though two runs raced for them", async () => {
    expect(migrateRuns.map((r) => r.code)).toEqual([0, 0]);
    const applied = migrateRuns.map((r) => Number(/migrations applied: (\d+)/.exec(r.stdout + r.stderr)?.[1]));
    expect(applied.sort((a, b) => a - b)).toEqual([0, migrations.length]);
    const rs = await store.query({
      query: `SELECT Version, count() AS n FROM ${DB}.schema_migrations GROUP BY Version ORDER BY Version`,
      format: "JSONEachRow",
    });
    const rows = (await rs.json()) as { Version: number; n: string }[];
    expect(rows.map((r) => r.Version)).toEqual(migrations.map((m) => m.version));
    expect(rows.every((r) => r.n === "1")).toBe(true);
  });

  it("reads through query what was sent through either collector", async () => {
    const traces = collectors.map(() => randomBytes(16).toString("hex"));
    for (const [i, c] of collectors.entries()) {
      const [body] = modelCallBodies({ traceId: traces[i], agent: "triage-agent", requests: 1, perRequest: 3 });
      expect((await exportTo(c.otlp, body, ingestKey.key)).status).toBe(200);
    }
    for (const traceId of traces) {
      const trace = await until(`trace ${traceId} through query`, async () => {
        const res = await api(`/api/v1/traces/${traceId}`, viewerKey.key);
        return res.status === 200 ? ((await res.json()) as any) : undefined;
      });
      expect(trace.spans).toHaveLength(3);
      expect(trace.summary.costUsd).toBeCloseTo(3 * 0.0035, 12);
    }
  });

  it("counts one run's spend exactly across both collectors and delivers each threshold alert once", async () => {
    const sse = await api("/api/v1/alerts/stream", viewerKey.key);
    expect(sse.status).toBe(200);
    const reader = sse.body!.getReader();
    let streamed = "";
    void (async () => {
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done) return;
        streamed += new TextDecoder().decode(value);
      }
    })();

    const traceId = randomBytes(16).toString("hex");
    // 40 calls at $0.0035 = $0.14 against a $0.10 run budget, 20 requests alternating collectors, at once.
    const bodies = modelCallBodies({ traceId, agent: "refund-agent", requests: 20, perRequest: 2 });
    const answers = await Promise.all(bodies.map((b, r) => exportTo(collectors[r % 2].otlp, b, ingestKey.key)));
    expect(answers.map((a) => a.status)).toEqual(bodies.map(() => 200));

    const budgetHooks = () =>
      hook.hits.map((h) => ({ ...h, alert: JSON.parse(h.body) })).filter((h) => h.alert.traceId === traceId);
    await until("three webhook deliveries", async () => (budgetHooks().length >= 3 ? true : undefined));
    await until("three alerts on the query process's stream", async () =>
      (streamed.match(new RegExp(traceId, "g")) ?? []).length >= 3 ? true : undefined,
    );
    await new Promise((r) => setTimeout(r, 1000)); // room for a duplicate, were there one
    const delivered = budgetHooks();
    expect(delivered.map((h) => h.alert.threshold).sort((a, b) => a - b)).toEqual([50, 80, 100]);
    for (const h of delivered) {
      expect(h.signature).toBe(`sha256=${createHmac("sha256", SECRET).update(h.body).digest("hex")}`);
      expect(h.alert).toMatchObject({ kind: "budget.threshold", agent: "refund-agent", team: "alpha" });
    }
    expect((streamed.match(new RegExp(traceId, "g")) ?? []).length).toBe(3);
    reader.cancel().catch(() => {});

    const budgets = await (await api(`/api/v1/budgets?traceId=${traceId}`, viewerKey.key)).json();
    expect(budgets.budgets.find((b: any) => b.window === "run").spendUsd).toBe(0.14);
    const check = await (await api(`/api/v1/budget-check?agent=refund-agent&traceId=${traceId}`, ingestKey.key)).json();
    expect(check.allowed).toBe(false);
    const listed = await until("three stored alerts", async () => {
      const body = await (await api("/api/v1/alerts?kind=budget.threshold", viewerKey.key)).json();
      const mine = body.alerts.filter((a: any) => a.traceId === traceId);
      return mine.length >= 3 ? mine : undefined;
    });
    expect(listed.map((a: any) => a.threshold).sort((a: number, b: number) => a - b)).toEqual([50, 80, 100]);
  }, 90_000);

  it("refuses a revoked key on both collectors and on the query process", async () => {
    const key = await createKey({ name: "short-lived", role: "ingest", teams: ["alpha"] });
    const [body] = modelCallBodies({
      traceId: randomBytes(16).toString("hex"),
      agent: "x",
      requests: 1,
      perRequest: 1,
    });
    for (const c of collectors)
      await until("the new key on each collector", async () =>
        (await exportTo(c.otlp, body, key.key)).status === 200 ? true : undefined,
      );
    const del = await api(`/api/v1/keys/${key.id}`, ADMIN, { method: "DELETE" });
    expect(del.status).toBe(204);
    expect((await api("/api/v1/budget-check?agent=x", key.key)).status).toBe(401);
    for (const c of collectors) {
      const status = await until(
        "the revocation on each collector",
        async () => {
          const s = (await exportTo(c.otlp, body, key.key)).status;
          return s === 401 ? s : undefined;
        },
        10_000, // a bound, not a measurement: Redis announces the change, and keys are re-read every second
      );
      expect(status).toBe(401);
    }
    // The other keys still work everywhere.
    expect((await api("/api/v1/whoami", viewerKey.key)).status).toBe(200);
    for (const c of collectors) expect((await exportTo(c.otlp, body, ingestKey.key)).status).toBe(200);
  }, 60_000);
});
