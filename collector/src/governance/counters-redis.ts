/**
 * Budget counters in Redis, shared by any number of collectors. Each `add` is ONE Lua script, so
 * de-duplication, the increments and the threshold checks of a span are atomic together.
 *
 * Key layout (prefix `cognive:spend` by default; `:` and `%` inside names and window keys are
 * escaped as `%3A` and `%25`):
 *
 *   cognive:spend:<type>:<name>:<window>:<windowKey>         integer micro-dollars (INCRBY), TTL of the window
 *   cognive:spend:fired:<type>:<name>:<window>:<windowKey>:<t> "1" once threshold t was reported, same TTL
 *   cognive:spend:span:<spanKey>                               "1" once the span was counted (SET NX EX)
 *
 * Amounts are integers (micro-dollars, see counters.ts): INCRBY is exact, so every collector reads
 * the very same total, whatever the order in which their increments arrived.
 */
import { Redis, type RedisOptions } from "ioredis";
import {
  type AddOutcome,
  type BudgetCounters,
  type BudgetScope,
  type CounterResult,
  counterId,
  limitMicros,
  microsToUsd,
  normalizeThresholds,
  type SeedTotal,
  type SpendIncrement,
  usdToMicros,
} from "./counters.ts";
import { type BudgetWindow, windowTtlSeconds } from "./windows.ts";

/**
 * KEYS: [1] span key, [2 .. n+1] counters, then n*T fired keys (counter-major).
 * ARGV: [1] span TTL s, [2] n, [3] T, then per counter: micros, TTL s, limit micros ("" = none), then T thresholds.
 * Returns {applied (1|0), {{total, {threshold index (1-based) newly crossed, …}}, …}}.
 */
const ADD_LUA = `
local n = tonumber(ARGV[2])
local T = tonumber(ARGV[3])
local base = 3 + 3 * n
local thr = {}
for j = 1, T do thr[j] = tonumber(ARGV[base + j]) end
local out = {}
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  for i = 1, n do out[i] = {tonumber(redis.call('GET', KEYS[1 + i]) or '0'), {}} end
  return {0, out}
end
for i = 1, n do
  local a = 3 + 3 * (i - 1)
  local key = KEYS[1 + i]
  local ttl = ARGV[a + 2]
  local total = redis.call('INCRBY', key, ARGV[a + 1])
  redis.call('EXPIRE', key, ttl)
  local crossed = {}
  if ARGV[a + 3] ~= '' then
    local limit = tonumber(ARGV[a + 3])
    for j = 1, T do
      if total >= thr[j] * limit then
        local fk = KEYS[1 + n + (i - 1) * T + j]
        if redis.call('SET', fk, '1', 'NX', 'EX', ttl) then
          crossed[#crossed + 1] = j
        else
          redis.call('EXPIRE', fk, ttl)
        end
      end
    end
  end
  out[i] = {total, crossed}
end
return {1, out}
`;

/**
 * KEYS: [1] counter, then fired keys. ARGV: [1] micros, [2] TTL s.
 * Raises the counter to the seeded total (never lowers it) and marks the fired thresholds.
 */
const SEED_LUA = `
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local v = tonumber(ARGV[1])
if v > cur then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) end
for i = 2, #KEYS do redis.call('SET', KEYS[i], '1', 'EX', ARGV[2]) end
return 1
`;

type AddReply = [number, [number, number[]][]];

interface ScriptedRedis {
  cogniveSpendAdd(...args: (string | number)[]): Promise<AddReply>;
  cogniveSpendSeed(...args: (string | number)[]): Promise<number>;
}

export interface RedisCountersOptions {
  /** Key prefix (default `cognive:spend`). */
  keyPrefix?: string;
  /** How long a counted span key is remembered, in seconds (default 3 days: retries come far sooner). */
  spanTtlSeconds?: number;
  /** How long Redis may take to answer a command, in ms (default 200); see `redisTimeout`. */
  commandTimeoutMs?: number;
}

/**
 * Rejects when Redis has not answered within `ms`, measured so that a busy event loop is not taken
 * for a slow Redis: when the timer fires after the loop was blocked, a reply that arrived meanwhile
 * is read first (immediates run after the I/O poll that delivers it), and only then is it a timeout.
 */
export function redisTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(
      () =>
        setImmediate(() => {
          if (settled) return;
          settled = true;
          reject(new Error(`Redis did not answer within ${ms} ms`));
        }),
      ms,
    );
    p.then(
      (v) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(v);
      },
      (err) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

export interface RedisConnectOptions extends RedisCountersOptions {
  /** Further ioredis options. */
  redis?: RedisOptions;
}

/**
 * The client options for counters: fail fast rather than queue while Redis is unreachable. The
 * client's own timeout is only a backstop for a dead connection: it fires on the event loop's clock,
 * so commands are timed by `redisTimeout` instead.
 */
export function counterClientOptions(commandTimeoutMs = 200, extra: RedisOptions = {}): RedisOptions {
  return {
    commandTimeout: Math.max(5_000, commandTimeoutMs * 10),
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    lazyConnect: true,
    ...extra,
  };
}

