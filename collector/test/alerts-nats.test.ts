import { createConnection, createServer, type Server, type Socket } from "node:net";
import { connect, type NatsConnection, type Subscription } from "nats";
import { afterEach, describe, expect, it } from "vitest";
import { type Alert, alertId } from "../src/alerts/alert.ts";
import { NatsBus } from "../src/alerts/bus.ts";
import { missingService, type Service, startNats } from "./support/services.ts";

function alertNo(i: number): Alert {
  const scope = { type: "agent" as const, name: `agent-${i}`, window: "day" as const };
  return {
    id: alertId({ kind: "budget.threshold", scope, windowKey: "2026-11-24", threshold: 80 }),
    kind: "budget.threshold",
    time: "2026-11-24T10:00:00.000Z",
    agent: scope.name,
    team: "cx",
    scope,
    threshold: 80,
    spendUsd: 4,
    limitUsd: 5,
  };
}

/**
 * A TCP gate in front of NATS for the bus under test: while closed it refuses connections, so the
 * test decides when the bus can reach a (restarted) server — after the test's own subscriber is
 * subscribed, since NATS core only delivers to subscriptions that exist at publish time.
 */
async function gate(target: number) {
  const sockets = new Set<Socket>();
  let open = false;
  const server: Server = createServer((client) => {
    if (!open) {
      client.destroy();
      return;
    }
    const upstream = createConnection({ host: "127.0.0.1", port: target });
    sockets.add(client);
    sockets.add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `nats://127.0.0.1:${port}`,
    set open(v: boolean) {
      open = v;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

async function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Collects messages of a plain NATS subscription. */
function collect(sub: Subscription) {
  const got: { subject: string; data: string }[] = [];
  void (async () => {
    for await (const m of sub) got.push({ subject: m.subject, data: new TextDecoder().decode(m.data) });
  })();
  return got;
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function plainClient(url: string): Promise<NatsConnection> {
  const nc = await connect({ servers: url });
  cleanups.push(() => nc.close());
  return nc;
}

async function natsServer(): Promise<Service> {
  const s = await startNats();
  cleanups.push(() => s.stop());
  return s;
}

function bus(servers: string, capacity?: number): NatsBus {
  const b = new NatsBus({ servers, capacity, reconnectTimeWait: 20 });
  cleanups.push(() => b.close());
  return b;
}

describe.skipIf(missingService("nats-server"))("NatsBus on a real NATS server", { timeout: 30_000 }, () => {
  it("publishes on cognive.alerts.<kind> with the alert as JSON; NatsBus.subscribe receives it too", async () => {
    const nats = await natsServer();
    const nc = await plainClient(nats.url);
    const got = collect(nc.subscribe("cognive.alerts.budget.threshold"));
    const all = collect(nc.subscribe("cognive.alerts.>"));
    await nc.flush();

    const b = bus(nats.url);
    const viaBus: Alert[] = [];
    b.subscribe((a) => {
      viaBus.push(a);
    });
    b.subscribe(() => {
      throw new Error("a broken handler does not affect others");
    });
    await until(() => b.isConnected, "the bus to connect");

    const alert = { ...alertNo(1), traceId: "4bf92f3577b34da6a3ce929d0e0e4736" };
    await b.publish(alert);
    const policy: Alert = {
      id: alertId({ kind: "policy.tool_not_approved", traceId: "t", spanId: "s" }),
      kind: "policy.tool_not_approved",
      time: "2026-11-24T10:00:00.000Z",
      agent: "refund-agent",
      team: "cx",
      tool: "delete_user",
    };
    await b.publish(policy);

    await until(() => got.length >= 1 && all.length >= 2 && viaBus.length >= 2, "the alerts to arrive");
    expect(got).toEqual([{ subject: "cognive.alerts.budget.threshold", data: JSON.stringify(alert) }]);
    expect(JSON.parse(got[0].data)).toEqual(alert);
    expect(all.map((m) => m.subject)).toEqual([
      "cognive.alerts.budget.threshold",
      "cognive.alerts.policy.tool_not_approved",
    ]);
    expect(viaBus).toEqual([alert, policy]);
    expect(b.pending).toBe(0);
  });

  it("ignores malformed messages on the alert subjects", async () => {
    const nats = await natsServer();
    const b = bus(nats.url);
    const viaBus: Alert[] = [];
    b.subscribe((a) => {
      viaBus.push(a);
    });
    await until(() => b.isConnected, "the bus to connect");
    const nc = await plainClient(nats.url);
    await nc.flush();
    nc.publish("cognive.alerts.budget.threshold", new TextEncoder().encode("not json"));
    nc.publish("cognive.alerts.budget.threshold", new TextEncoder().encode(JSON.stringify({ kind: "nope" })));
    // same connection as the bad ones, so it arrives after them: once it is in, they have been handled
    nc.publish("cognive.alerts.budget.threshold", new TextEncoder().encode(JSON.stringify(alertNo(7))));
    await until(() => viaBus.length >= 1, "the valid alert");
    expect(viaBus).toEqual([alertNo(7)]);
  });

  it("queues alerts while NATS is down at start-up and delivers each once when it comes up", async () => {
    const nats = await natsServer();
    await nats.stop();
    const g = await gate(nats.port);
    cleanups.push(() => g.close());
    const b = bus(g.url);

    for (const i of [1, 2, 3]) await expect(b.publish(alertNo(i))).resolves.toBeUndefined();
    expect(b.pending).toBe(3);
    expect(b.dropped).toBe(0);
    expect(b.isConnected).toBe(false);

    await nats.start();
    const nc = await plainClient(nats.url);
    const got = collect(nc.subscribe("cognive.alerts.>"));
    await nc.flush();
    g.open = true; // NATS reachable for the bus now

    await until(() => b.isConnected && b.pending === 0, "the bus to connect and flush");
    // a marker published after the flush: once it arrives, everything flushed before it has too
    await b.publish(alertNo(99));
    await until(() => got.some((m) => JSON.parse(m.data).id === alertNo(99).id), "the marker");
    expect(got.map((m) => JSON.parse(m.data))).toEqual([alertNo(1), alertNo(2), alertNo(3), alertNo(99)]);
  });

  it("queues alerts after NATS goes away (bounded, drops counted) and flushes them on reconnect", async () => {
    const nats = await natsServer();
    const g = await gate(nats.port);
    cleanups.push(() => g.close());
    g.open = true;
    const b = bus(g.url, 3);
    await until(() => b.isConnected, "the bus to connect");

    g.open = false;
    await nats.stop();
    await until(() => !b.isConnected, "the bus to notice the disconnect");

    for (const i of [1, 2, 3, 4]) await expect(b.publish(alertNo(i))).resolves.toBeUndefined();
    expect(b.pending).toBe(3);
    expect(b.dropped).toBe(1);

    await nats.start();
    const nc = await plainClient(nats.url);
    const got = collect(nc.subscribe("cognive.alerts.>"));
    await nc.flush();
    g.open = true;

    await until(() => b.isConnected && b.pending === 0, "the bus to reconnect and flush");
    await b.publish(alertNo(99));
    await until(() => got.some((m) => JSON.parse(m.data).id === alertNo(99).id), "the marker");
    expect(got.map((m) => JSON.parse(m.data))).toEqual([alertNo(1), alertNo(2), alertNo(3), alertNo(99)]);
  });

  it("close() returns while NATS has never been reachable, and publish after close is a no-op", async () => {
    const nats = await natsServer();
    await nats.stop();
    const b = new NatsBus({ servers: nats.url, reconnectTimeWait: 20 });
    await b.publish(alertNo(1));
    expect(b.pending).toBe(1);
    await b.close();
    await b.publish(alertNo(2));
    expect(b.pending).toBe(1);
  });
});
