import { extractFacts, type Pricer } from "@cognive/semconv";
import { isZeroId } from "../otlp/hex.ts";
import { type DecodedSpan, type DecodedTraces, SPAN_KIND_NAMES, STATUS_CODE_NAMES } from "../otlp/model.ts";
import type { Policy } from "../policy.ts";
import { encodeSpanRow } from "../storage/span-table.ts";
import { defaultProcessors } from "./processors.ts";
import type { IngestIdentity, NormalizedSpan, RequestContext, SpanProcessor } from "./span.ts";

export type { IngestIdentity } from "./span.ts";

/** What storage can hold and what a call may plausibly report; spans outside are refused or unpriced. */
export interface SpanLimits {
  /** Earliest span, event or end time accepted, in Unix nanoseconds. */
  minNs: bigint;
  /** Latest accepted time (exclusive): the span table's DateTime keys end in February 2106. */
  maxNs: bigint;
  /** Distinct UTC days one request may write to (each day is a storage partition). */
  maxDaysPerRequest: number;
  /** Tokens of one kind above this in one call mark its usage invalid: stored, not priced. */
  maxTokensPerCall: number;
}

const NS_PER_DAY = 86_400_000_000_000n;

export const defaultSpanLimits: SpanLimits = {
  minNs: BigInt(Date.UTC(2000, 0, 1)) * 1_000_000n,
  maxNs: 4_294_967_296n * 1_000_000_000n,
  maxDaysPerRequest: 31,
  maxTokensPerCall: 100_000_000,
};

/** The attribute that marks a call whose reported usage was implausible and left unpriced. */
export const USAGE_INVALID_ATTRIBUTE = "cognive.usage.invalid";

/** What normalizing a request found, beside the spans it handed on. */
export interface NormalizeSummary {
  /** Spans that passed validation (each handed to `visit`). */
  valid: number;
  rejected: number;
  /** First few reasons for rejected spans, for partial_success.error_message. */
  errors: string[];
  /** Valid model calls whose usage was above the plausible ceiling (stored unpriced). */
  usageInvalid: number;
  /** UTC day numbers (days since the epoch) the valid spans fall on: the storage partitions they write. */
  days: Set<number>;
  /** Earliest and latest start of the valid spans, in Unix nanoseconds. */
  minNs: bigint;
  maxNs: bigint;
}

const MAX_ERRORS = 5;
const NO_AGENTS: Pick<Policy, "agents"> = { agents: new Map() };

function invalidReason(s: DecodedSpan, startNs: bigint, limits: SpanLimits): string | null {
  if (s.invalid) return s.invalid;
  if (startNs < limits.minNs || startNs >= limits.maxNs)
    return `span start ${startNs} ns is outside ${rangeText(limits)}`;
  if (s.endNs !== 0n && (s.endNs < limits.minNs || s.endNs >= limits.maxNs)) {
    return `span end ${s.endNs} ns is outside ${rangeText(limits)}`;
  }
  for (const e of s.events) {
    if (e.timeNs < limits.minNs || e.timeNs >= limits.maxNs) {
      return `event "${e.name.slice(0, 64)}" time ${e.timeNs} ns is outside ${rangeText(limits)}`;
    }
  }
  // Decoders guarantee lower-case hex, so the length tells the byte count.
  if (s.traceId.length !== 32 || isZeroId(s.traceId)) return `trace id "${s.traceId}" is not 16 non-zero bytes`;
  if (s.spanId.length !== 16 || isZeroId(s.spanId)) return `span id "${s.spanId}" is not 8 non-zero bytes`;
  if (s.parentSpanId !== "" && s.parentSpanId.length !== 16) return `parent span id "${s.parentSpanId}" is not 8 bytes`;
  return null;
}

function rangeText(limits: SpanLimits): string {
  const iso = (ns: bigint) => new Date(Number(ns / 1_000_000n)).toISOString();
  return `the storable range [${iso(limits.minNs)}, ${iso(limits.maxNs)})`;
}

const str = (v: unknown): string | null => (typeof v === "string" && v !== "" ? v : null);

/**
 * Validates decoded OTLP and hands each valid span to `visit` as a `NormalizedSpan`, one at a time
 * (a bad span is rejected alone). Attribution, pricing and encoding are left to the processors and
 * the exporter `visit` runs; `agent`, `team` and `cost` arrive empty.
 */
