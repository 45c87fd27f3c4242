import type { Redis } from "ioredis";
import { redisTimeout } from "../governance/counters-redis.ts";

/** The outcome of taking from a token bucket. */
export interface Take {
  allowed: boolean;
  /** Seconds until enough tokens are back (0 when allowed). */
  retryAfterSeconds: number;
  /** Tokens left after this take. */
  remaining: number;
}

/**
 * Token buckets per key: `rate` tokens a second, holding at most `burst`. A take of `cost` tokens
 * (1 for a request, the span count for ingest) succeeds when the bucket holds that many.
 */
export interface RateLimiter {
  take(bucket: string, rate: number, burst: number, cost?: number): Promise<Take>;
  close(): Promise<void>;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class MemoryRateLimiter implements RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  constructor(private readonly now: () => number = () => performance.now() / 1000) {}

  async take(bucket: string, rate: number, burst: number, cost = 1): Promise<Take> {
    return this.takeNow(bucket, rate, burst, cost);
  }

  takeNow(bucket: string, rate: number, burst: number, cost = 1): Take {
    const now = this.now();
    const b = this.buckets.get(bucket) ?? { tokens: burst, at: now };
    b.tokens = Math.min(burst, b.tokens + (now - b.at) * rate);
    b.at = now;
    this.buckets.set(bucket, b);
    if (this.buckets.size > 100_000) this.prune(now);
    // A take larger than the bucket passes when the bucket is full (one big export is not refused forever).
    const need = Math.min(cost, burst);
    if (b.tokens >= need) {
      b.tokens -= cost;
      return { allowed: true, retryAfterSeconds: 0, remaining: Math.max(0, b.tokens) };
    }
    return { allowed: false, retryAfterSeconds: (need - b.tokens) / rate, remaining: Math.max(0, b.tokens) };
  }

  private prune(now: number): void {
    for (const [k, b] of this.buckets) if (now - b.at > 600) this.buckets.delete(k);
  }

  async close(): Promise<void> {}
}

/** Shared by every process on one Redis: the limit holds for all of them together. */
const TAKE_LUA = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1]) or burst
local at = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local need = math.min(cost, burst)
local allowed = 0
local wait = 0
if tokens >= need then
  tokens = tokens - cost
  allowed = 1
else
  wait = (need - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 60)
return {allowed, tostring(wait), tostring(math.max(0, tokens))}
`;

interface ScriptedRedis {
  cogniveRateTake(key: string, rate: number, burst: number, cost: number): Promise<[number, string, string]>;
}

/** Redis token buckets; while Redis does not answer, each process limits on its own. */
export class RedisRateLimiter implements RateLimiter {
  private readonly local = new MemoryRateLimiter();
  constructor(
    private readonly client: Redis,
    private readonly prefix = "cognive:rate",
    private readonly timeoutMs = 200,
  ) {
    client.defineCommand("cogniveRateTake", { numberOfKeys: 1, lua: TAKE_LUA });
  }

  async take(bucket: string, rate: number, burst: number, cost = 1): Promise<Take> {
    try {
      const [allowed, wait, remaining] = await redisTimeout(
        (this.client as unknown as ScriptedRedis).cogniveRateTake(`${this.prefix}:${bucket}`, rate, burst, cost),
        this.timeoutMs,
      );
      return { allowed: allowed === 1, retryAfterSeconds: Number(wait), remaining: Number(remaining) };
    } catch {
      return this.local.takeNow(bucket, rate, burst, cost);
    }
  }

  async close(): Promise<void> {
    this.client.disconnect();
  }
}
