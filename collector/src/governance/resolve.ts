import type { AgentPolicy, Policy } from "../policy.ts";

type Maybe = string | null | undefined;

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
export function resolveTeam(
  agent: string,
  policy: Pick<Policy, "agents">,
  resourceTeam?: Maybe,
  identityTeam?: Maybe,
): string {
  if (nonEmpty(identityTeam)) return identityTeam;
  const declared = policy.agents.get(agent)?.team;
  if (nonEmpty(declared)) return declared;
  if (nonEmpty(resourceTeam)) return resourceTeam;
  return "";
}

/**
 * Whether an LLM call's model is allowed: true when the agent has no policy or no `allowed_models`,
 * else when the request or the response model matches one of the globs. Missing models match nothing.
 */
export function modelAllowed(
  agentPolicy: AgentPolicy | undefined,
  requestModel?: Maybe,
  responseModel?: Maybe,
): boolean {
  const globs = agentPolicy?.allowedModels;
  if (!globs) return true;
  for (const model of [requestModel, responseModel]) {
    if (nonEmpty(model) && globs.some((g) => g.re.test(model))) return true;
  }
  return false;
}

/** Whether a tool is approved: true when the agent has no policy or no `approved_tools`, else membership. */
export function toolApproved(agentPolicy: AgentPolicy | undefined, toolName: Maybe): boolean {
  const tools = agentPolicy?.approvedTools;
  if (!tools) return true;
  return nonEmpty(toolName) && tools.has(toolName);
}
