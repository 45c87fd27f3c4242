import type { Attrs } from "@cognive/semconv";
import { answersWithin } from "../async.ts";
import type { Logger } from "../log.ts";
import type { CollectorMetrics } from "../metrics.ts";
import type { DecodedMetric, DecodedMetrics, DecodedPoint, MetricKind } from "../otlp/metrics-model.ts";
import type { Policy } from "../policy.ts";
import { probeStorageWrite, type Storage } from "../storage/client.ts";
import { isPermanentStorageError } from "../storage/errors.ts";
import { METRICS_TABLES } from "../storage/schema.ts";
import { quotedString, tsvMap, tsvNanos, tsvString, tsvStringArray } from "../storage/tsv.ts";
import type { IngestResult } from "./ingest.ts";
import type { IngestIdentity } from "./normalize.ts";
import { resolveAgent, resolveTeam } from "./processors.ts";
import { BackpressureError, PermanentWriteError, StorageUnavailableError } from "./writer.ts";

const COMMON = [
  "ResourceAttributes",
  "ResourceSchemaUrl",
  "ScopeName",
  "ScopeVersion",
  "ScopeAttributes",
  "ScopeDroppedAttrCount",
  "ScopeSchemaUrl",
  "ServiceName",
  "MetricName",
  "MetricDescription",
  "MetricUnit",
  "Attributes",
  "StartTimeUnix",
  "TimeUnix",
];
const EXEMPLARS = [
  "Exemplars.FilteredAttributes",
  "Exemplars.TimeUnix",
  "Exemplars.Value",
  "Exemplars.SpanId",
  "Exemplars.TraceId",
];

/** Column order of the TSV rows written to each metrics table (after COMMON, before TeamName). */
export const METRIC_COLUMNS: Record<MetricKind, string[]> = {
  gauge: [...COMMON, "Value", "Flags", ...EXEMPLARS, "TeamName"],
  sum: [...COMMON, "Value", "Flags", ...EXEMPLARS, "AggregationTemporality", "IsMonotonic", "TeamName"],
  histogram: [
    ...COMMON,
    "Count",
    "Sum",
    "BucketCounts",
    "ExplicitBounds",
    ...EXEMPLARS,
    "Flags",
    "Min",
    "Max",
    "AggregationTemporality",
    "TeamName",
  ],
  exponentialHistogram: [
    ...COMMON,
    "Count",
    "Sum",
    "Scale",
    "ZeroCount",
    "PositiveOffset",
    "PositiveBucketCounts",
    "NegativeOffset",
    "NegativeBucketCounts",
    ...EXEMPLARS,
    "Flags",
    "Min",
    "Max",
    "AggregationTemporality",
    "TeamName",
  ],
  summary: [...COMMON, "Count", "Sum", "ValueAtQuantiles.Quantile", "ValueAtQuantiles.Value", "Flags", "TeamName"],
};

/** Latest time DateTime64(9) holds (2262-04-11), in Unix ns. */
const MAX_NS = 9_223_372_036_854_775_807n;
const NS_PER_DAY = 86_400_000_000_000n;
/** ClickHouse refuses an insert touching more than 100 partitions (days). */
const MAX_DAYS_PER_REQUEST = 90;
const MAX_ERRORS = 10;

/** A double as ClickHouse's text formats read it, NaN and infinities included. */
function tsvDouble(n: number): string {
  if (Number.isFinite(n)) return String(n);
  return Number.isNaN(n) ? "nan" : n > 0 ? "inf" : "-inf";
}

const doubles = (xs: number[]) => `[${xs.map(tsvDouble).join(",")}]`;
const counts = (xs: number[]) => `[${xs.join(",")}]`;

function exemplarsTsv(p: DecodedPoint): string {
  const ex = p.exemplars;
  if (ex.length === 0) return "[]\t[]\t[]\t[]\t[]";
  return (
    `[${ex.map((e) => tsvMap(e.filteredAttributes)).join(",")}]\t` +
    `[${ex.map((e) => quotedString(tsvNanos(e.timeNs <= MAX_NS ? e.timeNs : 0n))).join(",")}]\t` +
    `${doubles(ex.map((e) => e.value))}\t${tsvStringArray(ex.map((e) => e.spanId))}\t${tsvStringArray(ex.map((e) => e.traceId))}`
  );
}

const isCount = (n: number) => Number.isSafeInteger(n) && n >= 0;
const countsOk = (xs: number[]) => xs.every(isCount);

