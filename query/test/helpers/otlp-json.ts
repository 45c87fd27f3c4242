/**
 * OTLP/JSON export bodies of gpt-4o calls of one run, for tests that post raw exports (spread over
 * collectors, retried, duplicated): `requests` bodies of `perRequest` calls, 1,000 in / 100 out
 * tokens each ($0.0035) unless `tokens` says otherwise; spans without an agent when `agent` is absent.
 */
export function modelCallBodies(opts: {
  traceId: string;
  requests: number;
  perRequest: number;
  agent?: string;
  service?: string;
  tokens?: { input: number; output: number };
}): Buffer[] {
  const now = BigInt(Date.now()) * 1_000_000n;
  const tokens = opts.tokens ?? { input: 1000, output: 100 };
  const agent = opts.agent === undefined ? [] : [{ key: "gen_ai.agent.name", value: { stringValue: opts.agent } }];
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
                  startTimeUnixNano: String(now + BigInt(r * opts.perRequest + k)),
                  endTimeUnixNano: String(now + BigInt(r * opts.perRequest + k) + 1_000_000n),
                  attributes: [
                    { key: "gen_ai.operation.name", value: { stringValue: "chat" } },
                    { key: "gen_ai.provider.name", value: { stringValue: "openai" } },
                    { key: "gen_ai.request.model", value: { stringValue: "gpt-4o" } },
                    ...agent,
                    { key: "gen_ai.usage.input_tokens", value: { intValue: String(tokens.input) } },
                    { key: "gen_ai.usage.output_tokens", value: { intValue: String(tokens.output) } },
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
