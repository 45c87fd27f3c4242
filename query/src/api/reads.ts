import { AsyncLocalStorage } from "node:async_hooks";
import { createStorage, type Storage } from "@cognive/collector";
import { DEFAULT_LIMITS, type ReadLimits } from "../limits.ts";
import { ReadGate } from "./read-gate.ts";

type Client = Storage["client"];

/** One read's connection: `done(true)` returns it for the next read, `done(false)` retires it. */
export interface Lease {
  client: Client;
  done(healthy: boolean): void;
}

/**
 * Everything the reads of one store share: their limits, the admission gate, and the connections
 * they run on.
 *
 * Embedded (chDB): reads run on connections of their own, opened on the same data directory. One
 * chDB connection runs one statement at a time, so reads on the store's own connection would queue
 * the collector's inserts and `/readyz`'s ping behind them. A read connection that saw an error is
 * retired, never reused: after a limit error chDB can hand the failed query's partial output to the
 * next query on that connection. (Bound-parameter statements still run one at a time process-wide,
 * on chDB's own chain; the gate bounds how many wait there.)
 *
 * ClickHouse server: reads share the store's HTTP client, which has its own connection pool.
 */
export class Reads {
  readonly gate: ReadGate;
  /** Statements read from this store so far: how a test sees that a refused query read nothing. */
  statements = 0;
  private readonly idle: Storage[] = [];
  private closed = false;

  constructor(
    private readonly storage: Storage,
    readonly limits: ReadLimits,
    private readonly chdbPath: string | undefined,
  ) {
    this.gate = new ReadGate(limits.concurrency, limits.queueSize, limits.queueWaitSeconds * 1000);
  }

  checkout(): Lease {
    if (this.chdbPath === undefined || this.closed) return { client: this.storage.client, done: () => {} };
    const reader = this.idle.pop() ?? createStorage({ dataDir: this.chdbPath, database: this.storage.database });
    return {
      client: reader.client,
      done: (healthy) => {
        if (healthy && !this.closed && this.idle.length < this.limits.concurrency) this.idle.push(reader);
        else void reader.close().catch(() => {});
      },
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    const idle = this.idle.splice(0);
    await Promise.all(idle.map((r) => r.close().catch(() => {})));
  }
}

const registry = new WeakMap<Client, Reads>();

/** The data directory of an embedded store's connection; undefined for a server or a stand-in client. */
function chdbPathOf(storage: Storage): string | undefined {
  if (storage.kind !== "chdb") return undefined;
  // The chDB connection behind @clickhouse/client keeps its data directory in its session.
  const conn = (storage.client as unknown as { connection?: { chdb?: { session?: { path?: unknown } } } }).connection;
  const path = conn?.chdb?.session?.path;
  return typeof path === "string" && path !== "" ? path : undefined;
}

/**
 * The reads of a store, opened on first use with `limits` (the gate's bounds, and the limits of
 * reads outside a request). Keyed by the store's client, so copies of a `Storage` (a different
 * database name, say) share them; closing the store's client closes them first.
 */
export function readsOf(storage: Storage, limits?: ReadLimits): Reads {
  const client = storage.client;
  let reads = registry.get(client);
  if (!reads) {
    reads = new Reads(storage, limits ?? DEFAULT_LIMITS, chdbPathOf(storage));
    registry.set(client, reads);
    const opened = reads;
    const close = client.close?.bind(client);
    if (close) {
      client.close = async () => {
        await opened.close();
        await close();
      };
    }
  }
  return reads;
}

/** What the reads of one request share. */
export interface ReadContext {
  /** The caller's abort signal: a gone client stops waiting. */
  signal?: AbortSignal;
  /** The app's limits. */
  limits?: ReadLimits;
  /** The request's slot in the gate, taken by its first read and given back when the request ends. */
  slot?: Promise<() => void>;
}

/** Per-request context of reads (see `ReadContext`); outside a request each read takes a slot of its own. */
export const readContext = new AsyncLocalStorage<ReadContext>();

/**
 * Runs `handle` as one request's reads: the first read waits for a slot in the store's gate and
 * the request keeps it until `handle` ends, so a request's processing of what it read (evaluation,
 * formatting, the JSON answer) counts against the gate too, not only its SQL.
 */
export async function withReadContext<T>(ctx: ReadContext, handle: () => Promise<T>): Promise<T> {
  return readContext.run(ctx, async () => {
    try {
      return await handle();
    } finally {
      ctx.slot?.then(
        (release) => release(),
        () => {},
      );
    }
  });
}

/** Waits for the current request's slot (taking it on its first read), or a slot for this read alone. */
export async function admit(reads: Reads, signal: AbortSignal | undefined): Promise<() => void> {
  const ctx = readContext.getStore();
  if (!ctx) return reads.gate.acquire(signal);
  ctx.slot ??= reads.gate.acquire(ctx.signal);
  // Released when the request ends.
  await ctx.slot;
  return () => {};
}

/** The limits of a read now: its app's, else those the store's reads were opened with. */
export function limitsOf(storage: Storage): ReadLimits {
  return readContext.getStore()?.limits ?? readsOf(storage).limits;
}
