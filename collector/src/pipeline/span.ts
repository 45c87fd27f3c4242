import type { Attrs, AttrTypes, Cost, GenAiFacts } from "@cognive/semconv";
import type { DecodedEvent, DecodedLink } from "../otlp/model.ts";

/** Who sent a request, from the one identity step of ingest. */
export interface IngestIdentity {
  /** Team every span of the request is stamped with; null lets the resource say. */
  team: string | null;
}

/**
 * One validated span, flat and typed: what normalize makes of a decoded span, what processors
 * complete and what the exporter encodes. It lives only while its request is being accepted (in a
 * stage worker between normalize and process when `COGNIVE_INGEST_WORKERS` > 0), never in the write queue.
 *
 * The GenAI facts are its own fields (so a pricer reads it as it is); when the reported usage was
 * implausible (`usageInvalid`), the token counts are null: stored as zero, never priced.
 */
export interface NormalizedSpan extends GenAiFacts {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  traceState: string;
  name: string;
  /** The span kind's name as stored (`Server`, `Client`, …). */
  kind: string;
  /** Start, Unix nanoseconds (the receive time when the span had none). */
  startNs: bigint;
  durationNs: bigint;
  /** The status code's name as stored (`Unset`, `Ok`, `Error`). */
  statusCode: string;
  statusMessage: string;
  serviceName: string;
  environment: string;
  /** The resource's attributes: the same object for every span of one resource. */
  resource: Attrs;
  resourceTypes: AttrTypes | undefined;
  scopeName: string;
  scopeVersion: string;
  attributes: Attrs;
  attributeTypes: AttrTypes | undefined;
  events: readonly DecodedEvent[];
  links: readonly DecodedLink[];

  /** Attribution inputs: the span's own agent (not the resource fallback), its trace's `invoke_agent`, the resource's. */
  spanAgent: string | null;
  traceInvokeAgent: string | null;
  resourceAgent: string | null;
  resourceTeam: string | null;
  /** Why the reported usage cannot be true, or null. */
  usageInvalid: string | null;

  /** Set by processors: attribution, tenant stamping, pricing. */
  agent: string;
  team: string;
  cost: Cost | null;
}

/** What processors know of the request a span came in. */
export interface RequestContext {
  readonly identity: IngestIdentity;
}

/**
 * One step between normalize and export, run on every new span (duplicates of stored spans skip
 * it, so nothing is priced twice). It completes or rewrites the span in place and returns true to
 * keep it; false drops it (a sampler): acknowledged, not stored, not governed.
 */
export interface SpanProcessor {
  readonly name: string;
  process(span: NormalizedSpan, request: RequestContext): boolean;
}
