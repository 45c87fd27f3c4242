import { type Attrs, extractFacts, type Pricer } from "@cognive/semconv";
import { resolveAgent, resolveTeam } from "../governance/resolve.ts";
import { isZeroId } from "../otlp/hex.ts";
import {
  type DecodedEvent,
  type DecodedLink,
  type DecodedSpan,
  type DecodedTraces,
  SPAN_KIND_NAMES,
  STATUS_CODE_NAMES,
} from "../otlp/model.ts";
import type { Policy } from "../policy.ts";
import { quotedString, tsvFloat, tsvMap, tsvNanos, tsvString, tsvStringArray, tsvTypes } from "../storage/tsv.ts";

/** Who sent a request, from the one identity step of ingest. */
export interface IngestIdentity {
  /** Team every span of the request is stamped with; null lets the resource say. */
  team: string | null;
}

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

/** A span that passed validation, keyed for de-duplication, with its TSV row. */
export interface NormalizedBatch {
  /** TSV rows, in SPAN_COLUMNS order, each ending in a newline. */
  rows: string[];
  /** Trace and span id of each row, parallel to `rows`. */
  ids: { traceId: string; spanId: string }[];
  rejected: number;
  /** First few reasons for rejected spans, for partial_success.error_message. */
  errors: string[];
  /** Indexes into `rows` of LLM calls whose model has no known price. */
  unpriced: Set<number>;
  /** What governance needs of the spans that can spend or call tools, with their row index. */
  governed: GovernedSpan[];
  /** Indexes into `rows` of model calls whose usage was above the plausible ceiling (stored unpriced). */
  usageInvalid: Set<number>;
  /** UTC day numbers (days since the epoch) the rows fall on: the storage partitions they write. */
  days: Set<number>;
  /** Earliest and latest span start among `rows`, in Unix nanoseconds. */
  minNs: bigint;
  maxNs: bigint;
}

