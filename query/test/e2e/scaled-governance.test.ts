import type { ChildProcess } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { missingService, type Service, startNats, startRedis } from "../../../collector/test/support/services.ts";
import { postRaw } from "../helpers/http.ts";
import { modelCallBodies } from "../helpers/otlp-json.ts";
import { freePort, spawnCognive, stopProcess } from "../helpers/process.ts";
import { getJson } from "../helpers/server.ts";
import { startWebhookReceiver, type WebhookHit } from "../helpers/webhook.ts";

const SECRET = "hmac-secret";
const skip = missingService("redis-server") ?? missingService("nats-server");

describe.skipIf(skip)("two collectors sharing Redis and NATS", () => {
  const dir = mkdtempSync(join(tmpdir(), "cognive-scaled-"));
  let hooks: WebhookHit[] = [];
  const natsAlerts: any[] = [];
  let redis: Service;
  let nats: Service;
  let hook: Awaited<ReturnType<typeof startWebhookReceiver>>;
  let nc: NatsConnection;
  const collectors: { proc: ChildProcess; otlp: string; api: string }[] = [];

  beforeAll(async () => {
    [redis, nats] = await Promise.all([startRedis(), startNats()]);
    hook = await startWebhookReceiver();
    hooks = hook.hits;
    const policy = join(dir, "policy.yaml");
    writeFileSync(
      policy,
      `agents:
  refund-agent:
    budgets: { per_run_usd: 0.1 }
alerts:
  sinks:
    - { type: webhook, url: "${hook.url}", secret: "${SECRET}" }
`,
    );
    nc = await connect({ servers: nats.url });
    const sub = nc.subscribe("cognive.alerts.>");
    (async () => {
      for await (const m of sub) natsAlerts.push(JSON.parse(new TextDecoder().decode(m.data)));
    })();
    for (let i = 0; i < 2; i++) {
      const env = {
        COGNIVE_DATA_DIR: join(dir, `data-${i}`),
        COGNIVE_OTLP_PORT: String(await freePort()),
        COGNIVE_PORT: String(await freePort()),
        COGNIVE_POLICY: policy,
        REDIS_URL: redis.url,
        NATS_URL: nats.url,
      };
      const proc = await spawnCognive(env);
      collectors.push({
        proc,
        otlp: `http://127.0.0.1:${env.COGNIVE_OTLP_PORT}`,
        api: `http://127.0.0.1:${env.COGNIVE_PORT}`,
      });
    }
  }, 120_000);

  afterAll(async () => {
    await Promise.all(collectors.map((c) => stopProcess(c.proc)));
    await nc?.close();
    await Promise.all([redis?.stop(), nats?.stop()]);
    await hook?.close();
    rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
  });

  it("counts one run's spend exactly across both and fires each threshold once, on webhooks and NATS", async () => {
    const traceId = randomBytes(16).toString("hex");
    // 40 gpt-4o calls of 1,000 in / 100 out ($0.0035 each, $0.14 in all) against a $0.10 run budget,
    // sent as 20 requests of 2 spans, alternating between the two collectors, all at once.
    const requests = modelCallBodies({ traceId, agent: "refund-agent", requests: 20, perRequest: 2 });
    const answers = await Promise.all(
      requests.map((body, r) =>
        postRaw(`${collectors[r % 2].otlp}/v1/traces`, body, { "content-type": "application/json" }),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual(requests.map(() => 200));

    const deadline = Date.now() + 15_000;
    while (hooks.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 500)); // room for a duplicate, were there one
    const budget = hooks.map((h) => ({ ...h, alert: JSON.parse(h.body) }));
    expect(budget.map((h) => h.alert.threshold).sort((a, b) => a - b)).toEqual([50, 80, 100]);
    for (const h of budget) {
      expect(h.signature).toBe(`sha256=${createHmac("sha256", SECRET).update(h.body).digest("hex")}`);
      expect(h.alert).toMatchObject({ kind: "budget.threshold", agent: "refund-agent", traceId });
    }
    expect(
      natsAlerts
        .filter((a) => a.traceId === traceId)
        .map((a) => a.threshold)
        .sort((a, b) => a - b),
    ).toEqual([50, 80, 100]);

    // Both collectors read the same, exact run spend from Redis.
    for (const c of collectors) {
      const b = await getJson(`${c.api}/api/v1/budgets?traceId=${traceId}`);
      const run = b.body.budgets.find((x: any) => x.window === "run");
      expect(run.spendUsd).toBe(0.14);
      const check = await getJson(`${c.api}/api/v1/budget-check?agent=refund-agent&traceId=${traceId}`);
      expect(check.body.allowed).toBe(false);
    }
  }, 60_000);
});
