import type { Logger } from "../log.ts";
import type { CollectorMetrics } from "../metrics.ts";
import { isZeroId } from "../otlp/hex.ts";
import type { DecodedLogRecord, DecodedLogs } from "../otlp/model.ts";
import type { Policy } from "../policy.ts";
import { probeStorageWrite, type Storage } from "../storage/client.ts";
import { LOGS_TABLE } from "../storage/schema.ts";
import { attrToString, tsvMap, tsvNanos, tsvString } from "../storage/tsv.ts";
import type { IngestResult } from "./ingest.ts";
import { defaultSpanLimits, type IngestIdentity, type SpanLimits } from "./normalize.ts";
import { resolveAgent, resolveTeam } from "./processors.ts";
import { GroupCommitWriter, Part, type WriterConfig } from "./writer.ts";

/** otel_logs columns written, in TSV order (TimestampTime is the table's default). */
export const LOG_COLUMNS = [
  "Timestamp",
  "TraceId",
  "SpanId",
  "TraceFlags",
  "SeverityText",
  "SeverityNumber",
  "ServiceName",
  "Body",
  "ResourceSchemaUrl",
  "ResourceAttributes",
  "ScopeSchemaUrl",
  "ScopeName",
  "ScopeVersion",
  "ScopeAttributes",
  "LogAttributes",
  "EventName",
  "TeamName",
] as const;

const NS_PER_DAY = 86_400_000_000_000n;
const MAX_ERRORS = 5;

export interface NormalizedLogs {
  rows: string;
  count: number;
  rejected: number;
  errors: string[];
  days: Set<number>;
  minNs: bigint;
  maxNs: bigint;
}

const str = (v: unknown): string | null => (typeof v === "string" && v !== "" ? v : null);

function invalidReason(rec: DecodedLogRecord, ns: bigint, limits: SpanLimits): string | null {
  if (rec.invalid) return rec.invalid;
  if (ns < limits.minNs || ns >= limits.maxNs) {
    const iso = (n: bigint) => new Date(Number(n / 1_000_000n)).toISOString();
    return `log time ${ns} ns is outside the storable range [${iso(limits.minNs)}, ${iso(limits.maxNs)})`;
  }
  if (rec.traceId !== "" && (rec.traceId.length !== 32 || isZeroId(rec.traceId))) {
    return `trace id "${rec.traceId}" is not 16 non-zero bytes`;
  }
  if (rec.spanId !== "" && (rec.spanId.length !== 16 || isZeroId(rec.spanId))) {
    return `span id "${rec.spanId}" is not 8 non-zero bytes`;
  }
  if (rec.severityNumber > 255) return `severity number ${rec.severityNumber} is not a SeverityNumber`;
  return null;
}

/**
 * Turns decoded OTLP logs into otel_logs rows the way the ClickHouse exporter writes them (time
 * falls back to the observed time; body and attribute values as `AnyValue.AsString()`), plus the
 * team, resolved as for spans. The event name is the record's `event_name`, else the deprecated
 * `event.name` attribute (which stays in the attributes). A bad record is rejected alone.
 */
