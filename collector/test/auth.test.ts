import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuditLog, auditEntries, verifyAudit } from "../src/auth/audit.ts";
import { generateKey, hashKey, isWellFormedKey, KEY_LENGTH, keyFromAuthorization } from "../src/auth/keys.ts";
import { MemoryRateLimiter, RedisRateLimiter } from "../src/auth/ratelimit.ts";
import { KeyStore } from "../src/auth/store.ts";
import { silentLogger } from "../src/log.ts";
import type { Storage } from "../src/storage/client.ts";
import { missingService, type Service, startRedis } from "./support/services.ts";
import { openTestStorage } from "./support/storage.ts";

describe("API keys", () => {
  it("are cgv_-prefixed, 256 bits of Base62 with a checksum, and only their SHA-256 is kept", () => {
    const a = generateKey();
    const b = generateKey();
    expect(a.key).toMatch(/^cgv_[0-9A-Za-z]{49}$/);
    expect(a.key).toHaveLength(KEY_LENGTH);
    expect(a.key).not.toBe(b.key);
    expect(a.hash).toBe(hashKey(a.key));
    expect(a.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(isWellFormedKey(a.key)).toBe(true);
    // One changed character breaks the checksum: refused without a lookup.
    const typo = a.key.slice(0, 10) + (a.key[10] === "x" ? "y" : "x") + a.key.slice(11);
    expect(isWellFormedKey(typo)).toBe(false);
    expect(isWellFormedKey("cgv_short")).toBe(false);
    expect(isWellFormedKey(`ghp_${a.key.slice(4)}`)).toBe(false);
  });

  it("are read from Bearer and from Basic (as the password) headers", () => {
    const { key } = generateKey();
    expect(keyFromAuthorization(`Bearer ${key}`)).toBe(key);
    expect(keyFromAuthorization(`bearer  ${key}`)).toBe(key);
    expect(keyFromAuthorization(`Basic ${Buffer.from(`grafana:${key}`).toString("base64")}`)).toBe(key);
    expect(keyFromAuthorization(`Basic ${Buffer.from(`:${key}`).toString("base64")}`)).toBe(key);
    expect(keyFromAuthorization(`Basic ${Buffer.from("nopassword").toString("base64")}`)).toBeNull();
    expect(keyFromAuthorization(key)).toBeNull();
    expect(keyFromAuthorization(undefined)).toBeNull();
    expect(keyFromAuthorization("Digest abc")).toBeNull();
  });
});

describe("key store and audit log on real storage", () => {
  let storage: Storage;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ storage, close } = await openTestStorage("auth"));
  });
  afterAll(() => close());

  it("authenticates a created key, refuses it once revoked or expired, and another process sees the revocation on reload", async () => {
    const a = new KeyStore(storage, silentLogger);
    const b = new KeyStore(storage, silentLogger);
    await a.start();
    await b.start();
    try {
      const { key, record } = await a.create({ name: "ci", role: "viewer", teams: ["beta", "alpha", "alpha"] });
      expect(record.teams).toEqual(["alpha", "beta"]);
      expect(a.authenticate(key)).toMatchObject({ keyId: record.id, role: "viewer", teams: ["alpha", "beta"] });
      await b.reload();
      expect(b.authenticate(key)?.keyId).toBe(record.id);
      expect(b.list().find((k) => k.id === record.id)).toMatchObject({ name: "ci", revokedAt: null });
      expect(JSON.stringify(b.list())).not.toContain(key);

      await a.revoke(record.id);
      expect(a.authenticate(key)).toBeNull();
      await b.reload();
      expect(b.authenticate(key)).toBeNull();
      expect(b.list().find((k) => k.id === record.id)?.revokedAt).not.toBeNull();

      const expiring = await a.create({
        name: "short",
        role: "ingest",
        teams: ["alpha"],
        expiresAt: new Date(Date.now() + 60_000).toISOString(),
        rateLimit: { requestsPerSecond: 5 },
      });
      await b.reload();
      expect(b.authenticate(expiring.key)?.rateLimit).toEqual({ requestsPerSecond: 5, spansPerSecond: null });
      expect(b.authenticate(expiring.key, Date.now() + 61_000)).toBeNull();
      expect(a.authenticate(generateKey().key)).toBeNull();
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it("does not let a reload that read before a revocation or a creation undo it", async () => {
    const s = new KeyStore(storage, silentLogger);
    await s.start();
    try {
      const old = await s.create({ name: "old", role: "viewer", teams: ["alpha"] });
      await s.reload();
      const reading = s.reload(); // its snapshot is taken before the changes below land
      await s.revoke(old.record.id);
      const fresh = await s.create({ name: "fresh", role: "viewer", teams: ["alpha"] });
      await reading;
      expect(s.authenticate(old.key)).toBeNull();
      expect(s.authenticate(fresh.key)?.name).toBe("fresh");
    } finally {
      await s.stop();
    }
  });

  it("accepts the bootstrap admin key from the environment without storing it", async () => {
    const s = new KeyStore(storage, silentLogger);
    const { key } = generateKey();
    s.setEnvAdminKey(key);
    expect(s.authenticate(key)).toMatchObject({ role: "admin", teams: "all", name: "COGNIVE_ADMIN_KEY" });
    expect(s.list().some((k) => k.name === "COGNIVE_ADMIN_KEY")).toBe(false);
  });

  it("chains audit entries and names the first edited, deleted or reordered one", async () => {
    const log = new AuditLog(storage, "test-chain");
    const actor = { id: "key_1", name: "admin" };
    for (const target of ["k1", "k2", "k3", "k4"]) {
      await log.append({ actor, source: "127.0.0.1", action: "key.create", target, details: { role: "viewer" } });
    }
    // A second writer (another process) keeps its own chain.
    await new AuditLog(storage, "other").append({ actor, source: "local", action: "policy.load", target: "p" });
    const entries = await auditEntries(storage, new Date(Date.now() - 60_000), new Date(Date.now() + 60_000));
    const mine = entries.filter((e) => e.chain === "test-chain");
    expect(mine.map((e) => e.target)).toEqual(["k1", "k2", "k3", "k4"]);
    expect(mine[1].prevHash).toBe(mine[0].hash);
    expect(await verifyAudit(storage)).toMatchObject({ ok: true, chains: 2, entries: 5 });

    // A restarted writer continues its chain.
    await new AuditLog(storage, "test-chain").append({ actor, source: "local", action: "key.revoke", target: "k1" });
    expect((await verifyAudit(storage)).ok).toBe(true);

    await storage.client.command({
      query: `ALTER TABLE cognive.audit_log UPDATE Target = 'k9' WHERE Chain = 'test-chain' AND Seq = 3 SETTINGS mutations_sync = 2`,
    });
    const edited = await verifyAudit(storage);
    expect(edited.ok).toBe(false);
    expect(edited.broken).toMatchObject({ chain: "test-chain", seq: 3, reason: expect.stringMatching(/edited/) });

    await storage.client.command({
      query: `ALTER TABLE cognive.audit_log DELETE WHERE Chain = 'test-chain' AND Seq = 3 SETTINGS mutations_sync = 2`,
    });
    const deleted = await verifyAudit(storage);
    expect(deleted.broken).toMatchObject({ chain: "test-chain", seq: 4, reason: expect.stringMatching(/missing/) });
  });
});

describe("rate limits", () => {
  it("a token bucket lets a burst through, then refuses with the wait until the next token", () => {
    let now = 1000;
    const rl = new MemoryRateLimiter(() => now);
    const takes = Array.from({ length: 8 }, () => rl.takeNow("k", 5, 5));
    expect(takes.filter((t) => t.allowed)).toHaveLength(5);
    const refused = takes[7];
    expect(refused.allowed).toBe(false);
    expect(refused.retryAfterSeconds).toBeCloseTo(0.2, 5);
    now += 0.2;
    expect(rl.takeNow("k", 5, 5).allowed).toBe(true);
    expect(rl.takeNow("other", 5, 5).allowed).toBe(true);
    // A take larger than the bucket passes on a full bucket, then the debt must be paid back.
    expect(rl.takeNow("spans", 100, 100, 500).allowed).toBe(true);
    expect(rl.takeNow("spans", 100, 100, 1).allowed).toBe(false);
  });

  describe.skipIf(missingService("redis-server"))("shared through Redis", () => {
    let svc: Service;
    beforeAll(async () => {
      svc = await startRedis();
    });
    afterAll(() => svc?.stop());

    it("holds one limit across two processes' limiters", async () => {
      const a = new RedisRateLimiter(new Redis(svc.url), "t1");
      const b = new RedisRateLimiter(new Redis(svc.url), "t1");
      try {
        const takes = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).take("key_x", 5, 5)));
        const allowed = takes.filter((t) => t.allowed).length;
        // Five in the bucket, plus what refills while 40 requests run (a fraction of a second).
        expect(allowed).toBeGreaterThanOrEqual(5);
        expect(allowed).toBeLessThanOrEqual(8);
        expect(takes.find((t) => !t.allowed)?.retryAfterSeconds).toBeGreaterThan(0);
      } finally {
        await a.close();
        await b.close();
      }
    });
  });
});
