/**
 * Budget counters: spend per scope (agent or team) and window (run, day, month), with
 * once-only threshold crossings. Implementations:
 *
 * - `MemoryCounters` (here): one process, embedded mode, and the local fallback of `ResilientCounters`;
 * - `RedisCounters` (counters-redis.ts): shared by any number of collectors, one Lua script per `add`;
 * - `ResilientCounters` (counters-resilient.ts): Redis, falling back to memory while Redis is down.
 *
 * Money is counted in integer micro-dollars (`Math.round(usd * 1e6)`), never as binary floats:
 * integer addition is exact and associative, so every instance reads the very same total whatever
 * the order of increments. `INCRBYFLOAT` would accumulate rounding error (0.1 + 0.2 …) and make
 * totals depend on the order of adds. The price: each span's cost is rounded to the micro-dollar
 * (at most 0.5 µ$ per span).
 */
import { hashString128, KeyTable } from "../key-table.ts";
import { type BudgetWindow, windowTtlSeconds } from "./windows.ts";

type ScopeType = "agent" | "team";

export interface BudgetScope {
  type: ScopeType;
  name: string;
}

export interface SpendIncrement {
  scope: BudgetScope;
  window: BudgetWindow;
  windowKey: string;
  usd: number;
  /** The budget of this scope and window; `null`: no budget, so no thresholds. */
  limitUsd: number | null;
}

export interface CounterResult {
  /** The counter's total after this increment (or, for a repeated span key, the current total). */
  totalUsd: number;
  /** The same total, exact, in integer micro-dollars. */
  totalMicros: number;
  /** Thresholds (fractions of the limit) newly crossed by THIS increment, each reported once per scope+window ever. */
  crossed: readonly number[];
}

/** `crossed` of the many results that cross nothing: one shared array, not one each. */
export const NONE_CROSSED: readonly number[] = Object.freeze([]);

export interface SeedTotal {
  scope: BudgetScope;
  window: BudgetWindow;
  windowKey: string;
  usd: number;
  /** Thresholds already reported for this counter (e.g. from the alert store), so they are not reported again. */
  fired?: number[];
}

/** One span's spend: what `add` takes, for `addMany`. */
export interface SpanSpend {
  spanKey: string;
  increments: SpendIncrement[];
}

export interface BudgetCounters {
  /** Adds the spend of one span to each increment, once per spanKey (a retried span adds nothing and crosses nothing). */
  add(spanKey: string, increments: SpendIncrement[], thresholds: number[]): Promise<CounterResult[]>;
  /** `add` of each span in turn, as few calls as the counters can make of it; the results in the same order. */
  addMany(spends: SpanSpend[], thresholds: number[]): Promise<CounterResult[][]>;
  get(scope: BudgetScope, window: BudgetWindow, windowKey: string): Promise<number>;
  /** Replaces local state from authoritative totals (used to rebuild day/month from storage at start). */
  seed(totals: SeedTotal[]): Promise<void>;
  close(): Promise<void>;
}

export const MICROS_PER_USD = 1_000_000;

/** Dollars to integer micro-dollars. Rejects negative and non-finite amounts. */
export function usdToMicros(usd: number): number {
  if (!Number.isFinite(usd) || usd < 0) throw new RangeError(`invalid spend amount: ${usd}`);
  return Math.round(usd * MICROS_PER_USD);
}

export function microsToUsd(micros: number): number {
  return micros / MICROS_PER_USD;
}

/** Limit in micro-dollars, or null when there is no limit. */
export function limitMicros(limitUsd: number | null): number | null {
  return limitUsd === null ? null : usdToMicros(limitUsd);
}

/** Thresholds validated, de-duplicated and sorted ascending. */
export function normalizeThresholds(thresholds: number[]): number[] {
  for (const t of thresholds) {
    if (!Number.isFinite(t) || t <= 0) throw new RangeError(`invalid threshold: ${t}`);
  }
  return [...new Set(thresholds)].sort((a, b) => a - b);
}

/**
 * Whether a total has reached threshold `t` of a limit: total / limit ≥ t, computed as
 * `total >= t * limit` in doubles — the Lua script of `RedisCounters` computes exactly the same.
 */
export function reached(totalMicros: number, t: number, limit: number): boolean {
  return totalMicros >= t * limit;
}

/** `:` separates key parts; escape it (and `%`) inside names so keys stay unambiguous. */
export function escapeKeyPart(s: string): string {
  // Names rarely hold either character; skip the two regex passes on the hot path.
  if (!s.includes(":") && !s.includes("%")) return s;
  return s.replace(/%/g, "%25").replace(/:/g, "%3A");
}

