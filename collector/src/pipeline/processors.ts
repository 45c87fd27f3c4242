import { type PriceOverride, Pricer } from "@cognive/semconv";
import type { NormalizedSpan, RequestContext, SpanProcessor } from "./span.ts";

type Maybe = string | null | undefined;

/** What attribution reads of the policy: each declared agent's team. */
export interface AgentTeams {
  agents: ReadonlyMap<string, { readonly team: string | null }>;
}

function nonEmpty(v: Maybe): v is string {
  return typeof v === "string" && v !== "";
}

/**
 * The agent a span belongs to: the span's own `gen_ai.agent.name`, else the agent of its trace's
 * `invoke_agent` span, else the resource's `gen_ai.agent.name`, else `service.name`; "" when none is set.
 */
export function resolveAgent(src: {
  spanAgent?: Maybe;
  traceInvokeAgent?: Maybe;
  resourceAgent?: Maybe;
  serviceName?: Maybe;
}): string {
  for (const v of [src.spanAgent, src.traceInvokeAgent, src.resourceAgent, src.serviceName]) {
    if (nonEmpty(v)) return v;
  }
  return "";
}

/**
 * The team a span is counted under: the team bound to the ingest key (always wins, so a key cannot
 * write into another team), else the policy's team for the agent, else the resource's `cognive.team`,
 * else "".
 */
export function resolveTeam(agent: string, policy: AgentTeams, resourceTeam?: Maybe, identityTeam?: Maybe): string {
  if (nonEmpty(identityTeam)) return identityTeam;
  const declared = policy.agents.get(agent)?.team;
  if (nonEmpty(declared)) return declared;
  if (nonEmpty(resourceTeam)) return resourceTeam;
  return "";
}

/** Agent and team from what the span, its trace and its resource say, and the policy's declared agents. */
export function attribution(policy: AgentTeams): SpanProcessor {
  return {
    name: "attribution",
    process(s: NormalizedSpan): boolean {
      s.agent = resolveAgent(s);
      s.team = resolveTeam(s.agent, policy, s.resourceTeam);
      return true;
    },
  };
}

/** The team of the ingest key overrides whatever the span or the policy said (issue 8's tenant stamping). */
export const tenantStamping: SpanProcessor = {
  name: "tenant",
  process(s: NormalizedSpan, request: RequestContext): boolean {
    if (nonEmpty(request.identity.team)) s.team = request.identity.team;
    return true;
  },
};

/** Prices model calls whose usage is plausible; the cost stays null for unknown models. */
export function pricing(pricer: Pricer): SpanProcessor {
  return {
    name: "pricing",
    process(s: NormalizedSpan): boolean {
      s.cost =
        s.usageRole === "model_call" && s.usageInvalid === null
          ? pricer.price(s, new Date(Number(s.startNs / 1_000_000n)))
          : null;
      return true;
    },
  };
}

/** The processors every collector runs, in order. */
export function defaultProcessors(pricer: Pricer, policy: AgentTeams): SpanProcessor[] {
  return [attribution(policy), tenantStamping, pricing(pricer)];
}

/** What the default processors are built from: the policy's declared agents with their teams, and its price overrides. */
export interface PolicyProcessorsOptions {
  agents: [string, { team: string | null }][];
  priceOverrides: PriceOverride[];
}

/** The default processors from plain data (what a stage worker is given). */
export function policyProcessors(options: PolicyProcessorsOptions): SpanProcessor[] {
  return defaultProcessors(new Pricer(options.priceOverrides), { agents: new Map(options.agents) });
}

/**
 * Processors named by module, so that each stage worker builds its own (functions do not cross
 * threads): the ES module at `url` exports a function `name`, called with `options` (plain data, as
 * `structuredClone` copies it), that returns the processors or a promise of them.
 */
export interface ProcessorsModule {
  url: string;
  name: string;
  options?: unknown;
}

/** The default processors as a module (this one), for stage workers. */
export function policyProcessorsModule(options: PolicyProcessorsOptions): ProcessorsModule {
  return { url: import.meta.url, name: "policyProcessors", options };
}

/** Imports a processors module and builds its processors; an error saying what is wrong when it cannot. */
export async function loadProcessors(spec: ProcessorsModule): Promise<SpanProcessor[]> {
  const where = `${spec.url} (export ${spec.name})`;
  const mod = (await import(spec.url)) as Record<string, unknown>;
  const make = mod[spec.name];
  if (typeof make !== "function") throw new Error(`span processors: ${where} is not a function`);
  const list: unknown = await make(spec.options);
  const valid =
    Array.isArray(list) &&
    list.every((p) => typeof p?.name === "string" && typeof (p as SpanProcessor).process === "function");
  if (!valid) throw new Error(`span processors: ${where} did not give a list of { name, process(span, request) }`);
  return list;
}
