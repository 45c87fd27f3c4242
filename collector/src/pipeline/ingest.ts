import type { Pricer } from "@cognive/semconv";
import type { Logger } from "../log.ts";
import type { CollectorMetrics } from "../metrics.ts";
import type { DecodedTraces } from "../otlp/model.ts";
import type { Policy } from "../policy.ts";
import type { Storage } from "../storage/client.ts";
import { SpanDeduper } from "./dedup.ts";
import { type GovernedSpan, type IngestIdentity, type NormalizedBatch, normalize } from "./normalize.ts";
import { type Batch, GroupCommitWriter, type WriterConfig } from "./writer.ts";

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
    storage: Storage,
    private readonly pricer: Pricer,
    private readonly metrics: CollectorMetrics,
    private readonly log: Logger,
    private readonly config: IngestConfig,
  ) {
    this.dedup = new SpanDeduper(config.dedupCapacity);
    this.writer = new GroupCommitWriter(storage, config.writer, log, {
      onCommit: (batch, seconds) => {
        metrics.batchRows.observe(batch.rows);
        metrics.writeSeconds.observe(seconds);
        this.dedup.committed(batch);
      },
      onFailure: (batch) => {
        metrics.writeFailures.inc();
        this.dedup.forget(batch);
      },
    });
  }

  /**
   * Accepts a request: normalizes and prices it, queues its new spans, and returns a promise of the
   * answer that settles once they are durable. Everything decoded is dropped before that promise
   * waits, so in-flight requests hold only their bytes in the write queue, not object graphs that
   * would survive into the old generation.
   */
  submit(req: DecodedTraces, identity: IngestIdentity, transport: string): Promise<IngestResult> {
    const n = normalize(req, identity, this.pricer, BigInt(Date.now()) * 1_000_000n, this.config.policy);
    this.metrics.spansReceived.inc({ transport }, n.rows.length + n.rejected);
    if (n.rejected > 0) this.metrics.spansRejected.inc({ reason: "invalid" }, n.rejected);

    // Drop spans already written or in flight; wait for the batches that carry them instead.
    let chunk = "";
    const kept: NormalizedBatch["ids"] = [];
    const keptRows = new Uint8Array(n.rows.length);
    const waitFor: Batch[] = [];
    const seen = new Set<string>();
    let duplicates = 0;
    let unpriced = 0;
    for (let i = 0; i < n.rows.length; i++) {
      const id = n.ids[i];
      const prior = this.dedup.lookup(id.traceId, id.spanId);
      const key = id.traceId + id.spanId;
      if (prior !== undefined || seen.has(key)) {
        duplicates++;
        if (prior !== undefined && prior !== true && !waitFor.includes(prior)) waitFor.push(prior);
        continue;
      }
      seen.add(key);
      if (n.unpriced.has(i)) unpriced++;
      chunk += n.rows[i];
      kept.push(id);
      keptRows[i] = 1;
    }
    if (kept.length > 0) {
      // Written to bytes at once: a rope of row pieces kept alive until the batch is written
      // would be promoted to the old generation and make every major GC walk it.
      const batch = this.writer.append(chunk, kept.length);
      this.dedup.add(kept, batch);
      waitFor.push(batch);
    }
    this.metrics.queuedRows.set(this.writer.queuedRows);
    const governed = this.onCommitted === null ? [] : n.governed.filter((g) => keptRows[g.row] === 1);
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
    waitFor: Batch[],
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
