import type { Logger } from "../log.ts";
import type { CollectorMetrics } from "../metrics.ts";
import type { DecodedTraces } from "../otlp/model.ts";
import { probeStorageWrite, type Storage } from "../storage/client.ts";
import { filterNative, nativeInt64Range, nativeStrings } from "../storage/native.ts";
import { recentSpanKeys, repairDerived, type SpanKey, storedKeys } from "../storage/repair.ts";
import { SPAN_TABLE } from "../storage/schema.ts";

/**
 * At start, before anything reads the derived tables: repairs what an insert cut short by a crash
 * left behind in the last `minutes` (embedded storage only, where no other process is writing).
 */
export async function repairAtStart(storage: Storage, log: Logger, minutes: number): Promise<void> {
  if (storage.kind !== "chdb") return;
  const since = BigInt(Date.now() - minutes * 60_000) * 1_000_000n;
  const repaired = await repairDerived(storage, since);
  if (repaired.traces + repaired.minutes > 0) {
    log.warn("storage: derived rows repaired after an interrupted insert", { ...repaired });
  }
}

/**
 * The span rows of a Native `body` not in storage yet, for the write-ahead log to load again after a
 * load that failed or a crash: what such a load stored is left out, and its derived rows made whole.
 */
export async function unstoredSpans(storage: Storage, log: Logger, table: string, body: Buffer): Promise<Buffer> {
  const range = table === SPAN_TABLE ? nativeInt64Range(body, "Timestamp") : null;
  if (range === null) return body;
  const keys = nativeStrings(body, ["TraceId", "SpanId"]);
  const stored = await storedKeys(
    storage,
    keys.map(([traceId, spanId]) => ({ traceId, spanId })),
    range.min,
    range.max,
  );
  if (stored.size === 0) return body;
  const repaired = storage.kind === "chdb" ? await repairDerived(storage, range.min, range.max) : null;
  log.warn("write-ahead log: spans a cut-short load had stored are kept once", { spans: stored.size, repaired });
  return filterNative(
    body,
    Uint8Array.from(keys, ([traceId, spanId]) => (stored.has(traceId + spanId) ? 0 : 1)),
  );
}

import type { OnDurable } from "../governance/hook.ts";
import { SpanDeduper } from "./dedup.ts";
import { defaultSpanLimits, type SpanLimits } from "./normalize.ts";
import type { ProcessorsModule } from "./processors.ts";
import type { IngestIdentity, SpanProcessor } from "./span.ts";
import {
  type GovernedColumns,
  governedSpans,
  type NormalizedRequest,
  type ProcessedRequest,
  type SpanRowFormat,
  SpanStage,
  VERDICT_DUPLICATE,
  VERDICT_NEW,
  VERDICT_RECOVERED,
} from "./stage.ts";
import { type StagedRequest, type StageEncoding, StagePool } from "./stage-pool.ts";
import {
  type FailedRows,
  GroupCommitWriter,
  Part,
  SPAN_BINARY_TARGET,
  SPAN_NATIVE_TARGET,
  SPAN_TARGET,
  type WriterConfig,
  type WriterHooks,
} from "./writer.ts";

export interface IngestResult {
  accepted: number;
  rejected: number;
  duplicates: number;
  errorMessage: string;
}

export type { SpanRowFormat } from "./stage.ts";

/** The end of the span path: the row format, and the durable writer those rows go to. */
export interface SpanExporter {
  readonly format: SpanRowFormat;
  /** The pipeline's hooks keep de-duplication in step with what the writer committed or lost. */
  open(hooks: WriterHooks): GroupCommitWriter;
}

/** Span-table rows, group-committed to storage. */
export function groupCommitExporter(
  storage: Storage,
  config: WriterConfig,
  log: Logger,
  format: SpanRowFormat = "tsv",
): SpanExporter {
  const target = format === "native" ? SPAN_NATIVE_TARGET : format === "rowbinary" ? SPAN_BINARY_TARGET : SPAN_TARGET;
  return { format, open: (hooks) => new GroupCommitWriter(storage, config, log, hooks, target) };
}

