import { describe, expect, it } from "vitest";
import { hasStructure, matchSpans, type TreeSpan } from "../../src/tempo/structural.ts";
import { parseTraceQL, TraceQLError } from "../../src/tempo/traceql.ts";
import { type SpanRow, sec, traceId, useFixture } from "../api/fixture.ts";

//   r (agent)
//   ├── a (chat)
//   │   └── b (tool, error)
//   │       └── c (http)
//   └── d (tool)
//   x (orphan whose parent is missing)
const TREE: [id: string, parent: string, kind: string][] = [
  ["r", "", "agent"],
  ["a", "r", "chat"],
  ["b", "a", "tool"],
  ["c", "b", "http"],
  ["d", "r", "tool"],
  ["x", "gone", "tool"],
];

/** Spans of TREE with, for each filter (a predicate on kind or id), whether the span matches. */
function spans(...filters: ((id: string, kind: string) => boolean)[]): TreeSpan[] {
  return TREE.map(([spanId, parentSpanId, kind]) => ({
    spanId,
    parentSpanId,
    leaves: filters.map((f) => f(spanId, kind)),
  }));
}
const kind = (k: string) => (_: string, kk: string) => kk === k;
const id = (i: string) => (ii: string) => ii === i;
const ids = (q: string, s: TreeSpan[]) => [...matchSpans(parseTraceQL(q).spansets, s)].map((i) => s[i].spanId).sort();

describe("structural operators on one trace", () => {
  it("child (>) and parent (<)", () => {
    expect(ids("{} > {}", spans(kind("agent"), kind("tool")))).toEqual(["d"]);
    expect(ids("{} > {}", spans(kind("chat"), kind("tool")))).toEqual(["b"]);
    expect(ids("{} < {}", spans(kind("tool"), kind("agent")))).toEqual(["r"]);
    expect(ids("{} < {}", spans(kind("http"), kind("agent")))).toEqual([]);
  });

  it("descendant (>>) and ancestor (<<), across several levels", () => {
    expect(ids("{} >> {}", spans(kind("agent"), kind("tool"))).sort()).toEqual(["b", "d"]);
    expect(ids("{} >> {}", spans(kind("agent"), kind("http")))).toEqual(["c"]);
    expect(ids("{} << {}", spans(kind("http"), kind("chat")))).toEqual(["a"]);
    expect(
      ids(
        "{} << {}",
        spans(kind("http"), () => true),
      ),
    ).toEqual(["a", "b", "r"]);
    // the orphan has no known ancestors
    expect(
      ids(
        "{} >> {}",
        spans(() => true, id("x")),
      ),
    ).toEqual([]);
  });

  it("sibling (~) needs the same, known parent and another span", () => {
    expect(ids("{} ~ {}", spans(kind("chat"), kind("tool")))).toEqual(["d"]);
    expect(ids("{} ~ {}", spans(kind("tool"), kind("tool")))).toEqual([]);
    expect(ids("{} ~ {}", spans(kind("agent"), kind("tool")))).toEqual([]);
  });

  it("chains left to right and binds tighter than && and ||", () => {
    // (agent > chat) > tool
    expect(ids("{} > {} > {}", spans(kind("agent"), kind("chat"), kind("tool")))).toEqual(["b"]);
    const q = parseTraceQL("{ .a = 1 } >> { .b = 2 } && { .c = 3 }");
    expect(q.spansets.type).toBe("and");
    expect(ids("{} >> {} && {}", spans(kind("agent"), kind("http"), kind("chat")))).toEqual(["a", "c"]);
    expect(ids("{} >> {} && {}", spans(kind("agent"), kind("http"), kind("none")))).toEqual([]);
    expect(ids("{} >> {} || {}", spans(kind("agent"), kind("none"), kind("chat")))).toEqual(["a"]);
  });

  it("parses >> and << apart from the comparisons inside a filter", () => {
    expect(hasStructure(parseTraceQL("{ duration > 1s } >> { duration < 5ms }").spansets)).toBe(true);
    expect(hasStructure(parseTraceQL("{ duration > 1s } && { duration < 5ms }").spansets)).toBe(false);
    expect(() => parseTraceQL("{ } >> ")).toThrow(TraceQLError);
    expect(() => parseTraceQL("{ duration >> 1s }")).toThrow(TraceQLError);
  });
});

