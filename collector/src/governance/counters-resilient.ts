/**
 * Budget counters on Redis that keep counting when Redis is unreachable.
 *
 * Normal operation: every `add` goes to Redis (`RedisCounters`, one Lua script a batch), and the local
 * `MemoryCounters` mirrors the shared totals it sees (and the span keys), so it holds a recent view.
 *
 * Outage: when a Redis call fails (server down, connection lost, or the short command timeout), the
 * add is counted in the local counters instead, a warning is logged once per outage, `fallbacks` is
 * incremented, and the increment is kept as pending. Thresholds are then judged on the local view —
 * the last shared totals seen plus local increments — so while Redis is down two collectors may
 * each report the same threshold: duplicates are possible only during an outage.
 *
 * Recovery: while in outage, each `add` (at most once per `retryIntervalMs`, and only when the client
 * is connected again) or an explicit `reconcile()` replays the pending increments through the same
 * Lua script with the same span keys, then resumes using Redis. Span keys make the replay exactly-once:
 * an add whose command timed out after Redis had run it is not counted twice. Thresholds that a
 * replay crosses in Redis are marked as fired there but not reported again (they were reported
 * locally). A Redis that restarted empty holds only what was replayed and added since; re-seed it
 * from storage (`seed`) to restore older totals.
 */

import { Redis } from "ioredis";
import { type Logger, silentLogger } from "../log.ts";
import {
  type BudgetCounters,
  type BudgetScope,
  type CounterResult,
  limitMicros,
  MemoryCounters,
  type MemoryCountersOptions,
  normalizeThresholds,
  reached,
  type SeedTotal,
  type SpanSpend,
  type SpendIncrement,
} from "./counters.ts";
import {
  counterClientOptions,
  type RedisConnectOptions,
  RedisCounters,
  SPANS_PER_SCRIPT,
  scriptBatches,
} from "./counters-redis.ts";
import type { BudgetWindow } from "./windows.ts";

export interface ResilientCountersOptions {
  logger?: Logger;
  /** While in outage, how often an `add` may try Redis again, in ms (default 1,000). */
  retryIntervalMs?: number;
  /** Most pending increments kept for replay (default 100,000); beyond it they are counted locally only. */
  maxPending?: number;
  /** Options of the local fallback counters. */
  local?: MemoryCountersOptions;
}

interface Pending {
  spanKey: string;
  increments: SpendIncrement[];
  thresholds: number[];
}

export class ResilientCounters implements BudgetCounters {
  readonly local: MemoryCounters;
  private readonly logger: Logger;
  private readonly retryIntervalMs: number;
  private readonly maxPending: number;
  private outage = false;
  private nextTryAt = 0;
  private pending: Pending[] = [];
  private reconciling: Promise<boolean> | null = null;
  private fallbackCount = 0;
  private droppedCount = 0;
  private replayedCount = 0;
  private dropWarned = false;

  constructor(
    readonly redis: RedisCounters,
    options: ResilientCountersOptions = {},
  ) {
    this.local = new MemoryCounters(options.local);
    this.logger = options.logger ?? silentLogger;
    this.retryIntervalMs = options.retryIntervalMs ?? 1000;
    this.maxPending = options.maxPending ?? 100_000;
  }

  /**
   * Counters on a client of their own (200 ms command timeout, one retry, no offline queue). When
   * Redis cannot be reached at start this still resolves, in outage mode; the client keeps reconnecting.
   */
  static async connect(
    url: string,
    options: ResilientCountersOptions & RedisConnectOptions = {},
  ): Promise<ResilientCounters> {
    const client = new Redis(url, counterClientOptions(options.commandTimeoutMs ?? 200, options.redis));
    client.on("error", () => {}); // reported once per outage by the counters, not per reconnect attempt
    const counters = new ResilientCounters(new RedisCounters(client, options, true), options);
    try {
      await client.connect();
    } catch (err) {
      counters.fail(err);
    }
    return counters;
  }

  /** Adds counted locally because Redis was unavailable (a metric for the caller). */
  get fallbacks(): number {
    return this.fallbackCount;
  }

  /** Increments counted locally but not kept for replay because `maxPending` was reached. */
  get droppedPending(): number {
    return this.droppedCount;
  }

  /** Increments replayed to Redis after outages. */
  get replayed(): number {
    return this.replayedCount;
  }

  /** Increments counted locally and waiting to be replayed to Redis. */
  get pendingCount(): number {
    return this.pending.length;
  }

  /** Whether the counters currently count locally because Redis is (or was just) unavailable. */
  get inOutage(): boolean {
    return this.outage;
  }

  async add(spanKey: string, increments: SpendIncrement[], thresholds: number[]): Promise<CounterResult[]> {
    const [results] = await this.addMany([{ spanKey, increments }], thresholds);
    return results;
  }