/** Byte offset of TraceId in a binary span row: after the 8-byte Timestamp. */
const BINARY_IDS_AT = 8;

/** Trace and span id of a binary span row (ids are short: one length byte each). */
function binaryKey(row: Buffer): SpanKey {
  const traceLen = row[BINARY_IDS_AT];
  const spanAt = BINARY_IDS_AT + 1 + traceLen;
  return {
    traceId: row.toString("latin1", BINARY_IDS_AT + 1, spanAt),
    spanId: row.toString("latin1", spanAt + 1, spanAt + 1 + row[spanAt]),
  };
}

export interface PipelineOptions {
  storage: Storage;
  /**
   * Run in order on each new span, after de-duplication (see `defaultProcessors`), on the main
   * thread: requests submitted decoded (`submit`), and every request when there are no workers.
   */
  processors: readonly SpanProcessor[];
  /**
   * Decode and the span stage of bodies (`stageBody`) in this many worker threads (see `StagePool`),
   * each building its processors from the module named here (`policyProcessorsModule` for the
   * default ones); give the same processors as `processors`. 0 or absent: no workers.
   */
  workers?: { count: number; processors: ProcessorsModule };
  exporter: SpanExporter;
  /** Governance's hook, given each request's governed spans once they are durable. */
  onDurable?: OnDurable | null;
  metrics: CollectorMetrics;
  log: Logger;
  /** How many recent span ids are remembered to drop retried duplicates. */
  dedupCapacity: number;
  /** What storage can hold and what usage is plausible. */
  limits?: SpanLimits;
  /** Inserts this recent are remembered across a restart, so their retries are not stored twice. */
  retryWindowMinutes?: number;
}

/**
 * The span path: decode (the receivers) → normalize → de-dup → processors → exporter (durable
 * group commit) → `onDurable` (governance). A request is answered once every new span of it is durable.
 */
export function createPipeline(options: PipelineOptions): IngestPipeline {
  return new IngestPipeline(options);
}

/**
 * The ingest pipeline: normalize, drop retried duplicates, process (attribute, stamp, price),
 * group-commit to storage. `submit` resolves only once every accepted span of the request is durable.
 */
export class IngestPipeline {
  readonly writer: GroupCommitWriter;
  private readonly dedup: SpanDeduper;
  private readonly storage: Storage;
  private readonly metrics: CollectorMetrics;
  private readonly log: Logger;
  /** The span stage on this thread (`submit`), and the workers running it elsewhere (`submitBody`), if any. */
  private readonly stage: SpanStage;
  readonly workers: StagePool | null;
  /** Runs after the commit, off the request's answer. */
  private readonly onDurable: OnDurable | null;
  /** Answers of requests whose governed spans are not handed to `onDurable` yet. */
  private readonly handingOver = new Set<Promise<IngestResult>>();

  constructor(private readonly config: PipelineOptions) {
    const { storage, metrics } = config;
    this.storage = storage;
    this.metrics = metrics;
    this.log = config.log;
    this.onDurable = config.onDurable ?? null;
    const limits = config.limits ?? defaultSpanLimits;
    const format = config.exporter.format;
    const govern = this.onDurable !== null;
    this.stage = new SpanStage({ processors: config.processors, limits, format, govern });
    const w = config.workers;
    this.workers =
      w !== undefined && w.count > 0
        ? new StagePool({ limits, format, govern, processors: w.processors }, w.count, config.log)
        : null;
    this.dedup = new SpanDeduper(config.dedupCapacity);
    this.writer = config.exporter.open({
      onCommit: (rows, seconds, parts) => {
        metrics.batchRows.observe(rows);
        metrics.writeSeconds.observe(seconds);
        for (const p of parts) this.dedup.committed(p);
      },
      onFailure: (parts, err) => {
        metrics.writeFailures.inc();
        for (const p of parts) this.dedup.forget(p);
        if (err.name === "PermanentWriteError") {
          metrics.spansRejected.inc(
            { reason: "storage_refused" },
            parts.reduce((n, p) => n + p.rows, 0),
          );
        }
      },
      recover: (failed) => this.recover(failed),
      checkWritable: () => probeStorageWrite(storage),
      // Requests in the stage workers are on their way to the writer.
      arrivals: this.workers ?? undefined,
    });
  }

