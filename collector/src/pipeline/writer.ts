import { answersWithin } from "../async.ts";
import type { Logger } from "../log.ts";
import type { RowColumn, Storage } from "../storage/client.ts";
import { isPermanentStorageError } from "../storage/errors.ts";
import { SPAN_TABLE } from "../storage/schema.ts";
import { SPAN_COLUMNS, SPAN_ROW_TYPES } from "../storage/span-table.ts";

export interface WriterConfig {
  /** Flush once a batch holds this many rows. */
  maxBatchRows: number;
  /** Flush once a batch holds this many bytes of TSV. */
  maxBatchBytes: number;
  /** Longest a row waits for company before its batch is flushed. */
  lingerMs: number;
  /** Rows waiting (not yet being written) beyond which new appends are refused. */
  maxQueuedRows: number;
  /** Inserts allowed to run at once; more than one lets the store parse one batch while writing another. */
  maxConcurrentWrites: number;
  /**
   * While an insert runs, a batch starts another one only once it holds this many rows; smaller ones
   * keep filling until that insert returns. Each insert costs about as much as thousands of rows (the
   * views, a part and its merges), so small concurrent inserts spend the CPU the rows need.
   */
  minConcurrentBatchRows?: number;
  /** Distinct days (storage partitions) one insert may touch; ClickHouse refuses more than 100. */
  maxBatchDays?: number;
  /**
   * When a batch is due while small (under `minConcurrentBatchRows`) and requests are still on their
   * way (see `WriterHooks.arrivals`), it waits at most this long for them. 0: never waits.
   */
  gatherMs?: number;
}

/** The table a writer inserts into, and its columns in the rows' order. */
export interface WriteTarget {
  table: string;
  columns: readonly string[];
  /** Set when the rows are RowBinary of these columns, not TSV. */
  binary?: readonly RowColumn[];
  /** Set when the rows are Native blocks of `columns`. */
  native?: boolean;
}

export const SPAN_TARGET: WriteTarget = { table: SPAN_TABLE, columns: SPAN_COLUMNS };
export const SPAN_BINARY_TARGET: WriteTarget = { ...SPAN_TARGET, binary: SPAN_ROW_TYPES };
export const SPAN_NATIVE_TARGET: WriteTarget = { ...SPAN_TARGET, native: true };

export const defaultWriterConfig: WriterConfig = {
  maxBatchRows: 100_000,
  maxBatchBytes: 64 * 1024 * 1024,
  lingerMs: 15,
  maxQueuedRows: 600_000,
  maxConcurrentWrites: 2,
  minConcurrentBatchRows: 4096,
};

const DEFAULT_MAX_BATCH_DAYS = 90;
/** Longest a write probe may take before storage counts as still unavailable. */
const PROBE_TIMEOUT_MS = 2_000;

export type PartState = "open" | "writing" | "committed" | "failed";

/**
 * Reusable byte arenas for batches. Allocating a fresh Buffer for every request and batch made
 * V8 count megabytes of new external memory per second and run a full GC several times a second.
 */
class ArenaPool {
  private readonly free: Buffer[] = [];
  constructor(
    private readonly initialBytes: number,
    private readonly keep: number,
  ) {}
  take(minBytes = 0): Buffer {
    const i = this.free.findIndex((b) => b.length >= minBytes);
    if (i >= 0) return this.free.splice(i, 1)[0];
    return Buffer.allocUnsafeSlow(Math.max(this.initialBytes, minBytes));
  }
  give(buf: Buffer): void {
    if (this.free.length < this.keep) this.free.push(buf);
  }
}

