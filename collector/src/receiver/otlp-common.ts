import protobuf from "protobufjs/minimal.js";
import type { Take } from "../auth/ratelimit.ts";
import type { AuthRuntime } from "../auth/runtime.ts";
import type { Identity } from "../auth/store.ts";
import { decodeTracesJson } from "../otlp/decode-json.ts";
import { decodeLogsJson, decodeLogsProto } from "../otlp/decode-logs.ts";
import { decodeTracesProto } from "../otlp/decode-proto.ts";
import type { DecodedLogs, DecodedTraces } from "../otlp/model.ts";
import type { IngestPipeline, IngestResult } from "../pipeline/ingest.ts";
import { countLogRecords, type LogPipeline } from "../pipeline/logs.ts";
import type { IngestIdentity } from "../pipeline/normalize.ts";
import type { StagedRequest } from "../pipeline/stage-pool.ts";

/** What the OTLP receivers (HTTP and gRPC) share: the identity step's team, the signals, the answer. */

/** An ingest key writes into its one team whatever the resource claims; an admin key lets the resource say. */
export function ingestIdentity(identity: Identity): IngestIdentity {
  return { team: identity.role === "ingest" && identity.teams !== "all" ? (identity.teams[0] ?? null) : null };
}

/**
 * One OTLP signal as both receivers serve it: `POST /v1/<name>` and `<grpcPath>`. Everything else
 * (content types, auth, rate limits, size limits, decompression, status mapping) is shared.
 */
export interface OtlpSignal<D = unknown> {
  /** HTTP path segment (`/v1/<name>`) and the `signal` label of the request metric. */
  name: string;
  /** The gRPC method, e.g. `/opentelemetry.proto.collector.trace.v1.TraceService/Export`. */
  grpcPath: string;
  /** What the items are called in messages ("spans", "log records"). */
  items: string;
  /** The JSON name of the partial_success count (`rejectedSpans`, `rejectedLogRecords`, `rejectedDataPoints`). */
  rejectedField: string;
  /**
   * Decodes a body (on this thread, or in a stage worker); a body that is not OTLP throws `DecodeError`.
   * `encoded` (only when `decodesEncoded`): the body still has this Content-Encoding to undo first.
   */
  decode(body: Buffer, format: BodyFormat, encoded?: EncodedBody): D | Promise<D>;
  /** Whether `decode` undoes a Content-Encoding itself (off the main thread). */
  decodesEncoded?: boolean;
  /** Items of a request, charged to the key's item rate limit when `limitItems` is set. */
  count(req: D): number;
  /** Lets go of a decoded request that will not be submitted (refused by a rate limit). */
  discard?(req: D): void;
  /** The per-key item limit the items count toward; absent: only the request limit applies. */
  limitItems?: "spans";
  /** The writer whose health gates the request: after a failure the next request probes it first. */
  writer: { readonly healthy: boolean; probe(): Promise<boolean> };
  /** Queues the request; resolves once every accepted item is durable. */
  submit(req: D, identity: IngestIdentity, transport: string): Promise<IngestResult>;
}

/** A body's Content-Encoding left for `decode` to undo, and the most bytes it may decode to. */
export interface EncodedBody {
  contentEncoding: string;
  limit: number;
}

/**
 * Decodes a body, charges its items to the key's item limit and submits it: the pending answer, or
 * the limit's refusal and what to tell the client. A decoded request that is not submitted is let go.
 */
export async function decodeAndSubmit<D>(
  signal: OtlpSignal<D>,
  auth: AuthRuntime | null,
  body: Buffer,
  format: BodyFormat,
  identity: Identity,
  transport: string,
  encoded?: EncodedBody,
): Promise<{ pending: Promise<IngestResult> } | { refused: Take; message: string }> {
  const decoded = await signal.decode(body, format, encoded);
  let submitted = false;
  try {
    if (auth && signal.limitItems) {
      const take = await auth.limit(identity, signal.limitItems, signal.count(decoded));
      if (!take.allowed) {
        return { refused: take, message: `${signal.limitItems.replace(/s$/, "")} rate limit of this key reached` };
      }
    }
    const pending = signal.submit(decoded, ingestIdentity(identity), transport);
    submitted = true;
    return { pending };
  } finally {
    if (!submitted) signal.discard?.(decoded);
  }
}

/** The two OTLP encodings a body comes in. */
export type BodyFormat = "proto" | "json";

/** A `decode` from a protobuf and a JSON decoder, both run on this thread. */
export function decodeWith<D>(proto: (b: Uint8Array) => D, json: (text: string) => D): OtlpSignal<D>["decode"] {
  return (body, format) => (format === "proto" ? proto(body) : json(body.toString("utf8")));
}

export const TRACE_EXPORT_PATH = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
export const LOGS_EXPORT_PATH = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";

export function countSpans(req: DecodedTraces): number {
  let n = 0;
  for (const rs of req.resourceSpans) for (const ss of rs.scopeSpans) n += ss.spans.length;
  return n;
}

/** Traces: decoded and normalized in the pipeline's stage workers when it has them, else on this thread. */
export function traceSignal(pipeline: IngestPipeline): OtlpSignal<DecodedTraces> | OtlpSignal<StagedRequest> {
  const common = {
    name: "traces",
    grpcPath: TRACE_EXPORT_PATH,
    items: "spans",
    rejectedField: "rejectedSpans",
    limitItems: "spans",
    writer: pipeline.writer,
  } as const;
  if (pipeline.workers !== null) {
    return {
      ...common,
      decode: (body, format, encoded) => pipeline.stageBody(body, format, encoded),
      decodesEncoded: true,
      count: (job) => job.request.items,
      discard: (job) => pipeline.discardStaged(job),
      submit: (job, identity, transport) => pipeline.submitStaged(job, identity, transport),
    } satisfies OtlpSignal<StagedRequest>;
  }
  return {
    ...common,
    decode: decodeWith(decodeTracesProto, decodeTracesJson),
    count: countSpans,
    submit: (req, identity, transport) => pipeline.submit(req, identity, transport),
  } satisfies OtlpSignal<DecodedTraces>;
}

/** Logs count toward the key's request limit only (the item limit is a span budget). */
export function logSignal(pipeline: LogPipeline): OtlpSignal<DecodedLogs> {
  return {
    name: "logs",
    grpcPath: LOGS_EXPORT_PATH,
    items: "log records",
    rejectedField: "rejectedLogRecords",
    decode: decodeWith(decodeLogsProto, decodeLogsJson),
    count: countLogRecords,
    writer: pipeline.writer,
    submit: (req, identity, transport) => pipeline.submit(req, identity, transport),
  };
}

/**
 * Export<Signal>ServiceResponse in protobuf, with partial_success only when something was rejected.
 * Every signal's partial success is {rejected_<items>=1 int64, error_message=2}.
 */
export function exportResponseProto(result: IngestResult): Uint8Array {
  if (result.rejected <= 0) return new Uint8Array(0);
  const inner = protobuf.Writer.create()
    .uint32(8)
    .int64(result.rejected)
    .uint32(18)
    .string(result.errorMessage)
    .finish();
  return protobuf.Writer.create().uint32(10).bytes(inner).finish();
}

/** The same response in OTLP/JSON. */
export function exportResponseJson(signal: OtlpSignal, result: IngestResult): string {
  return JSON.stringify(
    result.rejected > 0
      ? { partialSuccess: { [signal.rejectedField]: String(result.rejected), errorMessage: result.errorMessage } }
      : {},
  );
}