/** The facts budgets and policies act on, for one model call or tool call. */
export interface GovernedSpan {
  row: number;
  traceId: string;
  spanId: string;
  timeMs: number;
  agent: string;
  team: string;
  modelCall: boolean;
  costUsd: number;
  requestModel: string | null;
  responseModel: string | null;
  tool: string | null;
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
 * Turns decoded OTLP into validated, normalized, priced span rows. A bad span is rejected alone.
 * Agent: the span's own, else its trace's `invoke_agent` span (in the same request), else the
 * resource's `gen_ai.agent.name`, else `service.name`. Team: the ingest key's, else the policy's for
 * the agent, else the resource's `cognive.team`.
 */
export function normalize(
  req: DecodedTraces,
  identity: IngestIdentity,
  pricer: Pricer,
  nowNs: bigint,
  policy: Pick<Policy, "agents"> = NO_AGENTS,
  limits: SpanLimits = defaultSpanLimits,
): NormalizedBatch {
  const out: NormalizedBatch = {
    rows: [],
    ids: [],
    rejected: 0,
    errors: [],
    unpriced: new Set(),
    governed: [],
    usageInvalid: new Set(),
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
    const resourceTsv = tsvMap(res);
    const resourceTypesTsv = tsvTypes(res, rs.resourceTypes);
    const serviceTsv = tsvString(serviceName);
    const envTsv = tsvString(environment);
    for (const ss of rs.scopeSpans) {
      const scopeTsv = `${tsvString(ss.scopeName)}\t${tsvString(ss.scopeVersion)}`;
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
        if (out.rows.length === 0 || startNs < out.minNs) out.minNs = startNs;
        if (startNs > out.maxNs) out.maxNs = startNs;
        const facts = extractFacts(s.name, s.attributes, res);
        let attributes = s.attributes;
        const implausible = facts.usageRole === "model_call" ? implausibleUsage(facts, limits.maxTokensPerCall) : null;
        if (implausible !== null) {
          out.usageInvalid.add(out.rows.length);
          attributes = { ...s.attributes, [USAGE_INVALID_ATTRIBUTE]: implausible };
        }
        const durationNs = s.endNs > startNs ? s.endNs - startNs : 0n;
        // extractFacts falls back to the resource's agent itself; the trace's invoke_agent ranks above it.
        const spanAgent = facts.agentName !== resourceAgent ? facts.agentName : str(s.attributes["gen_ai.agent.name"]);
        const agent = resolveAgent({
          spanAgent,
          traceInvokeAgent: traceAgents.get(s.traceId),
          resourceAgent,
          serviceName,
        });
        const team = resolveTeam(agent, policy, resourceTeam, identity.team);
        const cost =
          facts.usageRole === "model_call" && implausible === null
            ? pricer.price(facts, new Date(Number(startNs / 1_000_000n)))
            : null;
        if (facts.usageRole === "model_call" && cost === null && implausible === null)
          out.unpriced.add(out.rows.length);
        const usage = implausible === null ? facts : NO_USAGE;
        const row =
          `${tsvNanos(startNs)}\t${s.traceId}\t${s.spanId}\t${s.parentSpanId}\t${tsvString(s.traceState)}\t` +
          `${tsvString(s.name)}\t${SPAN_KIND_NAMES[s.kind] ?? "Unspecified"}\t${serviceTsv}\t${resourceTsv}\t${scopeTsv}\t` +
          `${tsvMap(attributes)}\t${durationNs}\t${STATUS_CODE_NAMES[s.statusCode] ?? "Unset"}\t${tsvString(s.statusMessage)}\t` +
          `${eventsTsv(s)}\t${linksTsv(s)}\t${tsvString(team)}\t${envTsv}\t${tsvString(agent)}\t` +
          `${tsvString(facts.operation ?? "")}\t${tsvString(facts.provider ?? "")}\t${tsvString(facts.requestModel ?? "")}\t` +
          `${tsvString(facts.responseModel ?? "")}\t${facts.usageRole}\t${tokens(usage.inputTokens)}\t${tokens(usage.outputTokens)}\t` +
          `${tokens(usage.cacheReadTokens)}\t${tokens(usage.cacheWriteTokens)}\t${tokens(usage.reasoningTokens)}\t` +
          `${tsvString(facts.toolName ?? "")}\t${tsvString(facts.conversationId ?? "")}\t${tsvString(facts.userId ?? "")}\t` +
          (cost === null
            ? "0\t0\t0\t0\t0\t0\t"
            : `1\t${tsvFloat(cost.inputUsd)}\t${tsvFloat(cost.outputUsd)}\t${tsvFloat(cost.cacheReadUsd)}\t` +
              `${tsvFloat(cost.cacheWriteUsd)}\t${tsvFloat(cost.totalUsd)}\t`) +
          `${resourceTypesTsv}\t${tsvTypes(attributes, s.attributeTypes)}\t${typesTsv(s.events)}\t${typesTsv(s.links)}\n`;
        if (facts.usageRole === "model_call" || facts.toolName !== null) {
          out.governed.push({
            row: out.rows.length,
            traceId: s.traceId,
            spanId: s.spanId,
            timeMs: Number(startNs / 1_000_000n),
            agent,
            team,
            modelCall: facts.usageRole === "model_call",
            costUsd: cost?.totalUsd ?? 0,
            requestModel: facts.requestModel,
            responseModel: facts.responseModel,
            tool: facts.toolName,
          });
        }
        out.rows.push(row);
        out.ids.push(s);
      }
    }
  }
  return out;
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

function tokens(n: number | null): string {
  return n === null ? "0" : String(Math.trunc(n));
}

function eventsTsv(s: DecodedSpan): string {
  const evs = s.events;
  if (evs.length === 0) return "[]\t[]\t[]";
  const times: string[] = [];
  const names: string[] = [];
  const attrs: string[] = [];
  for (const e of evs) {
    times.push(quotedString(tsvNanos(e.timeNs)));
    names.push(e.name);
    attrs.push(tsvMap(e.attributes));
  }
  return `[${times.join(",")}]\t${tsvStringArray(names)}\t[${attrs.join(",")}]`;
}

/** The type maps of each event's or link's attributes, as one Array(Map) column. */
function typesTsv(items: readonly DecodedEvent[] | readonly DecodedLink[]): string {
  if (items.length === 0) return "[]";
  let out = "[";
  for (let i = 0; i < items.length; i++) out += (i ? "," : "") + tsvTypes(items[i].attributes, items[i].attributeTypes);
  return `${out}]`;
}

function linksTsv(s: DecodedSpan): string {
  const links = s.links;
  if (links.length === 0) return "[]\t[]\t[]\t[]";
  return (
    `${tsvStringArray(links.map((l) => l.traceId))}\t${tsvStringArray(links.map((l) => l.spanId))}\t` +
    `${tsvStringArray(links.map((l) => l.traceState))}\t[${links.map((l) => tsvMap(l.attributes as Attrs)).join(",")}]`
  );
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
