/**
 * OTLP/JSON export bodies of model calls of one run, for tests that spread the calls over several
 * collectors: `requests` bodies of `perRequest` gpt-4o calls (1,000 in / 100 out, $0.0035 each).
 */
export function modelCallBodies(opts: {
  traceId: string;
  agent: string;
  requests: number;
  perRequest: number;
  service?: string;
}): Buffer[] {
  const now = BigInt(Date.now()) * 1_000_000n;
  return Array.from({ length: opts.requests }, (_, r) =>
    Buffer.from(
      JSON.stringify({
        resourceSpans: [
          {
            resource: {
              attributes: [{ key: "service.name", value: { stringValue: opts.service ?? "support-bot" } }],
            },
            scopeSpans: [
              {
                spans: Array.from({ length: opts.perRequest }, (_, k) => ({
                  traceId: opts.traceId,
                  spanId: (r * opts.perRequest + k + 1).toString(16).padStart(16, "0"),
                  name: "chat gpt-4o",
                  kind: 3,
                  startTimeUnixNano: String(now + BigInt(r)),
                  endTimeUnixNano: String(now + BigInt(r) + 1_000_000n),
                  attributes: [
                    { key: "gen_ai.operation.name", value: { stringValue: "chat" } },
                    { key: "gen_ai.provider.name", value: { stringValue: "openai" } },
                    { key: "gen_ai.request.model", value: { stringValue: "gpt-4o" } },
                    { key: "gen_ai.agent.name", value: { stringValue: opts.agent } },
                    { key: "gen_ai.usage.input_tokens", value: { intValue: "1000" } },
                    { key: "gen_ai.usage.output_tokens", value: { intValue: "100" } },
                  ],
                })),
              },
            ],
          },
        ],
      }),
    ),
  );
}