export function normalizeTraces(
  req: DecodedTraces,
  nowNs: bigint,
  limits: SpanLimits,
  visit: (span: NormalizedSpan) => void,
): NormalizeSummary {
  const out: NormalizeSummary = {
    valid: 0,
    rejected: 0,
    errors: [],
    usageInvalid: 0,
    days: new Set(),
    minNs: 0n,
    maxNs: 0n,
  };
  const reject = (reason: string) => {
    out.rejected++;
    if (out.errors.length < MAX_ERRORS) out.errors.push(reason);
  };
  const traceAgents = collectTraceAgents(req);
  for (const rs of req.resourceSpans) {
    const res = rs.resource;
    const serviceName = str(res["service.name"]) ?? "unknown_service";
    const resourceTeam = str(res["cognive.team"]);
    const resourceAgent = str(res["gen_ai.agent.name"]);
    const environment = str(res["deployment.environment.name"]) ?? str(res["deployment.environment"]) ?? "";
    for (const ss of rs.scopeSpans) {
      for (const s of ss.spans) {
        const startNs = s.startNs > 0n ? s.startNs : nowNs;
        const reason = invalidReason(s, startNs, limits);
        if (reason !== null) {
          reject(reason);
          continue;
        }
        const day = Number(startNs / NS_PER_DAY);
        if (!out.days.has(day)) {
          if (out.days.size >= limits.maxDaysPerRequest) {
            reject(
              `request spans more than ${limits.maxDaysPerRequest} UTC days; send older spans in requests of their own`,
            );
            continue;
          }
          out.days.add(day);
        }
        if (out.valid === 0 || startNs < out.minNs) out.minNs = startNs;
        if (startNs > out.maxNs) out.maxNs = startNs;
        out.valid++;
        const facts = extractFacts(s.name, s.attributes, res);
        let attributes = s.attributes;
        const implausible = facts.usageRole === "model_call" ? implausibleUsage(facts, limits.maxTokensPerCall) : null;
        if (implausible !== null) {
          out.usageInvalid++;
          attributes = { ...s.attributes, [USAGE_INVALID_ATTRIBUTE]: implausible };
        }
        const usage = implausible === null ? facts : NO_USAGE;
        // One literal of fixed shape: spreading the facts in made every span a slow dictionary object.
        visit({
          traceId: s.traceId,
          spanId: s.spanId,
          parentSpanId: s.parentSpanId,
          traceState: s.traceState,
          name: s.name,
          kind: SPAN_KIND_NAMES[s.kind] ?? "Unspecified",
          startNs,
          durationNs: s.endNs > startNs ? s.endNs - startNs : 0n,
          statusCode: STATUS_CODE_NAMES[s.statusCode] ?? "Unset",
          statusMessage: s.statusMessage,
          serviceName,
          environment,
          resource: res,
          resourceTypes: rs.resourceTypes,
          scopeName: ss.scopeName,
          scopeVersion: ss.scopeVersion,
          attributes,
          attributeTypes: s.attributeTypes,
          events: s.events,
          links: s.links,
          // extractFacts falls back to the resource's agent itself; the trace's invoke_agent ranks above it.
          spanAgent: facts.agentName !== resourceAgent ? facts.agentName : str(s.attributes["gen_ai.agent.name"]),
          traceInvokeAgent: traceAgents.get(s.traceId) ?? null,
          resourceAgent,
          resourceTeam,
          operation: facts.operation,
          provider: facts.provider,
          requestModel: facts.requestModel,
          responseModel: facts.responseModel,
          inputTokens: usage.inputTokens,
          outputTokens: usage.outputTokens,
          cacheReadTokens: usage.cacheReadTokens,
          cacheWriteTokens: usage.cacheWriteTokens,
          reasoningTokens: usage.reasoningTokens,
          agentName: facts.agentName,
          toolName: facts.toolName,
          conversationId: facts.conversationId,
          userId: facts.userId,
          usageRole: facts.usageRole,
          usageInvalid: implausible,
          agent: "",
          team: "",
          cost: null,
        });
      }
    }
  }
  return out;
}

/**
 * The whole span path without de-duplication or a writer: validated, processed (attribution, tenant
 * stamping, pricing) and encoded as span-table TSV rows. For tools and tests that write rows themselves.
 */
export function normalize(
  req: DecodedTraces,
  identity: IngestIdentity,
  pricer: Pricer,
  nowNs: bigint,
  policy: Pick<Policy, "agents"> = NO_AGENTS,
  limits: SpanLimits = defaultSpanLimits,
): { rows: string[]; ids: { traceId: string; spanId: string }[]; rejected: number; errors: string[] } {
  const processors = defaultProcessors(pricer, policy);
  const request = { identity };
  const rows: string[] = [];
  const ids: { traceId: string; spanId: string }[] = [];
  const summary = normalizeTraces(req, nowNs, limits, (span) => {
    if (!runProcessors(processors, span, request)) return;
    rows.push(encodeSpanRow(span));
    ids.push({ traceId: span.traceId, spanId: span.spanId });
  });
  return { rows, ids, rejected: summary.rejected, errors: summary.errors };
}

/** Runs the processors in order; false once one drops the span. */
export function runProcessors(
  processors: readonly SpanProcessor[],
  span: NormalizedSpan,
  request: RequestContext,
): boolean {
  for (const p of processors) if (!p.process(span, request)) return false;
  return true;
}

type Usage = Pick<
  ReturnType<typeof extractFacts>,
  "inputTokens" | "outputTokens" | "cacheReadTokens" | "cacheWriteTokens" | "reasoningTokens"
>;
const NO_USAGE: Usage = {
  inputTokens: null,
  outputTokens: null,
  cacheReadTokens: null,
  cacheWriteTokens: null,
  reasoningTokens: null,
};

const USAGE_KINDS = Object.keys(NO_USAGE) as (keyof Usage)[];

/** Why a call's reported usage cannot be true (a count above the ceiling, or not a finite count), or null. */
function implausibleUsage(u: Usage, ceiling: number): string | null {
  for (const kind of USAGE_KINDS) {
    const n = u[kind];
    if (n === null) continue;
    if (!Number.isFinite(n) || n < 0) return `${kind} ${n} is not a token count`;
    if (n > ceiling) return `${kind} ${n} is above the ${ceiling} tokens-per-call ceiling`;
  }
  return null;
}

/** Agent names of `invoke_agent` spans per trace in this request, for spans that name no agent. */
function collectTraceAgents(req: DecodedTraces): Map<string, string> {
  const m = new Map<string, string>();
  for (const rs of req.resourceSpans) {
    for (const ss of rs.scopeSpans) {
      for (const s of ss.spans) {
        if (!s.name.startsWith("invoke_agent")) continue;
        const name = str(s.attributes["gen_ai.agent.name"]) ?? (s.name.length > 13 ? s.name.slice(13) : null);
        if (name && !m.has(s.traceId)) m.set(s.traceId, name);
      }
    }
  }
  return m;
}
