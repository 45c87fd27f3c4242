/** An OTLP/JSON attribute. */
export function attr(key: string, v: string | number): { key: string; value: Record<string, string> } {
  return { key, value: typeof v === "number" ? { intValue: String(v) } : { stringValue: v } };
}

export interface AgentRun {
  traceId: string;
  service: string;
  agent: string;
  model: string;
  inputTokens?: number;
  /** A `cognive.team` resource attribute: what the sender claims, not what an ingest key decides. */
  claimedTeam?: string;
  /** Mark the model call failed. */
  error?: boolean;
  /** `gen_ai.conversation.id` and `user.id` on the root span. */
  conversationId?: string;
  userId?: string;
  /** Captured `gen_ai.input.messages` / `gen_ai.output.messages` (JSON) on the chat span. */
  inputMessages?: string;
  outputMessages?: string;
  /** Start of the run in Unix nanoseconds; default now. */
  startNs?: bigint;
}

/** An OTLP/JSON export of one agent run now: an `invoke_agent` root and one priced chat call under it. */
export function agentRunBody(run: AgentRun): Buffer {
  const t = run.startNs ?? BigInt(Date.now()) * 1_000_000n;
  const resource = [attr("service.name", run.service)];
  if (run.claimedTeam) resource.push(attr("cognive.team", run.claimedTeam));
  return Buffer.from(
    JSON.stringify({
      resourceSpans: [
        {
          resource: { attributes: resource },
          scopeSpans: [
            {
              spans: [
                {
                  traceId: run.traceId,
                  spanId: "00000000000000a1",
                  name: `invoke_agent ${run.agent}`,
                  kind: 1,
                  startTimeUnixNano: String(t),
                  endTimeUnixNano: String(t + 5_000_000n),
                  attributes: [
                    attr("gen_ai.operation.name", "invoke_agent"),
                    attr("gen_ai.agent.name", run.agent),
                    ...(run.conversationId ? [attr("gen_ai.conversation.id", run.conversationId)] : []),
                    ...(run.userId ? [attr("user.id", run.userId)] : []),
                  ],
                },
                {
                  traceId: run.traceId,
                  spanId: "00000000000000a2",
                  parentSpanId: "00000000000000a1",
                  name: `chat ${run.model}`,
                  kind: 3,
                  startTimeUnixNano: String(t + 1000n),
                  endTimeUnixNano: String(t + 4_000_000n),
                  attributes: [
                    attr("gen_ai.operation.name", "chat"),
                    attr("gen_ai.provider.name", "openai"),
                    attr("gen_ai.request.model", run.model),
                    attr("gen_ai.agent.name", run.agent),
                    attr("gen_ai.usage.input_tokens", run.inputTokens ?? 1000),
                    attr("gen_ai.usage.output_tokens", 100),
                    ...(run.inputMessages ? [attr("gen_ai.input.messages", run.inputMessages)] : []),
                    ...(run.outputMessages ? [attr("gen_ai.output.messages", run.outputMessages)] : []),
                  ],
                  ...(run.error ? { status: { code: 2, message: "upstream failed" } } : {}),
                },
              ],
            },
          ],
        },
      ],
    }),
  );
}