/** Why a point cannot be stored, or null. */
function invalidReason(m: DecodedMetric, p: DecodedPoint): string | null {
  if (p.invalid) return `metric ${m.name}: ${p.invalid}`;
  if (m.name === "") return "metric without a name";
  if (p.timeNs === 0n) return `metric ${m.name}: data point without timeUnixNano`;
  if (p.timeNs > MAX_NS || p.startNs > MAX_NS)
    return `metric ${m.name}: timestamp after 2262-04-11 (outside DateTime64)`;
  switch (m.kind) {
    case "sum":
      if (m.monotonic && !(Number.isFinite(p.value) && p.value >= 0)) {
        return `metric ${m.name}: a monotonic sum must be finite and not negative, got ${p.value}`;
      }
      return null;
    case "histogram":
    case "exponentialHistogram":
    case "summary": {
      if (!isCount(p.count)) return `metric ${m.name}: count ${p.count} is not a storable integer`;
      if (Number.isNaN(p.sum)) return `metric ${m.name}: sum is NaN`;
      if (m.kind === "histogram") {
        if (!countsOk(p.bucketCounts)) return `metric ${m.name}: bucket counts are not storable integers`;
        if (p.bucketCounts.length !== 0 && p.bucketCounts.length !== p.explicitBounds.length + 1) {
          return `metric ${m.name}: ${p.bucketCounts.length} bucket counts for ${p.explicitBounds.length} bounds (want bounds + 1)`;
        }
        for (let i = 0; i < p.explicitBounds.length; i++) {
          const b = p.explicitBounds[i];
          if (Number.isNaN(b) || (i > 0 && b <= p.explicitBounds[i - 1])) {
            return `metric ${m.name}: explicit bounds must be increasing numbers`;
          }
        }
      } else if (m.kind === "exponentialHistogram") {
        if (p.scale < -10 || p.scale > 20) return `metric ${m.name}: scale ${p.scale} outside [-10, 20]`;
        if (!isCount(p.zeroCount) || !countsOk(p.positive.counts) || !countsOk(p.negative.counts)) {
          return `metric ${m.name}: bucket counts are not storable integers`;
        }
        if (Math.abs(p.positive.offset) > 2 ** 30 || Math.abs(p.negative.offset) > 2 ** 30) {
          return `metric ${m.name}: bucket offset out of range`;
        }
      }
      return null;
    }
    default:
      return null;
  }
}

function pointTsv(m: DecodedMetric, p: DecodedPoint): string {
  const flags = p.flags >>> 0;
  const temporality = m.temporality | 0;
  switch (m.kind as MetricKind) {
    case "gauge":
      return `${tsvDouble(p.value)}\t${flags}\t${exemplarsTsv(p)}`;
    case "sum":
      return `${tsvDouble(p.value)}\t${flags}\t${exemplarsTsv(p)}\t${temporality}\t${m.monotonic ? "true" : "false"}`;
    case "histogram":
      return (
        `${p.count}\t${tsvDouble(p.sum)}\t${counts(p.bucketCounts)}\t${doubles(p.explicitBounds)}\t${exemplarsTsv(p)}\t` +
        `${flags}\t${tsvDouble(p.min)}\t${tsvDouble(p.max)}\t${temporality}`
      );
    case "exponentialHistogram":
      return (
        `${p.count}\t${tsvDouble(p.sum)}\t${p.scale}\t${p.zeroCount}\t${p.positive.offset}\t${counts(p.positive.counts)}\t` +
        `${p.negative.offset}\t${counts(p.negative.counts)}\t${exemplarsTsv(p)}\t${flags}\t${tsvDouble(p.min)}\t` +
        `${tsvDouble(p.max)}\t${temporality}`
      );
    case "summary":
      return (
        `${p.count}\t${tsvDouble(p.sum)}\t${doubles(p.quantiles.map((q) => q.quantile))}\t` +
        `${doubles(p.quantiles.map((q) => q.value))}\t${flags}`
      );
  }
}

export interface NormalizedMetrics {
  /** TSV rows per kind. */
  rows: Map<MetricKind, string>;
  accepted: number;
  rejected: number;
  errors: string[];
}

const str = (v: unknown): string | null => (typeof v === "string" && v !== "" ? v : null);

/**
 * Turns decoded OTLP metrics into TSV rows per table. A bad point is rejected alone. Team as for
 * spans: the ingest key's, else the policy's for the resource's agent (or service), else the
 * resource's `cognive.team`.
 */
