import type { AgentPolicy } from "../policy.ts";

type Maybe = string | null | undefined;

function nonEmpty(v: Maybe): v is string {
  return typeof v === "string" && v !== "";
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
