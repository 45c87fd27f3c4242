import type { Pricer } from "@cognive/semconv";
import type { Logger } from "../log.ts";
import type { CollectorMetrics } from "../metrics.ts";
import type { DecodedTraces } from "../otlp/model.ts";
import type { Policy } from "../policy.ts";
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

import { SpanDeduper } from "./dedup.ts";
import {
  defaultSpanLimits,
  type GovernedSpan,
  type IngestIdentity,
  type NormalizedBatch,
  normalize,
  type SpanLimits,
} from "./normalize.ts";
import { type FailedRows, GroupCommitWriter, Part, type WriterConfig } from "./writer.ts";

export interface IngestResult {
  accepted: number;
  rejected: number;
  duplicates: number;
  errorMessage: string;
}

/** Called with the governed spans of a request once they are durable (budgets, policies, alerts). */
export type CommittedHook = (spans: GovernedSpan[]) => void;

export interface IngestConfig {
  writer: WriterConfig;
  /** How many recent span ids are remembered to drop retried duplicates. */
  dedupCapacity: number;
  /** Declared agents, for the team of a span whose agent the policy names. */
  policy?: Pick<Policy, "agents">;
  /** What storage can hold and what usage is plausible. */
  limits?: SpanLimits;
  /** Inserts this recent are remembered across a restart, so their retries are not stored twice. */
  retryWindowMinutes?: number;
}

/**
 * The ingest pipeline: normalize + price, drop retried duplicates, group-commit to storage.
 * `ingest` resolves only once every accepted span of the request is durable.
 */
export class IngestPipeline {
  readonly writer: GroupCommitWriter;
  private readonly dedup: SpanDeduper;
  /** Set by governance; runs after the commit, off the request's answer. */
  onCommitted: CommittedHook | null = null;

  constructor(
    private readonly storage: Storage,
    private readonly pricer: Pricer,
    private readonly metrics: CollectorMetrics,
    private readonly log: Logger,
    private readonly config: IngestConfig,
  ) {
    this.dedup = new SpanDeduper(config.dedupCapacity);
    this.writer = new GroupCommitWriter(storage, config.writer, log, {
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
  private async recover(failed: FailedRows): Promise<Map<Part, string>> {
    const perPart: { part: Part; lines: string[]; keys: SpanKey[] }[] = [];
    const all: SpanKey[] = [];
    let minNs = -1n;
    let maxNs = 0n;
    for (const part of failed.parts) {
      const lines = failed.body.toString("utf8", part.start, part.end).split("\n");
      lines.pop();
      const keys = lines.map((l) => {
        const [, traceId, spanId] = l.split("\t", 3);
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
    const out = new Map<Part, string>();
    for (const { part, lines, keys } of perPart) {
      let left = "";
      let rows = 0;
      lines.forEach((l, i) => {
        if (stored.has(keys[i].traceId + keys[i].spanId)) return;
        left += `${l}\n`;
        rows++;
      });
      part.rows = rows;
      out.set(part, left);
    }
    return out;
  }

  /**
   * Accepts a request: normalizes and prices it, queues its new spans, and returns a promise of the
   * answer that settles once they are durable. Everything decoded is dropped before that promise
   * waits, so in-flight requests hold only their bytes in the write queue, not object graphs that
   * would survive into the old generation.
   */
  submit(req: DecodedTraces, identity: IngestIdentity, transport: string): Promise<IngestResult> {
    const n = normalize(
      req,
      identity,
      this.pricer,
      BigInt(Date.now()) * 1_000_000n,
      this.config.policy,
      this.config.limits ?? defaultSpanLimits,
    );
    this.metrics.spansReceived.inc({ transport }, n.rows.length + n.rejected);
    if (n.rejected > 0) this.metrics.spansRejected.inc({ reason: "invalid" }, n.rejected);
    if (n.usageInvalid.size > 0) this.metrics.spansUsageInvalid.inc(n.usageInvalid.size);

    // Drop spans already written or in flight; wait for the batches that carry them instead.
    let chunk = "";
    const kept: NormalizedBatch["ids"] = [];
    // Rows whose spend governance counts: new ones, and retries of spans a failed insert left stored.
    const governRows = new Uint8Array(n.rows.length);
    const waitFor: Part[] = [];
    const seen = new Set<string>();
    let duplicates = 0;
    let unpriced = 0;
    for (let i = 0; i < n.rows.length; i++) {
      const id = n.ids[i];
      const prior = this.dedup.lookup(id.traceId, id.spanId);
      const key = id.traceId + id.spanId;
      if (prior !== undefined || seen.has(key)) {
        duplicates++;
        if (prior === "recovered" && !seen.has(key)) governRows[i] = 1;
        else if (prior instanceof Part && !waitFor.includes(prior)) waitFor.push(prior);
        seen.add(key);
        continue;
      }
      seen.add(key);
      if (n.unpriced.has(i)) unpriced++;
      chunk += n.rows[i];
      kept.push(id);
      governRows[i] = 1;
    }
    if (kept.length > 0) {
      // Written to bytes at once: a rope of row pieces kept alive until the batch is written
      // would be promoted to the old generation and make every major GC walk it.
      const part = this.writer.append(chunk, new Part(kept.length, n.days, n.minNs, n.maxNs));
      this.dedup.add(kept, part);
      waitFor.push(part);
    }
    this.metrics.queuedRows.set(this.writer.queuedRows);
    const governed = this.onCommitted === null ? [] : n.governed.filter((g) => governRows[g.row] === 1);
    return this.settle(
      waitFor,
      governed,
      {
        accepted: kept.length + duplicates,
        rejected: n.rejected,
        duplicates,
        errorMessage: n.errors.join("; "),
      },
      unpriced,
    );
  }

  private async settle(
    waitFor: Part[],
    governed: GovernedSpan[],
    result: IngestResult,
    unpriced: number,
  ): Promise<IngestResult> {
    for (const b of waitFor) await b.done;
    if (governed.length > 0 && this.onCommitted !== null) {
      try {
        this.onCommitted(governed);
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
