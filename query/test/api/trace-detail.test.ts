import { migrations } from "@cognive/collector";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getTrace, getTraces } from "../../src/api/trace-detail.ts";
import { type Fixture, openFixture, type SpanRow, sec, traceId } from "./fixture.ts";

const BASE = 1_750_000_000;
const A = traceId(1);
const B = traceId(2);
const ORPHAN = traceId(3);
const RETRIED = traceId(4);

const root: SpanRow = {
  TraceId: A,
  SpanId: "00000000000000r1",
  startNs: sec(BASE),
  Duration: 5_500_000_000,
  SpanName: "invoke_agent refund-agent",
  SpanKind: "Internal",
  ServiceName: "support-bot",
  ResourceAttributes: { "service.name": "support-bot", "deployment.environment.name": "prod" },
  GenAiOperation: "invoke_agent",
  GenAiUsageRole: "aggregate",
  AgentName: "refund-agent",
  TeamName: "cx",
  // An agent total: the sum of its model calls. Counting it would double the trace's usage.
  InputTokens: 1850,
  OutputTokens: 405,
  Priced: 1,
  CostUsd: 9.99,
};
const chat1: SpanRow = {
  TraceId: A,
  SpanId: "00000000000000c1",
  ParentSpanId: root.SpanId,
  startNs: sec(BASE + 0.5),
  Duration: 1_200_000_000,
  SpanName: "chat gpt-4o",
  SpanKind: "Client",
  ServiceName: "support-bot",
  ResourceAttributes: { "service.name": "support-bot" },
  SpanAttributes: {
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.usage.input_tokens": "1000",
    "gen_ai.input.messages":
      '[{"role":"system","parts":[{"type":"text","content":"be brief"}]},{"role":"user","parts":[{"type":"text","content":"Refund   order #42"}]}]',
  },
  StatusCode: "Ok",
  events: [{ timeNs: sec(BASE + 0.6) + 7n, name: "gen_ai.user.message", attributes: { content: "refund #42" } }],
  GenAiOperation: "chat",
  GenAiProvider: "openai",
  GenAiRequestModel: "gpt-4o",
  GenAiResponseModel: "gpt-4o-2024-08-06",
  GenAiUsageRole: "model_call",
  InputTokens: 1000,
  OutputTokens: 300,
  CacheReadTokens: 200,
  CacheWriteTokens: 0,
  ReasoningTokens: 0,
  AgentName: "refund-agent",
  ConversationId: "conv-9",
  TeamName: "cx",
  Priced: 1,
  CostUsd: 0.0055,
  CostInputUsd: 0.002,
  CostOutputUsd: 0.003,
  CostCacheReadUsd: 0.0005,
  CostCacheWriteUsd: 0,
};
const chat2: SpanRow = {
  TraceId: A,
  SpanId: "00000000000000c2",
  ParentSpanId: root.SpanId,
  startNs: sec(BASE + 2),
  Duration: 800_000_000,
  SpanName: "chat claude",
  SpanKind: "Client",
  ServiceName: "support-bot",
  GenAiOperation: "chat",
  GenAiProvider: "anthropic",
  GenAiRequestModel: "claude-sonnet-4",
  GenAiUsageRole: "model_call",
  InputTokens: 800,
  OutputTokens: 100,
  CacheWriteTokens: 300,
  ReasoningTokens: 50,
  Priced: 1,
  CostUsd: 0.00125,
};
const chat3: SpanRow = {
  TraceId: A,
  SpanId: "00000000000000c3",
  ParentSpanId: root.SpanId,
  startNs: sec(BASE + 2.5),
  Duration: 100_000_000,
  SpanName: "chat acme-secret",
  SpanKind: "Client",
  ServiceName: "support-bot",
  GenAiOperation: "chat",
  GenAiProvider: "acme",
  GenAiRequestModel: "acme-secret",
  GenAiUsageRole: "model_call",
  InputTokens: 50,
  OutputTokens: 5,
  Priced: 0,
};
const tool: SpanRow = {
  TraceId: A,
  SpanId: "00000000000000t1",
  ParentSpanId: root.SpanId,
  startNs: sec(BASE + 3),
  Duration: 250_000_000,
  SpanName: "execute_tool lookup_order",
  SpanKind: "Internal",
  ServiceName: "support-bot",
  StatusCode: "Error",
  StatusMessage: "order service down",
  GenAiOperation: "execute_tool",
  ToolName: "lookup_order",
};
const http: SpanRow = {
  TraceId: A,
  SpanId: "00000000000000h1",
  ParentSpanId: tool.SpanId,
  startNs: sec(BASE + 3.05),
  // Ends after the root: the trace lasts from the first start to the last end.
  Duration: 6_000_000_000,
  SpanName: "GET /orders",
  SpanKind: "Client",
  ServiceName: "orders-api",
  SpanAttributes: { "http.method": "GET" },
};