  /**
   * Rebuilding derived rows must not race with inserts, so only the one process that owns embedded
   * storage does it; collectors sharing a ClickHouse server leave it to an operator.
   */
  private get canRepair(): boolean {
    return this.storage.kind === "chdb";
  }

  /**
   * Before the first request: waits for the stage workers to be ready, and remembers the spans of
   * recent inserts, since a client that did not get its answer before a restart retries them.
   * (Derived rows are repaired earlier, before budgets are rebuilt from them: see `repairAtStart`.)
   */
  async recoverAtStart(): Promise<void> {
    // A processors module that cannot be built stops the start here, not each request later.
    await this.workers?.started();
    const minutes = this.config.retryWindowMinutes ?? 30;
    const keys = await recentSpanKeys(this.storage, minutes, Math.floor(this.config.dedupCapacity / 2));
    this.dedup.remember(keys, "stored");
    if (keys.length > 0) this.log.debug("ingest: recent spans remembered for retries", { spans: keys.length });
  }

  /**
   * A failed insert may have left rows behind. Those are remembered as stored (their retry is not
   * written again, but its spend is counted) and their derived rows made whole; the rest are
   * returned for a retry or a split.
   */
  private async recover(failed: FailedRows): Promise<Map<Part, Buffer>> {
    const perPart: { part: Part; body: Buffer; lines: Buffer[]; keys: SpanKey[] }[] = [];
    const all: SpanKey[] = [];
    let minNs = -1n;
    let maxNs = 0n;
    const native = this.config.exporter.format === "native";
    for (const part of failed.parts) {
      const body = failed.body.subarray(part.start, part.end);
      // A Native part is one block: its rows are read by column, and the rows left are a new block.
      const lines = native ? [] : rowsOf(failed.body, part);
      const keys = native
        ? nativeStrings(body, ["TraceId", "SpanId"]).map(([traceId, spanId]) => ({ traceId, spanId }))
        : lines.map((l) => {
            if (part.rowEnds !== null) return binaryKey(l);
            const [, traceId, spanId] = l.toString("utf8").split("\t", 3);
            return { traceId, spanId };
          });
      perPart.push({ part, body, lines, keys });
      all.push(...keys);
      if (minNs < 0n || part.minNs < minNs) minNs = part.minNs;
      if (part.maxNs > maxNs) maxNs = part.maxNs;
    }
    const stored = await storedKeys(this.storage, all, minNs, maxNs);
    if (stored.size > 0) {
      this.dedup.remember(
        all.filter((k) => stored.has(k.traceId + k.spanId)),
        "recovered",
      );
      const repaired = this.canRepair ? await repairDerived(this.storage, minNs, maxNs) : null;
      this.log.warn("storage: a failed insert left spans behind; they are kept once", {
        spans: stored.size,
        repaired,
      });
    }
    const out = new Map<Part, Buffer>();
    for (const { part, body, lines, keys } of perPart) {
      const keep = Uint8Array.from(keys, (k) => (stored.has(k.traceId + k.spanId) ? 0 : 1));
      part.rows = keep.reduce((n, k) => n + k, 0);
      if (native) {
        out.set(part, part.rows === keys.length ? Buffer.from(body) : filterNative(body, keep));
        continue;
      }
      const left = lines.filter((_, i) => keep[i] === 1);
      if (part.rowEnds !== null) {
        let end = 0;
        part.rowEnds = left.map((l) => (end += l.length));
      }
      out.set(part, Buffer.concat(left));
    }
    return out;
  }

