import type { Logger } from "../log.ts";
import type { CollectorMetrics } from "../metrics.ts";
import type { DecodedTraces } from "../otlp/model.ts";
import { probeStorageWrite, type Storage } from "../storage/client.ts";
import { recentSpanKeys, repairDerived, type SpanKey, storedKeys } from "../storage/repair.ts";

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

import type { GovernedSpan, OnDurable } from "../governance/hook.ts";
import { RowWriter } from "../storage/rowbinary.ts";
import { encodeSpanBinary, encodeSpanRow } from "../storage/span-table.ts";
import { SpanDeduper } from "./dedup.ts";
import { defaultSpanLimits, normalizeTraces, runProcessors, type SpanLimits } from "./normalize.ts";
import type { IngestIdentity, NormalizedSpan, RequestContext, SpanProcessor } from "./span.ts";
import {
  type FailedRows,
  GroupCommitWriter,
  Part,
  SPAN_BINARY_TARGET,
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

/** How span rows are written: storage reads RowBinary with less CPU than TSV (see COGNIVE_INSERT_FORMAT). */
export type SpanRowFormat = "tsv" | "rowbinary";

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
  const target = format === "rowbinary" ? SPAN_BINARY_TARGET : SPAN_TARGET;
  return { format, open: (hooks) => new GroupCommitWriter(storage, config, log, hooks, target) };
}