/** What one request put into a batch; it settles on its own, so a batch can be split on a bad row. */
export class Part {
  state: PartState = "open";
  readonly done: Promise<void>;
  resolve!: () => void;
  reject!: (err: Error) => void;
  constructor(
    /** Rows of this part. */
    public rows: number,
    /** Storage partitions (UTC day numbers) the rows write to. */
    readonly days: ReadonlySet<number>,
    /** Earliest and latest span start, Unix ns: bounds a look-up of what a failed insert left behind. */
    readonly minNs: bigint,
    readonly maxNs: bigint,
  ) {
    this.done = new Promise<void>((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
    // A part nobody awaits any more (its request timed out) must not crash the process.
    this.done.catch(() => {});
  }
  /** Byte range of the part's rows in its batch's buffer. */
  start = 0;
  end = 0;
  /** Binary rows only (they have no line ends): where each row ends, from the part's start. */
  rowEnds: readonly number[] | Int32Array | null = null;
}

/** One group commit: the rows of many requests, written by one insert. */
export class Batch {
  buf: Buffer | null = null;
  rows = 0;
  bytes = 0;
  readonly parts: Part[] = [];
  readonly days = new Set<number>();
}

export class BackpressureError extends Error {
  override name = "BackpressureError";
}

/** Storage failed for a reason retrying can fix (down, full, recovering): answer 503. */
export class StorageUnavailableError extends Error {
  override name = "StorageUnavailableError";
}

/** Storage refused these rows themselves: retrying the same request cannot succeed (400). */
export class PermanentWriteError extends Error {
  override name = "PermanentWriteError";
}

/** The rows of a failed insert, as the recovery sees them. */
export interface FailedRows {
  parts: Part[];
  /** Rows of the parts, in order; `Part.start`/`end` index into it. */
  body: Buffer;
}

export interface WriterHooks {
  onCommit?(rows: number, seconds: number, parts: readonly Part[]): void;
  /**
   * After an insert failed, before anything else is written: finds which rows of the batch reached
   * storage anyway, makes everything derived from them whole, and returns the rows that did not (in
   * the batch's format, per part). Throws when storage cannot be asked; the writer then stays unavailable.
   */
  recover?(failed: FailedRows): Promise<Map<Part, Buffer>>;
  onFailure?(parts: readonly Part[], err: Error): void;
  /** Throws unless storage takes writes now; used to leave the unavailable state. */
  checkWritable?(): Promise<void>;
  /** Requests accepted upstream whose rows have not reached the writer yet. */
  arrivals?: Arrivals;
}

/** Requests on their way to the writer, numbered in the order they arrived. */
export interface Arrivals {
  /** The number of the latest request that arrived (0 before the first). */
  latest(): number;
  /** The number of the oldest request still on its way, or Infinity when none is. */
  oldest(): number;
}

/**
 * Group commit: concurrent requests append rows to the open batch; one insert writes a whole batch,
 * and each request is answered only when the insert carrying its rows has returned. While one
 * insert runs, the next batch fills, so batches grow with load and inserts stay few and large.
 *
 * A failed insert may have left some rows behind (a crash or full disk between the span table and
 * its views): the `recover` hook settles that before the writer goes on. An insert refused for its
 * data is split in halves and retried until the request that carries the bad row is alone; only
 * that request fails (permanently), the others commit. Any other failure makes the writer
 * unavailable (every request answered 503) until `probe` finds storage writable again.
 */
export class GroupCommitWriter {
  private open = new Batch();
  /** Batches closed to new rows, waiting for an insert slot (split halves go first). */
  private readonly sealed: Batch[] = [];
  private readonly writing = new Set<Batch>();
  private readonly arenas: ArenaPool;
  private timer: NodeJS.Timeout | null = null;
  /** The open batch outlived its linger and waits only for the running insert to end. */
  private lingered = false;
  /**
   * Set while the open batch waits for the requests that were on their way when it was due (those
   * numbered up to this): sealed once they have arrived, or at `gatherMs`.
   */
  private gathering: number | null = null;
  private closed = false;
  /** Set while a failed insert is being recovered or storage is failing: nothing new is written. */
  private unavailable: string | null = null;
  private recovering = 0;
  /** Inserts whose storage call has not returned yet. */
  private inserting = 0;
  private readonly quiet: (() => void)[] = [];
  private recoveries: Promise<unknown> = Promise.resolve();
  private readonly maxBatchDays: number;

  constructor(
    private readonly storage: Storage,
    private readonly config: WriterConfig,
    private readonly log: Logger,
    private readonly hooks: WriterHooks = {},
    private readonly target: WriteTarget = SPAN_TARGET,
  ) {
    this.arenas = new ArenaPool(Math.min(config.maxBatchBytes, 16 * 1024 * 1024), config.maxConcurrentWrites + 2);
    this.maxBatchDays = config.maxBatchDays ?? DEFAULT_MAX_BATCH_DAYS;
  }

  /** False while storage is failing or a failed insert is being recovered. */
  get healthy(): boolean {
    return this.unavailable === null;
  }

  /** Why the writer refuses rows, or null. */
  get unavailableReason(): string | null {
    return this.unavailable;
  }

  /** Rows accepted but not yet committed (open, sealed and being written). */
  get queuedRows(): number {
    let rows = this.open.rows;
    for (const b of this.sealed) rows += b.rows;
    for (const b of this.writing) rows += b.rows;
    return rows;
  }

  /** Adds one request's rows (copied) and returns its part; await `part.done` for the commit. */
  append(chunk: string | Buffer, part: Part): Part {
    if (this.closed) throw new BackpressureError("collector is shutting down");
    if (this.unavailable !== null) throw new StorageUnavailableError(this.unavailable);
    const waiting = this.open.rows + this.sealed.reduce((n, b) => n + b.rows, 0);
    if (waiting + part.rows > this.config.maxQueuedRows && waiting > 0) {
      throw new BackpressureError(`write queue full (${waiting} rows waiting)`);
    }
    if (this.open.rows > 0 && !this.fitsDays(this.open, part)) this.seal();
    this.place(this.open, chunk, part);
    if (this.open.rows >= this.config.maxBatchRows || this.open.bytes >= this.config.maxBatchBytes) this.seal();
    else if (this.gathering !== null) {
      if ((this.hooks.arrivals?.oldest() ?? Number.POSITIVE_INFINITY) > this.gathering) this.seal();
    } else if (this.timer === null) this.timer = setTimeout(() => this.onLinger(), this.config.lingerMs);
    return part;
  }

  private fitsDays(b: Batch, part: Part): boolean {
    let extra = 0;
    for (const d of part.days) if (!b.days.has(d)) extra++;
    return b.days.size + extra <= this.maxBatchDays;
  }

  /** Writes a part's rows into a batch's buffer. */
  private place(b: Batch, chunk: string | Buffer, part: Part): void {
    // UTF-8 takes at most 3 bytes per UTF-16 code unit; count exactly only when that bound does not fit.
    const free = b.buf === null ? 0 : b.buf.length - b.bytes;
    const size =
      typeof chunk === "string"
        ? chunk.length * 3 <= free
          ? chunk.length * 3
          : Buffer.byteLength(chunk, "utf8")
        : chunk.length;
    const room = b.bytes + size;
    if (b.buf === null) b.buf = this.arenas.take(room);
    else if (room > b.buf.length) {
      const bigger = this.arenas.take(Math.max(room, b.buf.length * 2));
      b.buf.copy(bigger, 0, 0, b.bytes);
      this.arenas.give(b.buf);
      b.buf = bigger;
    }
    part.start = b.bytes;
    b.bytes += typeof chunk === "string" ? b.buf.write(chunk, b.bytes, "utf8") : chunk.copy(b.buf, b.bytes);
    part.end = b.bytes;
    b.rows += part.rows;
    b.parts.push(part);
    for (const d of part.days) b.days.add(d);
  }

  private onLinger(): void {
    this.timer = null;
    // No insert slot is free, or too small to be worth an insert beside the one running: the batch
    // keeps filling, and the running insert's end seals it.
    if (
      this.writing.size >= this.config.maxConcurrentWrites ||
      (this.writing.size > 0 && this.open.rows < (this.config.minConcurrentBatchRows ?? 0))
    ) {
      this.lingered = true;
      return;
    }
    this.sealOrGather();
  }

  /**
   * The open batch is due and an insert slot is free. While it is small (under
   * `minConcurrentBatchRows`) and requests that arrived before now are still on their way (decoded
   * and processed elsewhere), it waits for them, at most `gatherMs`: an insert of a few thousand
   * rows costs about as much as one of twice as many (bench/RESULTS.md), and when every request in
   * flight is already in the batch there is nothing to wait for.
   */
  private sealOrGather(): void {
    const arrivals = this.hooks.arrivals;
    const gatherMs = this.config.gatherMs ?? 0;
    const small = this.open.rows < (this.config.minConcurrentBatchRows ?? this.config.maxBatchRows);
    if (arrivals !== undefined && gatherMs > 0 && !this.closed && small) {
      const latest = arrivals.latest();
      if (arrivals.oldest() <= latest) {
        this.lingered = false;
        if (this.timer !== null) clearTimeout(this.timer);
        this.gathering = latest;
        this.timer = setTimeout(() => this.seal(), gatherMs);
        return;
      }
    }
    this.seal();
  }

  /** Closes the open batch to new rows and starts the next insert if a slot is free. */
  private seal(): void {
    this.lingered = false;
    this.gathering = null;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.open.rows > 0) {
      this.sealed.push(this.open);
      this.open = new Batch();
    }
    this.pump();
  }

  private pump(): void {
    while (this.writing.size < this.config.maxConcurrentWrites && this.recovering === 0 && this.sealed.length > 0) {
      const batch = this.sealed.shift() as Batch;
      this.writing.add(batch);
      for (const p of batch.parts) p.state = "writing";
      void this.write(batch);
    }
  }

  private async write(batch: Batch): Promise<void> {
    const started = performance.now();
    const buf = batch.buf as Buffer;
    try {
      let error: Error | null = null;
      this.inserting++;
      try {
        const { table, columns, binary, native } = this.target;
        const body = buf.subarray(0, batch.bytes);
        if (native) await this.storage.insertNative(table, columns, body);
        else if (binary === undefined) await this.storage.insertTsv(table, columns, body);
        else await this.storage.insertRowBinary(table, binary, body);
      } catch (err) {
        error = err as Error;
      } finally {
        this.inserting--;
        if (this.inserting === 0) for (const wake of this.quiet.splice(0)) wake();
      }
      if (error === null) {
        for (const p of batch.parts) p.state = "committed";
        this.hooks.onCommit?.(batch.rows, (performance.now() - started) / 1000, batch.parts);
        for (const p of batch.parts) p.resolve();
      } else await this.failed(batch, error);
    } finally {
      this.writing.delete(batch);
      batch.buf = null;
      this.arenas.give(buf);
    }
    // The batch that filled meanwhile goes next: at once if it is full or has waited long enough
    // and nothing more is on its way.
    if (this.open.rows >= this.config.maxBatchRows) this.seal();
    else if (this.open.rows > 0 && this.gathering === null && (this.timer === null || this.lingered))
      this.sealOrGather();
    else this.pump();
  }

  /**
   * A failed insert: first learn what of it reached storage anyway (nothing else is written
   * meanwhile), then retry or refuse what did not.
   */
  private async failed(batch: Batch, err: Error): Promise<void> {
    const permanent = isPermanentStorageError(err);
    this.recovering++;
    let remaining: Map<Part, Buffer>;
    try {
      // A store that says it kept nothing of the insert (the write-ahead log) needs no look-up.
      const recover = (err as { nothingStored?: boolean }).nothingStored === true ? undefined : this.hooks.recover;
      remaining = recover
        ? await this.exclusive(() =>
            recover({ parts: batch.parts, body: (batch.buf as Buffer).subarray(0, batch.bytes) }),
          )
        : new Map(batch.parts.map((p) => [p, Buffer.from((batch.buf as Buffer).subarray(p.start, p.end))]));
    } catch (recoverErr) {
      // What reached storage is unknown: stay unavailable until a probe can find out.
      this.recovering--;
      this.markUnavailable(`storage write failed and its outcome is unknown: ${message(err)}`, err, batch.rows);
      // Copied: the batch's buffer goes back to the pool.
      this.pendingRecovery.push(
        batch.parts.map((p) => ({ part: p, body: Buffer.from((batch.buf as Buffer).subarray(p.start, p.end)) })),
      );
      this.log.warn("storage: could not check what a failed insert left behind", { err: recoverErr });
      this.failParts(batch.parts, new StorageUnavailableError("storage unavailable; retry later"));
      return;
    }
    this.recovering--;
    // Parts whose rows all reached storage are committed after all.
    const left: Part[] = [];
    for (const p of batch.parts) {
      const rows = remaining.get(p);
      if (rows === undefined || rows.length === 0) {
        p.state = "committed";
        p.resolve();
      } else left.push(p);
    }
    if (left.length === 0) return;
    if (!permanent) {
      this.markUnavailable(`storage write failed: ${message(err)}`, err, batch.rows);
      this.failParts(
        left,
        new StorageUnavailableError("storage unavailable; nothing more from this request was stored, retry later"),
      );
      return;
    }
    if (left.length === 1) {
      this.log.warn("storage refused a request's rows", {
        table: this.target.table,
        err: message(err),
        rows: left[0].rows,
      });
      this.failParts(left, new PermanentWriteError(`storage refused these rows: ${message(err)}`));
      return;
    }
    // Refused for its data: split so the request that carries the bad row ends up alone.
    const half = Math.ceil(left.length / 2);
    const halves = [left.slice(0, half), left.slice(half)].map((parts) => {
      const b = new Batch();
      for (const p of parts) this.place(b, remaining.get(p) as Buffer, p);
      return b;
    });
    this.sealed.unshift(...halves);
  }

  private readonly pendingRecovery: { part: Part; body: Buffer }[][] = [];

  /**
   * Runs one recovery at a time, once no insert is in flight: a repair compares spans with their
   * derived rows, which an insert still writing its views would make disagree for a moment.
   * (No new insert starts while `recovering` is set.)
   */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.recoveries.then(async () => {
      if (this.inserting > 0) await new Promise<void>((wake) => this.quiet.push(wake));
      return fn();
    });
    this.recoveries = run.catch(() => {});
    return run;
  }

