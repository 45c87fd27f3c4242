/**
 * Budget counters in Redis, shared by any number of collectors. One Lua script counts a batch of
 * spans (`addMany`; `add` is a batch of one), so de-duplication, the increments and the threshold
 * checks of a span are atomic together, and a batch costs one round trip instead of one a span.
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
  type SpanSpend,
  type SpendIncrement,
  usdToMicros,
} from "./counters.ts";
import { type BudgetWindow, windowTtlSeconds } from "./windows.ts";

/**
 * The spend of S spans, in order, in one script: per span, de-duplication, its increments and their
 * threshold checks are as atomic as one script a span was, and a batch costs one round trip.
 * KEYS: [1 .. S] span keys, [S+1 .. S+C] the batch's distinct counters.
 * ARGV: [1] span TTL s, [2] S, [3] C, [4] T, [5 .. 4+T] thresholds as the fired keys name them; per
 * counter: TTL s, limit micros ("" = none), its fired keys' prefix (`<prefix>:fired:<id>`, the key of
 * threshold t being `<prefix>:fired:<id>:<t>`); per span: m, then m × (counter index, micros).
 * Returns per span {applied (1|0), {{total, {threshold index (1-based) newly crossed, …}}, …}}; a span
 * already counted adds nothing and gets the current totals. A counter's (and a reached threshold's)
 * expiry is set once a batch, after its last increment.
 */
const ADD_MANY_LUA = `
local S = tonumber(ARGV[2])
local C = tonumber(ARGV[3])
local T = tonumber(ARGV[4])
local thr, thrText = {}, {}
for j = 1, T do
  thrText[j] = ARGV[4 + j]
  thr[j] = tonumber(ARGV[4 + j])
end
local ttl, limit, firedPrefix, touched = {}, {}, {}, {}
local a = 4 + T
for c = 1, C do
  ttl[c] = ARGV[a + 1]
  if ARGV[a + 2] ~= '' then limit[c] = tonumber(ARGV[a + 2]) end
  firedPrefix[c] = ARGV[a + 3]
  a = a + 3
end
local refreshed = {}
local out = {}
for s = 1, S do
  local m = tonumber(ARGV[a + 1])
  a = a + 1
  local res = {}
  if redis.call('SET', KEYS[s], '1', 'NX', 'EX', ARGV[1]) then
    for i = 1, m do
      local c = tonumber(ARGV[a + 1])
      local total = redis.call('INCRBY', KEYS[S + c], ARGV[a + 2])
      a = a + 2
      touched[c] = true
      local crossed = {}
      if limit[c] then
        for j = 1, T do
          if total >= thr[j] * limit[c] then
            local fk = firedPrefix[c] .. ':' .. thrText[j]
            if redis.call('SET', fk, '1', 'NX', 'EX', ttl[c]) then
              crossed[#crossed + 1] = j
              refreshed[fk] = true
            elseif not refreshed[fk] then
              redis.call('EXPIRE', fk, ttl[c])
              refreshed[fk] = true
            end
          end
        end
      end
      res[i] = {total, crossed}
    end
    out[s] = {1, res}
  else
    for i = 1, m do
      local c = tonumber(ARGV[a + 1])
      a = a + 2
      res[i] = {tonumber(redis.call('GET', KEYS[S + c]) or '0'), {}}
    end
    out[s] = {0, res}
  end
end
for c = 1, C do
  if touched[c] then redis.call('EXPIRE', KEYS[S + c], ttl[c]) end
end
return out
`;

/** Spans a script counts at most (a longer batch is split): a few ms of Redis's time. */
export const SPANS_PER_SCRIPT = 256;

/** `spends` in order, in slices a script each. */
export function* scriptBatches<T>(spends: T[]): Generator<T[]> {
  for (let i = 0; i < spends.length; i += SPANS_PER_SCRIPT) yield spends.slice(i, i + SPANS_PER_SCRIPT);
}

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

type AddReply = [number, [number, number[]][]][];

interface ScriptedRedis {
  cogniveSpendAddMany(...args: (string | number)[]): Promise<AddReply>;
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
    client.defineCommand("cogniveSpendAddMany", { lua: ADD_MANY_LUA });
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
    return this.counterKeyOf(counterId(scope, window, windowKey));
  }

  /** The Redis key marking threshold `t` of a counter as reported. */
  firedKey(scope: BudgetScope, window: BudgetWindow, windowKey: string, t: number): string {
    return `${this.firedPrefixOf(counterId(scope, window, windowKey))}:${t}`;
  }

  private counterKeyOf(id: string): string {
    return `${this.prefix}:${id}`;
  }

  /** What the keys of a counter's reported thresholds start with (the add script appends `:<t>`). */
  private firedPrefixOf(id: string): string {
    return `${this.prefix}:fired:${id}`;
  }

  spanKey(spanKey: string): string {
    return `${this.prefix}:span:${spanKey}`;
  }

  async add(spanKey: string, increments: SpendIncrement[], thresholds: number[]): Promise<CounterResult[]> {
    return (await this.addOutcome(spanKey, increments, thresholds)).results;
  }

  /** `add`, also telling whether the span key was new. */
  async addOutcome(spanKey: string, increments: SpendIncrement[], thresholds: number[]): Promise<AddOutcome> {
    const [out] = await this.addBatchOutcome([{ spanKey, increments }], thresholds);
    return out;
  }

  async addMany(spends: SpanSpend[], thresholds: number[]): Promise<CounterResult[][]> {
    const out: CounterResult[][] = [];
    for (const batch of scriptBatches(spends)) {
      for (const o of await this.addBatchOutcome(batch, thresholds)) out.push(o.results);
    }
    return out;
  }

  /**
   * The spends of up to `SPANS_PER_SCRIPT` spans in one script, in order, each telling whether its
   * span key was new. Every amount is checked before anything is sent.
   */
  async addBatchOutcome(spends: SpanSpend[], thresholds: number[]): Promise<AddOutcome[]> {
    if (spends.length > SPANS_PER_SCRIPT) throw new RangeError(`at most ${SPANS_PER_SCRIPT} spans a script`);
    if (spends.length === 0) return [];
    const ts = normalizeThresholds(thresholds);
    const counters = new Map<string, number>();
    const counterArgs: (string | number)[] = [];
    const spanArgs: (string | number)[] = [];
    for (const { increments } of spends) {
      spanArgs.push(increments.length);
      for (const inc of increments) {
        const id = counterId(inc.scope, inc.window, inc.windowKey);
        let c = counters.get(id);
        if (c === undefined) {
          c = counters.size + 1;
          counters.set(id, c);
          const limit = limitMicros(inc.limitUsd);
          counterArgs.push(windowTtlSeconds(inc.window), limit === null ? "" : limit, this.firedPrefixOf(id));
        }
        spanArgs.push(c, usdToMicros(inc.usd));
      }
    }
    const keys = [
      ...spends.map((s) => this.spanKey(s.spanKey)),
      ...[...counters.keys()].map((id) => this.counterKeyOf(id)),
    ];
    const reply = await redisTimeout(
      this.scripted.cogniveSpendAddMany(
        keys.length,
        ...keys,
        this.spanTtl,
        spends.length,
        counters.size,
        ts.length,
        ...ts.map(String),
        ...counterArgs,
        ...spanArgs,
      ),
      this.timeoutMs,
    );
    return reply.map(([applied, out]) => ({
      applied: applied === 1,
      results: out.map(([total, crossed]) => ({
        totalUsd: microsToUsd(total),
        totalMicros: total,
        crossed: crossed.map((j) => ts[j - 1]),
      })),
    }));
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