  /**
   * Accepts a decoded request on this thread: normalizes it, drops what is already written or in
   * flight (and waits for the batches carrying those instead), runs the processors on the rest, and
   * queues their rows, all before it returns. Returns a promise of the answer that settles once they
   * are durable. Everything decoded is dropped before that promise waits, so in-flight requests hold
   * only their bytes in the write queue, not object graphs that would survive into the old generation.
   */
  submit(req: DecodedTraces, identity: IngestIdentity, transport: string): Promise<IngestResult> {
    const { request, spans } = this.stage.normalize(req, BigInt(Date.now()) * 1_000_000n);
    return this.accept(request, transport, (verdicts) => this.stage.process(spans, verdicts, identity));
  }

  /** Decodes and normalizes a request body in a stage worker; then `submitStaged` or `discardStaged` it. */
  stageBody(body: Buffer, format: "proto" | "json", encoded?: StageEncoding): Promise<StagedRequest> {
    if (this.workers === null) throw new Error("this pipeline has no stage workers");
    return this.workers.normalize(body, format, BigInt(Date.now()) * 1_000_000n, encoded);
  }

  /** `submit` for a request a worker normalized: the worker processes what this thread judged new. */
  submitStaged(job: StagedRequest, identity: IngestIdentity, transport: string): Promise<IngestResult> {
    const workers = this.workers;
    if (workers === null) throw new Error("this pipeline has no stage workers");
    return this.accept(job.request, transport, (verdicts) => workers.process(job, verdicts, identity));
  }

  discardStaged(job: StagedRequest): void {
    this.workers?.discard(job);
  }

  /**
   * Judges each span by its key (new, a duplicate, or left stored by a failed insert) and reserves
   * the new ones for this request's part at once, so a retry arriving while this one is processed
   * waits for the same commit; then has the survivors processed and encoded, and queues the rows.
   * Queueing errors (back-pressure, storage down) are thrown when processing ran here, else rejected.
   */
  private accept(
    request: NormalizedRequest,
    transport: string,
    process: (verdicts: Uint8Array) => ProcessedRequest | Promise<ProcessedRequest>,
  ): Promise<IngestResult> {
    const { keys, repeats, valid } = request;
    this.metrics.spansReceived.inc({ transport }, request.items);
    if (request.rejected > 0) this.metrics.spansRejected.inc({ reason: "invalid" }, request.rejected);
    if (request.usageInvalid > 0) this.metrics.spansUsageInvalid.inc(request.usageInvalid);
    const verdicts = new Uint8Array(valid);
    const waitFor: Part[] = [];
    let duplicates = 0;
    let fresh = 0;
    for (let i = 0; i < valid; i++) {
      const prior = this.dedup.lookupAt(keys, i);
      if (prior instanceof Part && !waitFor.includes(prior)) waitFor.push(prior);
      if (repeats[i] === 1 || prior !== undefined) {
        duplicates++;
        // A span a failed insert left stored is not written again, but its spend is still counted.
        verdicts[i] = prior === "recovered" && repeats[i] === 0 ? VERDICT_RECOVERED : VERDICT_DUPLICATE;
      } else {
        verdicts[i] = VERDICT_NEW;
        fresh++;
      }
    }
    let part: Part | null = null;
    if (fresh > 0) {
      part = new Part(fresh, new Set(request.days), request.minNs, request.maxNs);
      for (let i = 0; i < valid; i++) if (verdicts[i] === VERDICT_NEW) this.dedup.addAt(keys, i, part);
    }
    const queue = (p: ProcessedRequest) => this.queue(request, verdicts, part, waitFor, duplicates, p);
    let processed: ProcessedRequest | Promise<ProcessedRequest>;
    try {
      processed = process(verdicts);
      if (!(processed instanceof Promise)) return queue(processed);
    } catch (err) {
      this.abandon(part, err as Error);
      throw err;
    }
    return processed.then(queue, (err: Error) => {
      this.abandon(part, err);
      throw err;
    });
  }

