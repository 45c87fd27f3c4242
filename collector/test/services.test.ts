import { Redis } from "ioredis";
import { connect } from "nats";
import { describe, expect, it } from "vitest";
import { missingService, startNats, startRedis } from "./support/services.ts";

describe.skipIf(missingService("redis-server"))("test Redis server", () => {
  it("starts on its own port, answers, stops and starts again", async () => {
    const redis = await startRedis();
    const client = new Redis(redis.url, { maxRetriesPerRequest: 1, lazyConnect: true });
    client.on("error", () => {}); // reconnect noise while the server is down
    try {
      await client.connect();
      expect(await client.ping()).toBe("PONG");
      await client.incrbyfloat("k", 1.5);
      await redis.stop();
      await expect(client.get("k")).rejects.toThrow();
      await redis.start();
      // a fresh server: state is gone, the client reconnects by itself
      expect(await client.get("k")).toBeNull();
    } finally {
      client.disconnect();
      await redis.stop();
    }
  });
});

describe.skipIf(missingService("nats-server"))("test NATS server", () => {
  it("delivers a published message to a subscriber", async () => {
    const nats = await startNats();
    const nc = await connect({ servers: nats.url });
    try {
      const sub = nc.subscribe("cognive.test");
      nc.publish("cognive.test", new TextEncoder().encode("hello"));
      for await (const m of sub) {
        expect(new TextDecoder().decode(m.data)).toBe("hello");
        break;
      }
    } finally {
      await nc.close();
      await nats.stop();
    }
  });
});