export function normalizeLogs(
  req: DecodedLogs,
  identity: IngestIdentity,
  nowNs: bigint,
  policy: Pick<Policy, "agents">,
  limits: SpanLimits,
): NormalizedLogs {
  const out: NormalizedLogs = { rows: "", count: 0, rejected: 0, errors: [], days: new Set(), minNs: 0n, maxNs: 0n };
  const reject = (reason: string) => {
    out.rejected++;
    if (out.errors.length < MAX_ERRORS) out.errors.push(reason);
  };
  for (const rl of req.resourceLogs) {
    const res = rl.resource;
    const serviceName = str(res["service.name"]) ?? "unknown_service";
    const resourceTeam = str(res["cognive.team"]);
    const resourceAgent = str(res["gen_ai.agent.name"]);
    const resourceTsv = `${tsvString(rl.schemaUrl)}\t${tsvMap(res)}`;
    for (const sl of rl.scopeLogs) {
      const scopeTsv =
        `${tsvString(sl.schemaUrl)}\t${tsvString(sl.scopeName)}\t${tsvString(sl.scopeVersion)}\t` +
        tsvMap(sl.scopeAttributes);
      for (const rec of sl.records) {
        const ns = rec.timeNs > 0n ? rec.timeNs : rec.observedNs > 0n ? rec.observedNs : nowNs;
        const reason = invalidReason(rec, ns, limits);
        if (reason !== null) {
          reject(reason);
          continue;
        }
        const day = Number(ns / NS_PER_DAY);
        if (!out.days.has(day)) {
          if (out.days.size >= limits.maxDaysPerRequest) {
            reject(`request spans more than ${limits.maxDaysPerRequest} UTC days; send older logs on their own`);
            continue;
          }
          out.days.add(day);
        }
        if (out.count === 0 || ns < out.minNs) out.minNs = ns;
        if (ns > out.maxNs) out.maxNs = ns;
        const agent = resolveAgent({
          spanAgent: str(rec.attributes["gen_ai.agent.name"]),
          resourceAgent,
          serviceName,
        });
        const team = resolveTeam(agent, policy, resourceTeam, identity.team);
        const eventName = rec.eventName || str(rec.attributes["event.name"]) || "";
        out.rows +=
          `${tsvNanos(ns)}\t${rec.traceId}\t${rec.spanId}\t${rec.flags & 0xff}\t${tsvString(rec.severityText)}\t` +
          `${rec.severityNumber}\t${tsvString(serviceName)}\t${tsvString(attrToString(rec.body))}\t${resourceTsv}\t` +
          `${scopeTsv}\t${tsvMap(rec.attributes)}\t${tsvString(eventName)}\t${tsvString(team)}\n`;
        out.count++;
      }
    }
  }
  return out;
}

export function countLogRecords(req: DecodedLogs): number {
  let n = 0;
  for (const rl of req.resourceLogs) for (const sl of rl.scopeLogs) n += sl.records.length;
  return n;
}

/**
 * Log ingest: validate and normalize, group-commit into otel_logs with a writer of its own (so a
 * burst of logs never queues behind spans, nor spans behind logs). `submit` resolves once the
 * request's rows are durable. Log records have no identity, so a retried request is stored again.
 */
export class LogPipeline {
  readonly writer: GroupCommitWriter;

  constructor(
    storage: Storage,
    private readonly metrics: CollectorMetrics,
    log: Logger,
    writerConfig: WriterConfig,
    private readonly policy: Pick<Policy, "agents"> = { agents: new Map() },
    private readonly limits: SpanLimits = defaultSpanLimits,
  ) {
    this.writer = new GroupCommitWriter(
      storage,
      writerConfig,
      log,
      {
        onCommit: (rows, seconds) => {
          metrics.batchRows.observe(rows);
          metrics.writeSeconds.observe(seconds);
        },
        onFailure: (parts, err) => {
          metrics.writeFailures.inc();
          if (err.name === "PermanentWriteError") {
            metrics.logsRejected.inc(
              { reason: "storage_refused" },
              parts.reduce((n, p) => n + p.rows, 0),
            );
          }
        },
        checkWritable: () => probeStorageWrite(storage),
      },
      { table: LOGS_TABLE, columns: LOG_COLUMNS },
    );
  }

  /** Queues the request's rows (throws at once when the writer refuses them) and resolves once they are durable. */
  submit(req: DecodedLogs, identity: IngestIdentity, transport: string): Promise<IngestResult> {
    const n = normalizeLogs(req, identity, BigInt(Date.now()) * 1_000_000n, this.policy, this.limits);
    this.metrics.logsReceived.inc({ transport }, n.count + n.rejected);
    if (n.rejected > 0) this.metrics.logsRejected.inc({ reason: "invalid" }, n.rejected);
    const part = n.count > 0 ? this.writer.append(n.rows, new Part(n.count, n.days, n.minNs, n.maxNs)) : null;
    const result = { accepted: n.count, rejected: n.rejected, duplicates: 0, errorMessage: n.errors.join("; ") };
    return this.settle(part, result);
  }

  private async settle(part: Part | null, result: IngestResult): Promise<IngestResult> {
    if (part !== null) {
      await part.done;
      this.metrics.logsAccepted.inc(result.accepted);
    }
    return result;
  }

  close(): Promise<void> {
    return this.writer.close();
  }
}
