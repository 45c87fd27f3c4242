/**
 * The write-ahead log (`COGNIVE_INGEST_ACK=wal`): span rows are acknowledged once they are appended
 * to a log file and synced to disk, and loaded into storage afterwards in a few large inserts.
 *
 * Every insert into embedded storage costs a large fixed amount before its rows (a part in the span
 * table and in each derived table, the views, their merges), and clients that wait for their answer
 * hold only so many rows at once: acknowledging after the insert keeps inserts at a few thousand
 * rows. Acknowledging after an fsync lets inserts take tens of thousands (bench/RESULTS.md).
 *
 * Segments are files `<seq>.wal` of records: magic, header length, body length, CRC-32 of header and
 * body, the header (JSON: table, columns), the body (Native blocks). A segment is removed once all
 * its records are in storage. At start, records still in the log are loaded before anything else;
 * rows of them that a load cut short by a crash had already stored are left out (`unstored`). A
 * record cut short at the end of a segment was never acknowledged and is dropped.
 */
import {
  closeSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { type FileHandle, open, rm } from "node:fs/promises";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import type { Logger } from "../log.ts";
import type { Storage } from "./client.ts";
import { isPermanentStorageError } from "./errors.ts";
import { nativeBlocks } from "./native.ts";

export interface WalConfig {
  dir: string;
  /** A load starts once this many bytes wait for storage… */
  loadBytes: number;
  /** …or once the oldest waiting record is this old. */
  loadMs: number;
  /** Bytes waiting for storage beyond which appends are refused (the writer answers 503). */
  maxBytes: number;
  /**
   * The size of each buffer that holds waiting records (default 64 MiB or `loadBytes`, the larger; a
   * larger record gets one of its own). A load takes records of one buffer, so it needs no copy.
   */
  chunkBytes?: number;
}

export interface WalHooks {
  /**
   * The rows of a Native `body` for `table` that are not in storage yet: a load that failed or was cut
   * short by a crash may have stored some of them. Asked before a record is loaded again.
   */
  unstored?(table: string, body: Buffer): Promise<Buffer>;
}

/**
 * An append that kept nothing (the log is full because storage is slower than ingest or failing,
 * or the disk refused the write): the writer answers 503 without looking for what was stored.
 */
export class WalAppendError extends Error {
  override name = "WalAppendError";
  readonly nothingStored = true;
}

/**
 * The log is full: ingest outruns storage. Not a failure of storage, which is loading; the writer
 * answers 503 (`Retry-After`) as for any other refusal, and says so as a warning, not an error.
 */
export class WalFullError extends WalAppendError {
  override name = "WalFullError";
  readonly overloaded = true;
}

const MAGIC = 0x314c5743; // "CWL1"
const HEAD = 16;
const SEGMENT = /^(\d{16})\.wal$/;
const MAX_RETRY_MS = 30_000;
const CHUNK_BYTES = 64 * 1024 * 1024;

interface WalRecord {
  table: string;
  columns: readonly string[];
  /** A view of its chunk. */
  body: Buffer;
  chunk: Chunk;
  segment: Segment;
  /** When it was appended (ms, monotonic); replayed records count as old. */
  at: number;
  /** Loaded before, or replayed: storage may hold some of its rows already. */
  retried: boolean;
}

/** A buffer of waiting records' bodies, back to back; dropped (or kept for reuse) once none of them waits. */
interface Chunk {
  buf: Buffer;
  end: number;
  /** Records in it not in storage yet. */
  waiting: number;
}

interface Segment {
  seq: number;
  path: string;
  /** Records not in storage yet. */
  open: number;
  /** No more appends (a newer segment exists). */
  closed: boolean;
}

/** Record bytes: the fixed head, then header and body. */
function encodeHead(header: Buffer, body: Buffer): Buffer {
  const head = Buffer.allocUnsafe(HEAD);
  head.writeUInt32LE(MAGIC, 0);
  head.writeUInt32LE(header.length, 4);
  head.writeUInt32LE(body.length, 8);
  head.writeUInt32LE(crc32(body, crc32(header)), 12);
  return head;
}

/** The whole records of a segment file, and where the last one ends. */
function readSegment(buf: Buffer): { records: { table: string; columns: string[]; body: Buffer }[]; end: number } {
  const records: { table: string; columns: string[]; body: Buffer }[] = [];
  let at = 0;
  while (at + HEAD <= buf.length) {
    if (buf.readUInt32LE(at) !== MAGIC) break;
    const headerLen = buf.readUInt32LE(at + 4);
    const bodyLen = buf.readUInt32LE(at + 8);
    const end = at + HEAD + headerLen + bodyLen;
    if (end > buf.length) break;
    const header = buf.subarray(at + HEAD, at + HEAD + headerLen);
    const body = buf.subarray(at + HEAD + headerLen, end);
    if (crc32(body, crc32(header)) !== buf.readUInt32LE(at + 12)) break;
    let parsed: { table?: unknown; columns?: unknown };
    try {
      parsed = JSON.parse(header.toString("utf8"));
    } catch {
      break;
    }
    if (typeof parsed.table !== "string" || !Array.isArray(parsed.columns)) break;
    records.push({ table: parsed.table, columns: parsed.columns as string[], body });
    at = end;
  }
  return { records, end: at };
}

export class WriteAheadLog {
  /** The storage to hand the span writer: its Native inserts go to the log; everything else passes through. */
  readonly storage: Storage;
  private readonly pending: WalRecord[] = [];
  private pendingBytes = 0;
  private current: Segment | null = null;
  private file: FileHandle | null = null;
  private fileBytes = 0;
  private nextSeq = 1;
  private appending: Promise<unknown> = Promise.resolve();
  private loading: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private retryMs = 0;
  private failing = false;
  private closed = false;
  /** Set when an append failed and could not be cut off: no more appends. */
  private broken: string | null = null;
  /**
   * The waiting records' bodies, back to back in large chunks (each record's `body` a view of one):
   * a fresh buffer a record and a load made V8 collect external memory several times a second (as
   * the writer's ArenaPool says). Loads take views, so records loaded together are not copied, and
   * nothing waiting is ever moved: a chunk is let go once its last record is in storage. (One buffer
   * compacted after each load copied the whole backlog each time: most of the main thread's copying
   * while storage was behind.)
   */
  private chunk: Chunk | null = null;
  /** One emptied chunk buffer, reused for the next chunk. */
  private spare: Buffer | null = null;
  /** Loads into storage, records storage refused for their data (kept apart), chunks allocated. */
  readonly stats = { loads: 0, rejectedRecords: 0, chunks: 0 };

  private constructor(
    private readonly inner: Storage,
    private readonly config: WalConfig,
    private readonly log: Logger,
    private readonly hooks: WalHooks,
  ) {
    this.storage = {
      client: inner.client,
      database: inner.database,
      kind: inner.kind,
      cluster: inner.cluster,
      insertTsv: (table, columns, body) => inner.insertTsv(table, columns, body),
      insertRowBinary: (table, columns, body) => inner.insertRowBinary(table, columns, body),
      insertNative: (table, columns, body) => this.append(table, columns, body),
      ping: () => inner.ping(),
      close: () => inner.close(),
    };
  }

  /**
   * Opens the log in `config.dir` and loads what it still holds into storage (throws if storage
   * refuses it for a reason other than its data: start again once storage is back).
   */
  static async open(inner: Storage, config: WalConfig, log: Logger, hooks: WalHooks = {}): Promise<WriteAheadLog> {
    const wal = new WriteAheadLog(inner, config, log, hooks);
    await wal.replay();
    return wal;
  }

  /** Bytes acknowledged and not yet in storage. */
  get waitingBytes(): number {
    return this.pendingBytes;
  }

  /** Why appends are refused now (the log cannot be written, or is full), or null. */
  get problem(): string | null {
    if (this.broken !== null) return this.broken;
    if (this.pendingBytes >= this.config.maxBytes)
      return `write-ahead log full: ${this.pendingBytes} bytes wait for storage`;
    return null;
  }

  /** One process a log: a second one appending to the same segments would interleave their records. */
  private lock(): void {
    const path = join(this.config.dir, "LOCK");
    try {
      const owner = Number(readFileSync(path, "utf8"));
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && alive(owner)) {
        throw new Error(
          `write-ahead log ${this.config.dir} is in use by process ${owner}: give each collector its own COGNIVE_WAL_DIR`,
        );
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    writeFileSync(path, String(process.pid));
  }

  private async replay(): Promise<void> {
    mkdirSync(this.config.dir, { recursive: true });
    this.lock();
    const names = readdirSync(this.config.dir)
      .filter((n) => SEGMENT.test(n))
      .sort();
    let records = 0;
    for (const name of names) {
      const seq = Number(SEGMENT.exec(name)?.[1]);
      this.nextSeq = Math.max(this.nextSeq, seq + 1);
      const path = join(this.config.dir, name);
      const buf = readFileSync(path);
      const { records: found, end } = readSegment(buf);
      if (end < buf.length) {
        // A record cut short by a crash: its append never returned, so it was never acknowledged.
        this.log.warn("write-ahead log: dropped an incomplete record at the end of a segment", {
          segment: name,
          bytes: buf.length - end,
        });
        // Truncated in place, so that a later append cannot follow the broken bytes.
        const fd = openSync(path, "r+");
        try {
          ftruncateSync(fd, end);
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
      }
      const segment: Segment = { seq, path, open: found.length, closed: true };
      if (found.length === 0) {
        rmSync(path, { force: true });
        continue;
      }
      for (const r of found) {
        this.pending.push({ ...r, ...this.keep(r.body), segment, at: 0, retried: true });
        this.pendingBytes += r.body.length;
        records++;
      }
    }
    if (records === 0) return;
    this.log.info("write-ahead log: loading acknowledged rows left from the last run", {
      records,
      bytes: this.pendingBytes,
    });
    while (this.pending.length > 0) {
      await this.load();
      if (this.failing)
        throw new Error("write-ahead log: storage refused the rows left from the last run; see the log");
    }
  }

  /** Appends a record and syncs it to disk; resolves once it is durable. */
  private append(table: string, columns: readonly string[], body: Buffer): Promise<void> {
    return this.onFile(() => this.appendNow(table, columns, body));
  }

  /** Runs `fn` once the appends before it are done: the segment file has one user at a time. */
  private onFile<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.appending.then(fn);
    this.appending = run.catch(() => {});
    return run;
  }

  private async appendNow(table: string, columns: readonly string[], body: Buffer): Promise<void> {
    if (this.closed) throw new WalAppendError("write-ahead log closed");
    if (this.broken !== null) throw new WalAppendError(this.broken);
    if (this.pendingBytes > 0 && this.pendingBytes + body.length > this.config.maxBytes) {
      throw new WalFullError(
        `write-ahead log full: ${this.pendingBytes} bytes wait for storage (COGNIVE_WAL_MAX_BYTES ${this.config.maxBytes})`,
      );
    }
    if (this.file === null || this.current === null) await this.startSegment();
    const file = this.file as FileHandle;
    const segment = this.current as Segment;
    const header = Buffer.from(JSON.stringify({ table, columns }));
    const at = this.fileBytes;
    try {
      await file.writev([encodeHead(header, body), header, body]);
      await file.datasync();
    } catch (err) {
      // Nothing of it may be read back: the rows were not acknowledged. If it cannot be cut off, the
      // log takes no more appends (its end is unknown); the next start loads what is readable.
      await file.truncate(at).catch((truncateErr: Error) => {
        this.broken = `the write-ahead log could not be cut back after a failed append (${truncateErr.message}); restart`;
        this.log.error("write-ahead log: refusing appends", { reason: this.broken });
      });
      throw new WalAppendError(`write-ahead log append failed: ${(err as Error).message}`, { cause: err });
    }
    this.fileBytes = at + HEAD + header.length + body.length;
    // Copied: the writer reuses its buffer once this returns.
    this.pending.push({
      table,
      columns,
      ...this.keep(body),
      segment,
      at: performance.now(),
      retried: false,
    });
    segment.open++;
    this.pendingBytes += body.length;
    this.schedule();
  }

  private async startSegment(): Promise<void> {
    const seq = this.nextSeq++;
    const path = join(this.config.dir, `${String(seq).padStart(16, "0")}.wal`);
    this.file = await open(path, "w");
    // The new file's name is durable too, before anything in it is acknowledged.
    const dir = await open(this.config.dir, "r");
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
    this.fileBytes = 0;
    this.current = { seq, path, open: 0, closed: false };
  }

  /** Closes the segment being appended to, so that it can be removed once loaded. */
  private async rotate(): Promise<void> {
    const segment = this.current;
    const file = this.file;
    if (segment === null || file === null) return;
    this.current = null;
    this.file = null;
    segment.closed = true;
    await file.close();
    if (segment.open === 0) await rm(segment.path, { force: true });
  }

  private schedule(): void {
    if (this.loading !== null || this.timer !== null || this.pending.length === 0 || this.closed) return;
    const wait = this.failing
      ? this.retryMs
      : this.pendingBytes >= this.config.loadBytes
        ? 0
        : Math.max(0, this.pending[0].at + this.config.loadMs - performance.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.load().then(() => this.schedule());
    }, wait);
    // A stop loads what waits (close); the timer alone keeps no process running.
    this.timer.unref();
  }

  /** Runs one load; one at a time, so two never take the same records. */
  private load(): Promise<void> {
    this.loading ??= this.loadOnce().finally(() => {
      this.loading = null;
    });
    return this.loading;
  }

  /**
   * Loads the oldest waiting records, up to `loadBytes` (at least one), in one insert a table. A load
   * ends where its first record's chunk does: its records are then one stretch of memory, inserted
   * as it lies (a load across chunks was a copy of up to `loadBytes`).
   */
  private async loadOnce(): Promise<void> {
    const take: WalRecord[] = [];
    let bytes = 0;
    for (const r of this.pending) {
      if (
        take.length > 0 &&
        (bytes + r.body.length > this.config.loadBytes || r.chunk !== take[0].chunk || !sameTarget(take[0], r))
      )
        break;
      take.push(r);
      bytes += r.body.length;
    }
    if (take.length === 0) return;
    if (take.some((r) => r.segment === this.current)) await this.onFile(() => this.rotate());
    try {
      await this.insert(take);
      this.failing = false;
      this.retryMs = 0;
    } catch (err) {
      for (const r of take) r.retried = true;
      if (!this.failing) this.log.error("write-ahead log: loading into storage failed; retrying", { err });
      this.failing = true;
      this.retryMs = Math.min(MAX_RETRY_MS, Math.max(1000, this.retryMs * 2));
      return;
    }
    await this.done(take);
  }

  /**
   * Inserts records. Storage refusing their data splits them, then the refused record into its
   * blocks (one a request), until the refused request is alone and set aside.
   */
  private async insert(records: WalRecord[]): Promise<void> {
    const first = records[0];
    let body = records.length === 1 ? first.body : adjoining(records);
    if (records.some((r) => r.retried) && this.hooks.unstored) body = await this.hooks.unstored(first.table, body);
    if (body.length === 0) return;
    try {
      await this.inner.insertNative(first.table, first.columns, body);
      this.stats.loads++;
    } catch (err) {
      if (!isPermanentStorageError(err)) throw err;
      for (const r of records) r.retried = true;
      let parts = records;
      if (records.length === 1) {
        const blocks = nativeBlocks(first.body);
        if (blocks.length === 1) {
          this.setAside(first, err as Error);
          return;
        }
        parts = blocks.map((b) => ({ ...first, body: b }));
      }
      const half = Math.ceil(parts.length / 2);
      await this.insert(parts.slice(0, half));
      await this.insert(parts.slice(half));
    }
  }

  /** A record storage refuses for its data: kept in `rejected/` beside the log, never retried. */
  private setAside(r: WalRecord, err: Error): void {
    const dir = join(this.config.dir, "rejected");
    mkdirSync(dir, { recursive: true });
    const header = Buffer.from(JSON.stringify({ table: r.table, columns: r.columns }));
    const path = join(dir, `${String(r.segment.seq).padStart(16, "0")}-${Date.now()}.wal`);
    const fd = openSync(path, "w");
    try {
      writeSync(fd, Buffer.concat([encodeHead(header, r.body), header, r.body]));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    this.stats.rejectedRecords++;
    this.log.error("write-ahead log: storage refused acknowledged rows; kept apart", {
      table: r.table,
      file: path,
      err: err.message.split("\n")[0],
    });
  }

  /** A copy of `body` in the chunk being filled, after the records waiting before it (a new chunk when full). */
  private keep(body: Buffer): { body: Buffer; chunk: Chunk } {
    let chunk = this.chunk;
    if (chunk === null || chunk.end + body.length > chunk.buf.length) {
      const size = Math.max(body.length, this.config.chunkBytes ?? Math.max(CHUNK_BYTES, this.config.loadBytes));
      let buf = this.spare;
      this.spare = null;
      if (buf === null || buf.length < size) {
        buf = Buffer.allocUnsafeSlow(size);
        this.stats.chunks++;
      }
      chunk = { buf, end: 0, waiting: 0 };
      this.chunk = chunk;
    }
    body.copy(chunk.buf, chunk.end);
    const kept = chunk.buf.subarray(chunk.end, chunk.end + body.length);
    chunk.end += body.length;
    chunk.waiting++;
    return { body: kept, chunk };
  }

  /** Records now in storage: forgotten, their chunks let go once empty, their segments removed once empty. */
  private async done(records: WalRecord[]): Promise<void> {
    this.pending.splice(0, records.length);
    for (const r of records) {
      this.pendingBytes -= r.body.length;
      const chunk = r.chunk;
      // No load reads an emptied chunk any more (loads run one at a time, and this one has returned).
      if (--chunk.waiting === 0) {
        if (chunk === this.chunk) chunk.end = 0;
        else if (this.spare === null || this.spare.length < chunk.buf.length) this.spare = chunk.buf;
      }
      r.segment.open--;
      if (r.segment.open === 0 && r.segment.closed) await rm(r.segment.path, { force: true });
    }
  }

  /** Resolves once everything appended before the call is in storage (or a load failed). */
  async flush(): Promise<void> {
    await this.appending;
    const last = this.pending.at(-1);
    while (last !== undefined && this.pending.includes(last)) {
      if (this.timer !== null) {
        clearTimeout(this.timer);
        this.timer = null;
      }
      const running = this.loading !== null;
      await this.load();
      // A load this call started failed: storage is failing; the timer retries.
      if (!running && this.failing) break;
    }
    this.schedule();
  }

  /** Loads what is waiting and closes the log; what storage does not take stays for the next start. */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.loading !== null) await this.loading;
    await this.onFile(() => this.rotate());
    rmSync(join(this.config.dir, "LOCK"), { force: true });
    if (this.pending.length > 0) {
      this.log.error("write-ahead log: rows not yet in storage at shutdown; loaded at the next start", {
        bytes: this.pendingBytes,
        dir: this.config.dir,
      });
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * The bodies of records appended one after another: one view of their chunk, where a load's records
 * lie. (A copy if they do not, which loads, taking one chunk's records, never ask for.)
 */
function adjoining(records: WalRecord[]): Buffer {
  const first = records[0].body;
  const last = (records.at(-1) as WalRecord).body;
  const at = first.byteOffset;
  const end = last.byteOffset + last.length;
  if (last.buffer !== first.buffer || end - at !== records.reduce((n, r) => n + r.body.length, 0))
    return Buffer.concat(records.map((r) => r.body));
  return Buffer.from(first.buffer, at, end - at);
}

const sameTarget = (a: WalRecord, b: WalRecord) =>
  a.table === b.table && a.columns.length === b.columns.length && a.columns.every((c, i) => c === b.columns[i]);