export function normalizeMetrics(
  req: DecodedMetrics,
  identity: IngestIdentity,
  policy: Pick<Policy, "agents">,
): NormalizedMetrics {
  const out: NormalizedMetrics = { rows: new Map(), accepted: 0, rejected: 0, errors: [] };
  const days = new Set<bigint>();
  const reject = (reason: string) => {
    out.rejected++;
    if (out.errors.length < MAX_ERRORS) out.errors.push(reason);
  };
  for (const rm of req.resourceMetrics) {
    const res: Attrs = rm.resource;
    const serviceName = str(res["service.name"]) ?? "unknown_service";
    const agent = resolveAgent({ resourceAgent: str(res["gen_ai.agent.name"]), serviceName });
    const team = resolveTeam(agent, policy, str(res["cognive.team"]), identity.team);
    const resourceTsv = `${tsvMap(res)}\t${tsvString(rm.schemaUrl)}`;
    for (const sm of rm.scopeMetrics) {
      const scopeTsv =
        `${tsvString(sm.scopeName)}\t${tsvString(sm.scopeVersion)}\t${tsvMap(sm.scopeAttributes)}\t0\t` +
        `${tsvString(sm.schemaUrl)}\t${tsvString(serviceName)}`;
      for (const m of sm.metrics) {
        if (m.kind === null) continue;
        const metricTsv = `${tsvString(m.name)}\t${tsvString(m.description)}\t${tsvString(m.unit)}`;
        for (const p of m.points) {
          const reason = invalidReason(m, p);
          if (reason !== null) {
            reject(reason);
            continue;
          }
          const day = p.timeNs / NS_PER_DAY;
          if (!days.has(day)) {
            if (days.size >= MAX_DAYS_PER_REQUEST) {
              reject(
                `request spans more than ${MAX_DAYS_PER_REQUEST} UTC days; send older points in requests of their own`,
              );
              continue;
            }
            days.add(day);
          }
          const row =
            `${resourceTsv}\t${scopeTsv}\t${metricTsv}\t${tsvMap(p.attributes)}\t${tsvNanos(p.startNs)}\t` +
            `${tsvNanos(p.timeNs)}\t${pointTsv(m, p)}\t${tsvString(team)}\n`;
          out.rows.set(m.kind, (out.rows.get(m.kind) ?? "") + row);
          out.accepted++;
        }
      }
    }
  }
  return out;
}

/** Longest a write probe may take before storage counts as still unavailable. */
const PROBE_TIMEOUT_MS = 2_000;

/**
 * Metric points go to storage one request at a time (one insert per table the request touches);
 * a request is answered once its inserts are done. No group commit: metric exports are periodic
 * and few, unlike spans. After a failed insert storage counts as unavailable until a probe writes.
 */
export class MetricsPipeline {
  private unavailable: string | null = null;
  private inFlight = 0;

  constructor(
    private readonly storage: Storage,
    private readonly metrics: CollectorMetrics,
    private readonly log: Logger,
    private readonly policy: Pick<Policy, "agents">,
    /** Requests writing at once beyond which new ones are refused (UNAVAILABLE / 429, retried). */
    private readonly maxInFlight = 64,
  ) {}

  /** The writer view the receivers use: health and probe. */
  get writer(): { readonly healthy: boolean; probe(): Promise<boolean> } {
    return this;
  }

  get healthy(): boolean {
    return this.unavailable === null;
  }

  async probe(): Promise<boolean> {
    if (this.unavailable === null) return true;
    const ok = await answersWithin(probeStorageWrite(this.storage), PROBE_TIMEOUT_MS);
    if (ok) this.unavailable = null;
    return ok;
  }

  submit(req: DecodedMetrics, identity: IngestIdentity, transport: string): Promise<IngestResult> {
    const n = normalizeMetrics(req, identity, this.policy);
    this.metrics.metricPointsReceived.inc({ transport }, n.accepted + n.rejected);
    if (n.rejected > 0) this.metrics.metricPointsRejected.inc({ reason: "invalid" }, n.rejected);
    if (this.unavailable !== null) return Promise.reject(new StorageUnavailableError(this.unavailable));
    if (this.inFlight >= this.maxInFlight) {
      return Promise.reject(new BackpressureError("too many metric exports are being written; retry later"));
    }
    return this.write(n);
  }

  private async write(n: NormalizedMetrics): Promise<IngestResult> {
    this.inFlight++;
    try {
      for (const [kind, body] of n.rows) {
        await this.storage.insertTsv(METRICS_TABLES[kind], METRIC_COLUMNS[kind], body);
      }
    } catch (err) {
      this.metrics.writeFailures.inc();
      if (isPermanentStorageError(err)) {
        this.metrics.metricPointsRejected.inc({ reason: "storage_refused" }, n.accepted);
        throw new PermanentWriteError(`storage refused the metric points: ${(err as Error).message}`);
      }
      this.unavailable = `storage unavailable: ${(err as Error).message}`;
      this.log.warn("storage: metric insert failed; unavailable until a probe writes", { err });
      throw new StorageUnavailableError(this.unavailable);
    } finally {
      this.inFlight--;
    }
    this.metrics.metricPointsAccepted.inc(n.accepted);
    return { accepted: n.accepted, rejected: n.rejected, duplicates: 0, errorMessage: n.errors.join("; ") };
  }
}