let fx: Fixture;
beforeAll(async () => {
  fx = await openFixture();
  // Two batches, out of order: the read must not depend on insert order or parts.
  await fx.insert([http, chat2, root]);
  await fx.insert([tool, chat1, chat3]);
  await fx.insert([
    { TraceId: B, SpanId: "00000000000000b1", startNs: sec(BASE + 1), SpanName: "other trace", Duration: 1 },
    {
      TraceId: ORPHAN,
      SpanId: "00000000000000o1",
      ParentSpanId: "ffffffffffffffff",
      startNs: sec(BASE + 4),
      Duration: 10,
      SpanName: "orphan",
      StatusCode: "STATUS_CODE_ERROR",
    },
    // A call rejected before any usage (a 429), then its retry: nothing is unpriced.
    {
      TraceId: RETRIED,
      SpanId: "00000000000000r2",
      startNs: sec(BASE + 10),
      Duration: 10,
      SpanName: "chat acme-secret",
      StatusCode: "Error",
      GenAiOperation: "chat",
      GenAiRequestModel: "acme-secret",
      GenAiUsageRole: "model_call",
      Priced: 0,
    },
    {
      TraceId: RETRIED,
      SpanId: "00000000000000r3",
      startNs: sec(BASE + 11),
      Duration: 10,
      SpanName: "chat gpt-4o",
      GenAiOperation: "chat",
      GenAiRequestModel: "gpt-4o",
      GenAiUsageRole: "model_call",
      InputTokens: 10,
      OutputTokens: 2,
      Priced: 1,
      CostUsd: 0.00004,
    },
  ]);
}, 60_000);
afterAll(async () => {
  await fx?.close();
});