/** `<type>:<name>:<window>:<windowKey>`, the identity of one counter. */
export function counterId(scope: BudgetScope, window: BudgetWindow, windowKey: string): string {
  return `${scope.type}:${escapeKeyPart(scope.name)}:${window}:${escapeKeyPart(windowKey)}`;
}

/**
 * A bounded set of recently seen span keys: two generations, each holding up to capacity/2 keys.
 * When the current one is full it becomes the previous one and the old previous one is dropped, so
 * at least the last capacity/2 keys (and at most capacity) are always remembered. Keys are kept as
 * 128-bit hashes in typed arrays (`KeyTable`), not as strings on the garbage-collected heap.
 */
export class SpanKeySet {
  private current: KeyTable;
  private previous: KeyTable;
  private readonly key = new Uint32Array(4);

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 2) throw new RangeError(`invalid capacity: ${capacity}`);
    this.current = new KeyTable(capacity);
    this.previous = new KeyTable(capacity);
  }

  has(key: string): boolean {
    const k = hashString128(key, this.key);
    return this.current.get(k) !== 0 || this.previous.get(k) !== 0;
  }

  /** Adds the key; false when it was already there. */
  add(key: string): boolean {
    const k = hashString128(key, this.key);
    if (this.current.get(k) !== 0 || this.previous.get(k) !== 0) return false;
    if (this.current.full) {
      const dropped = this.previous;
      this.previous = this.current;
      this.current = dropped;
      dropped.clear();
    }
    this.current.set(k, 1);
    return true;
  }

  get size(): number {
    return this.current.count + this.previous.count;
  }
}

interface Entry {
  micros: number;
  expiresAt: number;
  /** Thresholds reported for this counter; null until the first (most counters never cross one). */
  fired: number[] | null;
}

export interface MemoryCountersOptions {
  /** How many recent span keys are remembered for de-duplication (default 200,000). */
  dedupCapacity?: number;
  /** Clock in epoch ms (tests). */
  now?: () => number;
}

/** The outcome of one add, with whether the span key was new (internal to the package). */
export interface AddOutcome {
  applied: boolean;
  results: CounterResult[];
}

const SWEEP_EVERY = 1024;

/**
 * Counters in process memory. Each counter expires after its window's TTL since its last add (as the
 * Redis keys do); expired counters are ignored when read and dropped by a sweep after as many writes
 * as there are counters (at least 1,024), so sweeping costs O(1) per write however many runs are live.
 * Counters are kept by scope, then window, then window key, so an add looks each up by short strings
 * it already has instead of hashing a counter id built for it.
 */
export class MemoryCounters implements BudgetCounters {
  private readonly scopes: Record<ScopeType, Map<string, Record<BudgetWindow, Map<string, Entry>>>> = {
    agent: new Map(),
    team: new Map(),
  };
  private readonly seen: SpanKeySet;
  private readonly now: () => number;
  private addsSinceSweep = 0;
  /** Counters held, expired or not. */
  private count = 0;
  /** The last thresholds given and their normalized form: callers pass the policy's same array. */
  private thresholds: { given: number[]; normalized: number[] } | null = null;

  constructor(options: MemoryCountersOptions = {}) {
    this.seen = new SpanKeySet(options.dedupCapacity ?? 200_000);
    this.now = options.now ?? Date.now;
  }

  async add(spanKey: string, increments: SpendIncrement[], thresholds: number[]): Promise<CounterResult[]> {
    return this.addNow(spanKey, increments, thresholds).results;
  }

  async addMany(spends: SpanSpend[], thresholds: number[]): Promise<CounterResult[][]> {
    return spends.map((s) => this.addNow(s.spanKey, s.increments, thresholds).results);
  }

  /** `add`, synchronously, also telling whether the span key was new. */
  addNow(spanKey: string, increments: SpendIncrement[], thresholds: number[]): AddOutcome {
    const ts = this.normalized(thresholds);
    // Every amount is checked before any counter changes.
    for (let i = 0; i < increments.length; i++) usdToMicros(increments[i].usd);
    const now = this.now();
    this.maybeSweep(now);
    const results: CounterResult[] = new Array(increments.length);
    if (!this.seen.add(spanKey)) {
      for (let i = 0; i < increments.length; i++) {
        const inc = increments[i];
        const micros = this.live(inc.scope, inc.window, inc.windowKey, now)?.micros ?? 0;
        results[i] = { totalUsd: microsToUsd(micros), totalMicros: micros, crossed: NONE_CROSSED };
      }
      return { applied: false, results };
    }
    for (let i = 0; i < increments.length; i++) {
      const inc = increments[i];
      const entry = this.entry(inc, now);
      entry.micros += usdToMicros(inc.usd);
      entry.expiresAt = now + windowTtlSeconds(inc.window) * 1000;
      let crossed: number[] | null = null;
      const limit = limitMicros(inc.limitUsd);
      if (limit !== null) {
        for (const t of ts) {
          if (reached(entry.micros, t, limit) && !entry.fired?.includes(t)) {
            entry.fired ??= [];
            entry.fired.push(t);
            crossed ??= [];
            crossed.push(t);
          }
        }
      }
      results[i] = { totalUsd: microsToUsd(entry.micros), totalMicros: entry.micros, crossed: crossed ?? NONE_CROSSED };
    }
    return { applied: true, results };
  }