describe("Tempo search with structural operators", () => {
  const BASE = 1_790_000_000;
  const A = traceId(81);
  const B = traceId(82);
  const RANGE = `start=${BASE - 60}&end=${BASE + 600}`;
  const span = (t: string, i: string, parent: string, name: string, extra: Partial<SpanRow> = {}): SpanRow => ({
    TraceId: t,
    SpanId: i.padStart(16, "0"),
    ParentSpanId: parent ? parent.padStart(16, "0") : "",
    startNs: sec(BASE + (t === A ? 0 : 100) + Number.parseInt(i, 16) / 10),
    SpanName: name,
    ServiceName: "bot",
    ...extra,
  });
  const rows: SpanRow[] = [
    // A: refund-agent → chat → failing tool
    span(A, "1", "", "invoke_agent refund-agent", { AgentName: "refund-agent" }),
    span(A, "2", "1", "chat gpt-4o", { GenAiRequestModel: "gpt-4o" }),
    span(A, "3", "2", "execute_tool issue_refund", { StatusCode: "Error", StatusMessage: "limit" }),
    // B: triage-agent → failing tool, and a chat beside it
    span(B, "1", "", "invoke_agent triage-agent", { AgentName: "triage-agent" }),
    span(B, "2", "1", "execute_tool search", { StatusCode: "Error" }),
    span(B, "3", "1", "chat claude", { GenAiRequestModel: "claude" }),
  ];
  const fixture = useFixture(rows);
  async function search(q: string) {
    const res = await fixture().get(`/api/search?q=${encodeURIComponent(q)}&${RANGE}`);
    expect(res.status).toBe(200);
    return res.body.traces as any[];
  }

  it("finds errors under an agent, at any depth or directly", async () => {
    const deep = await search('{ span.gen_ai.agent.name = "refund-agent" } >> { status = error }');
    expect(deep.map((t) => t.traceID)).toEqual([A]);
    expect(deep[0].spanSets[0].spans.map((s: any) => s.name)).toEqual(["execute_tool issue_refund"]);
    expect(deep[0].spanSets[0].matched).toBe(1);
    expect(deep[0]).toMatchObject({ rootServiceName: "bot", rootTraceName: "invoke_agent refund-agent" });
    expect((await search('{ name =~ "invoke_agent.*" } > { status = error }')).map((t) => t.traceID)).toEqual([B]);
    expect((await search("{ } >> { status = error }")).map((t) => t.traceID).sort()).toEqual([A, B]);
  });

  it("finds parents, ancestors and siblings", async () => {
    expect((await search("{ status = error } < { }")).map((t) => t.traceID).sort()).toEqual([A, B]);
    const anc = await search('{ status = error } << { name =~ "invoke_agent.*" }');
    expect(anc.map((t) => t.traceID).sort()).toEqual([A, B]);
    expect(anc.find((t) => t.traceID === A).spanSets[0].spans[0].name).toBe("invoke_agent refund-agent");
    expect(
      (await search('{ status = error } ~ { span.gen_ai.request.model = "claude" }')).map((t) => t.traceID),
    ).toEqual([B]);
    expect(await search('{ status = error } ~ { span.gen_ai.request.model = "gpt-4o" }')).toEqual([]);
  });

  it("combines with whole-trace fields and &&", async () => {
    expect(
      (await search('{ rootName = "invoke_agent triage-agent" } >> { status = error }')).map((t) => t.traceID),
    ).toEqual([B]);
    expect(
      (await search('{ } >> { status = error } && { span.gen_ai.request.model = "gpt-4o" }')).map((t) => t.traceID),
    ).toEqual([A]);
  });
});
