import type { Logger } from "../log.ts";
import type { Storage } from "../storage/client.ts";
import { SPAN_COLUMNS, SPAN_TABLE } from "../storage/schema.ts";

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
}

export const defaultWriterConfig: WriterConfig = {
  maxBatchRows: 100_000,
  maxBatchBytes: 64 * 1024 * 1024,
  lingerMs: 15,
  maxQueuedRows: 600_000,
  maxConcurrentWrites: 2,
};

export type BatchState = "open" | "writing" | "committed" | "failed";

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

/** One group commit: the rows of many requests, written by one insert. */
export class Batch {
  state: BatchState = "open";
  /** TSV bytes of the batch: `buf[0, bytes)`. */
  buf: Buffer | null = null;
  rows = 0;
  bytes = 0;
  readonly done: Promise<void>;
  resolve!: () => void;
  reject!: (err: Error) => void;
  constructor() {
    this.done = new Promise<void>((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
    // A batch nobody awaits any more (its requests timed out) must not crash the process.
    this.done.catch(() => {});
  }
}

export class BackpressureError extends Error {
  override name = "BackpressureError";
}

export interface WriterHooks {
  onCommit?(batch: Batch, seconds: number): void;
  onFailure?(batch: Batch, err: Error): void;
}

/**
 * Group commit: concurrent requests append rows to the open batch; one insert at a time writes a
 * whole batch, and every request in it is answered only when that insert has returned. While one
 * insert runs, the next batch fills, so batches grow with load and inserts stay few and large.
 */
export class GroupCommitWriter {
  private open = new Batch();
  private readonly writing = new Set<Batch>();
  private readonly arenas: ArenaPool;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  healthy = true;

  constructor(
    private readonly storage: Storage,
    private readonly config: WriterConfig,
    private readonly log: Logger,
    private readonly hooks: WriterHooks = {},
  ) {
    this.arenas = new ArenaPool(Math.min(config.maxBatchBytes, 16 * 1024 * 1024), config.maxConcurrentWrites + 2);
  }

  /** Rows accepted but not yet committed (open batch plus the one being written). */
  get queuedRows(): number {
    let rows = this.open.rows;
    for (const b of this.writing) rows += b.rows;
    return rows;
  }

  /** Adds TSV rows to the open batch and returns it; await `batch.done` for the commit. */
  append(chunk: string, rows: number): Batch {
    if (this.closed) throw new BackpressureError("collector is shutting down");
    if (this.open.rows + rows > this.config.maxQueuedRows && this.open.rows > 0) {
      throw new BackpressureError(`write queue full (${this.open.rows} rows waiting)`);
    }
    const b = this.open;
    // UTF-8 takes at most 3 bytes per UTF-16 code unit; count exactly only when that bound does not fit.
    const free = b.buf === null ? 0 : b.buf.length - b.bytes;
    const room = b.bytes + (chunk.length * 3 <= free ? chunk.length * 3 : Buffer.byteLength(chunk, "utf8"));
    if (b.buf === null) b.buf = this.arenas.take(room);
    else if (room > b.buf.length) {
      const bigger = this.arenas.take(Math.max(room, b.buf.length * 2));
      b.buf.copy(bigger, 0, 0, b.bytes);
      this.arenas.give(b.buf);
      b.buf = bigger;
    }
    b.bytes += b.buf.write(chunk, b.bytes, "utf8");
    b.rows += rows;
    if (b.rows >= this.config.maxBatchRows || b.bytes >= this.config.maxBatchBytes) this.kick();
    else if (this.timer === null) this.timer = setTimeout(() => this.onLinger(), this.config.lingerMs);
    return b;
  }

  private onLinger(): void {
    this.timer = null;
    this.kick();
  }

  /** Starts writing the open batch unless the most inserts allowed are already running. */
  private kick(): void {
    if (this.writing.size >= this.config.maxConcurrentWrites || this.open.rows === 0) return;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const batch = this.open;
    this.open = new Batch();
    this.writing.add(batch);
    batch.state = "writing";
    void this.write(batch);
  }

  private async write(batch: Batch): Promise<void> {
    const started = performance.now();
    const buf = batch.buf as Buffer;
    const body = buf.subarray(0, batch.bytes);
    try {
      await this.storage.insertTsv(SPAN_TABLE, SPAN_COLUMNS, body);
      batch.state = "committed";
      this.healthy = true;
      this.hooks.onCommit?.(batch, (performance.now() - started) / 1000);
      batch.resolve();
    } catch (err) {
      batch.state = "failed";
      if (this.healthy) this.log.error("storage write failed", { err, rows: batch.rows });
      this.healthy = false;
      this.hooks.onFailure?.(batch, err as Error);
      batch.reject(err as Error);
    } finally {
      this.writing.delete(batch);
      batch.buf = null;
      this.arenas.give(buf);
    }
    // The batch that filled meanwhile goes next: at once if it is full or has waited long enough.
    if (this.open.rows > 0) {
      if (this.open.rows >= this.config.maxBatchRows || this.timer === null) this.kick();
    }
  }

  /** Writes what is queued and refuses new rows. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.writing.size > 0 || this.open.rows > 0) {
      const pending = this.open.rows > 0 ? this.open : [...this.writing][0];
      this.kick();
      await pending.done.catch(() => {});
    }
  }
}