  /** The processed rows to the writer; reserved keys of spans not stored are given back. */
  private queue(
    request: NormalizedRequest,
    verdicts: Uint8Array,
    part: Part | null,
    waitFor: Part[],
    duplicates: number,
    p: ProcessedRequest,
  ): Promise<IngestResult> {
    let rows = 0;
    for (let i = 0; i < request.valid; i++) {
      if (p.stored[i] === 1) rows++;
      else if (verdicts[i] === VERDICT_NEW) this.dedup.releaseAt(request.keys, i);
    }
    if (part !== null) {
      if (rows > 0) {
        part.rows = rows;
        part.rowEnds = p.rowEnds;
        try {
          // Written to bytes at once: a rope of row pieces kept alive until the batch is written
          // would be promoted to the old generation and make every major GC walk it.
          this.writer.append(Buffer.from(p.rows.buffer, p.rows.byteOffset, p.rows.byteLength), part);
        } catch (err) {
          this.abandon(part, err as Error);
          throw err;
        }
        waitFor.push(part);
      } else {
        // Every span of it was dropped: nothing to write, and nothing of it is remembered.
        this.dedup.committed(part);
        part.resolve();
      }
    }
    this.metrics.queuedRows.set(this.writer.queuedRows);
    const answer = this.settle(
      waitFor,
      p.governed,
      {
        accepted: rows + duplicates + p.dropped,
        rejected: request.rejected,
        duplicates,
        errorMessage: request.errors.join("; "),
      },
      p.unpriced,
    );
    if (p.governed.count > 0 && this.onDurable !== null) {
      this.handingOver.add(answer);
      const handed = () => this.handingOver.delete(answer);
      answer.then(handed, handed);
    }
    return answer;
  }

  /** A reserved part that will not be written: its keys are forgotten and any retry waiting on it fails too. */
  private abandon(part: Part | null, err: Error): void {
    if (part === null) return;
    this.dedup.forget(part);
    part.reject(err);
  }

  /** Resolves once every request accepted so far has handed its governed spans to `onDurable` (or failed). */
  async handedOver(): Promise<void> {
    await Promise.allSettled([...this.handingOver]);
  }

  private async settle(
    waitFor: Part[],
    governed: GovernedColumns,
    result: IngestResult,
    unpriced: number,
  ): Promise<IngestResult> {
    for (const b of waitFor) await b.done;
    if (governed.count > 0 && this.onDurable !== null) {
      try {
        this.onDurable(governedSpans(governed));
      } catch (err) {
        this.log.error("governance hook failed", { err });
      }
    }
    this.metrics.spansAccepted.inc(result.accepted - result.duplicates);
    if (result.duplicates > 0) this.metrics.spansDuplicate.inc(result.duplicates);
    if (unpriced > 0) this.metrics.spansUnpriced.inc(unpriced);
    return result;
  }

  /** Refuses new requests, lets those in the stage workers reach the writer, writes what is queued. */
  async close(): Promise<void> {
    await this.workers?.drain(10_000);
    await this.writer.close();
    await this.workers?.close();
  }
}

/** The rows of a part: split at its row ends when binary, else at line ends (kept). */
function rowsOf(body: Buffer, part: Part): Buffer[] {
  const rows: Buffer[] = [];
  if (part.rowEnds !== null) {
    let at = part.start;
    for (const end of part.rowEnds) {
      rows.push(body.subarray(at, part.start + end));
      at = part.start + end;
    }
    return rows;
  }
  for (let at = part.start; at < part.end; ) {
    const nl = body.indexOf(10, at);
    const end = nl < 0 || nl >= part.end ? part.end : nl + 1;
    rows.push(body.subarray(at, end));
    at = end;
  }
  return rows;
}
