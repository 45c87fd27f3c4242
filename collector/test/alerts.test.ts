import { createHmac } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { type Alert, alertId, alertSchema, parseAlert } from "../src/alerts/alert.ts";
import { InProcessBus } from "../src/alerts/bus.ts";
import {
  alertText,
  Deliverer,
  type DeliveryOutcome,
  memoryClaim,
  SlackSink,
  slackPayload,
  WebhookSink,
} from "../src/alerts/sinks.ts";

function budgetAlert(over: Partial<Alert> = {}): Alert {
  const scope = { type: "agent" as const, name: "refund-agent", window: "day" as const };
  return {
    id: alertId({ kind: "budget.threshold", scope, windowKey: "2026-11-24", threshold: 80 }),
    kind: "budget.threshold",
    time: "2026-11-24T10:00:00.000Z",
    agent: "refund-agent",
    team: "cx",
    scope,
    threshold: 80,
    spendUsd: 4,
    limitUsd: 5,
    ...over,
  };
}

function policyAlert(over: Partial<Alert> = {}): Alert {
  const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
  const spanId = "00f067aa0ba902b7";
  return {
    id: alertId({ kind: "policy.model_not_allowed", traceId, spanId }),
    kind: "policy.model_not_allowed",
    time: "2026-11-24T10:00:01.000Z",
    agent: "refund-agent",
    team: "cx",
    traceId,
    spanId,
    model: "gpt-4o",
    ...over,
  };
}

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A real HTTP receiver on 127.0.0.1; `respond` picks the status of the n-th request (1-based). */
async function receiver(respond: (n: number) => number | Promise<number> = () => 200) {
  const requests: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", async () => {
      requests.push({ headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
      const status = await respond(requests.length);
      res.writeHead(status, { "content-type": "text/plain" }).end(status < 300 ? "ok" : "nope");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function track<T extends { close(): Promise<void> | void }>(x: T): Promise<T> {
  cleanups.push(() => x.close());
  return x;
}

describe("alert ids and schema", () => {
  it("computes the same id for the same event and different ids for different events", () => {
    const scope = { type: "agent" as const, name: "refund-agent", window: "day" as const };
    const a = alertId({ kind: "budget.threshold", scope, windowKey: "2026-11-24", threshold: 80 });
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(alertId({ kind: "budget.threshold", scope: { ...scope }, windowKey: "2026-11-24", threshold: 80 })).toBe(a);
    const others = [
      alertId({ kind: "budget.threshold", scope, windowKey: "2026-11-24", threshold: 100 }),
      alertId({ kind: "budget.threshold", scope, windowKey: "2026-11-25", threshold: 80 }),
      alertId({ kind: "budget.threshold", scope: { ...scope, type: "team" }, windowKey: "2026-11-24", threshold: 80 }),
      alertId({
        kind: "budget.threshold",
        scope: { ...scope, window: "month" },
        windowKey: "2026-11-24",
        threshold: 80,
      }),
    ];
    expect(new Set([a, ...others]).size).toBe(5);
    const p = alertId({ kind: "policy.tool_not_approved", traceId: "t1", spanId: "s1" });
    expect(alertId({ kind: "policy.tool_not_approved", traceId: "t1", spanId: "s1" })).toBe(p);
    expect(alertId({ kind: "policy.model_not_allowed", traceId: "t1", spanId: "s1" })).not.toBe(p);
    expect(alertId({ kind: "policy.tool_not_approved", traceId: "t1", spanId: "s2" })).not.toBe(p);
  });

  it("validates alerts with the zod schema", () => {
    expect(parseAlert(JSON.parse(JSON.stringify(budgetAlert())))).toEqual(budgetAlert());
    expect(alertSchema.safeParse({ ...budgetAlert(), kind: "budget.other" }).success).toBe(false);
    expect(alertSchema.safeParse({ ...budgetAlert(), time: "yesterday" }).success).toBe(false);
    expect(
      alertSchema.safeParse({ ...budgetAlert(), scope: { type: "agent", name: "x", window: "week" } }).success,
    ).toBe(false);
  });
});

describe("InProcessBus", () => {
  it("delivers to every handler, isolates throwing handlers and unsubscribes", async () => {
    const bus = await track(new InProcessBus());
    const got: string[] = [];
    bus.subscribe(() => {
      throw new Error("boom");
    });
    bus.subscribe(async () => {
      throw new Error("async boom");
    });
    const off = bus.subscribe((a) => {
      got.push(`a:${a.kind}`);
    });
    bus.subscribe((a) => {
      got.push(`b:${a.kind}`);
    });
    await expect(bus.publish(budgetAlert())).resolves.toBeUndefined();
    off();
    await bus.publish(policyAlert());
    expect(got).toEqual(["a:budget.threshold", "b:budget.threshold", "b:policy.model_not_allowed"]);
  });
});

describe("Slack text", () => {
  it("has a readable line per kind", () => {
    expect(alertText(budgetAlert())).toBe(
      ":warning: refund-agent (team cx) reached 80 % of its daily budget: $4.00 of $5.00",
    );
    expect(
      alertText(
        budgetAlert({
          scope: { type: "team", name: "cx", window: "month" },
          threshold: 100,
          spendUsd: 250,
          limitUsd: 250,
        }),
      ),
    ).toBe(":rotating_light: team cx reached 100 % of its monthly budget: $250.00 of $250.00");
    expect(alertText(policyAlert())).toContain("refund-agent (team cx) used model gpt-4o");
    expect(
      alertText(policyAlert({ kind: "policy.tool_not_approved", model: undefined, tool: "delete_user" })),
    ).toContain("called tool delete_user, which is not an approved tool");
    expect(slackPayload(budgetAlert()).blocks.length).toBeGreaterThan(0);
  });
});

describe("Deliverer with webhook and Slack sinks", () => {
  it("signs webhook bodies, sends the alert id header, and delivers each alert once per sink", async () => {
    const secret = "s3cret";
    const hook = await track(await receiver());
    const slack = await track(await receiver());
    const bus = await track(new InProcessBus());
    const outcomes: DeliveryOutcome[] = [];
    const d = await track(
      new Deliverer({
        bus,
        sinks: [
          new WebhookSink({ url: hook.url, secret, name: "hook" }),
          new SlackSink({ url: slack.url, name: "slack" }),
        ],
        onOutcome: (o) => outcomes.push(o),
      }),
    );
    const alerts = [budgetAlert(), policyAlert()];
    for (const a of alerts) await bus.publish(a);
    await bus.publish(alerts[0]); // a duplicate (e.g. a retried batch) is not delivered again
    await d.idle();

    expect(hook.requests).toHaveLength(2);
    const bodies = hook.requests.map((r) => JSON.parse(r.body) as Alert).sort((x, y) => x.kind.localeCompare(y.kind));
    expect(bodies).toEqual(alerts);
    for (const r of hook.requests) {
      expect(r.headers["content-type"]).toBe("application/json");
      const expected = `sha256=${createHmac("sha256", secret).update(r.body).digest("hex")}`;
      expect(r.headers["x-cognive-signature"]).toBe(expected);
      expect(r.headers["x-cognive-signature"]).not.toBe(
        `sha256=${createHmac("sha256", "other").update(r.body).digest("hex")}`,
      );
      expect(r.headers["x-cognive-alert-id"]).toBe((JSON.parse(r.body) as Alert).id);
    }

    expect(slack.requests).toHaveLength(2);
    const texts = slack.requests.map((r) => (JSON.parse(r.body) as { text: string }).text);
    const budgetText = texts.find((t) => t.includes("budget"));
    expect(budgetText).toContain("refund-agent");
    expect(budgetText).toContain("80 %");
    expect(slack.requests[0].headers["content-type"]).toBe("application/json");
    expect(slack.requests[0].headers["x-cognive-signature"]).toBeUndefined();

    expect(outcomes).toHaveLength(4);
    expect(outcomes.every((o) => o.status === "delivered" && o.attempts === 1)).toBe(true);
    expect(new Set(outcomes.map((o) => `${o.alertId}/${o.sink}`)).size).toBe(4);
  });

  it("sends no signature header without a secret", async () => {
    const hook = await track(await receiver());
    const d = await track(new Deliverer({ sinks: [new WebhookSink({ url: hook.url })] }));
    d.enqueue(budgetAlert());
    await d.idle();
    expect(hook.requests).toHaveLength(1);
    expect(hook.requests[0].headers["x-cognive-signature"]).toBeUndefined();
    expect(hook.requests[0].headers["x-cognive-alert-id"]).toBe(budgetAlert().id);
  });

  it("retries a failing endpoint with increasing backoff and delivers on the 3rd attempt", async () => {
    const hook = await track(await receiver((n) => (n <= 2 ? 500 : 200)));
    const sleeps: number[] = [];
    const outcomes: DeliveryOutcome[] = [];
    const d = await track(
      new Deliverer({
        sinks: [new WebhookSink({ url: hook.url, name: "hook" })],
        baseDelayMs: 10,
        sleep: async (ms) => {
          sleeps.push(ms);
        },
        onOutcome: (o) => outcomes.push(o),
      }),
    );
    d.enqueue(budgetAlert());
    await d.idle();
    expect(hook.requests).toHaveLength(3);
    expect(outcomes).toEqual([{ alertId: budgetAlert().id, sink: "hook", status: "delivered", attempts: 3 }]);
    expect(sleeps).toHaveLength(2);
    expect(sleeps[1]).toBeGreaterThan(sleeps[0]);
    expect(sleeps).toEqual([10, 20]);
  });

  it("reports failed after all attempts against an always-500 endpoint", async () => {
    const hook = await track(await receiver(() => 500));
    const sleeps: number[] = [];
    const outcomes: DeliveryOutcome[] = [];
    const d = await track(
      new Deliverer({
        sinks: [new WebhookSink({ url: hook.url, name: "hook" })],
        attempts: 4,
        baseDelayMs: 5,
        sleep: async (ms) => {
          sleeps.push(ms);
        },
        onOutcome: (o) => outcomes.push(o),
      }),
    );
    d.enqueue(policyAlert());
    await d.idle();
    expect(hook.requests).toHaveLength(4);
    expect(outcomes).toHaveLength(1);
    expect(outcomes[0]).toMatchObject({ alertId: policyAlert().id, sink: "hook", status: "failed", attempts: 4 });
    expect(outcomes[0].lastError).toContain("500");
    expect(sleeps).toEqual([5, 10, 20]);
  });

  it("caps the backoff at maxDelayMs and defaults to 5 attempts from 500 ms", () => {
    const d = new Deliverer({ sinks: [], baseDelayMs: 100, maxDelayMs: 250 });
    expect([1, 2, 3, 4].map((n) => d.backoff(n))).toEqual([100, 200, 250, 250]);
    const def = new Deliverer({ sinks: [] });
    expect([1, 2, 3, 4].map((n) => def.backoff(n))).toEqual([500, 1000, 2000, 4000]);
  });

  it("times a request out and counts it as a failed attempt", async () => {
    const hook = await track(await receiver(() => new Promise<number>(() => {}))); // never answers
    const outcomes: DeliveryOutcome[] = [];
    const d = await track(
      new Deliverer({
        sinks: [new WebhookSink({ url: hook.url, name: "hook" })],
        attempts: 2,
        timeoutMs: 50,
        sleep: async () => {},
        onOutcome: (o) => outcomes.push(o),
      }),
    );
    d.enqueue(budgetAlert());
    await d.idle();
    expect(outcomes).toHaveLength(1);
    expect(outcomes[0]).toMatchObject({ status: "failed", attempts: 2 });
    expect(outcomes[0].lastError).toMatch(/timeout|abort/i);
  });

  it("never blocks the publisher on a slow sink", async () => {
    let release!: () => void;
    const gate = new Promise<number>((resolve) => {
      release = () => resolve(200);
    });
    const hook = await track(await receiver(() => gate));
    const bus = await track(new InProcessBus());
    const outcomes: DeliveryOutcome[] = [];
    const d = await track(
      new Deliverer({ bus, sinks: [new WebhookSink({ url: hook.url })], onOutcome: (o) => outcomes.push(o) }),
    );
    await bus.publish(budgetAlert()); // resolves although the receiver has not answered
    expect(outcomes).toHaveLength(0);
    expect(d.pending).toBe(1);
    release();
    await d.idle();
    expect(outcomes.map((o) => o.status)).toEqual(["delivered"]);
  });

  it("drops and counts alerts beyond the queue capacity", async () => {
    let release!: () => void;
    const gate = new Promise<number>((resolve) => {
      release = () => resolve(200);
    });
    const hook = await track(await receiver(() => gate));
    const d = await track(
      new Deliverer({ sinks: [new WebhookSink({ url: hook.url })], concurrency: 1, queueCapacity: 1 }),
    );
    expect(d.enqueue(budgetAlert({ id: "a1" }))).toBe(true); // in flight
    expect(d.enqueue(budgetAlert({ id: "a2" }))).toBe(true); // queued
    expect(d.enqueue(budgetAlert({ id: "a3" }))).toBe(false); // dropped
    expect(d.dropped).toBe(1);
    release();
    await d.idle();
    expect(hook.requests.map((r) => r.headers["x-cognive-alert-id"])).toEqual(["a1", "a2"]);
  });

  it("two deliverers sharing one claim function deliver an alert once", async () => {
    const hook = await track(await receiver());
    const claim = memoryClaim();
    const claims: string[] = [];
    const shared = async (id: string, sink: string) => {
      claims.push(id);
      return claim(id, sink);
    };
    // two collectors, each subscribed to the alert bus, each receiving the same alert
    const bus = await track(new InProcessBus());
    const outcomes: DeliveryOutcome[] = [];
    const sink = () => new WebhookSink({ url: hook.url, name: "hook" });
    const d1 = await track(new Deliverer({ bus, sinks: [sink()], claim: shared, onOutcome: (o) => outcomes.push(o) }));
    const d2 = await track(new Deliverer({ bus, sinks: [sink()], claim: shared, onOutcome: (o) => outcomes.push(o) }));
    await bus.publish(budgetAlert());
    await bus.publish(policyAlert());
    await Promise.all([d1.idle(), d2.idle()]);
    expect(claims).toHaveLength(4);
    expect(hook.requests.map((r) => r.headers["x-cognive-alert-id"]).sort()).toEqual(
      [budgetAlert().id, policyAlert().id].sort(),
    );
    expect(outcomes).toHaveLength(2);
  });

  it("delivers anyway when the claim function fails", async () => {
    const hook = await track(await receiver());
    const d = await track(
      new Deliverer({
        sinks: [new WebhookSink({ url: hook.url })],
        claim: async () => {
          throw new Error("redis down");
        },
      }),
    );
    d.enqueue(budgetAlert());
    await d.idle();
    expect(hook.requests).toHaveLength(1);
  });
});