  private failParts(parts: readonly Part[], err: Error): void {
    for (const p of parts) p.state = "failed";
    this.hooks.onFailure?.(parts, err);
    for (const p of parts) p.reject(err);
  }

  private markUnavailable(reason: string, err: Error, rows: number): void {
    if (this.unavailable === null) {
      // Ingest outrunning storage is back-pressure, not a fault: clients retry after the 503.
      if ((err as { overloaded?: boolean }).overloaded === true)
        this.log.warn("ingest is faster than storage: span requests are answered 503 until it catches up", {
          reason: err.message,
          rows,
        });
      else this.log.error("storage write failed", { err, rows });
    }
    this.unavailable = reason;
    // Rows queued behind the failure are answered now: the client retries them after the outage.
    const queued = [...this.sealed, this.open];
    this.sealed.length = 0;
    this.open = new Batch();
    for (const b of queued) {
      if (b.parts.length > 0) this.failParts(b.parts, new StorageUnavailableError("storage unavailable; retry later"));
      if (b.buf) this.arenas.give(b.buf);
    }
  }

  private probing: Promise<boolean> | null = null;

  /**
   * Checks that storage is writable again (and settles failed inserts whose outcome was unknown);
   * called by readiness probes, by requests arriving while unavailable, and by a timer. Concurrent
   * callers share one check. Returns whether rows are accepted.
   */
  probe(): Promise<boolean> {
    if (this.unavailable === null) return Promise.resolve(true);
    if (this.probing === null) {
      this.probing = this.runProbe().finally(() => {
        this.probing = null;
      });
    }
    return this.probing;
  }

