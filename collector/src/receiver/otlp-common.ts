import protobuf from "protobufjs/minimal.js";
import type { Identity } from "../auth/store.ts";
import type { DecodedTraces } from "../otlp/model.ts";
import type { IngestResult } from "../pipeline/ingest.ts";
import type { IngestIdentity } from "../pipeline/normalize.ts";

/** What the OTLP receivers (HTTP and gRPC) share: the identity step's team, span counts, the answer. */

/** An ingest key writes into its one team whatever the resource claims; an admin key lets the resource say. */
export function ingestIdentity(identity: Identity): IngestIdentity {
  return { team: identity.role === "ingest" && identity.teams !== "all" ? (identity.teams[0] ?? null) : null };
}

export function countSpans(req: DecodedTraces): number {
  let n = 0;
  for (const rs of req.resourceSpans) for (const ss of rs.scopeSpans) n += ss.spans.length;
  return n;
}

/** ExportTraceServiceResponse in protobuf, with partial_success only when something was rejected. */
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