  async get(scope: BudgetScope, window: BudgetWindow, windowKey: string): Promise<number> {
    return microsToUsd(this.live(scope, window, windowKey, this.now())?.micros ?? 0);
  }

  /** Sets each given counter to the given total (other counters are left alone), adding `fired` to what was reported. */
  async seed(totals: SeedTotal[]): Promise<void> {
    const now = this.now();
    for (const s of totals) {
      // Thresholds already reported stay reported: a seed never makes an alert fire again.
      this.set(s.scope, s.window, s.windowKey, usdToMicros(s.usd), s.fired ?? [], true, now);
    }
  }

  /**
   * Sets one counter to a total known from elsewhere (the shared Redis total), marking `fired` as
   * already reported (added to those already marked when `mergeFired`). Used by `ResilientCounters`
   * to keep its local view close to the shared one.
   */
  set(
    scope: BudgetScope,
    window: BudgetWindow,
    windowKey: string,
    micros: number,
    fired: Iterable<number>,
    mergeFired = true,
    now = this.now(),
  ): void {
    this.maybeSweep(now);
    const old = mergeFired ? this.live(scope, window, windowKey, now) : undefined;
    const set = new Set(old?.fired);
    for (const t of fired) set.add(t);
    const table = this.table(scope, window);
    if (!table.has(windowKey)) this.count++;
    table.set(windowKey, {
      micros,
      expiresAt: now + windowTtlSeconds(window) * 1000,
      fired: set.size === 0 ? null : [...set],
    });
  }

  /** Remembers a span key as counted (elsewhere), so a retry of it is not counted here. */
  markSeen(spanKey: string): void {
    this.seen.add(spanKey);
  }

  /** Number of live counters (expired ones not yet swept may be included). */
  get size(): number {
    return this.count;
  }

  async close(): Promise<void> {}

  /** The counters of one scope and window, by window key. */
  private table(scope: BudgetScope, window: BudgetWindow): Map<string, Entry> {
    const byName = this.scopes[scope.type];
    let windows = byName.get(scope.name);
    if (windows === undefined) {
      windows = { run: new Map(), day: new Map(), month: new Map() };
      byName.set(scope.name, windows);
    }
    return windows[window];
  }

  /** The live counter, if any; a read creates nothing (names asked about come from callers). */
  private live(scope: BudgetScope, window: BudgetWindow, windowKey: string, now: number): Entry | undefined {
    const table = this.scopes[scope.type].get(scope.name)?.[window];
    const e = table?.get(windowKey);
    if (table && e && e.expiresAt <= now) {
      table.delete(windowKey);
      this.count--;
      return undefined;
    }
    return e;
  }

  private entry(inc: SpendIncrement, now: number): Entry {
    const table = this.table(inc.scope, inc.window);
    let e = table.get(inc.windowKey);
    if (e === undefined || e.expiresAt <= now) {
      if (e === undefined) this.count++;
      e = { micros: 0, expiresAt: 0, fired: null };
      table.set(inc.windowKey, e);
    }
    return e;
  }

  private normalized(thresholds: number[]): number[] {
    if (this.thresholds?.given !== thresholds) {
      this.thresholds = { given: thresholds, normalized: normalizeThresholds(thresholds) };
    }
    return this.thresholds.normalized;
  }

  private maybeSweep(now: number): void {
    if (++this.addsSinceSweep < Math.max(SWEEP_EVERY, this.count)) return;
    this.addsSinceSweep = 0;
    for (const byName of Object.values(this.scopes)) {
      for (const [name, windows] of byName) {
        let empty = true;
        for (const table of Object.values(windows)) {
          for (const [key, e] of table) {
            if (e.expiresAt > now) continue;
            table.delete(key);
            this.count--;
          }
          if (table.size > 0) empty = false;
        }
        if (empty) byName.delete(name);
      }
    }
  }
}
