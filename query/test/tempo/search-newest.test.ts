import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Fixture, openFixture, type SpanRow, sec, traceId } from "../api/fixture.ts";

// Search reads the newest traces first and widens the window while it finds too few; these cases
// need more traces than the first window (50 per wanted result) holds.
const BASE = 1_760_000_000;
const TRACES = 400;
const RANGE = `start=${BASE - 60}&end=${BASE + TRACES * 10 + 60}`;
/** Traces whose chat span used gpt-4o: a few among the oldest, one in the middle, the newest. */
const GPT4O = new Set([3, 7, 11, 200, 399]);
/** Traces with an error on the tool span: only among the oldest. */
const FAILED = new Set([1, 2]);

function traceRows(i: number): SpanRow[] {
  const start = BASE + i * 10;
  const id = traceId(1000 + i);
  const root = `${String(i).padStart(12, "0")}0001`;
  return [
    {
      TraceId: id,
      SpanId: root,
      startNs: sec(start),
      Duration: (i === 5 ? 9_000 : 2_000) * 1_000_000,
      SpanName: "invoke_agent refund-agent",
      ServiceName: "support-bot",
      AgentName: "refund-agent",
    },
    {
      TraceId: id,
      SpanId: `${String(i).padStart(12, "0")}0002`,
      ParentSpanId: root,
      startNs: sec(start + 0.2),
      Duration: 500_000_000,
      SpanName: GPT4O.has(i) ? "chat gpt-4o" : "chat claude-sonnet-4",
      ServiceName: "support-bot",
      GenAiRequestModel: GPT4O.has(i) ? "gpt-4o" : "claude-sonnet-4",
      GenAiUsageRole: "model_call",
      InputTokens: 100 + i,
    },
    {
      TraceId: id,
      SpanId: `${String(i).padStart(12, "0")}0003`,
      ParentSpanId: root,
      startNs: sec(start + 1),
      Duration: 300_000_000,
      SpanName: "execute_tool lookup",
      ServiceName: "support-bot",
      StatusCode: FAILED.has(i) ? "Error" : "Unset",
    },
  ];
}

let fx: Fixture;
beforeAll(async () => {
  fx = await openFixture();
  // Several inserts, as several parts, in no particular time order.
  const order = Array.from({ length: TRACES }, (_, i) => (i * 37) % TRACES);
  for (let b = 0; b < 4; b++) await fx.insert(order.slice(b * 100, b * 100 + 100).flatMap(traceRows));
});
afterAll(async () => {
  await fx?.close();
});

async function search(q: string, limit: number) {
  const res = await fx.get(`/api/search?q=${encodeURIComponent(q)}&limit=${limit}&${RANGE}`);
  expect(res.status).toBe(200);
  return res.body as { traces: any[] };
}
const idsOf = (nums: number[]) => nums.map((i) => traceId(1000 + i));

describe("Tempo search over many traces", () => {
  it("answers the newest matching traces, newest first, widening past the first window", async () => {
    const r = await search('{ span.gen_ai.request.model = "gpt-4o" }', 3);
    expect(r.traces.map((t) => t.traceID)).toEqual(idsOf([399, 200, 11]));
    const all = await search('{ span.gen_ai.request.model = "gpt-4o" }', 20);
    expect(all.traces.map((t) => t.traceID)).toEqual(idsOf([399, 200, 11, 7, 3]));
  });

  it("finds matches only the whole range holds", async () => {
    const r = await search("{ status = error }", 5);
    expect(r.traces.map((t) => t.traceID)).toEqual(idsOf([2, 1]));
    expect(r.traces[0]).toMatchObject({
      rootServiceName: "support-bot",
      rootTraceName: "invoke_agent refund-agent",
      startTimeUnixNano: String(sec(BASE + 20)),
      durationMs: 2000,
    });
    expect(r.traces[0].spanSets[0].spans.map((s: any) => s.spanID)).toEqual(["0000000000020003"]);
  });

  it("takes the newest of many matches from the first window", async () => {
    const r = await search("{}", 4);
    expect(r.traces.map((t) => t.traceID)).toEqual(idsOf([399, 398, 397, 396]));
    expect(r.traces[0].spanSets[0].matched).toBe(3);
    // the earliest spans of the trace, in start order
    expect(r.traces[0].spanSets[0].spans.map((s: any) => s.name)).toEqual([
      "invoke_agent refund-agent",
      "chat gpt-4o",
      "execute_tool lookup",
    ]);
  });

  it("evaluates whole-trace fields on old traces too", async () => {
    const r = await search("{ traceDuration > 5s }", 5);
    expect(r.traces.map((t) => t.traceID)).toEqual(idsOf([5]));
    expect(r.traces[0].durationMs).toBe(9000);
    const both = await search('{ rootName = "invoke_agent refund-agent" } && { status = error }', 5);
    expect(both.traces.map((t) => t.traceID)).toEqual(idsOf([2, 1]));
  });
});
