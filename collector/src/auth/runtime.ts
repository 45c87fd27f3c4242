import { hostname } from "node:os";
import { Redis } from "ioredis";
import { authMode, type EnvConfig, isLoopback } from "../config.ts";
import type { Logger } from "../log.ts";
import type { Storage } from "../storage/client.ts";
import { AuditLog } from "./audit.ts";
import { keyFromAuthorization } from "./keys.ts";
import { MemoryRateLimiter, type RateLimiter, RedisRateLimiter, type Take } from "./ratelimit.ts";
import { type ApiKey, type Identity, type KeyRegistry, KeyStore, type RateLimit } from "./store.ts";

/** Key records (hashes, never keys) in one Redis hash, so every process sharing Redis knows them. */
function redisKeyRegistry(client: Redis): KeyRegistry {
  const HASH = "cognive:keys";
  return {
    async put(hash, key) {
      await client.hset(HASH, key.id, JSON.stringify({ hash, key }));
    },
    async all() {
      const rows = await client.hvals(HASH);
      return rows.map((r) => JSON.parse(r) as { hash: string; key: ApiKey });
    },
  };
}

/** The caller when keys are not required: everything, as before keys existed. */
export const ANONYMOUS: Identity = Object.freeze({
  keyId: "anonymous",
  name: "anonymous",
  role: "admin",
  teams: "all",
  rateLimit: { requestsPerSecond: null, spansPerSecond: null },
}) as Identity;

export type AuthOutcome = { ok: true; identity: Identity } | { ok: false; reason: string };

/** Keys, rate limits and the audit log of one process, wired together. */
export interface AuthRuntime {
  mode: "off" | "required";
  keys: KeyStore;
  audit: AuditLog;
  /** Who sent this `Authorization` header; `source` is the client address (for failed-attempt audits). */
  check(authorization: string | undefined | null, source: string): AuthOutcome;
  /** Takes from the caller's request (or span) bucket; always allowed when no limit applies. */
  limit(identity: Identity, kind: "requests" | "spans", cost?: number): Promise<Take>;
  /** Rate-limited requests so far, by kind (a metric). */
  readonly limited: { requests: number; spans: number };
  close(): Promise<void>;
}

const UNLIMITED: Take = Object.freeze({ allowed: true, retryAfterSeconds: 0, remaining: Number.POSITIVE_INFINITY });
/** Failed sign-ins from one address in a minute beyond which one audit entry is written. */
const FAILURE_BURST = 20;

export async function startAuth(deps: { storage: Storage; config: EnvConfig; log: Logger }): Promise<AuthRuntime> {
  const { storage, config, log } = deps;
  const mode = authMode(config);
  const keys = new KeyStore(storage, log);
  if (config.COGNIVE_ADMIN_KEY) keys.setEnvAdminKey(config.COGNIVE_ADMIN_KEY);
  await keys.start();
  const audit = new AuditLog(storage, config.COGNIVE_INSTANCE ?? hostname());

  let limiter: RateLimiter = new MemoryRateLimiter();
  let subscriber: Redis | null = null;
  if (config.REDIS_URL) {
    const client = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
    client.on("error", () => {});
    limiter = new RedisRateLimiter(client);
    // A key created or revoked in one process is re-read at once by the others.
    subscriber = new Redis(config.REDIS_URL);
    subscriber.on("error", () => {});
    subscriber.on("message", () => {
      keys.reload().catch(() => {});
    });
    // Not awaited: with Redis down at start this would wait for it; the 1 s reload covers the gap.
    subscriber.subscribe("cognive:keys").catch(() => {});
    keys.onChange = () => {
      client.publish("cognive:keys", "changed").catch(() => {});
    };
    keys.registry = redisKeyRegistry(client);
    await keys.reload().catch(() => {});
  }

  if (mode === "off") {
    if (isLoopback(config.COGNIVE_HOST)) {
      log.warn("keys are not required: anyone on this machine can read and write (set COGNIVE_AUTH=required)");
    } else {
      log.warn(
        "COGNIVE_AUTH=off on a non-loopback address: ANYONE WHO CAN REACH THIS HOST CAN READ EVERY TEAM'S DATA AND WRITE AS ANY TEAM",
        { host: config.COGNIVE_HOST },
      );
    }
  }

  const defaults: RateLimit = {
    requestsPerSecond: config.COGNIVE_RATE_LIMIT_RPS > 0 ? config.COGNIVE_RATE_LIMIT_RPS : null,
    spansPerSecond: config.COGNIVE_RATE_LIMIT_SPANS_PER_SECOND > 0 ? config.COGNIVE_RATE_LIMIT_SPANS_PER_SECOND : null,
  };
  const failures = new Map<string, { count: number; since: number; audited: boolean }>();
  const limited = { requests: 0, spans: 0 };

  const failed = (source: string, reason: string): AuthOutcome => {
    const now = Date.now();
    let f = failures.get(source);
    if (!f || now - f.since > 60_000) {
      f = { count: 0, since: now, audited: false };
      failures.set(source, f);
      if (failures.size > 10_000) failures.clear();
    }
    f.count++;
    if (f.count >= FAILURE_BURST && !f.audited) {
      f.audited = true;
      audit
        .append({
          actor: { id: "", name: "unauthenticated" },
          source,
          action: "auth.failures",
          target: source,
          details: { failures: f.count, withinSeconds: Math.round((now - f.since) / 1000) },
        })
        .catch((err) => log.warn("audit: could not record failed sign-ins", { err }));
    }
    return { ok: false, reason };
  };

  return {
    mode,
    keys,
    audit,
    limited,
    check(authorization, source) {
      const presented = keyFromAuthorization(authorization);
      if (presented === null) {
        // "Bearer " with nothing after it (a provisioned header whose key is unset) is no key at all.
        const empty = !authorization || /^\s*(bearer|basic)?\s*$/i.test(authorization);
        if (!empty) return failed(source, "unsupported Authorization header: use Bearer <key> or Basic");
        return mode === "off" ? { ok: true, identity: ANONYMOUS } : { ok: false, reason: "an API key is required" };
      }
      const identity = keys.authenticate(presented);
      // The same answer for unknown, revoked and expired keys: it tells nothing about which keys exist.
      return identity === null ? failed(source, "invalid API key") : { ok: true, identity };
    },
    async limit(identity, kind, cost = 1) {
      const own = kind === "requests" ? identity.rateLimit.requestsPerSecond : identity.rateLimit.spansPerSecond;
      const rate = own ?? (kind === "requests" ? defaults.requestsPerSecond : defaults.spansPerSecond);
      if (rate === null || identity === ANONYMOUS) return UNLIMITED;
      const take = await limiter.take(`${identity.keyId}:${kind}`, rate, Math.max(1, rate), cost);
      if (!take.allowed) limited[kind]++;
      return take;
    },
    async close() {
      await keys.stop();
      await limiter.close();
      subscriber?.disconnect();
    },
  };
}