  private async runProbe(): Promise<boolean> {
    this.recovering++;
    try {
      // Bounded: a store that hangs on a full disk must answer 503, not hold every request waiting here.
      const check = (this.hooks.checkWritable ?? (() => Promise.resolve()))();
      if (!(await answersWithin(check, PROBE_TIMEOUT_MS))) return false;
      while (this.pendingRecovery.length > 0) {
        const parts = this.pendingRecovery[0];
        if (this.hooks.recover) {
          const body = Buffer.concat(parts.map((p) => p.body));
          let at = 0;
          for (const p of parts) {
            p.part.start = at;
            at += p.body.length;
            p.part.end = at;
          }
          const recover = this.hooks.recover;
          await this.exclusive(() => recover({ parts: parts.map((p) => p.part), body }));
        }
        this.pendingRecovery.shift();
      }
      this.unavailable = null;
      this.log.info("storage writable again");
      return true;
    } catch {
      return false;
    } finally {
      this.recovering--;
      this.pump();
    }
  }

  /** Writes what is queued and refuses new rows. */
  async close(): Promise<void> {
    this.closed = true;
    this.seal();
    while (this.writing.size > 0 || this.sealed.length > 0) {
      const pending = [...this.writing].flatMap((b) => b.parts.map((p) => p.done));
      if (pending.length === 0) {
        this.pump();
        if (this.writing.size === 0) break;
        continue;
      }
      await Promise.allSettled(pending);
    }
  }
}

function message(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  const line = m.split("\n")[0];
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}