/** One request's binary rows are built here and copied into a batch at once (submit is synchronous). */
const scratch = new RowWriter(1024 * 1024);

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
  /** Run in order on each new span, after de-duplication (see `defaultProcessors`). */
  processors: readonly SpanProcessor[];
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
  private readonly processors: readonly SpanProcessor[];
  /** Runs after the commit, off the request's answer. */
  private readonly onDurable: OnDurable | null;
  /** Answers of requests whose governed spans are not handed to `onDurable` yet. */
  private readonly handingOver = new Set<Promise<IngestResult>>();

  constructor(private readonly config: PipelineOptions) {
    const { storage, metrics } = config;
    this.storage = storage;
    this.metrics = metrics;
    this.log = config.log;
    this.processors = config.processors;
    this.onDurable = config.onDurable ?? null;
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
   * Before the first request: remembers the spans of recent inserts, since a client that did not get
   * its answer before a restart retries them. (Derived rows are repaired earlier, before budgets are
   * rebuilt from them: see `repairAtStart`.)
   */
  async recoverAtStart(): Promise<void> {
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
    const perPart: { part: Part; lines: Buffer[]; keys: SpanKey[] }[] = [];
    const all: SpanKey[] = [];
    let minNs = -1n;
    let maxNs = 0n;
    for (const part of failed.parts) {
      const lines = rowsOf(failed.body, part);
      const keys = lines.map((l) => {
        if (part.rowEnds !== null) return binaryKey(l);
        const [, traceId, spanId] = l.toString("utf8").split("\t", 3);
        return { traceId, spanId };
      });
      perPart.push({ part, lines, keys });
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
    for (const { part, lines, keys } of perPart) {
      const left = lines.filter((_, i) => !stored.has(keys[i].traceId + keys[i].spanId));
      part.rows = left.length;
      if (part.rowEnds !== null) {
        let end = 0;
        part.rowEnds = left.map((l) => (end += l.length));
      }
      out.set(part, Buffer.concat(left));
    }
    return out;
  }

  /**
   * Accepts a request: normalizes it span by span, drops what is already written or in flight (and
   * waits for the batches carrying those instead), runs the processors on the rest, and queues their
   * rows. Returns a promise of the answer that settles once they are durable. Everything decoded is
   * dropped before that promise waits, so in-flight requests hold only their bytes in the write
   * queue, not object graphs that would survive into the old generation.
   */
  submit(req: DecodedTraces, identity: IngestIdentity, transport: string): Promise<IngestResult> {
    const request: RequestContext = { identity };
    const binary = this.config.exporter.format === "rowbinary";
    let chunk = "";
    const rowEnds: number[] = [];
    if (binary) scratch.reset();
    const kept: { traceId: string; spanId: string }[] = [];
    const waitFor: Part[] = [];
    const seen = new Set<string>();
    const governed: GovernedSpan[] = [];
    let duplicates = 0;
    let dropped = 0;
    let unpriced = 0;
    const n = normalizeTraces(req, BigInt(Date.now()) * 1_000_000n, this.config.limits ?? defaultSpanLimits, (span) => {
      const key = span.traceId + span.spanId;
      const prior = this.dedup.lookup(span.traceId, span.spanId);
      // A span a failed insert left stored is not written again, but its spend is still counted.
      let store = true;
      if (prior !== undefined || seen.has(key)) {
        duplicates++;
        const recovered = prior === "recovered" && !seen.has(key);
        if (prior instanceof Part && !waitFor.includes(prior)) waitFor.push(prior);
        seen.add(key);
        if (!recovered) return;
        store = false;
      } else seen.add(key);
      if (!runProcessors(this.processors, span, request)) {
        dropped++;
        return;
      }
      if (store) {
        if (span.usageRole === "model_call" && span.cost === null && span.usageInvalid === null) unpriced++;
        if (binary) {
          encodeSpanBinary(scratch, span);
          rowEnds.push(scratch.pos);
        } else chunk += encodeSpanRow(span);
        kept.push({ traceId: span.traceId, spanId: span.spanId });
      }
      if (this.onDurable !== null && (span.usageRole === "model_call" || span.toolName !== null)) {
        governed.push(governedOf(span));
      }
    });
    this.metrics.spansReceived.inc({ transport }, n.valid + n.rejected);
    if (n.rejected > 0) this.metrics.spansRejected.inc({ reason: "invalid" }, n.rejected);
    if (n.usageInvalid > 0) this.metrics.spansUsageInvalid.inc(n.usageInvalid);
    if (kept.length > 0) {
      // Written to bytes at once: a rope of row pieces kept alive until the batch is written
      // would be promoted to the old generation and make every major GC walk it.
      const part = new Part(kept.length, n.days, n.minNs, n.maxNs);
      if (binary) part.rowEnds = rowEnds;
      this.writer.append(binary ? scratch.bytes() : chunk, part);
      this.dedup.add(kept, part);
      waitFor.push(part);
    }
    this.metrics.queuedRows.set(this.writer.queuedRows);
    const answer = this.settle(
      waitFor,
      governed,
      {
        accepted: kept.length + duplicates + dropped,
        rejected: n.rejected,
        duplicates,
        errorMessage: n.errors.join("; "),
      },
      unpriced,
    );
    if (governed.length > 0 && this.onDurable !== null) {
      this.handingOver.add(answer);
      const handed = () => this.handingOver.delete(answer);
      answer.then(handed, handed);
    }
    return answer;
  }

  /** Resolves once every request accepted so far has handed its governed spans to `onDurable` (or failed). */
  async handedOver(): Promise<void> {
    await Promise.allSettled([...this.handingOver]);
  }

  private async settle(
    waitFor: Part[],
    governed: GovernedSpan[],
    result: IngestResult,
    unpriced: number,
  ): Promise<IngestResult> {
    for (const b of waitFor) await b.done;
    if (governed.length > 0 && this.onDurable !== null) {
      try {
        this.onDurable(governed);
      } catch (err) {
        this.log.error("governance hook failed", { err });
      }
    }
    this.metrics.spansAccepted.inc(result.accepted - result.duplicates);
    if (result.duplicates > 0) this.metrics.spansDuplicate.inc(result.duplicates);
    if (unpriced > 0) this.metrics.spansUnpriced.inc(unpriced);
    return result;
  }

  close(): Promise<void> {
    return this.writer.close();
  }
}

/** What governance needs of a durable span that can spend or call a tool. */
function governedOf(s: NormalizedSpan): GovernedSpan {
  return {
    traceId: s.traceId,
    spanId: s.spanId,
    timeMs: Number(s.startNs / 1_000_000n),
    agent: s.agent,
    team: s.team,
    modelCall: s.usageRole === "model_call",
    costNanos: s.cost?.totalNanos ?? 0,
    requestModel: s.requestModel,
    responseModel: s.responseModel,
    tool: s.toolName,
  };
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