export class RedisCounters implements BudgetCounters {
  private readonly prefix: string;
  private readonly spanTtl: number;
  private readonly scripted: ScriptedRedis;
  private readonly timeoutMs: number;

  /**
   * Uses the given client (its owner closes it unless `ownsClient`). With `enableOfflineQueue: false`
   * the client must be connected before the first call, or that call fails — see `connect`.
   */
  constructor(
    readonly client: Redis,
    options: RedisCountersOptions = {},
    private readonly ownsClient = false,
  ) {
    this.prefix = options.keyPrefix ?? "cognive:spend";
    this.spanTtl = options.spanTtlSeconds ?? 3 * 86_400;
    this.timeoutMs = options.commandTimeoutMs ?? 200;
    client.defineCommand("cogniveSpendAdd", { lua: ADD_LUA });
    client.defineCommand("cogniveSpendSeed", { lua: SEED_LUA });
    this.scripted = client as unknown as ScriptedRedis;
  }

  /** A client of its own on `url` (short command timeout, no offline queue), connected. */
  static async connect(url: string, options: RedisConnectOptions = {}): Promise<RedisCounters> {
    const client = new Redis(url, counterClientOptions(options.commandTimeoutMs, options.redis));
    client.on("error", () => {}); // connection errors surface as rejected commands
    const counters = new RedisCounters(client, options, true);
    try {
      await client.connect();
    } catch (err) {
      client.disconnect();
      throw err;
    }
    return counters;
  }

  /** The Redis key of a counter. */
  counterKey(scope: BudgetScope, window: BudgetWindow, windowKey: string): string {
    return `${this.prefix}:${counterId(scope, window, windowKey)}`;
  }

  /** The Redis key marking threshold `t` of a counter as reported. */
  firedKey(scope: BudgetScope, window: BudgetWindow, windowKey: string, t: number): string {
    return `${this.prefix}:fired:${counterId(scope, window, windowKey)}:${t}`;
  }

  spanKey(spanKey: string): string {
    return `${this.prefix}:span:${spanKey}`;
  }

  async add(spanKey: string, increments: SpendIncrement[], thresholds: number[]): Promise<CounterResult[]> {
    return (await this.addOutcome(spanKey, increments, thresholds)).results;
  }

  /** `add`, also telling whether the span key was new. */
  async addOutcome(spanKey: string, increments: SpendIncrement[], thresholds: number[]): Promise<AddOutcome> {
    const ts = normalizeThresholds(thresholds);
    const keys: string[] = [this.spanKey(spanKey)];
    const fired: string[] = [];
    const argv: (string | number)[] = [this.spanTtl, increments.length, ts.length];
    for (const inc of increments) {
      const limit = limitMicros(inc.limitUsd);
      keys.push(this.counterKey(inc.scope, inc.window, inc.windowKey));
      for (const t of ts) fired.push(this.firedKey(inc.scope, inc.window, inc.windowKey, t));
      argv.push(usdToMicros(inc.usd), windowTtlSeconds(inc.window), limit === null ? "" : limit);
    }
    argv.push(...ts.map(String));
    const all = [...keys, ...fired];
    const [applied, out] = await redisTimeout(
      this.scripted.cogniveSpendAdd(all.length, ...all, ...argv),
      this.timeoutMs,
    );
    return {
      applied: applied === 1,
      results: out.map(([total, crossed]) => ({
        totalUsd: microsToUsd(total),
        totalMicros: total,
        crossed: crossed.map((j) => ts[j - 1]),
      })),
    };
  }

  async get(scope: BudgetScope, window: BudgetWindow, windowKey: string): Promise<number> {
    return microsToUsd(await this.getMicros(scope, window, windowKey));
  }

  async getMicros(scope: BudgetScope, window: BudgetWindow, windowKey: string): Promise<number> {
    const v = await redisTimeout(this.client.get(this.counterKey(scope, window, windowKey)), this.timeoutMs);
    return v === null ? 0 : Number(v);
  }

  /**
   * Seeds shared counters from authoritative totals. Redis is shared and may already hold spans that
   * storage has not seen yet, so a counter is only ever raised to the seeded total, never lowered;
   * `fired` thresholds are marked as reported.
   */
  async seed(totals: SeedTotal[]): Promise<void> {
    await Promise.all(
      totals.map((s) => {
        const keys = [
          this.counterKey(s.scope, s.window, s.windowKey),
          ...normalizeThresholds(s.fired ?? []).map((t) => this.firedKey(s.scope, s.window, s.windowKey, t)),
        ];
        return redisTimeout(
          this.scripted.cogniveSpendSeed(keys.length, ...keys, usdToMicros(s.usd), windowTtlSeconds(s.window)),
          this.timeoutMs,
        );
      }),
    );
  }

  async close(): Promise<void> {
    if (!this.ownsClient) return;
    if (this.client.status === "ready") await this.client.quit().catch(() => {});
    this.client.disconnect();
  }
}