  /** `add` of each span, a script (`SPANS_PER_SCRIPT` spans) at a time; a script that fails and what follows count locally. */
  async addMany(spends: SpanSpend[], thresholds: number[]): Promise<CounterResult[][]> {
    const out: CounterResult[][] = [];
    for (const batch of scriptBatches(spends)) {
      if (this.outage && this.redis.client.status === "ready" && Date.now() >= this.nextTryAt) {
        await this.reconcile();
      }
      if (!this.outage) {
        try {
          const outcomes = await this.redis.addBatchOutcome(batch, thresholds);
          const ts = normalizeThresholds(thresholds);
          batch.forEach((s, j) => {
            this.mirror(s.spanKey, s.increments, ts, outcomes[j].results);
            out.push(outcomes[j].results);
          });
          continue;
        } catch (err) {
          if (err instanceof RangeError) throw err; // invalid input, not an outage
          this.fail(err);
        }
      }
      for (const s of batch) out.push(this.addLocal(s.spanKey, s.increments, thresholds));
    }
    return out;
  }

  async get(scope: BudgetScope, window: BudgetWindow, windowKey: string): Promise<number> {
    if (!this.outage) {
      try {
        return await this.redis.get(scope, window, windowKey);
      } catch (err) {
        this.fail(err);
      }
    }
    return this.local.get(scope, window, windowKey);
  }

  /** Seeds the local counters (replacing them) and Redis (raising counters only; see `RedisCounters.seed`). */
  async seed(totals: SeedTotal[]): Promise<void> {
    await this.local.seed(totals);
    if (this.outage) return;
    try {
      await this.redis.seed(totals);
    } catch (err) {
      this.fail(err);
    }
  }

  /**
   * Replays the pending increments to Redis (same script, same span keys: nothing is counted twice)
   * and, once none is left, resumes using Redis. Resolves true when Redis is in sync, false when it is
   * still unreachable. Concurrent calls share one replay.
   */
  reconcile(): Promise<boolean> {
    if (!this.reconciling) {
      this.reconciling = this.replay().finally(() => {
        this.reconciling = null;
      });
    }
    return this.reconciling;
  }

  async close(): Promise<void> {
    await this.reconciling?.catch(() => {});
    await this.redis.close();
    await this.local.close();
  }

  private async replay(): Promise<boolean> {
    const before = this.replayedCount;
    try {
      if (this.pending.length === 0) await this.redis.client.ping();
      while (this.pending.length > 0) {
        // One script for the oldest increments that share their thresholds (all of them, unless the
        // policy changed during the outage).
        const { thresholds } = this.pending[0];
        let n = 1;
        while (n < SPANS_PER_SCRIPT && n < this.pending.length && sameNumbers(this.pending[n].thresholds, thresholds))
          n++;
        // Thresholds crossed by a replay were already reported from the local view; Redis marks them fired.
        await this.redis.addBatchOutcome(this.pending.slice(0, n), thresholds);
        this.pending.splice(0, n);
        this.replayedCount += n;
      }
    } catch (err) {
      this.fail(err);
      return false;
    }
    if (this.outage) {
      this.outage = false;
      this.logger.info("budget counters: Redis reachable again, local increments replayed", {
        replayed: this.replayedCount - before,
      });
    }
    return true;
  }

  /** Enters (or stays in) outage mode: warns once per outage, retries no sooner than `retryIntervalMs`. */
  private fail(err: unknown): void {
    this.nextTryAt = Date.now() + this.retryIntervalMs;
    if (this.outage) return;
    this.outage = true;
    this.dropWarned = false;
    this.logger.warn("budget counters: Redis unavailable, counting locally until it is back", {
      err: err instanceof Error ? err : new Error(String(err)),
    });
  }

  private addLocal(spanKey: string, increments: SpendIncrement[], thresholds: number[]): CounterResult[] {
    const out = this.local.addNow(spanKey, increments, thresholds);
    this.fallbackCount++;
    if (out.applied) {
      if (this.pending.length < this.maxPending) {
        this.pending.push({ spanKey, increments: [...increments], thresholds: [...thresholds] });
      } else {
        this.droppedCount++;
        if (!this.dropWarned) {
          this.dropWarned = true;
          this.logger.warn(
            "budget counters: too many increments pending for Redis, further ones are counted locally only",
            {
              maxPending: this.maxPending,
            },
          );
        }
      }
    }
    return out.results;
  }

  /**
   * Keeps the local view at the shared totals: a threshold reached in Redis was reported by someone.
   * `ts`: the thresholds normalized (once a batch).
   */
  private mirror(spanKey: string, increments: SpendIncrement[], ts: number[], results: CounterResult[]): void {
    this.local.markSeen(spanKey);
    increments.forEach((inc, i) => {
      const total = results[i].totalMicros;
      const limit = limitMicros(inc.limitUsd);
      const fired = limit === null ? [] : ts.filter((t) => reached(total, t, limit));
      this.local.set(inc.scope, inc.window, inc.windowKey, total, fired);
    });
  }
}

const sameNumbers = (a: number[], b: number[]) => a.length === b.length && a.every((v, i) => v === b[i]);
