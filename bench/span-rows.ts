/**
 * Span rows made by SQL with the shape of the ingest bench's agent runs (7 resource attributes, 4–12
 * span attributes, 7 spans a trace, a third of spans priced model calls), for benches that measure
 * storage in process without the pipeline in front of it.
 */

/** The columns `spanRowsInsert` fills; the span table's others take their defaults. */
const FILLED =
  "Timestamp, TraceId, SpanId, ParentSpanId, SpanName, SpanKind, ServiceName, ResourceAttributes, ScopeName, " +
  "ScopeVersion, SpanAttributes, Duration, StatusCode, TeamName, Environment, AgentName, GenAiOperation, " +
  "GenAiProvider, GenAiRequestModel, GenAiResponseModel, GenAiUsageRole, InputTokens, OutputTokens, " +
  "CacheReadTokens, ToolName, ConversationId, Priced, CostInputUsd, CostOutputUsd, CostUsd, SpanAttributeTypes";

/**
 * `INSERT` of `count` span rows numbered from `first` into `table` (which has the span table's
 * columns). Rows of different numbers belong to different traces and spans; `timestamp` is the SQL
 * of a row's start, in terms of `number`.
 */
export function spanRowsInsert(
  table: string,
  count: number,
  { first = 0, timestamp = "now64(9) - toIntervalMillisecond(number)" }: { first?: number; timestamp?: string } = {},
): string {
  return `INSERT INTO ${table} (${FILLED})
      SELECT
        ${timestamp}, lower(hex(sipHash128(intDiv(number, 7)))), lower(hex(sipHash64(number))),
        if(number % 7 = 0, '', lower(hex(sipHash64(number - number % 7)))),
        ['invoke_agent refund-agent', 'POST', 'chat gpt-4o', 'chat claude-sonnet-4', 'execute_tool lookup_order',
         'execute_tool issue_refund', 'chat gpt-4o-mini'][number % 7 + 1], ['INTERNAL', 'CLIENT'][number % 2 + 1],
        'support-bot',
        map('service.name', 'support-bot', 'service.version', '1.4.2', 'deployment.environment.name', 'prod',
            'cognive.team', 'payments', 'host.name', concat('pod-', toString(number % 13)), 'telemetry.sdk.name',
            'opentelemetry', 'telemetry.sdk.language', 'nodejs'),
        '@cognive/bench', '1.0.0',
        mapFromArrays(arraySlice(['gen_ai.operation.name', 'gen_ai.request.model', 'gen_ai.usage.input_tokens',
            'gen_ai.usage.output_tokens', 'gen_ai.agent.name', 'gen_ai.conversation.id', 'http.request.method',
            'url.full', 'gen_ai.usage.cache_read.input_tokens', 'gen_ai.response.model', 'gen_ai.tool.name',
            'gen_ai.provider.name'], 1, 4 + number % 9),
          arraySlice(['chat', 'gpt-4o', toString(number % 5000), toString(number % 700), 'refund-agent',
            concat('conv-', toString(intDiv(number, 70))), 'POST', 'https://api.example.com/v1/orders',
            toString(number % 300), 'gpt-4o-2024-08-06', 'lookup_order', 'openai'], 1, 4 + number % 9)),
        1000000 + number * 37 % 9000000, if(number % 29 = 0, 'Error', 'Unset'), 'payments', 'prod', 'refund-agent',
        if(number % 7 IN (2, 3, 6), 'chat', ''), if(number % 7 IN (2, 3, 6), 'openai', ''),
        if(number % 7 IN (2, 3, 6), 'gpt-4o', ''), if(number % 7 IN (2, 3, 6), 'gpt-4o-2024-08-06', ''),
        if(number % 7 IN (2, 3, 6), 'model_call', 'none'), number % 5000, number % 700, number % 300,
        if(number % 7 IN (4, 5), 'lookup_order', ''), concat('conv-', toString(intDiv(number, 70))),
        number % 7 IN (2, 3, 6), 0.0000025 * (number % 5000), 0.00001 * (number % 700),
        0.0000025 * (number % 5000) + 0.00001 * (number % 700), map('gen_ai.usage.input_tokens', 3)
      FROM numbers(${first}, ${count})`;
}