describe("GET /api/v1/traces/{traceId}", () => {
  it("returns every span of the trace, in start order, with the upper-case id normalized", async () => {
    const { status, body } = await fx.get(`/api/v1/traces/${A.toUpperCase()}`);
    expect(status).toBe(200);
    expect(body.traceId).toBe(A);
    expect(body.spans.map((s: any) => s.spanId)).toEqual([root, chat1, chat2, chat3, tool, http].map((s) => s.SpanId));
  });

  it("reports a model call with all of its facts", async () => {
    const { body } = await fx.get(`/api/v1/traces/${A}`);
    const span = body.spans.find((s: any) => s.spanId === chat1.SpanId);
    expect(span).toEqual({
      spanId: chat1.SpanId,
      parentSpanId: root.SpanId,
      name: "chat gpt-4o",
      kind: "Client",
      serviceName: "support-bot",
      startTimeUnixNano: String(sec(BASE + 0.5)),
      durationNs: "1200000000",
      status: { code: "ok", message: "" },
      attributes: chat1.SpanAttributes,
      resource: { "service.name": "support-bot" },
      events: [
        {
          timeUnixNano: String(sec(BASE + 0.6) + 7n),
          name: "gen_ai.user.message",
          attributes: { content: "refund #42" },
        },
      ],
      genAi: {
        operation: "chat",
        provider: "openai",
        requestModel: "gpt-4o",
        responseModel: "gpt-4o-2024-08-06",
        inputTokens: 1000,
        outputTokens: 300,
        cacheReadTokens: 200,
        cacheWriteTokens: 0,
        reasoningTokens: 0,
        agentName: "refund-agent",
        toolName: null,
        conversationId: "conv-9",
        costUsd: 0.0055,
        priced: true,
        costParts: { inputUsd: 0.002, outputUsd: 0.003, cacheReadUsd: 0.0005, cacheWriteUsd: 0 },
        usageRole: "model_call",
      },
      logs: [],
      messages: {
        input: [
          { role: "system", parts: [{ type: "text", content: "be brief" }] },
          { role: "user", parts: [{ type: "text", content: "Refund   order #42" }] },
        ],
        output: [],
        systemInstructions: [],
      },
      scores: [],
    });
  });

  it("gives null cost for an unpriced call, and null tokens for spans that are not GenAI at all", async () => {
    const { body } = await fx.get(`/api/v1/traces/${A}`);
    const byId = new Map(body.spans.map((s: any) => [s.spanId, s]));
    const unpriced: any = byId.get(chat3.SpanId);
    expect(unpriced.genAi).toMatchObject({
      priced: false,
      costUsd: null,
      costParts: null,
      inputTokens: 50,
      outputTokens: 5,
    });

    const c2: any = byId.get(chat2.SpanId);
    expect(c2.genAi).toMatchObject({ cacheWriteTokens: 300, reasoningTokens: 50, responseModel: null });

    const httpSpan: any = byId.get(http.SpanId);
    expect(httpSpan.status).toEqual({ code: "unset", message: "" });
    expect(httpSpan.genAi).toEqual({
      operation: null,
      provider: null,
      requestModel: null,
      responseModel: null,
      inputTokens: null,
      outputTokens: null,
      cacheReadTokens: null,
      cacheWriteTokens: null,
      reasoningTokens: null,
      agentName: null,
      toolName: null,
      conversationId: null,
      costUsd: null,
      priced: false,
      costParts: null,
      usageRole: "none",
    });

    const toolSpan: any = byId.get(tool.SpanId);
    expect(toolSpan.status).toEqual({ code: "error", message: "order service down" });
    expect(toolSpan.genAi).toMatchObject({ operation: "execute_tool", toolName: "lookup_order", inputTokens: 0 });

    const agent: any = byId.get(root.SpanId);
    expect(agent.genAi).toMatchObject({ usageRole: "aggregate", inputTokens: 1850, outputTokens: 405 });
    expect(agent.resource).toEqual({ "service.name": "support-bot", "deployment.environment.name": "prod" });
    expect(agent.parentSpanId).toBe("");
  });

  it("summarizes from the spans, counting usage and cost of model calls only", async () => {
    const { body } = await fx.get(`/api/v1/traces/${A}`);
    expect(body.summary).toEqual({
      rootName: "invoke_agent refund-agent",
      rootService: "support-bot",
      startTimeUnixNano: String(sec(BASE)),
      durationNs: String(sec(BASE + 3.05) + 6_000_000_000n - sec(BASE)),
      spanCount: 6,
      errorCount: 1,
      inputTokens: 1000 + 800 + 50,
      outputTokens: 300 + 100 + 5,
      costUsd: expect.closeTo(0.0055 + 0.00125, 12),
      // chat3 has no price: the header says so rather than counting it as $0.
      unpricedCalls: 1,
    });
  });

  it("agrees with the trace list's summary of the same trace", async () => {
    const detail = (await fx.get(`/api/v1/traces/${A}`)).body.summary;
    const list = await fx.get(`/api/v1/traces?from=${BASE - 60}&to=${BASE + 60}`);
    const item = list.body.traces.find((t: any) => t.traceId === A);
    expect(item).toMatchObject({ ...detail, costUsd: expect.closeTo(detail.costUsd, 12) });
    // The list previews the first model call's last user message, as one line.
    expect(item.inputPreview).toBe("Refund order #42");
    const other = list.body.traces.find((t: any) => t.traceId === B);
    expect(other).toMatchObject({ unpricedCalls: 0, inputPreview: null });
  });

  it("does not call a model call unpriced when it failed before reporting any usage", async () => {
    const detail = await fx.get(`/api/v1/traces/${RETRIED}`);
    expect(detail.body.summary).toMatchObject({ unpricedCalls: 0, errorCount: 1 });
    const list = await fx.get(`/api/v1/traces?from=${BASE - 60}&to=${BASE + 60}`);
    expect(list.body.traces.find((t: any) => t.traceId === RETRIED)).toMatchObject({ unpricedCalls: 0 });
  });

  it("keeps traces apart and has no root name when the root span is missing", async () => {
    const b = await fx.get(`/api/v1/traces/${B}`);
    expect(b.body.spans.map((s: any) => s.name)).toEqual(["other trace"]);
    const orphan = await fx.get(`/api/v1/traces/${ORPHAN}`);
    expect(orphan.status).toBe(200);
    expect(orphan.body.summary).toMatchObject({ rootName: null, rootService: null, spanCount: 1, errorCount: 1 });
    expect(orphan.body.spans[0].status.code).toBe("error");
  });

  it("reads each span once when its trace documents hold it twice (a backfill that ran again)", async () => {
    const before = await fx.get(`/api/v1/traces/${A}`);
    const backfill = migrations.find((m) => m.version === 19)?.statements.at(-1) ?? "";
    expect(backfill).toMatch(/^INSERT INTO/);
    await fx.storage.client.command({ query: backfill.replaceAll("{db}", fx.storage.database) });
    const docLines = await fx.storage.client.query({
      query: `SELECT sum(Spans) AS n FROM ${fx.storage.database}.trace_docs WHERE TraceId = '${A}'`,
      format: "JSONEachRow",
    });
    const [{ n }] = (await docLines.json()) as { n: string }[];
    expect(Number(n)).toBe(before.body.spans.length * 2);
    const after = await fx.get(`/api/v1/traces/${A}`);
    expect(after.status).toBe(200);
    expect(after.body).toEqual(before.body);
  });

  it("reads a trace whose documents are not there (yet) from the span table, the same", async () => {
    // Views write one after another: a trace can be listed from its summary a moment before its
    // documents are visible, and a crash can lose them until a repair.
    const before = await fx.get(`/api/v1/traces/${B}`);
    expect(before.status).toBe(200);
    await fx.storage.client.command({
      query: `DELETE FROM ${fx.storage.database}.trace_docs WHERE TraceId = '${B}'`,
    });
    const after = await fx.get(`/api/v1/traces/${B}`);
    expect(after.status).toBe(200);
    expect(after.body).toEqual(before.body);
  });

  it("reads several traces at once as it reads each alone: documents twice, missing, unknown, out of scope", async () => {
    // A's documents are doubled and B's deleted by the two tests above.
    const ids = [B, A, traceId(999), ORPHAN, RETRIED];
    const all = { teams: "all" } as const;
    const many = await getTraces(fx.storage, all, ids);
    expect([...many.keys()].sort()).toEqual([A, B, ORPHAN, RETRIED].sort());
    for (const id of ids) expect(many.get(id), id).toEqual(await getTrace(fx.storage, all, id));
    expect((await getTraces(fx.storage, { teams: ["no-such-team"] }, ids)).size).toBe(0);
  });

  it("answers 404 for a well-formed id that is not stored", async () => {
    const { status, body } = await fx.get(`/api/v1/traces/${traceId(999)}`);
    expect(status).toBe(404);
    expect(body.error.code).toBe("not_found");
    expect(body.error.message).toContain(traceId(999));
  });

  it.each([
    ["too short", "abc"],
    ["31 digits", A.slice(1)],
    ["33 digits", `${A}0`],
    ["not hex", "g".repeat(32)],
    ["an injection", encodeURIComponent("x' OR 1=1 --")],
    ["an injection padded to 32 chars", encodeURIComponent("0' OR TraceId != '0000000000000000")],
  ])("answers 400 for an id that is %s", async (_, id) => {
    const { status, body } = await fx.get(`/api/v1/traces/${id}`);
    expect(status).toBe(400);
    expect(body.error.code).toBe("bad_request");
    expect(body.error.message).toContain("traceId");
  });

  it("rejects unknown query parameters", async () => {
    const { status, body } = await fx.get(`/api/v1/traces/${A}?verbose=1`);
    expect(status).toBe(400);
    expect(body.error.message).toContain("verbose");
  });
});
